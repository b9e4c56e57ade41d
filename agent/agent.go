package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/deletions"
	"github.com/kubemesos/kubemesos/internal/messages"
)

// AnnotationAgentID records on each executor pod the agentID it was
// launched under, so a re-admitted agent can find and kill the old ones.
const AnnotationAgentID = kmv1.AnnotationAgentID

// Index of the agent's Task cache.
const indexTaskExecutor = "task.executor"

// indexPodNode indexes the cached pods by spec.nodeName.
const indexPodNode = "spec.nodeName"

// Options are the agent's settings.
type Options struct {
	// NodeName is the agent's node.
	NodeName string
	// Endpoint is the executor API address that executors dial, host:port.
	Endpoint string
	// Listen is the address the executor API listens on.
	Listen string
	// WorkDir holds the checkpoints.
	WorkDir string
	// LeaseNamespace holds the heartbeat Lease.
	LeaseNamespace string
	// HeartbeatInterval is how often the Lease is renewed.
	HeartbeatInterval time.Duration
	// ExecutorRegistrationTimeout is how long an executor pod may take to
	// subscribe before its tasks fail (Mesos 1m), and how long an executor
	// that had subscribed may go without a subscription (after the agent
	// restarted, or its stream ended) before its running tasks fail.
	ExecutorRegistrationTimeout time.Duration
	// OfferTolerations are the node taints (NoSchedule, NoExecute) under
	// which the node is still offered; executor pods carry them. Under any
	// other such taint, or a cordon, the node offers nothing.
	OfferTolerations []corev1.Toleration
}

// Agent is the kubemesos agent of one node.
type Agent struct {
	Client   client.Client
	Clock    clock.WithTicker
	Recorder events.EventRecorder
	Options  Options
	Log      logr.Logger

	registrar *Registrar
	server    *ExecutorServer
	auth      *tokenAuthenticator
	// deletes deletes each executor pod once.
	deletes  *deletions.Deleter
	updates  *StatusUpdates
	messages *messageRelay
	wake     chan struct{}

	mu       sync.Mutex
	state    *State
	launched map[types.UID]bool
	killed   map[types.UID]bool
	created  map[string]time.Time // pods created, by name, until the cache shows them
	requeue  chan event.GenericEvent
	started  time.Time // when this agent process started
}

// New makes an agent. It loads the checkpoint under o.WorkDir.
func New(c client.Client, clk clock.WithTicker, rec events.EventRecorder, o Options, log logr.Logger) (*Agent, error) {
	st, err := LoadState(o.WorkDir, log)
	if err != nil {
		return nil, err
	}
	a := &Agent{Client: c, Clock: clk, Recorder: rec, Options: o, Log: log, state: st, wake: make(chan struct{}, 1),
		launched: map[types.UID]bool{}, killed: map[types.UID]bool{}, created: map[string]time.Time{},
		requeue: make(chan event.GenericEvent, 4096)}
	a.registrar = &Registrar{Client: c, Clock: clk, NodeName: o.NodeName, Endpoint: o.Endpoint, LeaseNamespace: o.LeaseNamespace,
		Interval: o.HeartbeatInterval, LeaseDuration: 3 * o.HeartbeatInterval, Tolerations: o.OfferTolerations}
	a.server = &ExecutorServer{Hooks: a, Log: log.WithName("executor-api"), Clock: clk}
	a.auth = newTokenAuthenticator(ClientTokenReview(c), clk, log.WithName("executor-auth"))
	a.deletes = deletions.New(c, clk)
	a.started = clk.Now()
	a.updates = NewStatusUpdates(filepath.Join(o.WorkDir, "updates"), a.writeUpdate, a.acknowledge, clk, log.WithName("status-updates"))
	a.messages = newMessageRelay(a.server, messages.NewDeleter(c, log.WithName("messages")), a.executorKnown, log.WithName("messages"))
	return a, nil
}

// Server is the executor API handler.
func (a *Agent) Server() *ExecutorServer { return a.server }

// Updates is the status update manager.
func (a *Agent) Updates() *StatusUpdates { return a.updates }

// AgentID returns the agentID the agent runs under, "" before admission.
func (a *Agent) AgentID() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state.AgentID
}

// CacheOptions is what the agent of node caches: its own Node, Agent and
// heartbeat Lease (in leaseNamespace), the pods and Tasks on its node, and
// the message Events addressed to it. The CLI and the test harness both
// use it, so tests run the production wiring.
func CacheOptions(node, leaseNamespace string) cache.Options {
	own := fields.OneTermEqualSelector("metadata.name", node)
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Node{}:    {Field: own},
			&kmv1.Agent{}:     {Field: own},
			&corev1.Pod{}:     {Field: fields.OneTermEqualSelector("spec.nodeName", node)},
			&kmv1.Task{}:      {Field: fields.OneTermEqualSelector("status.nodeName", node)},
			&eventsv1.Event{}: {Label: MessageSelector(node)},
			&coordinationv1.Lease{}: {
				Namespaces: map[string]cache.Config{leaseNamespace: {}},
				Field:      fields.OneTermEqualSelector("metadata.name", kmv1.AgentLeaseName(node)),
			},
		},
	}
}

