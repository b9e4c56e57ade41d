package invariants

import "testing"

func TestNoRunAfterUnreachable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rec     *rec
		want    int
		checked int
		says    string
	}{
		{name: "runs before, lost after", want: 0, checked: 2, rec: newRec().
			agent("n1", "a1", "Active").task("t1", "TASK_STAGING", "a1").task("t1", "TASK_STARTING", "a1").task("t1", "TASK_RUNNING", "a1").
			unreachable("n1", "a1", t0).task("t1", "TASK_RUNNING", "a1", data("health")).
			task("t1", "TASK_LOST", "a1", from("SOURCE_MASTER", "REASON_AGENT_REMOVED"))},
		{name: "staged under the old agentID as it was removed", want: 0, checked: 0, rec: newRec().
			agent("n1", "a1", "Active").unreachable("n1", "a1", t0).task("t1", "TASK_STAGING", "a1").
			task("t1", "TASK_LOST", "a1", from("SOURCE_MASTER", "REASON_AGENT_REMOVED"))},
		{name: "started under the old agentID after its removal", want: 1, checked: 1, says: "TASK_STARTING on agentID a1", rec: newRec().
			agent("n1", "a1", "Active").task("t1", "TASK_STAGING", "a1").unreachable("n1", "a1", t0).task("t1", "TASK_STARTING", "a1")},
		{name: "running under the old agentID after its removal", want: 1, checked: 1, says: "marked Unreachable", rec: newRec().
			agent("n1", "a1", "Active").task("t1", "TASK_STAGING", "a1").unreachable("n1", "a1", t0).task("t1", "TASK_RUNNING", "a1")},
		{name: "first seen running after the removal", want: 1, checked: 1, rec: newRec().
			agent("n1", "a1", "Active").unreachable("n1", "a1", t0).task("t1", "TASK_RUNNING", "a1")},
		{name: "a Gone agentID too", want: 1, checked: 1, says: "marked Gone", rec: newRec().
			agent("n1", "a1", "Active").task("t1", "TASK_STAGING", "a1").agent("n1", "a1", "Gone").task("t1", "TASK_RUNNING", "a1")},
		{name: "the old agentID stays removed after re-admission", want: 1, checked: 2, rec: newRec().
			agent("n1", "a1", "Active").task("t1", "TASK_STAGING", "a1").unreachable("n1", "a1", t0).agent("n1", "a2", "Active").
			task("t2", "TASK_RUNNING", "a2").task("t1", "TASK_RUNNING", "a1")},
		{name: "another agent's removal", want: 0, checked: 1, rec: newRec().
			agent("n2", "b1", "Active").unreachable("n2", "b1", t0).task("t1", "TASK_STAGING", "a1").task("t1", "TASK_RUNNING", "a1")},
		{name: "the removal in the same resourceVersion is not after", want: 0, checked: 1, rec: newRec().
			task("t1", "TASK_STAGING", "a1", rv("5")).unreachable("n1", "a1", t0).task("t1", "TASK_RUNNING", "a1", rv("102"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := tc.rec.check()
			expectViolations(t, rep, NoRunAfterUnreachable, tc.want, tc.says)
			if got := result(t, rep, NoRunAfterUnreachable).Checked; got != tc.checked {
				t.Errorf("checked %d starts, want %d", got, tc.checked)
			}
		})
	}
}
