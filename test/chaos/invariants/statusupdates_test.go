package invariants

import "testing"

func TestNoLostStatusUpdate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rec     *rec
		want    int
		checked int
		says    string
	}{
		{name: "lost after its agent's removal", want: 0, checked: 1, rec: newRec().
			agent("n1", "a1", "Active").task("t1", "TASK_RUNNING", "a1").unreachable("n1", "a1", t0).
			task("t1", "TASK_LOST", "a1", from("SOURCE_MASTER", "REASON_AGENT_REMOVED")).
			task("t1", "TASK_LOST", "a1", from("SOURCE_MASTER", "REASON_AGENT_REMOVED"), deleted())},
		{name: "the agent found the executor gone", want: 0, checked: 1, rec: newRec().
			task("t1", "TASK_RUNNING", "a1").task("t1", "TASK_LOST", "a1", from("SOURCE_AGENT", "REASON_EXECUTOR_TERMINATED"))},
		{name: "lost by the master without a removal", want: 1, checked: 1, says: "never shows agentID \"a1\" marked Unreachable or Gone", rec: newRec().
			agent("n1", "a1", "Active").task("t1", "TASK_RUNNING", "a1").task("t1", "TASK_LOST", "a1", from("SOURCE_MASTER", "REASON_AGENT_REMOVED"))},
		{name: "lost just before the removal, as the master orders it", want: 0, checked: 1, rec: newRec().
			task("t1", "TASK_RUNNING", "a1").task("t1", "TASK_LOST", "a1", from("SOURCE_MASTER", "REASON_AGENT_REMOVED")).
			unreachable("n1", "a1", t0)},
		{name: "lost while another agentID was removed", want: 1, checked: 1, says: "never shows agentID", rec: newRec().
			task("t1", "TASK_RUNNING", "a1").task("t1", "TASK_LOST", "a1", from("SOURCE_MASTER", "REASON_AGENT_REMOVED")).
			unreachable("n1", "a2", t0)},
		{name: "lost for no reason the code gives", want: 1, checked: 1, says: "TASK_LOST from SOURCE_EXECUTOR with none", rec: newRec().
			task("t1", "TASK_RUNNING", "a1").task("t1", "TASK_LOST", "a1", from("SOURCE_EXECUTOR", ""))},
		{name: "every task of a completed framework ended", want: 0, checked: 2, rec: newRec().
			task("t1", "TASK_FINISHED", "a1").task("t2", "TASK_KILLED", "a1").framework("mc", "Completed", "done").
			task("t3", "TASK_RUNNING", "a1", framework("other"))},
		{name: "a task of a completed framework still runs", want: 1, checked: 2, says: "framework ns/mc ended Completed, but the task's last state is TASK_RUNNING", rec: newRec().
			task("t1", "TASK_FINISHED", "a1").task("t2", "TASK_RUNNING", "a1").framework("mc", "Completed", "done")},
		{name: "a task of a failed framework never admitted", want: 1, checked: 1, says: "no state", rec: newRec().
			task("t1", "", "").framework("mc", "Failed", "")},
		{name: "a framework still active is not judged", want: 0, checked: 0, rec: newRec().
			task("t1", "TASK_RUNNING", "a1").framework("mc", "Active", "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := tc.rec.check()
			expectViolations(t, rep, NoLostStatusUpdate, tc.want, tc.says)
			if got := result(t, rep, NoLostStatusUpdate).Checked; got != tc.checked {
				t.Errorf("checked %d, want %d", got, tc.checked)
			}
		})
	}
}
