package invariants

import (
	"fmt"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// checkStatusUpdates holds the record to "no acknowledged status update is
// lost", as far as a record of the API server's objects can tell.
//
// What the record proves. A status update is acknowledged once the API
// server stored it in the Task's status (the agent retries until then,
// DESIGN.md "Status updates"); every stored status is an etcd revision the
// watch delivers. From there:
//
//   - a stored state is never replaced by an earlier or another terminal
//     one (TaskStatesForward);
//   - every TASK_LOST is explained. The master writes it (SOURCE_MASTER,
//     REASON_AGENT_REMOVED) only as it removes the task's agentID: just
//     before marking the agent Unreachable or Gone, or after, for a task
//     that reached its cache late (remove and loseTasksAndOffers in
//     controllers/agent_registry.go), so the record must show that agentID
//     removed, before or after the TASK_LOST (an agentID is never admitted
//     again); the agent writes it (SOURCE_AGENT,
//     REASON_EXECUTOR_TERMINATED) when a task past STAGING finds its
//     executor pod gone (Reconcile in agent/tasks.go). Any other TASK_LOST,
//     in particular a RUNNING task's without its agent's removal, means a
//     later update (the task's FINISHED, say) was lost and replaced by a
//     guess;
//   - every task of a framework that ended (Completed or Failed, which
//     tears its live tasks down: controllers/frameworks.go, teardown.go)
//     ended too, in a terminal state, by the end of the record. The run
//     must stop recording only once its frameworks ended and their kills
//     landed.
//
// What it cannot prove. An update that never reached the API server (an
// executor's update the agent lost before storing it) leaves no trace but
// its consequence: the task ends otherwise (the agent's TASK_LOST for a
// vanished executor, TASK_FAILED) or, for a MonteCarloArea piece, the
// result is not exact (MonteCarloExact catches that). The agent may
// coalesce queued non-terminal updates by design, so a skipped STARTING is
// not a loss. Whether the scheduler received and acknowledged an update is
// not in the record at all.
func checkStatusUpdates(h *history) (int, []Violation) {
	removed := removals(h)
	var out []Violation
	checked := 0
	for _, k := range h.taskKeys {
		for _, it := range h.tasks[k] {
			t := it.e.Task
			if kmv1.TaskState(t.State) != kmv1.TaskLost {
				continue
			}
			checked++
			src, reason := kmv1.TaskSource(t.Source), kmv1.TaskReason(t.Reason)
			switch {
			case src == kmv1.SourceMaster && reason == kmv1.ReasonAgentRemoved:
				if _, ok := removed[t.AgentID]; !ok {
					out = append(out, Violation{At: it.e.At, Subject: taskSubject(it.e), Message: fmt.Sprintf(
						"TASK_LOST (%s, %s, resourceVersion %s) but the record never shows agentID %q marked Unreachable or Gone",
						src, reason, it.e.ResourceVersion, t.AgentID)})
				}
			case src == kmv1.SourceAgent && reason == kmv1.ReasonExecutorTerminated:
			default:
				out = append(out, Violation{At: it.e.At, Subject: taskSubject(it.e), Message: fmt.Sprintf(
					"TASK_LOST from %s with %s (resourceVersion %s): neither the master's removal of its agent nor the agent finding its executor gone",
					orNone(string(src)), orNone(string(reason)), it.e.ResourceVersion)})
			}
			break // a terminal state never changes; TaskStatesForward judges the rest
		}
	}
	for _, key := range sortedKeys(h.frameworks) {
		last, _ := h.lastFramework(key)
		phase := kmv1.FrameworkPhase(last.e.Framework.Phase)
		if phase != kmv1.FrameworkCompleted && phase != kmv1.FrameworkFailed {
			continue
		}
		for _, k := range h.tasksOf(last.e.Namespace, last.e.Name) {
			checked++
			its := h.tasks[k]
			end := its[len(its)-1]
			if kmv1.TaskState(end.e.Task.State).IsTerminal() {
				continue
			}
			out = append(out, Violation{At: end.e.At, Subject: taskSubject(end.e), Message: fmt.Sprintf(
				"framework %s ended %s, but the task's last state is %s (resourceVersion %s)",
				key, phase, stateOrNone(end.e.Task.State), end.e.ResourceVersion)})
		}
	}
	return checked, out
}
