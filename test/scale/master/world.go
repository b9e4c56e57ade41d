package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
)

// systemNS holds the master's Lease and the agents' heartbeat Leases.
const systemNS = "kubemesos-system"

// writers is how many requests the runner has in flight when it builds the
// world.
const writers = 32

// framework is one of the runner's frameworks.
type framework struct {
	ns, name string
	uid      types.UID
}

// world is the fake cluster the runner builds: Nodes, admitted Agents with
// their heartbeat Leases, frameworks with their scheduler Leases, and Tasks
// with their status set. It only grows agents; it grows and shrinks Tasks.
type world struct {
	c          client.Client
	frameworks []framework
	// mu guards agents and agentIDs: the pump reads them while they grow.
	mu sync.Mutex
	// agents are the node names, in order; agentIDs their agentIDs.
	agents   []string
	agentIDs []string
	// live and ended count the Tasks of each kind: run-000000 … and
	// end-000000 …
	live, ended int
}

func nodeName(i int) string { return fmt.Sprintf("node-%05d", i) }

// agentCount is how many agents exist.
func (w *world) agentCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.agents)
}

// agent returns the node and agentID of agent i.
func (w *world) agent(i int) (node, agentID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.agents[i], w.agentIDs[i]
}

// ensureFrameworks creates n frameworks, each in its own namespace, with
// their scheduler Leases.
func (w *world) ensureFrameworks(ctx context.Context, n int) error {
	if err := w.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNS}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", systemNS, err)
	}
	for i := len(w.frameworks); i < n; i++ {
		ns := fmt.Sprintf("bench-%02d", i)
		name := fmt.Sprintf("fw-%02d", i)
		if err := w.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return fmt.Errorf("creating namespace %s: %w", ns, err)
		}
		fw := b.MakeFramework(name, ns).FailoverTimeout(3600).Obj()
		if err := w.c.Create(ctx, fw); err != nil {
			return fmt.Errorf("creating framework %s/%s: %w", ns, name, err)
		}
		w.frameworks = append(w.frameworks, framework{ns: ns, name: name, uid: fw.UID})
	}
	return w.renewSchedulers(ctx)
}

// schedulerLeaseSeconds is how long a scheduler Lease of the runner lasts;
// the pump renews them well within it.
const schedulerLeaseSeconds = 60

