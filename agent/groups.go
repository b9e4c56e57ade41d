package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

// Task groups on a custom executor. The master annotates each Task of a
// LAUNCH_GROUP on a custom executor with the group's Mesos task IDs
// (mesoswire.AnnotationTaskGroupTasks). An executor of the Mesos form gets
// the group as one LAUNCH_GROUP event, as from a Mesos agent, once every
// task of the group is staged on this agent; a task that arrives first
// waits for the others up to --executor-registration-timeout from its
// staging, and then ends TASK_ERROR (REASON_TASK_GROUP_INVALID) naming the
// tasks that never came (a task that the master's admission refused never
// reaches the agent: its group waits that long). A task of the group that
// ends on this agent before the group is delivered (refused by the agent,
// or killed, or with a kill asked) ends the others too: killed before
// delivery, they are all TASK_KILLED (REASON_TASK_KILLED_DURING_LAUNCH), as
// a Mesos agent kills a pending group; otherwise TASK_ERROR. An executor of
// the kubemesos form gets one LAUNCH per task, as it always has.

// groupKilledMessage is what a Mesos agent says of each task of a group
// one of whose tasks was killed before the group reached its executor.
const groupKilledMessage = "A task within the task group was killed before delivery to the executor"

// groupOf is where the tasks of a task group stand on this agent, for a
// task of it to be delivered.
type groupOf struct {
	// deliver are the tasks staged here and not yet delivered on the
	// executor's current subscription, in the group's order.
	deliver []*kmv1.Task
	// missing are the task IDs of the group not staged on this agent yet.
	missing []string
	// ended are the tasks that ended before the executor had them, as
	// "ID (STATE)"; killed says one of them was killed before delivery.
	ended  []string
	killed bool
}

// sortGroup sorts the tasks of a group, named by ids and read as members
// (nil for one not in the cache), for delivery to executor k of agentID;
// launched says whether the executor's subscription had a task already.
func sortGroup(ids []string, members []*kmv1.Task, group, agentID string, launched func(*kmv1.Task) bool) groupOf {
	var g groupOf
	for i, id := range ids {
		m := members[i]
		switch {
		case m == nil || m.Annotations[mesoswire.AnnotationTaskGroupTasks] != group || m.Status.State == "" || m.Status.AgentID != agentID:
			g.missing = append(g.missing, id)
		case m.Status.State.IsTerminal():
			// A task the executor reported on was delivered; any other
			// end came before the executor had it.
			if m.Status.Source != kmv1.SourceExecutor {
				g.ended = append(g.ended, id+" ("+string(m.Status.State)+")")
				g.killed = g.killed || (m.Status.State == kmv1.TaskKilled && m.Status.Reason == kmv1.ReasonTaskKilledDuringLaunch)
			}
		case m.Status.State == kmv1.TaskStaging && !launched(m) && m.Spec.Kill:
			// A kill asked before delivery: the group goes as if the
			// task was killed already, as a Mesos agent kills a pending
			// group whole.
			g.killed = true
		case m.Status.State == kmv1.TaskStaging && !launched(m):
			g.deliver = append(g.deliver, m)
		}
	}
	return g
}

// readGroup reads the tasks of t's task group, named by ids, from the
// cache: the Task of each, nil where there is none.
func (r *taskReconciler) readGroup(ctx context.Context, t *kmv1.Task, ids []string) ([]*kmv1.Task, error) {
	fwID, err := r.frameworkID(ctx, t)
	if err != nil {
		return nil, err
	}
	members := make([]*kmv1.Task, len(ids))
	for i, id := range ids {
		name := mesoswire.TaskName(fwID, id)
		if name == t.Name {
			members[i] = t
			continue
		}
		var m kmv1.Task
		err := r.client.Get(ctx, types.NamespacedName{Namespace: t.Namespace, Name: name}, &m)
		if client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("reading task %s of the group of %s: %w", name, t.Name, err)
		}
		if err == nil {
			members[i] = &m
		}
	}
	return members, nil
}

