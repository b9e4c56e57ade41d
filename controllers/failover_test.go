package controllers_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
)

// registryWatch records every task and agent transition the API server
// publishes and checks the registry's promises on each one.
type registryWatch struct {
	mu         sync.Mutex
	violations []string
	tasks      map[string]kmv1.Task
	capacity   map[string]resource.Quantity // cpu by agentID
	unreach    []string
}

func watchRegistry(t *testing.T, ns string, capacity map[string]resource.Quantity) *registryWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	tw, err := wc.Watch(ctx, &kmv1.TaskList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	aw, err := wc.Watch(ctx, &kmv1.AgentList{})
	if err != nil {
		t.Fatal(err)
	}
	rw := &registryWatch{tasks: map[string]kmv1.Task{}, capacity: capacity}
	go func() {
		for ev := range tw.ResultChan() {
			if task, ok := ev.Object.(*kmv1.Task); ok && ev.Type != watch.Deleted {
				rw.task(task)
			}
		}
	}()
	go func() {
		for ev := range aw.ResultChan() {
			if a, ok := ev.Object.(*kmv1.Agent); ok && a.Status.Phase == kmv1.AgentUnreachable {
				rw.mu.Lock()
				rw.unreach = append(rw.unreach, a.Name)
				rw.mu.Unlock()
			}
		}
	}()
	return rw
}

func (rw *registryWatch) task(tk *kmv1.Task) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	prev, seen := rw.tasks[tk.Name]
	if seen && tk.Status.State.Rank() < prev.Status.State.Rank() {
		rw.violations = append(rw.violations, fmt.Sprintf("task %s went back from %s to %s", tk.Name, prev.Status.State, tk.Status.State))
	}
	if seen && prev.Status.State.IsTerminal() && tk.Status.State != prev.Status.State {
		rw.violations = append(rw.violations, fmt.Sprintf("terminal task %s changed from %s to %s", tk.Name, prev.Status.State, tk.Status.State))
	}
	rw.tasks[tk.Name] = *tk.DeepCopy()
	used := map[string]*resource.Quantity{}
	for _, x := range rw.tasks {
		if x.Status.State == "" || x.Status.State.IsTerminal() {
			continue
		}
		if used[x.Status.AgentID] == nil {
			used[x.Status.AgentID] = &resource.Quantity{}
		}
		used[x.Status.AgentID].Add(x.Spec.Resources["cpu"])
	}
	for agent, u := range used {
		if c, ok := rw.capacity[agent]; ok && u.Cmp(c) > 0 {
			rw.violations = append(rw.violations, fmt.Sprintf("agent %s has %s cpu of live tasks but only %s: an offer was used twice", agent, u.String(), c.String()))
		}
	}
}

