package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// createGrace is how long a pod the agent created may stay out of its
// cache before the agent takes it for vanished.
const createGrace = 30 * time.Second

// podNameFor names the pod of a task: one per command task, one per custom
// executor and agentID.
func (a *Agent) podNameFor(t *kmv1.Task) string {
	if t.Spec.Executor == nil {
		return commandPodName(t)
	}
	return executorPodName(executorOf(t), a.AgentID())
}

// reconcileTask drives one task that the master placed on this node.
func (a *Agent) reconcileTask(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var task kmv1.Task
	if err := a.Client.Get(ctx, req.NamespacedName, &task); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	agentID := a.AgentID()
	if agentID == "" || task.Status.NodeName != a.Options.NodeName || task.Status.AgentID != agentID {
		return ctrl.Result{}, nil // not admitted yet, or a task of an old agentID: never ours to report
	}
	if task.Status.State.IsTerminal() {
		return ctrl.Result{}, a.retireExecutor(ctx, &task)
	}
	var pod corev1.Pod
	podName := a.podNameFor(&task)
	err := a.Client.Get(ctx, types.NamespacedName{Namespace: task.Namespace, Name: podName}, &pod)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("reading pod %s: %w", podName, err)
	}
	if exists {
		a.mu.Lock()
		delete(a.created, podName)
		a.mu.Unlock()
	}
	if task.Spec.Kill {
		return a.kill(ctx, &task, &pod, exists)
	}
	if !exists {
		if a.recentlyCreated(podName) {
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		if task.Status.State != kmv1.TaskStaging {
			return ctrl.Result{}, a.report(&task, podName, kmv1.TaskLost, kmv1.ReasonExecutorTerminated,
				fmt.Sprintf("executor pod %s vanished", podName), "vanished")
		}
		return ctrl.Result{}, a.createPod(ctx, &task, podName)
	}
	if task.Spec.Command != nil {
		return ctrl.Result{}, a.observeCommandPod(&task, &pod)
	}
	if a.replacesEndedExecutor(&task, &pod) {
		// A new task for an executor whose pod already ended: remove the
		// old pod, and the next pass starts a fresh one.
		if _, err := a.deletes.Delete(ctx, &pod, client.GracePeriodSeconds(0)); err != nil {
			return ctrl.Result{}, fmt.Errorf("replacing the ended executor pod: %w", err)
		}
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	return a.driveExecutor(ctx, &task, &pod)
}

// replacesEndedExecutor reports whether a staged task that was never sent to
// its executor finds that executor's pod ended: the pod must be replaced,
// not blamed for a task it never ran.
func (a *Agent) replacesEndedExecutor(t *kmv1.Task, pod *corev1.Pod) bool {
	if t.Status.State != kmv1.TaskStaging || pod.DeletionTimestamp != nil ||
		(pod.Status.Phase != corev1.PodFailed && pod.Status.Phase != corev1.PodSucceeded) {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return !a.launched[t.UID]
}

func (a *Agent) recentlyCreated(name string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	at, ok := a.created[name]
	return ok && a.Clock.Since(at) < createGrace
}

// report queues an update produced by the agent itself. Its UUID is
// derived from the task, state and cause, so repeating it is harmless.
func (a *Agent) report(t *kmv1.Task, pod string, state kmv1.TaskState, reason kmv1.TaskReason, msg, cause string) error {
	if state.Rank() <= t.Status.State.Rank() && !(state.IsTerminal() && !t.Status.State.IsTerminal()) {
		return nil
	}
	key := client.ObjectKeyFromObject(t)
	for _, p := range a.updates.Pending(key) {
		if p.State.IsTerminal() || (p.State.Rank() >= state.Rank() && !state.IsTerminal()) {
			return nil // something at least as far along is on its way
		}
	}
	return a.updates.Enqueue(Update{
		UUID: "agent/" + string(t.UID) + "/" + string(state) + "/" + cause, Task: key, AgentID: t.Status.AgentID,
		Framework: string(t.Spec.Framework), ExecutorID: executorOf(t).ExecutorID, PodName: pod, State: state, Reason: reason, Source: kmv1.SourceAgent,
		Message: msg, Timestamp: a.Clock.Now(),
	})
}

// createPod launches the pod of a command task or of a custom executor.
func (a *Agent) createPod(ctx context.Context, t *kmv1.Task, name string) error {
	pod, err := ExecutorPod(t, name, a.AgentID(), a.Options, a.Client.Scheme())
	if err != nil {
		return err
	}
	if err := a.Client.Create(ctx, pod); err != nil && !apierrors.IsAlreadyExists(err) {
		msg := fmt.Sprintf("creating executor pod %s: %v", name, err)
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
			return a.report(t, name, kmv1.TaskFailed, kmv1.ReasonContainerLaunchFailed, msg, "launch")
		}
		return fmt.Errorf("%s", msg)
	}
	a.mu.Lock()
	a.created[name] = a.Clock.Now()
	a.mu.Unlock()
	a.Log.V(1).Info("executor pod created", "pod", name, "task", client.ObjectKeyFromObject(t))
	return nil
}

// observeCommandPod turns a command pod's phase and container state into
// task states.
func (a *Agent) observeCommandPod(t *kmv1.Task, pod *corev1.Pod) error {
	switch {
	case pod.DeletionTimestamp != nil:
		return a.report(t, pod.Name, kmv1.TaskFailed, kmv1.ReasonExecutorTerminated, fmt.Sprintf("pod %s was deleted before the task ended", pod.Name), "deleted")
	case pod.Status.Phase == corev1.PodSucceeded:
		return a.report(t, pod.Name, kmv1.TaskFinished, "", "command exited with code 0", "exit")
	case pod.Status.Phase == corev1.PodFailed:
		if pod.Status.Reason == "Evicted" {
			return a.report(t, pod.Name, kmv1.TaskFailed, kmv1.ReasonExecutorTerminated, "pod evicted: "+pod.Status.Message, "evicted")
		}
		return a.report(t, pod.Name, kmv1.TaskFailed, kmv1.ReasonCommandExecutorFailed, exitMessage(pod), "exit")
	case pod.Status.Phase == corev1.PodRunning:
		return a.report(t, pod.Name, kmv1.TaskRunning, "", "command running in pod "+pod.Name, "running")
	default:
		return a.report(t, pod.Name, kmv1.TaskStarting, "", "pod "+pod.Name+" created", "starting")
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
func (a *Agent) driveExecutor(ctx context.Context, t *kmv1.Task, pod *corev1.Pod) (ctrl.Result, error) {
	k := executorOf(t)
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
		why := fmt.Sprintf("executor pod %s ended (%s) before the task did", pod.Name, pod.Status.Phase)
		if pod.DeletionTimestamp != nil {
			why = fmt.Sprintf("executor pod %s was deleted before the task ended", pod.Name)
		}
		if pod.Status.Reason == "Evicted" {
			why = fmt.Sprintf("executor pod %s was evicted: %s", pod.Name, pod.Status.Message)
		}
		if a.updates.HasTerminal(client.ObjectKeyFromObject(t)) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, a.report(t, pod.Name, kmv1.TaskFailed, kmv1.ReasonExecutorTerminated, why, "executor-ended")
	}
	if !a.server.Subscribed(k) {
		return a.awaitSubscription(ctx, t, pod)
	}
	if t.Status.State == kmv1.TaskStaging {
		a.sendLaunch(t)
	}
	return ctrl.Result{}, nil
}

// awaitSubscription gives an executor --executor-registration-timeout to
// subscribe: from its pod's creation while its task is STAGING; once it had
// subscribed (its task is past STAGING), from the agent's start or the end
// of its last stream, whichever is later. Then the task fails and the pod is
// removed, so that no task waits for ever behind an executor that is gone.
func (a *Agent) awaitSubscription(ctx context.Context, t *kmv1.Task, pod *corev1.Pod) (ctrl.Result, error) {
	k := executorOf(t)
	since, reason, cause := pod.CreationTimestamp.Time, kmv1.ReasonExecutorRegistrationTimeout, "registration"
	what := fmt.Sprintf("executor %s did not subscribe within %s", k.ExecutorID, a.Options.ExecutorRegistrationTimeout)
	resubscribing := t.Status.State != kmv1.TaskStaging
	if resubscribing {
		since, reason, cause = a.started, kmv1.ReasonExecutorReregistrationTimeout, "reregistration"
		what = fmt.Sprintf("executor %s did not subscribe again within %s", k.ExecutorID, a.Options.ExecutorRegistrationTimeout)
		if gone, ok := a.server.UnsubscribedSince(k); ok && gone.After(since) {
			since = gone
		}
	}
	if wait := a.Options.ExecutorRegistrationTimeout - a.Clock.Since(since); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	if resubscribing && a.updates.HasTerminal(client.ObjectKeyFromObject(t)) {
		return ctrl.Result{}, nil
	}
	if err := a.report(t, pod.Name, kmv1.TaskFailed, reason, what, cause); err != nil {
		return ctrl.Result{}, err
	}
	if _, err := a.deletes.Delete(ctx, pod); err != nil {
		return ctrl.Result{}, fmt.Errorf("removing the executor pod (%s): %w", what, err)
	}
	return ctrl.Result{}, nil
}

// sendLaunch sends LAUNCH once per task and subscription.
func (a *Agent) sendLaunch(t *kmv1.Task) {
	a.mu.Lock()
	done := a.launched[t.UID]
	a.mu.Unlock()
	if done {
		return
	}
	ev := executorapi.Event{Type: executorapi.EventLaunch, Launch: &executorapi.Launch{Task: executorapi.TaskInfo{
		TaskID: t.Name, Data: t.Spec.Data, Resources: t.Spec.Resources.Core()}}}
	if a.server.Send(executorOf(t), ev) {
		a.mu.Lock()
		a.launched[t.UID] = true
		a.mu.Unlock()
	}
}

// kill carries out spec.kill: a command pod is deleted with the task's
// grace period; a custom executor gets KILL. A task that never started is
// killed at once.
func (a *Agent) kill(ctx context.Context, t *kmv1.Task, pod *corev1.Pod, exists bool) (ctrl.Result, error) {
	key := client.ObjectKeyFromObject(t)
	if a.updates.HasTerminal(key) {
		return ctrl.Result{}, nil
	}
	podName := a.podNameFor(t)
	if t.Spec.Command != nil {
		switch {
		case !exists && t.Status.State == kmv1.TaskStaging && !a.recentlyCreated(podName):
			return ctrl.Result{}, a.report(t, podName, kmv1.TaskKilled, kmv1.ReasonTaskKilledDuringLaunch, "killed before it started", "kill")
		case !exists || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
			if exists && pod.Status.Phase == corev1.PodSucceeded {
				return ctrl.Result{}, a.report(t, podName, kmv1.TaskFinished, "", "command exited with code 0", "exit")
			}
			return ctrl.Result{}, a.report(t, podName, kmv1.TaskKilled, "", "killed", "kill")
		case pod.DeletionTimestamp == nil:
			if err := a.report(t, podName, kmv1.TaskKilling, "", "killing: deleting pod "+podName, "kill"); err != nil {
				return ctrl.Result{}, err
			}
			var opts []client.DeleteOption
			if g := t.Spec.KillGracePeriodSeconds; g != nil {
				opts = append(opts, client.GracePeriodSeconds(*g))
			}
			if _, err := a.deletes.Delete(ctx, pod, opts...); err != nil {
				return ctrl.Result{}, fmt.Errorf("killing task %s: %w", key, err)
			}
			a.Recorder.Eventf(t, nil, corev1.EventTypeNormal, "Killing", "Kill", "deleting pod %s", podName)
		}
		return ctrl.Result{}, nil // the pod's deletion brings us back
	}
	k := executorOf(t)
	a.mu.Lock()
	launched, sent := a.launched[t.UID], a.killed[t.UID]
	a.mu.Unlock()
	if t.Status.State == kmv1.TaskStaging && !launched {
		return ctrl.Result{}, a.report(t, podName, kmv1.TaskKilled, kmv1.ReasonTaskKilledDuringLaunch, "killed before it was launched", "kill")
	}
	if !exists {
		return ctrl.Result{}, a.report(t, podName, kmv1.TaskKilled, "", "killed; the executor pod is gone", "kill")
	}
	if !sent && a.server.Send(k, executorapi.Event{Type: executorapi.EventKill, Kill: &executorapi.Kill{TaskID: t.Name, GracePeriodSeconds: t.Spec.KillGracePeriodSeconds}}) {
		a.mu.Lock()
		a.killed[t.UID] = true
		a.mu.Unlock()
	}
	// The executor answers with TASK_KILLED; if its pod ends first, the
	// task fails with it.
	return a.driveExecutor(ctx, t, pod)
}

// retireExecutor shuts a custom executor down once its framework is done
// and it runs no live task on this node.
func (a *Agent) retireExecutor(ctx context.Context, t *kmv1.Task) error {
	if t.Spec.Executor == nil {
		return nil
	}
	var fw kmv1.Framework
	err := a.Client.Get(ctx, types.NamespacedName{Namespace: t.Namespace, Name: string(t.Spec.Framework)}, &fw)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	done := apierrors.IsNotFound(err) || fw.DeletionTimestamp != nil ||
		fw.Status.Phase == kmv1.FrameworkCompleted || fw.Status.Phase == kmv1.FrameworkFailed || fw.Status.Phase == kmv1.FrameworkTearingDown
	if !done {
		return nil
	}
	k := executorOf(t)
	var tasks kmv1.TaskList
	if err := a.Client.List(ctx, &tasks, client.MatchingFields{indexTaskExecutor: k.String()}); err != nil {
		return err
	}
	for i := range tasks.Items {
		if s := tasks.Items[i].Status.State; s != "" && !s.IsTerminal() && tasks.Items[i].Status.AgentID == a.AgentID() {
			return nil
		}
	}
	var pod corev1.Pod
	if err := a.Client.Get(ctx, types.NamespacedName{Namespace: t.Namespace, Name: a.podNameFor(t)}, &pod); err != nil {
		return client.IgnoreNotFound(err) // already gone
	}
	if pod.DeletionTimestamp != nil {
		return nil // each of the executor's tasks comes here: shut it down once
	}
	a.server.Send(k, executorapi.Event{Type: executorapi.EventShutdown})
	a.messages.drop(k, "dropping the messages of an executor that was shut down")
	if _, err := a.deletes.Delete(ctx, &pod); err != nil {
		return fmt.Errorf("shutting down executor %s: %w", k, err)
	}
	return nil
}

// Subscribed re-launches what a (re)subscribed executor does not know yet
// (the executor API has taken back the updates it never saw acknowledged).
func (a *Agent) Subscribed(k ExecutorKey, s *executorapi.Subscribe) {
	known := map[string]bool{}
	if s != nil {
		for _, id := range s.UnacknowledgedTasks {
			known[id] = true
		}
		for _, u := range s.UnacknowledgedUpdates {
			known[u.TaskID] = true
		}
	}
	ctx := context.Background()
	var tasks kmv1.TaskList
	if err := a.Client.List(ctx, &tasks, client.MatchingFields{indexTaskExecutor: k.String()}); err != nil {
		return
	}
	for i := range tasks.Items {
		t := &tasks.Items[i]
		if t.Status.AgentID != a.AgentID() || t.Status.State.IsTerminal() {
			continue
		}
		a.mu.Lock()
		delete(a.launched, t.UID) // a new stream: what was sent on the old one may be lost
		delete(a.killed, t.UID)
		a.mu.Unlock()
		if t.Status.State == kmv1.TaskStaging && !known[t.Name] {
			a.sendLaunch(t)
		}
		if t.Spec.Kill {
			a.poke()
		}
	}
	a.requeueAll(ctx)
	a.messages.flush(k)
}

// Unsubscribed requeues the tasks of an executor whose stream ended, so
// that the re-registration timeout starts for them now, not on whatever
// event happens to come next.
func (a *Agent) Unsubscribed(k ExecutorKey) {
	var tasks kmv1.TaskList
	if err := a.Client.List(context.Background(), &tasks, client.MatchingFields{indexTaskExecutor: k.String()}); err != nil {
		a.Log.Error(err, "listing the tasks of an executor that went away", "executor", k.String())
		return
	}
	for i := range tasks.Items {
		select {
		case a.requeue <- event.GenericEvent{Object: &tasks.Items[i]}:
		default: // full: the next resync catches up
		}
	}
}

// Update takes a status update from an executor: the task must be one of
// its tasks on this agent. It is checkpointed before the call returns.
func (a *Agent) Update(k ExecutorKey, s executorapi.TaskStatus) error {
	var t kmv1.Task
	key := types.NamespacedName{Namespace: k.Namespace, Name: s.TaskID}
	if err := a.Client.Get(context.Background(), key, &t); apierrors.IsNotFound(err) {
		return &CallError{Status: http.StatusNotFound, Err: fmt.Errorf("task %s: no such task on this agent", key)}
	} else if err != nil {
		return fmt.Errorf("reading task %s: %w", key, err)
	}
	if string(t.Spec.Framework) != k.Framework || executorOf(&t).ExecutorID != k.ExecutorID {
		return badCall("task %s does not run on executor %s", s.TaskID, k.ExecutorID)
	}
	if t.Status.AgentID != a.AgentID() {
		return badCall("task %s is not placed on this agent (%s)", s.TaskID, a.AgentID())
	}
	err := a.updates.Enqueue(Update{
		UUID: s.UUID, Task: key, AgentID: t.Status.AgentID, Framework: k.Framework, ExecutorID: k.ExecutorID, PodName: a.podNameFor(&t),
		State: kmv1.TaskState(s.State), Reason: kmv1.TaskReason(s.Reason), Source: kmv1.SourceExecutor,
		Message: s.Message, Data: s.Data, Healthy: s.Healthy, Timestamp: a.Clock.Now(),
	})
	return slowDown(err)
}

// slowDown turns a full queue into a 429 for the executor, which keeps its
// update and sends it again later.
func slowDown(err error) error {
	var full *QueueFullError
	if errors.As(err, &full) {
		return &CallError{Status: http.StatusTooManyRequests, Err: full}
	}
	return err
}