// renewSchedulers creates or renews every framework's scheduler Lease, as
// the scheduler SDK holds it.
func (w *world) renewSchedulers(ctx context.Context) error {
	for _, fw := range w.frameworks {
		now := metav1.NewMicroTime(time.Now())
		key := types.NamespacedName{Namespace: fw.ns, Name: kmv1.SchedulerLeaseName(fw.name)}
		patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"spec":{"renewTime":%q}}`, now.Format(metav1.RFC3339Micro)))
		err := w.c.Patch(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}, patch)
		if apierrors.IsNotFound(err) {
			err = w.c.Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name,
					Labels: kmv1.SchedulerLeaseLabels(fw.name)},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("bench-scheduler"), LeaseDurationSeconds: ptr.To(int32(schedulerLeaseSeconds)),
					AcquireTime: &now, RenewTime: &now},
			})
		}
		if err != nil {
			return fmt.Errorf("renewing scheduler Lease %s: %w", key, err)
		}
	}
	return nil
}

// agentCPU and agentMemory are each fake agent's resources: room for far
// more tasks than any run places, so that every agent has something to
// offer.
const (
	agentCPU    = "64"
	agentMemory = "256Gi"
)

// ensureAgents grows the fake agents to n: a Node, an Agent admitted as
// the master admits it (Active, with an agentID) and a heartbeat Lease each.
func (w *world) ensureAgents(ctx context.Context, n int) error {
	have := w.agentCount()
	if n < have {
		return fmt.Errorf("the runner only adds agents: %d wanted, %d exist (order the phases' agent counts ascending)", n, have)
	}
	ids := make([]string, n-have)
	err := parallel(ctx, n-have, func(ctx context.Context, k int) error {
		i := have + k
		node := nodeName(i)
		if err := w.c.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating node %s: %w", node, err)
		}
		a := b.MakeAgent(node).Resources("cpu", agentCPU, "memory", agentMemory).Obj()
		a.Spec.Endpoint = "127.0.0.1:5051"
		if err := w.c.Create(ctx, a); err != nil {
			return fmt.Errorf("creating agent %s: %w", node, err)
		}
		now := metav1.Now()
		id := node + "-bench"
		a.Status = kmv1.AgentStatus{AgentID: id, Phase: kmv1.AgentActive, RegisteredTime: &now, ObservedGeneration: a.Generation}
		meta.SetStatusCondition(&a.Status.Conditions, metav1.Condition{Type: kmv1.AgentAdmitted, Status: metav1.ConditionTrue, Reason: kmv1.ReasonAdmitted, Message: "agentID " + id, ObservedGeneration: a.Generation})
		meta.SetStatusCondition(&a.Status.Conditions, metav1.Condition{Type: kmv1.AgentReady, Status: metav1.ConditionTrue, Reason: kmv1.ReasonHeartbeatFresh, Message: "the heartbeat Lease is being renewed", ObservedGeneration: a.Generation})
		if err := w.c.Status().Update(ctx, a); err != nil {
			return fmt.Errorf("admitting agent %s: %w", node, err)
		}
		mnow := metav1.NewMicroTime(time.Now())
		lease := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: systemNS, Name: kmv1.AgentLeaseName(node),
				Labels: map[string]string{kmv1.LabelAgent: node, kmv1.LabelLease: kmv1.LeaseKindAgent}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(node), LeaseDurationSeconds: ptr.To(int32(15)), AcquireTime: &mnow, RenewTime: &mnow},
		}
		if err := w.c.Create(ctx, lease); err != nil {
			return fmt.Errorf("creating the heartbeat Lease of %s: %w", node, err)
		}
		ids[k] = id
		return nil
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, id := range ids {
		if id == "" {
			break
		}
		w.agents = append(w.agents, nodeName(have+k))
		w.agentIDs = append(w.agentIDs, id)
	}
	return err
}

// renewAgent renews agent i's heartbeat Lease (one merge patch, no read).
func (w *world) renewAgent(ctx context.Context, i int) error {
	node, _ := w.agent(i)
	now := metav1.NewMicroTime(time.Now())
	patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"spec":{"renewTime":%q}}`, now.Format(metav1.RFC3339Micro)))
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: systemNS, Name: kmv1.AgentLeaseName(node)}}
	if err := w.c.Patch(ctx, l, patch); err != nil {
		return fmt.Errorf("renewing the heartbeat Lease of %s: %w", node, err)
	}
	return nil
}

// Each Task asks for taskCPU and taskMemory; each custom executor (one per
// framework and agent) for executorCPU and executorMemory.
const (
	taskCPU        = "100m"
	taskMemory     = "64Mi"
	executorCPU    = "50m"
	executorMemory = "32Mi"
)

// taskName names the i-th Task of a kind.
func taskName(kind string, i int) string { return fmt.Sprintf("%s-%06d", kind, i) }

// ensureTasks makes the live (RUNNING) and ended Tasks number live and
// ended: the missing ones are created with their status set, the extra
// ones deleted.
func (w *world) ensureTasks(ctx context.Context, live, ended int) error {
	if err := w.resize(ctx, "run", &w.live, live); err != nil {
		return err
	}
	return w.resize(ctx, "end", &w.ended, ended)
}