// TestMasterFailover runs two masters on one API server and kills the
// leader while a scheduler launches tasks and an agent finishes them. The
// standby takes over; no task state goes backwards, no offer is used twice,
// and no agent is marked Unreachable.
func TestMasterFailover(t *testing.T) {
	ctx := context.Background()
	o := testOptions()
	o.AgentPingTimeout = 2 * time.Second // well past the leader handover
	leader := startMaster(t, o, true, "master-a")
	eventually(t, "master-a leads", func() (bool, error) { return leaseHolder(t) != "", nil })
	standby := startMaster(t, o, true, "master-b")
	defer standby.stop()
	first := leaseHolder(t)

	addAgent(t, "fail-1", "cpu", "2", "memory", "2Gi")
	addAgent(t, "fail-2", "cpu", "2", "memory", "2Gi")
	_, ns := addFramework(t, b.MakeFramework("failfw", "").RefuseSeconds(0).Obj())
	capacity := map[string]resource.Quantity{}
	for _, n := range []string{"fail-1", "fail-2"} {
		eventually(t, n+" admitted", func() (bool, error) { return getAgent(t, n).Status.AgentID != "", nil })
		capacity[getAgent(t, n).Status.AgentID] = q("2")
	}
	rw := watchRegistry(t, ns, capacity)

	// A scheduler that launches a 500m task on every offer it sees, and an
	// agent that runs each staged task and finishes it.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var launched, finished atomic.Int64
	go func() {
		seq := 0
		for runCtx.Err() == nil {
			var offers kmv1.OfferList
			_ = env.Client.List(runCtx, &offers, client.InNamespace(ns))
			for _, of := range offers.Items {
				if of.DeletionTimestamp != nil {
					continue
				}
				seq++
				tk := b.MakeTask(fmt.Sprintf("ft-%03d", seq), ns).Framework("failfw").Offer(of.Name).Resources("cpu", "500m").Command("busybox").Obj()
				if env.Client.Create(runCtx, tk) == nil {
					launched.Add(1)
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	go func() {
		for runCtx.Err() == nil {
			var tasks kmv1.TaskList
			_ = env.Client.List(runCtx, &tasks, client.InNamespace(ns))
			for i := range tasks.Items {
				tk := &tasks.Items[i]
				next := kmv1.TaskState("")
				switch tk.Status.State {
				case kmv1.TaskStaging:
					next = kmv1.TaskRunning
				case kmv1.TaskRunning:
					next = kmv1.TaskFinished
				}
				if next == "" {
					continue
				}
				patch := client.MergeFromWithOptions(tk.DeepCopy(), client.MergeFromWithOptimisticLock{})
				tk.Status.State, tk.Status.Source = next, kmv1.SourceAgent
				if env.Client.Status().Patch(runCtx, tk, patch) == nil && next == kmv1.TaskFinished {
					finished.Add(1)
				}
			}
			time.Sleep(150 * time.Millisecond)
		}
	}()

	eventually(t, "tasks finish under the first leader", func() (bool, error) { return finished.Load() >= 5, nil })
	// Kill the leader mid-run: it stops without releasing the Lease, as a
	// crashed process would.
	killed := finished.Load()
	if first == "" {
		t.Fatal("no leader")
	}
	leader.stop()
	eventually(t, "the standby takes the Lease", func() (bool, error) {
		h := leaseHolder(t)
		return h != "" && h != first, nil
	})
	eventually(t, "tasks keep finishing under the new leader", func() (bool, error) { return finished.Load() >= killed+8, nil })
	stopRun()
	time.Sleep(300 * time.Millisecond)

	rw.mu.Lock()
	defer rw.mu.Unlock()
	for _, v := range rw.violations {
		t.Error(v)
	}
	if len(rw.unreach) > 0 {
		t.Errorf("agents wrongly marked Unreachable during failover: %v", rw.unreach)
	}
	t.Logf("launched %d tasks, finished %d, %d before the leader was killed", launched.Load(), finished.Load(), killed)
}

func leaseHolder(t *testing.T) string {
	t.Helper()
	var l coordinationv1.Lease
	if err := env.Client.Get(context.Background(), keyOf(systemNS, kmv1.MasterLeaseName), &l); err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// TestNewLeaderHonoursStagedTasks: the old leader staged a task on an offer
// and died before consuming it. A new leader must count that task against
// the offer before it admits anything else on it.
func TestNewLeaderHonoursStagedTasks(t *testing.T) {
	ctx := context.Background()
	old := startMaster(t, testOptions(), false, "old")
	addAgent(t, "heir-1", "cpu", "2", "memory", "2Gi")
	_, ns := addFramework(t, b.MakeFramework("heirfw", "").Obj())
	offer := waitOffer(t, ns, "heirfw")
	old.stop()

	// What the old leader wrote just before it died.
	a := b.MakeTask("staged-before", ns).Framework("heirfw").Offer(offer.Name).Resources("cpu", "2", "memory", "2Gi").Command("busybox").Obj()
	if err := env.Client.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	a.Status = kmv1.TaskStatus{State: kmv1.TaskStaging, Source: kmv1.SourceMaster, AgentID: offer.Spec.AgentID, NodeName: "heir-1"}
	if err := env.Client.Status().Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	second := b.MakeTask("after-failover", ns).Framework("heirfw").Offer(offer.Name).Resources("cpu", "2", "memory", "2Gi").Command("busybox").Obj()
	if err := env.Client.Create(ctx, second); err != nil {
		t.Fatal(err)
	}
	startMaster(t, testOptions(), false, "new")
	eventually(t, "the second task is refused", func() (bool, error) {
		s := getTask(t, ns, "after-failover").Status.State
		return s == kmv1.TaskError || s == kmv1.TaskDropped, nil
	})
	if s := getTask(t, ns, "after-failover").Status.State; s == kmv1.TaskStaging {
		t.Fatal("the new leader used the offer twice")
	}
}