// SetupWithManager registers the agent's indexes, its loops and its task
// controller.
func (a *Agent) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &corev1.Pod{}, indexPodNode, func(o client.Object) []string {
		return []string{o.(*corev1.Pod).Spec.NodeName}
	}); err != nil {
		return fmt.Errorf("indexing pods by node: %w", err)
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &kmv1.Task{}, indexTaskExecutor, func(o client.Object) []string {
		t := o.(*kmv1.Task)
		if t.Status.ExecutorID == "" {
			return nil
		}
		return []string{kmv1.ExecutorRef{Namespace: t.Namespace, Framework: string(t.Spec.Framework), ExecutorID: t.Status.ExecutorID}.String()}
	}); err != nil {
		return fmt.Errorf("indexing tasks by executor: %w", err)
	}
	if err := a.updates.Recover(); err != nil {
		return err
	}
	podToTasks := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		return a.tasksOfPod(ctx, o.(*corev1.Pod))
	})
	agentChanged := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		a.poke()
		return nil
	})
	// A framework that ends lets its idle executors on this node retire.
	frameworkToTasks := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		var tasks kmv1.TaskList
		if err := a.Client.List(ctx, &tasks, client.InNamespace(o.GetNamespace())); err != nil {
			return nil
		}
		var out []reconcile.Request
		for i := range tasks.Items {
			if string(tasks.Items[i].Spec.Framework) == o.GetName() {
				out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&tasks.Items[i])})
			}
		}
		return out
	})
	err := ctrl.NewControllerManagedBy(mgr).
		Named("agent-tasks").
		For(&kmv1.Task{}).
		Watches(&corev1.Pod{}, podToTasks).
		Watches(&kmv1.Agent{}, agentChanged).
		Watches(&kmv1.Framework{}, frameworkToTasks).
		WatchesRawSource(source.Channel(a.requeue, &handler.EnqueueRequestForObject{})).
		Complete(reconcile.Func(a.reconcileTask))
	if err != nil {
		return err
	}
	inf, err := mgr.GetCache().GetInformer(ctx, &eventsv1.Event{})
	if err != nil {
		return fmt.Errorf("watching scheduler messages: %w", err)
	}
	if err := a.messages.watch(inf); err != nil {
		return err
	}
	return mgr.Add(a)
}

// NeedLeaderElection is false: every node runs its own agent.
func (a *Agent) NeedLeaderElection() bool { return false }

func (a *Agent) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Start runs the executor API, the status update manager, and the
// registration loop (Agent spec, heartbeat, admission) until ctx ends.
func (a *Agent) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.Options.Listen)
	if err != nil {
		return fmt.Errorf("listening for executors on %s: %w", a.Options.Listen, err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := a.server.Serve(ctx, ln); err != nil {
			a.Log.Error(err, "executor API stopped")
		}
	}()
	defer func() { <-served }()
	go a.updates.Run(ctx)
	go a.messages.run(ctx)

	ticker := a.Clock.NewTicker(a.Options.HeartbeatInterval)
	defer ticker.Stop()
	beat := true
	for {
		if beat {
			if err := a.registrar.Heartbeat(ctx); err != nil {
				a.Log.Error(err, "renewing the heartbeat Lease")
			}
			if err := a.registrar.SyncAgent(ctx); err != nil {
				a.Log.Error(err, "updating the Agent spec")
			}
		}
		if err := a.checkAdmission(ctx); err != nil {
			a.Log.Error(err, "checking admission")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
			beat = true
		case <-a.wake:
			beat = false // only the Agent changed: check admission
		}
	}
}

// checkAdmission follows the agentID that the master assigned. A new ID
// after an old one means the master re-admitted this node as a new agent:
// the agent kills every executor of the old ID, forgets its updates, and
// carries on as the new agent.
func (a *Agent) checkAdmission(ctx context.Context) error {
	var ag kmv1.Agent
	if err := a.Client.Get(ctx, types.NamespacedName{Name: a.Options.NodeName}, &ag); err != nil {
		return client.IgnoreNotFound(err)
	}
	id := ag.Status.AgentID
	a.mu.Lock()
	old := a.state.AgentID
	a.mu.Unlock()
	if id == "" || id == old {
		return nil
	}
	if old != "" {
		a.Log.Info("the master re-admitted this node as a new agent; killing the executors of the old agentID", "old", old, "new", id)
		a.Recorder.Eventf(&ag, nil, corev1.EventTypeWarning, "AgentIDChanged", "Reregister",
			"agentID %s replaced by %s: killing the old agent's executors; its tasks stay lost", old, id)
		a.updates.DropAgent(old)
		if err := a.killAgentPods(ctx, old); err != nil {
			return err
		}
	}
	a.mu.Lock()
	a.state.AgentID = id
	a.launched = map[types.UID]bool{}
	a.killed = map[types.UID]bool{}
	st := *a.state
	a.mu.Unlock()
	if err := SaveState(a.Options.WorkDir, &st); err != nil {
		return err
	}
	a.Log.Info("running as agent", "agentID", id)
	a.requeueAll(ctx)
	return nil
}

