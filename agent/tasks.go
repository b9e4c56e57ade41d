package agent

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	utilcache "k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/deletions"
)

// createGrace is how long a pod the agent created may stay out of its
// cache before the agent takes it for vanished.
const createGrace = 30 * time.Second

// taskReconciler is the agent's task controller: it launches the pods of
// the tasks that the master placed on this node under its agentID, turns
// what it sees of them into status updates, carries out kills, and retires
// the executors of frameworks that are done.
type taskReconciler struct {
	// client reads from the agent's node-scoped cache and writes as the
	// agent.
	client   client.Client
	clock    clock.PassiveClock
	recorder events.EventRecorder
	log      logr.Logger
	// options are the agent's settings; executor pods are built from them.
	options Options
	id      *identity
	// server tells which executors are subscribed; dispatch sends them
	// their tasks.
	server   *ExecutorServer
	dispatch *dispatcher
	// updates takes the agent's own reports of its tasks.
	updates *StatusUpdates
	// messages holds the scheduler messages of retired executors.
	messages *messageRelay
	// deletes deletes each executor pod once.
	deletes *deletions.Deleter
	// started is when this agent process started.
	started time.Time
	// live reads the API server past the cache (nil: not at all).
	live client.Reader
	// ended holds the tasks (by UID) this agent ended lately, so that a
	// cache that does not show their terminal state yet, once the
	// update has left the queue, does not make a pod for them again.
	ended *utilcache.LRUExpireCache

	mu      sync.Mutex
	created map[string]time.Time // pods created, by name, until the cache shows them
}

// endedGrace is how long the agent remembers that it ended a task, and
// endedSize how many such tasks at most.
const (
	endedGrace = 5 * time.Minute
	endedSize  = 8192
)

func newEnded(clk clock.Clock) *utilcache.LRUExpireCache {
	return utilcache.NewLRUExpireCacheWithClock(endedSize, clk)
}

// endedHere reports whether the agent ended task uid lately.
func (r *taskReconciler) endedHere(uid types.UID) bool {
	_, ok := r.ended.Get(uid)
	return ok
}

// setup registers the reconciler as the controller agent-tasks: it is
// driven by the node's Tasks, their pods, the node's Agent (through
// agentChanged), the Frameworks that end and requeue's events; it calls
// syncSoon when a kubemesos pod of the node starts or ends stopping,
// another pod takes room on the node, or the Node changes what it offers.
func (r *taskReconciler) setup(mgr ctrl.Manager, agentChanged, syncSoon func(), requeue *requeuer) error {
	podToTasks := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		return r.tasksOfPod(ctx, o.(*corev1.Pod))
	})
	onAgent := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		agentChanged()
		return nil
	})
	// A kubemesos pod that starts or ends stopping changes what the node
	// holds (HeldResources), and another scheduler's pod that comes to
	// the node takes what the agent offers (OfferableResources): the
	// Agent spec is synced apart from the heartbeat, so that the master
	// does not offer it meanwhile. Nothing is enqueued.
	onRoom := handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if tookRoom(nil, e.Object) {
				syncSoon()
			}
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if holds(e.ObjectOld) != holds(e.ObjectNew) || tookRoom(e.ObjectOld, e.ObjectNew) {
				syncSoon()
			}
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if holds(e.Object) {
				syncSoon()
			}
		},
	}
	// A cordon, a taint, or a change of the node's allocatable resources
	// or labels changes what the agent offers (desired): the Agent spec is
	// synced apart from the heartbeat, so that an operator's cordon takes
	// the node out of the offers at once.
	onNode := handler.Funcs{
		// A Node made again under the agent's name (or first seen after
		// the agent's first sync) may be tainted, relabelled or of
		// another size.
		CreateFunc: func(context.Context, event.CreateEvent, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			syncSoon()
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if offeredChanged(e.ObjectOld, e.ObjectNew) {
				syncSoon()
			}
		},
	}
	// A framework that ends lets its idle executors on this node retire.
	frameworkToTasks := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		var tasks kmv1.TaskList
		if err := r.client.List(ctx, &tasks, client.InNamespace(o.GetNamespace())); err != nil {
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
	return ctrl.NewControllerManagedBy(mgr).
		Named("agent-tasks").
		For(&kmv1.Task{}).
		Watches(&corev1.Pod{}, podToTasks).
		Watches(&corev1.Pod{}, onRoom).
		Watches(&kmv1.Agent{}, onAgent).
		Watches(&corev1.Node{}, onNode).
		// Only a framework that is done (or gone) concerns the node's
		// tasks: its every status write would otherwise requeue them all.
		Watches(&kmv1.Framework{}, frameworkToTasks, builder.WithPredicates(frameworkEnds)).
		WatchesRawSource(requeue.source()).
		Complete(r)
}

