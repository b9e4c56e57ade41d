package invariants

import (
	"fmt"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// knownStates are the states of the Task CRD's enum (TaskState in
// api/v1alpha1/task_types.go).
var knownStates = map[string]bool{}

func init() {
	for _, s := range []kmv1.TaskState{kmv1.TaskStaging, kmv1.TaskStarting, kmv1.TaskRunning, kmv1.TaskKilling,
		kmv1.TaskFinished, kmv1.TaskFailed, kmv1.TaskKilled, kmv1.TaskError, kmv1.TaskLost, kmv1.TaskDropped} {
		knownStates[string(s)] = true
	}
}

// checkTaskStates holds every task's successive states to the rules the
// Task CRD gives its status (the XValidation rules on TaskStatus in
// api/v1alpha1/task_types.go), which are the registry's:
//
//   - a state, once set, is never removed ("state cannot be removed once
//     set");
//   - a terminal state (TaskState.IsTerminal: FINISHED, FAILED, KILLED,
//     ERROR, LOST, DROPPED) never changes, not even to another terminal
//     state, and neither does a terminal task's data;
//   - no state moves to a lower TaskState.Rank: STAGING 0 < STARTING 1 <
//     RUNNING 2 < KILLING 3 < every terminal state 4. A state may stay
//     (RUNNING to RUNNING with new data or health) and may skip ranks
//     (STAGING straight to a terminal state, as TASK_LOST from the master
//     or TASK_FAILED from the agent do).
//
// TASK_LOST is terminal like any other: an agent that comes back is given
// a new agentID and its LOST tasks stay LOST (DESIGN.md, Agent failure;
// the agentID rule on AgentStatus). The API server refuses writes that
// break these rules, so a violation here means the rules or the record are
// wrong. A task's first entry is checked only for a known state.
func checkTaskStates(h *history) (int, []Violation) {
	var out []Violation
	checked := 0
	for _, k := range h.taskKeys {
		its := h.tasks[k]
		for i, it := range its {
			cur := it.e.Task
			if cur.State != "" && !knownStates[cur.State] {
				out = append(out, Violation{At: it.e.At, Subject: taskSubject(it.e),
					Message: fmt.Sprintf("unknown state %q (resourceVersion %s)", cur.State, it.e.ResourceVersion)})
			}
			if i == 0 {
				continue
			}
			checked++
			prevIt := its[i-1]
			prev := prevIt.e.Task
			from, to := kmv1.TaskState(prev.State), kmv1.TaskState(cur.State)
			where := fmt.Sprintf("(resourceVersion %s to %s)", prevIt.e.ResourceVersion, it.e.ResourceVersion)
			var msg string
			switch {
			case from != "" && to == "":
				msg = fmt.Sprintf("state %s was removed %s", from, where)
			case from.IsTerminal() && to != from:
				msg = fmt.Sprintf("terminal state %s changed to %s %s", from, to, where)
			case to.Rank() < from.Rank():
				msg = fmt.Sprintf("state moved backwards from %s to %s %s", from, to, where)
			case from.IsTerminal() && prev.Data != "" && cur.Data != prev.Data:
				msg = fmt.Sprintf("the data of terminal state %s changed from %q to %q %s", from, prev.Data, cur.Data, where)
			default:
				continue
			}
			out = append(out, Violation{At: it.e.At, Subject: taskSubject(it.e), Message: msg})
		}
	}
	return checked, out
}