// killAgentPods deletes every executor pod on the node launched under agentID.
func (a *Agent) killAgentPods(ctx context.Context, agentID string) error {
	var pods corev1.PodList
	if err := a.Client.List(ctx, &pods, client.MatchingLabels{kmv1.LabelAgent: a.Options.NodeName}); err != nil {
		return fmt.Errorf("listing executor pods: %w", err)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Annotations[AnnotationAgentID] != agentID || p.DeletionTimestamp != nil {
			continue
		}
		if exec := p.Labels[kmv1.LabelExecutor]; exec != "" {
			k := ExecutorKey{Namespace: p.Namespace, Framework: p.Labels[kmv1.LabelFramework], ExecutorID: exec}
			a.server.Disconnect(k)
			a.messages.drop(k, "dropping the messages of an executor of the old agentID")
		}
		if _, err := a.deletes.Delete(ctx, p); err != nil {
			return fmt.Errorf("killing a pod of old agent %s: %w", agentID, err)
		}
	}
	return nil
}

// requeueAll asks for every task on the node to be reconciled.
func (a *Agent) requeueAll(ctx context.Context) {
	var tasks kmv1.TaskList
	if err := a.Client.List(ctx, &tasks); err != nil {
		return
	}
	for i := range tasks.Items {
		select {
		case a.requeue <- event.GenericEvent{Object: &tasks.Items[i]}:
		default: // full: the next resync catches up
		}
	}
}

// tasksOfPod maps an executor pod to its tasks.
func (a *Agent) tasksOfPod(ctx context.Context, p *corev1.Pod) []reconcile.Request {
	if _, ok := p.Labels[kmv1.LabelTask]; ok {
		// A command pod is owned by its task.
		for _, ref := range p.OwnerReferences {
			if ref.Kind == "Task" && ref.APIVersion == kmv1.GroupVersion.String() {
				return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: p.Namespace, Name: ref.Name}}}
			}
		}
		return nil
	}
	exec := p.Labels[kmv1.LabelExecutor]
	if exec == "" {
		return nil
	}
	var tasks kmv1.TaskList
	key := p.Namespace + "/" + p.Labels[kmv1.LabelFramework] + "/" + exec
	if err := a.Client.List(ctx, &tasks, client.MatchingFields{indexTaskExecutor: key}); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(tasks.Items))
	for i := range tasks.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&tasks.Items[i])})
	}
	return out
}

// writeUpdate writes one update into the Task's status with a merge patch
// of exactly the fields the agent owns. Refusals by the registry (the task
// reached a terminal state first) and gone tasks are final: they return nil.
func (a *Agent) writeUpdate(ctx context.Context, u Update) error {
	var task kmv1.Task
	if err := a.Client.Get(ctx, u.Task, &task); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	if task.Status.AgentID != u.AgentID || task.Status.State.IsTerminal() {
		a.Log.V(1).Info("dropping an update the registry no longer takes", "task", u.Task, "state", u.State, "current", task.Status.State)
		return nil
	}
	ts := metav1.NewTime(u.Timestamp)
	status := map[string]any{
		"state":          u.State,
		"source":         u.Source,
		"message":        u.Message,
		"lastUpdateTime": ts,
	}
	if u.Reason != "" {
		status["reason"] = u.Reason
	} else {
		status["reason"] = nil
	}
	if u.Data != "" {
		status["data"] = u.Data
	}
	if u.Healthy != nil {
		status["healthy"] = *u.Healthy
	}
	if u.ExecutorID != "" {
		status["executorID"] = u.ExecutorID
	}
	if u.PodName != "" {
		status["podName"] = u.PodName
	}
	if u.State == kmv1.TaskRunning && task.Status.StartTime == nil {
		status["startTime"] = ts
	}
	if u.State.IsTerminal() {
		status["completionTime"] = ts
	}
	patch, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	err = a.Client.Status().Patch(ctx, &task, client.RawPatch(types.MergePatchType, patch))
	switch {
	case err == nil:
		return nil
	case apierrors.IsInvalid(err) || apierrors.IsNotFound(err):
		a.Log.Info("the registry refused a status update; dropping it", "task", u.Task, "state", u.State, "error", err.Error())
		return nil
	default:
		return err
	}
}

// acknowledge tells the executor that the registry holds its update.
func (a *Agent) acknowledge(u Update) {
	if u.Source != kmv1.SourceExecutor {
		return
	}
	fw := u.Framework
	if fw == "" { // an update checkpointed before updates recorded it
		var task kmv1.Task
		if err := a.Client.Get(context.Background(), u.Task, &task); err != nil {
			return
		}
		fw = string(task.Spec.Framework)
	}
	k := ExecutorKey{Namespace: u.Task.Namespace, Framework: fw, ExecutorID: u.ExecutorID}
	a.server.Send(k, executorapi.Event{Type: executorapi.EventAcknowledged, Acknowledged: &executorapi.Acknowledged{TaskID: u.Task.Name, UUID: u.UUID}})
}