// Reconcile drives one task that the master placed on this node.
func (r *taskReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var task kmv1.Task
	if err := r.client.Get(ctx, req.NamespacedName, &task); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	agentID := r.id.get()
	if agentID == "" || task.Status.NodeName != r.options.NodeName || task.Status.AgentID != agentID {
		return ctrl.Result{}, nil // not admitted yet, or a task of an old agentID: never ours to report
	}
	if task.Status.State.IsTerminal() {
		return ctrl.Result{}, r.retireExecutor(ctx, &task)
	}
	if r.updates.HasTerminal(req.NamespacedName) || r.endedHere(task.UID) {
		// This agent has ended the task; the update is on its way to the
		// store, or the cache does not show it yet. Nothing more is made
		// or launched for it meanwhile: its pod, deleted, is not made
		// again.
		return ctrl.Result{}, nil
	}
	var pod corev1.Pod
	podName := podNameFor(&task, agentID)
	err := r.client.Get(ctx, types.NamespacedName{Namespace: task.Namespace, Name: podName}, &pod)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("reading pod %s: %w", podName, err)
	}
	if exists {
		r.mu.Lock()
		delete(r.created, podName)
		r.mu.Unlock()
	}
	if task.Spec.Kill {
		return r.kill(ctx, &task, &pod, exists)
	}
	if !exists {
		if r.recentlyCreated(podName) {
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		if task.Status.State != kmv1.TaskStaging {
			return ctrl.Result{}, r.report(ctx, &task, podName, kmv1.TaskLost, kmv1.ReasonExecutorTerminated,
				fmt.Sprintf("executor pod %s vanished", podName), "vanished")
		}
		return ctrl.Result{}, r.createPod(ctx, &task, podName)
	}
	if task.Spec.Command != nil {
		return ctrl.Result{}, r.observeCommandPod(ctx, &task, &pod)
	}
	if r.replacesEndedExecutor(&task, &pod) {
		// A new task for an executor whose pod already ended: remove the
		// old pod, and the next pass starts a fresh one. A pod the
		// kubelet refused would be refused again: the task fails with the
		// kubelet's reason instead.
		if why := refusedByKubelet(&pod); why != "" {
			if err := r.report(ctx, &task, podName, kmv1.TaskFailed, kmv1.ReasonContainerLaunchFailed, why, "refused"); err != nil {
				return ctrl.Result{}, err
			}
		}
		if _, err := r.deletes.Delete(ctx, &pod, client.GracePeriodSeconds(0)); err != nil {
			return ctrl.Result{}, fmt.Errorf("replacing the ended executor pod: %w", err)
		}
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	if r.awaitsGoingExecutor(&task, &pod) {
		// The pod's deletion brings the task back; then a fresh pod starts.
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	if msg := mismatchedExecutor(&task, &pod); msg != "" && task.Status.State == kmv1.TaskStaging && pod.DeletionTimestamp == nil {
		return ctrl.Result{}, r.report(ctx, &task, podName, kmv1.TaskError, kmv1.ReasonTaskInvalid, msg, "executor-mismatch")
	}
	return r.driveExecutor(ctx, &task, &pod)
}

// mismatchedExecutor says how the executor a task names differs from the
// one its executor ID runs in pod ("" when it does not): as in Mesos, a
// task that gives a running executor's ID another image or command is
// invalid, never run by the executor it does not describe.
func mismatchedExecutor(t *kmv1.Task, pod *corev1.Pod) string {
	ex := t.Spec.Executor
	if ex == nil {
		return ""
	}
	i := slices.IndexFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == executorContainer })
	if h, ok := pod.Annotations[AnnotationExecutorSpec]; ok {
		if h == executorSpecHash(ex) {
			return ""
		}
	} else if i < 0 {
		return "" // a pod of an agent that wrote no digest, and not the agent's shape
	} else if c := pod.Spec.Containers[i]; c.Image == ex.Image && slices.Equal(c.Command, ex.Command) && slices.Equal(c.Args, ex.Args) {
		return "" // a pod of an agent that did not write the digest yet
	}
	c := pod.Spec.Containers[0]
	if i >= 0 {
		c = pod.Spec.Containers[i]
	}
	return fmt.Sprintf("executor %s runs on this agent as image %s, command %q, args %q; the task describes image %s, command %q, args %q: a task must describe the running executor of its executor ID",
		ex.ExecutorID, c.Image, c.Command, c.Args, ex.Image, ex.Command, ex.Args)
}