// launch sends staged task t to its subscribed executor: in a LAUNCH, or
// with its task group in one LAUNCH_GROUP for an executor of the Mesos
// form (see above).
func (r *taskReconciler) launch(ctx context.Context, t *kmv1.Task) (ctrl.Result, error) {
	k := executorOf(t)
	gen, mesos, subscribed := r.server.MesosSubscription(k)
	if subscribed && r.dispatch.launchedBefore(t) && ranAlready(ctx, r.updates, r.live, t) {
		// It reached the executor on its previous stream, and the cache
		// does not show so yet: it is recorded as launched on this one,
		// not sent.
		r.dispatch.claim(k, gen, t.UID, launches)
		return ctrl.Result{}, nil
	}
	if !subscribed || !mesos || r.dispatch.launched(t) {
		r.dispatch.launch(t)
		return ctrl.Result{}, nil
	}
	ids, grouped, err := mesoswire.TaskGroupTasks(t)
	if !grouped {
		r.dispatch.launch(t)
		return ctrl.Result{}, nil
	}
	if err != nil {
		// Not the master's annotation: the task can be delivered
		// neither with its group nor alone, as if it had none.
		return ctrl.Result{}, r.report(ctx, t, podNameFor(t, r.id.get()), kmv1.TaskError, kmv1.ReasonTaskGroupInvalid, err.Error(), "group")
	}
	members, err := r.readGroup(ctx, t, ids)
	if err != nil {
		return ctrl.Result{}, err
	}
	g := sortGroup(ids, members, t.Annotations[mesoswire.AnnotationTaskGroupTasks], r.id.get(), r.dispatch.launched)
	pod := podNameFor(t, r.id.get())
	switch {
	case g.killed:
		return ctrl.Result{}, r.report(ctx, t, pod, kmv1.TaskKilled, kmv1.ReasonTaskKilledDuringLaunch, groupKilledMessage, "group")
	case len(g.ended) > 0:
		return ctrl.Result{}, r.report(ctx, t, pod, kmv1.TaskError, kmv1.ReasonTaskGroupInvalid,
			"the task group cannot be delivered whole: task "+strings.Join(g.ended, ", ")+" ended before the executor had it", "group")
	case len(g.missing) > 0:
		timeout := r.options.ExecutorRegistrationTimeout
		since := t.CreationTimestamp.Time
		if t.Status.StagingTime != nil {
			since = t.Status.StagingTime.Time
		}
		if wait := timeout - r.clock.Since(since); wait > 0 {
			return ctrl.Result{RequeueAfter: wait}, nil
		}
		return ctrl.Result{}, r.report(ctx, t, pod, kmv1.TaskError, kmv1.ReasonTaskGroupInvalid,
			fmt.Sprintf("the task group was not complete on this agent within %s of staging: task %s never arrived", timeout.Round(time.Second), strings.Join(g.missing, ", ")), "group")
	}
	r.dispatch.launchGroup(k, gen, g.deliver)
	return ctrl.Result{}, nil
}

// killBeforeLaunch ends task t, killed before its executor had it; a task
// of a task group takes the tasks of its group that wait with it along, as
// a Mesos agent kills a group that it has not delivered.
func (r *taskReconciler) killBeforeLaunch(ctx context.Context, t *kmv1.Task, pod string) error {
	ids, grouped, err := mesoswire.TaskGroupTasks(t)
	if !grouped || err != nil {
		return r.report(ctx, t, pod, kmv1.TaskKilled, kmv1.ReasonTaskKilledDuringLaunch, "killed before it was launched", "kill")
	}
	members, err := r.readGroup(ctx, t, ids)
	if err != nil {
		return err
	}
	for _, m := range members {
		if m == nil || m.Status.State != kmv1.TaskStaging || m.Status.AgentID != t.Status.AgentID || r.dispatch.launched(m) {
			continue
		}
		if err := r.report(ctx, m, podNameFor(m, r.id.get()), kmv1.TaskKilled, kmv1.ReasonTaskKilledDuringLaunch, groupKilledMessage, "kill"); err != nil {
			return err
		}
	}
	return nil
}
