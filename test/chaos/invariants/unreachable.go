package invariants

import (
	"fmt"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// removals returns, for each agentID that the master removed (marked
// Unreachable or Gone), the first entry that shows it removed. An agentID
// stays removed for good: an agent that comes back is admitted again under
// a new one, and the API server lets an Agent's agentID change only from
// Unreachable or Gone (the agentID rule on AgentStatus in
// api/v1alpha1/agent_types.go; admit in controllers/agent_registry.go).
func removals(h *history) map[string]item {
	out := map[string]item{}
	for _, it := range h.objects {
		a := it.e.Agent
		if a == nil || a.AgentID == "" {
			continue
		}
		if p := kmv1.AgentPhase(a.Phase); p != kmv1.AgentUnreachable && p != kmv1.AgentGone {
			continue
		}
		if _, seen := out[a.AgentID]; !seen {
			out[a.AgentID] = it
		}
	}
	return out
}

// startsOrRuns reports whether entry i of a task's entries starts or runs
// it: it moves into TASK_STARTING or TASK_RUNNING, or is the first the
// record has of the task and already there.
func startsOrRuns(its []item, i int) bool {
	s := kmv1.TaskState(its[i].e.Task.State)
	if s != kmv1.TaskStarting && s != kmv1.TaskRunning {
		return false
	}
	return i == 0 || its[i-1].e.Task.State != string(s)
}

// checkNoRunAfterUnreachable holds the promise of the registry (the origin
// document's "How Is Master Failure handled?"): once the master has marked
// an agent removed, nothing runs under its old agentID. So no task entry
// with agentID X that starts or runs the task comes after the first entry
// showing X Unreachable or Gone. The master marks the agent first and its
// tasks TASK_LOST after (remove in controllers/agent_registry.go), so a
// task may still be TASK_STAGING under X after X's removal, or stay
// RUNNING until the master's TASK_LOST lands; only a move into STARTING or
// RUNNING (a start the agent reported) breaks it. The agent, told its new
// agentID, reports nothing for tasks of the old one (Reconcile in
// agent/tasks.go). Order is by resourceVersion (see the package comment).
func checkNoRunAfterUnreachable(h *history) (int, []Violation) {
	removed := removals(h)
	var out []Violation
	checked := 0
	for _, k := range h.taskKeys {
		its := h.tasks[k]
		for i, it := range its {
			if !startsOrRuns(its, i) {
				continue
			}
			checked++
			id := it.e.Task.AgentID
			rm, ok := removed[id]
			if !ok || !h.later(it, rm) {
				continue
			}
			out = append(out, Violation{At: it.e.At, Subject: taskSubject(it.e), Message: fmt.Sprintf(
				"%s on agentID %s (resourceVersion %s) after agent %s was marked %s under that agentID (resourceVersion %s)",
				it.e.Task.State, id, it.e.ResourceVersion, rm.e.Name, rm.e.Agent.Phase, rm.e.ResourceVersion)})
		}
	}
	return checked, out
}