// replacesEndedExecutor reports whether a staged task that was never sent to
// its executor finds that executor's pod ended: the pod must be replaced,
// not blamed for a task it never ran.
func (r *taskReconciler) replacesEndedExecutor(t *kmv1.Task, pod *corev1.Pod) bool {
	if t.Status.State != kmv1.TaskStaging || pod.DeletionTimestamp != nil ||
		(pod.Status.Phase != corev1.PodFailed && pod.Status.Phase != corev1.PodSucceeded) {
		return false
	}
	return !r.dispatch.launched(t)
}

// awaitsGoingExecutor reports whether a staged task that was never sent to
// its executor finds that executor's pod being deleted (shut down, timed
// out, or replaced after it ended): the task waits for the pod to go, and a
// fresh pod then runs it, rather than failing with a pod it never ran on.
// It waits at most --executor-registration-timeout past the pod's
// deletion time, as it would for a fresh executor to subscribe.
func (r *taskReconciler) awaitsGoingExecutor(t *kmv1.Task, pod *corev1.Pod) bool {
	if t.Spec.Executor == nil || t.Status.State != kmv1.TaskStaging || pod.DeletionTimestamp == nil || r.dispatch.launched(t) {
		return false
	}
	return r.clock.Since(pod.DeletionTimestamp.Time) < r.options.ExecutorRegistrationTimeout
}

// refusedByKubelet says why the kubelet refused pod at admission (for
// example OutOfcpu, when the node's requests leave no room), or "" if it
// did not: the pod failed without any container ever made.
func refusedByKubelet(pod *corev1.Pod) string {
	if pod.Status.Phase != corev1.PodFailed || len(pod.Status.ContainerStatuses) > 0 || pod.Status.Reason == "" {
		return ""
	}
	return fmt.Sprintf("the kubelet refused executor pod %s: %s: %s", pod.Name, pod.Status.Reason, pod.Status.Message)
}

// recentlyCreated reports whether the reconciler created pod name lately,
// so that the cache may not show it yet. It forgets pods created long ago.
func (r *taskReconciler) recentlyCreated(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.created[name]
	if ok && r.clock.Since(at) >= createGrace {
		delete(r.created, name)
		return false
	}
	return ok
}