func (w *world) resize(ctx context.Context, kind string, have *int, want int) error {
	if want < *have {
		// The tail goes, one DELETE each (the API server's DeleteCollection
		// deletes one at a time, no faster).
		from := want
		err := parallel(ctx, *have-from, func(ctx context.Context, k int) error {
			i := from + k
			fw := w.frameworks[i%len(w.frameworks)]
			t := &kmv1.Task{ObjectMeta: metav1.ObjectMeta{Namespace: fw.ns, Name: taskName(kind, i)}}
			if err := w.c.Delete(ctx, t); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("deleting task %s/%s: %w", t.Namespace, t.Name, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		*have = want
		return nil
	}
	if w.agentCount() == 0 || len(w.frameworks) == 0 {
		return errors.New("tasks need agents and frameworks first")
	}
	from := *have
	var made atomic.Int64
	err := parallel(ctx, want-from, func(ctx context.Context, k int) error {
		if err := w.createTask(ctx, kind, from+k); err != nil {
			return err
		}
		if n := made.Add(1); n%10000 == 0 {
			logf("  %s tasks: %d of %d created", kind, n, want-from)
		}
		return nil
	})
	if err != nil {
		return err
	}
	*have = want
	return nil
}

// endedStates are the states of ended Tasks, in turn.
var endedStates = []kmv1.TaskState{kmv1.TaskFinished, kmv1.TaskFailed, kmv1.TaskKilled}

// createTask creates the i-th Task of kind on agent i mod agents, in
// framework i mod frameworks, as the scheduler SDK creates it (its labels,
// owner reference, one executor per framework and agent), and writes
// its status as its agent would have: RUNNING, or ended.
func (w *world) createTask(ctx context.Context, kind string, i int) error {
	fw := w.frameworks[i%len(w.frameworks)]
	node, agentID := w.agent(i % w.agentCount())
	execID := "exec-" + node
	t := b.MakeTask(taskName(kind, i), fw.ns).Framework(fw.name).Offer(fw.name+"-"+node+"-bench").Agent(agentID).
		Resources("cpu", taskCPU, "memory", taskMemory).Executor(execID, "example.com/bench-executor:1").
		Label(kmv1.LabelAgent, node).
		Data(fmt.Sprintf(`{"task":%d,"points":100000}`, i)).Obj()
	t.Spec.Executor.Command = []string{"/executor", "--points-per-task=100000"}
	t.Spec.Executor.Resources = b.Resources("cpu", executorCPU, "memory", executorMemory)
	t.OwnerReferences = []metav1.OwnerReference{kmv1.FrameworkOwner(fw.name, fw.uid)}
	if err := w.c.Create(ctx, t); err != nil {
		return fmt.Errorf("creating task %s/%s: %w", t.Namespace, t.Name, err)
	}
	staged := metav1.NewTime(time.Now().Add(-time.Minute))
	started := metav1.NewTime(staged.Add(time.Second))
	st := kmv1.TaskStatus{State: kmv1.TaskRunning, Source: kmv1.SourceExecutor, AgentID: agentID, NodeName: node,
		ExecutorID: execID, PodName: "kubemesos-exec-" + node, StagingTime: &staged, StartTime: &started, LastUpdateTime: &started}
	if kind == "end" {
		done := metav1.NewTime(started.Add(time.Second))
		st.State = endedStates[i%len(endedStates)]
		st.CompletionTime, st.LastUpdateTime = &done, &done
		st.Data = "result 3.14159"
	}
	t.Status = st
	if err := w.c.Status().Update(ctx, t); err != nil {
		return fmt.Errorf("writing the status of task %s/%s: %w", t.Namespace, t.Name, err)
	}
	return nil
}

// setSuppressed sets every framework's spec.suppressOffers, concurrently.
func (w *world) setSuppressed(ctx context.Context, suppress bool) error {
	patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"spec":{"suppressOffers":%t}}`, suppress))
	return parallel(ctx, len(w.frameworks), func(ctx context.Context, i int) error {
		fw := w.frameworks[i]
		if err := w.c.Patch(ctx, &kmv1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: fw.ns, Name: fw.name}}, patch); err != nil {
			return fmt.Errorf("setting suppressOffers=%t on %s/%s: %w", suppress, fw.ns, fw.name, err)
		}
		return nil
	})
}

// deleteOffers deletes every Offer of the runner's frameworks.
func (w *world) deleteOffers(ctx context.Context) error {
	for _, fw := range w.frameworks {
		if err := w.c.DeleteAllOf(ctx, &kmv1.Offer{}, client.InNamespace(fw.ns)); err != nil {
			return fmt.Errorf("deleting the offers in %s: %w", fw.ns, err)
		}
	}
	return nil
}

// offers counts the Offers per framework namespace, and in all.
func (w *world) offers(ctx context.Context) (map[string]int, int, error) {
	var l metav1.PartialObjectMetadataList
	l.SetGroupVersionKind(kmv1.GroupVersion.WithKind("OfferList"))
	if err := w.c.List(ctx, &l); err != nil {
		return nil, 0, fmt.Errorf("listing the offers: %w", err)
	}
	per := map[string]int{}
	for _, o := range l.Items {
		if o.DeletionTimestamp == nil {
			per[o.Namespace]++
		}
	}
	n := 0
	for _, c := range per {
		n += c
	}
	return per, n, nil
}

// parallel runs fn for 0 … n-1 with writers in flight, and returns the
// first error.
func parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var once sync.Once
	var first error
	workqueue.ParallelizeUntil(ctx, writers, n, func(i int) {
		if err := fn(ctx, i); err != nil {
			once.Do(func() { first = err; cancel() })
		}
	})
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}