// report queues an update produced by the agent itself. Its UUID is
// derived from the task, state and cause, so repeating it is harmless.
func (r *taskReconciler) report(ctx context.Context, t *kmv1.Task, pod string, state kmv1.TaskState, reason kmv1.TaskReason, msg, cause string) error {
	if state.Rank() <= t.Status.State.Rank() && !(state.IsTerminal() && !t.Status.State.IsTerminal()) {
		return nil
	}
	key := client.ObjectKeyFromObject(t)
	for _, p := range r.updates.Pending(key) {
		if p.State.IsTerminal() || (p.State.Rank() >= state.Rank() && !state.IsTerminal()) {
			return nil // something at least as far along is on its way
		}
	}
	err := r.updates.Enqueue(ctx, Update{
		UUID: "agent/" + string(t.UID) + "/" + string(state) + "/" + cause, Task: key, AgentID: t.Status.AgentID,
		Framework: string(t.Spec.Framework), ExecutorID: executorOf(t).ExecutorID, PodName: pod, State: state, Reason: reason, Source: kmv1.SourceAgent,
		Message: msg, Timestamp: r.clock.Now(),
	})
	if err == nil && state.IsTerminal() {
		r.ended.Add(t.UID, true, endedGrace)
	}
	return err
}

// frameworkID is the Mesos ID of t's framework: the UID of the Framework
// that owns it, else of the one it names.
func (r *taskReconciler) frameworkID(ctx context.Context, t *kmv1.Task) (string, error) {
	for _, ref := range t.OwnerReferences {
		if ref.Kind == "Framework" && ref.Name == string(t.Spec.Framework) {
			return string(ref.UID), nil
		}
	}
	var fw kmv1.Framework
	err := r.client.Get(ctx, types.NamespacedName{Namespace: t.Namespace, Name: string(t.Spec.Framework)}, &fw)
	if apierrors.IsNotFound(err) {
		// A framework that is gone has no ID; its task's executor finds
		// no framework when it subscribes.
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading framework %s of task %s: %w", t.Spec.Framework, t.Name, err)
	}
	return string(fw.UID), nil
}

// createPod launches the pod of a command task or of a custom executor.
func (r *taskReconciler) createPod(ctx context.Context, t *kmv1.Task, name string) error {
	fwID, err := r.frameworkID(ctx, t)
	if err != nil {
		return err
	}
	pod, err := ExecutorPod(t, name, r.id.get(), fwID, r.options, r.client.Scheme())
	if err != nil {
		return err
	}
	if err := r.client.Create(ctx, pod); err != nil && !apierrors.IsAlreadyExists(err) && !r.made(ctx, pod) {
		msg := fmt.Sprintf("creating executor pod %s: %v", name, err)
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
			return r.report(ctx, t, name, kmv1.TaskFailed, kmv1.ReasonContainerLaunchFailed, msg, "launch")
		}
		return fmt.Errorf("%s", msg)
	}
	r.mu.Lock()
	r.created[name] = r.clock.Now()
	r.mu.Unlock()
	r.log.V(1).Info("executor pod created", "pod", name, "task", client.ObjectKeyFromObject(t))
	return nil
}

// made reports whether pod exists in the API server as this agent made
// it (its name and agentID), though its create failed: an earlier create
// that timed out was applied, and the retry was refused (a quota now full
// with that very pod, say). The task is not failed for a pod that runs.
func (r *taskReconciler) made(ctx context.Context, pod *corev1.Pod) bool {
	if r.live == nil {
		return false
	}
	var got corev1.Pod
	if err := r.live.Get(ctx, client.ObjectKeyFromObject(pod), &got); err != nil {
		return false
	}
	return got.Annotations[AnnotationAgentID] == pod.Annotations[AnnotationAgentID] && got.DeletionTimestamp == nil
}

// observeCommandPod turns a command pod's phase and container state into
// task states.
func (r *taskReconciler) observeCommandPod(ctx context.Context, t *kmv1.Task, pod *corev1.Pod) error {
	switch {
	case pod.DeletionTimestamp != nil:
		return r.report(ctx, t, pod.Name, kmv1.TaskFailed, kmv1.ReasonExecutorTerminated, fmt.Sprintf("pod %s was deleted before the task ended", pod.Name), "deleted")
	case pod.Status.Phase == corev1.PodSucceeded:
		return r.report(ctx, t, pod.Name, kmv1.TaskFinished, "", "command exited with code 0", "exit")
	case pod.Status.Phase == corev1.PodFailed:
		if pod.Status.Reason == "Evicted" {
			return r.report(ctx, t, pod.Name, kmv1.TaskFailed, kmv1.ReasonExecutorTerminated, "pod evicted: "+pod.Status.Message, "evicted")
		}
		return r.report(ctx, t, pod.Name, kmv1.TaskFailed, kmv1.ReasonCommandExecutorFailed, exitMessage(pod), "exit")
	case pod.Status.Phase == corev1.PodRunning:
		return r.report(ctx, t, pod.Name, kmv1.TaskRunning, "", "command running in pod "+pod.Name, "running")
	default:
		return r.report(ctx, t, pod.Name, kmv1.TaskStarting, "", "pod "+pod.Name+" created", "starting")
	}
}

// exitMessage describes why a pod's container ended.
func exitMessage(pod *corev1.Pod) string {
	for _, cs := range pod.Status.ContainerStatuses {
		if term := cs.State.Terminated; term != nil {
			msg := fmt.Sprintf("command exited with code %d", term.ExitCode)
			if term.Reason != "" {
				msg += " (" + term.Reason + ")"
			}
			if term.Message != "" {
				msg += ": " + strings.TrimSpace(term.Message)
			}
			return msg
		}
	}
	if pod.Status.Message != "" {
		return "pod failed: " + pod.Status.Message
	}
	return "pod failed"
}

// driveExecutor launches a task on its running custom executor, and fails
// its tasks if the executor pod ends or never subscribes.
func (r *taskReconciler) driveExecutor(ctx context.Context, t *kmv1.Task, pod *corev1.Pod) (ctrl.Result, error) {
	k := executorOf(t)
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
		why := fmt.Sprintf("executor pod %s ended (%s) before the task did", pod.Name, pod.Status.Phase)
		if pod.DeletionTimestamp != nil {
			why = fmt.Sprintf("executor pod %s was deleted before the task ended", pod.Name)
		}
		if pod.Status.Reason == "Evicted" {
			why = fmt.Sprintf("executor pod %s was evicted: %s", pod.Name, pod.Status.Message)
		}
		return ctrl.Result{}, r.report(ctx, t, pod.Name, kmv1.TaskFailed, kmv1.ReasonExecutorTerminated, why, "executor-ended")
	}
	if !r.server.Subscribed(k) {
		return r.awaitSubscription(ctx, t, pod)
	}
	if t.Status.State == kmv1.TaskStaging {
		return r.launch(ctx, t)
	}
	return ctrl.Result{}, nil
}

// awaitSubscription gives an executor --executor-registration-timeout to
// subscribe, from the latest of its pod's creation, the agent's start and
// the end of its last stream: a task staged on an executor that is
// subscribing again (after the agent restarted, or its stream broke) waits
// for it as the executor's running tasks do. Then the task fails and the
// pod is removed, so that no task waits for ever behind an executor that is
// gone.
func (r *taskReconciler) awaitSubscription(ctx context.Context, t *kmv1.Task, pod *corev1.Pod) (ctrl.Result, error) {
	k := executorOf(t)
	timeout := r.options.ExecutorRegistrationTimeout
	since, again := pod.CreationTimestamp.Time, t.Status.State != kmv1.TaskStaging
	// A pod made before this agent started (its creation time is in
	// whole seconds) had its executor subscribed to the agent before.
	if pod.CreationTimestamp.Add(time.Second).Before(r.started) {
		since, again = r.started, true
	}
	if gone, ok := r.server.UnsubscribedSince(k); ok && gone.After(since) {
		since, again = gone, true
	}
	reason, cause := kmv1.ReasonExecutorRegistrationTimeout, "registration"
	what := fmt.Sprintf("executor %s did not subscribe within %s", k.ExecutorID, timeout)
	if again {
		reason, cause = kmv1.ReasonExecutorReregistrationTimeout, "reregistration"
		what = fmt.Sprintf("executor %s did not subscribe again within %s", k.ExecutorID, timeout)
	}
	if wait := timeout - r.clock.Since(since); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	if err := r.report(ctx, t, pod.Name, kmv1.TaskFailed, reason, what, cause); err != nil {
		return ctrl.Result{}, err
	}
	if _, err := r.deletes.Delete(ctx, pod); err != nil {
		return ctrl.Result{}, fmt.Errorf("removing the executor pod (%s): %w", what, err)
	}
	return ctrl.Result{}, nil
}

// kill carries out spec.kill: a command pod is deleted with the task's
// grace period; a custom executor gets KILL. A task that never started is
// killed at once.
func (r *taskReconciler) kill(ctx context.Context, t *kmv1.Task, pod *corev1.Pod, exists bool) (ctrl.Result, error) {
	podName := podNameFor(t, r.id.get())
	if t.Spec.Command != nil {
		switch {
		case !exists && t.Status.State == kmv1.TaskStaging && !r.recentlyCreated(podName):
			return ctrl.Result{}, r.report(ctx, t, podName, kmv1.TaskKilled, kmv1.ReasonTaskKilledDuringLaunch, "killed before it started", "kill")
		case !exists || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
			if exists && pod.Status.Phase == corev1.PodSucceeded {
				return ctrl.Result{}, r.report(ctx, t, podName, kmv1.TaskFinished, "", "command exited with code 0", "exit")
			}
			return ctrl.Result{}, r.report(ctx, t, podName, kmv1.TaskKilled, "", "killed", "kill")
		case pod.DeletionTimestamp == nil:
			if err := r.report(ctx, t, podName, kmv1.TaskKilling, "", "killing: deleting pod "+podName, "kill"); err != nil {
				return ctrl.Result{}, err
			}
			var opts []client.DeleteOption
			if g := t.Spec.KillGracePeriodSeconds; g != nil {
				opts = append(opts, client.GracePeriodSeconds(*g))
			}
			if _, err := r.deletes.Delete(ctx, pod, opts...); err != nil {
				return ctrl.Result{}, fmt.Errorf("killing task %s: %w", client.ObjectKeyFromObject(t), err)
			}
			r.recorder.Eventf(t, nil, corev1.EventTypeNormal, "Killing", "Kill", "deleting pod %s", podName)
		}
		return ctrl.Result{}, nil // the pod's deletion brings us back
	}
	if t.Status.State == kmv1.TaskStaging && !r.dispatch.launched(t) {
		return ctrl.Result{}, r.killBeforeLaunch(ctx, t, podName)
	}
	if !exists {
		return ctrl.Result{}, r.report(ctx, t, podName, kmv1.TaskKilled, "", "killed; the executor pod is gone", "kill")
	}
	r.dispatch.kill(t)
	// The executor answers with TASK_KILLED; if its pod ends first, the
	// task fails with it.
	return r.driveExecutor(ctx, t, pod)
}

// frameworkEnds passes the events of a framework that is done, or gone.
var frameworkEnds = predicate.Funcs{
	CreateFunc:  func(e event.CreateEvent) bool { return e.Object.(*kmv1.Framework).LaunchesNoMore() },
	UpdateFunc:  func(e event.UpdateEvent) bool { return e.ObjectNew.(*kmv1.Framework).LaunchesNoMore() },
	DeleteFunc:  func(event.DeleteEvent) bool { return true },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

// retireExecutor shuts task t's custom executor down once its framework is
// done and it runs no live task on this node.
func (r *taskReconciler) retireExecutor(ctx context.Context, t *kmv1.Task) error {
	if t.Spec.Executor == nil {
		return nil
	}
	var askedAt time.Time
	if v, ok := t.Annotations[kmv1.AnnotationShutdownExecutor]; ok {
		askedAt, _ = time.Parse(time.RFC3339, v)
	}
	return r.retireIfIdle(ctx, executorOf(t), podNameFor(t, r.id.get()), askedAt)
}

// retireIfIdle shuts executor k down, and deletes its pod podName, once its
// framework is done (or gone), or a shutdown was asked at askedAt of the
// pod that ran then, and k runs no live task on this node under the
// current agentID.
func (r *taskReconciler) retireIfIdle(ctx context.Context, k ExecutorKey, podName string, askedAt time.Time) error {
	var pod corev1.Pod
	if err := r.client.Get(ctx, types.NamespacedName{Namespace: k.Namespace, Name: podName}, &pod); err != nil {
		return client.IgnoreNotFound(err) // already gone
	}
	if pod.DeletionTimestamp != nil {
		return nil // each of the executor's tasks comes here: shut it down once
	}
	asked := !askedAt.IsZero() && !pod.CreationTimestamp.After(askedAt)
	if !asked {
		var fw kmv1.Framework
		err := r.client.Get(ctx, types.NamespacedName{Namespace: k.Namespace, Name: k.Framework}, &fw)
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		if err == nil && !fw.LaunchesNoMore() {
			return nil
		}
	}
	agentID := r.id.get()
	var tasks kmv1.TaskList
	if err := r.client.List(ctx, &tasks, client.MatchingFields{indexTaskExecutor: k.String()}); err != nil {
		return err
	}
	for i := range tasks.Items {
		if s := tasks.Items[i].Status.State; s != "" && !s.IsTerminal() && tasks.Items[i].Status.AgentID == agentID {
			return nil
		}
	}
	r.dispatch.shutdown(k)
	r.messages.drop(k, "dropping the messages of an executor that was shut down")
	if _, err := r.deletes.Delete(ctx, &pod); err != nil {
		return fmt.Errorf("shutting down executor %s: %w", k, err)
	}
	return nil
}

// tasksOfPod maps an executor pod to its tasks.
func (r *taskReconciler) tasksOfPod(ctx context.Context, p *corev1.Pod) []reconcile.Request {
	if _, ok := p.Labels[kmv1.LabelTask]; ok {
		// A command pod is owned by its task.
		for _, ref := range p.OwnerReferences {
			if ref.Kind == "Task" && ref.APIVersion == kmv1.GroupVersion.String() {
				return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: p.Namespace, Name: ref.Name}}}
			}
		}
		return nil
	}
	exec := executorIDOfPod(p)
	if exec == "" {
		return nil
	}
	var tasks kmv1.TaskList
	key := p.Namespace + "/" + p.Labels[kmv1.LabelFramework] + "/" + exec
	if err := r.client.List(ctx, &tasks, client.MatchingFields{indexTaskExecutor: key}); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(tasks.Items))
	for i := range tasks.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&tasks.Items[i])})
	}
	return out
}

// requeuer asks the task reconciler to look at tasks again for causes it
// does not watch: an executor's subscription that starts or ends, and a new
// agentID.
type requeuer struct {
	tasks client.Reader
	ch    chan event.GenericEvent
}

func newRequeuer(tasks client.Reader) *requeuer {
	return &requeuer{tasks: tasks, ch: make(chan event.GenericEvent, 4096)}
}

// source is the requeues, as a source of the reconciler's controller.
func (q *requeuer) source() source.Source {
	return source.Channel(q.ch, &handler.EnqueueRequestForObject{})
}

// all requeues every task on the node.
func (q *requeuer) all(ctx context.Context) error {
	var tasks kmv1.TaskList
	if err := q.tasks.List(ctx, &tasks); err != nil {
		return fmt.Errorf("listing the node's tasks: %w", err)
	}
	q.add(tasks.Items)
	return nil
}

// executor requeues the tasks of executor k.
func (q *requeuer) executor(ctx context.Context, k ExecutorKey) error {
	var tasks kmv1.TaskList
	if err := q.tasks.List(ctx, &tasks, client.MatchingFields{indexTaskExecutor: k.String()}); err != nil {
		return fmt.Errorf("listing the tasks of executor %s: %w", k, err)
	}
	q.add(tasks.Items)
	return nil
}

func (q *requeuer) add(tasks []kmv1.Task) {
	for i := range tasks {
		select {
		case q.ch <- event.GenericEvent{Object: &tasks[i]}:
		default: // full: the next resync catches up
		}
	}
}
