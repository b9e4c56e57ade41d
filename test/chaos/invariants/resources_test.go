package invariants

import (
	"strings"
	"testing"
)

func TestAgentResourcesHeld(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rec     *rec
		want    int
		checked int
		says    string
		notes   string
	}{
		{name: "full, not over", want: 0, checked: 2, rec: newRec().agent("n1", "a1", "Active", "cpu=2", "memory=1Gi").
			task("t1", "TASK_STAGING", "a1", res("cpu=1", "memory=512Mi")).task("t2", "TASK_STAGING", "a1", res("cpu=1000m", "memory=512Mi"))},
		{name: "one task too many", want: 1, checked: 3, says: "cpu 3 of 2", rec: newRec().agent("n1", "a1", "Active", "cpu=2", "memory=1Gi").
			task("t1", "TASK_STAGING", "a1", res("cpu=1")).task("t2", "TASK_RUNNING", "a1", res("cpu=1")).task("t3", "TASK_STAGING", "a1", res("cpu=1"))},
		{name: "ended tasks give back", want: 0, checked: 4, rec: newRec().agent("n1", "a1", "Active", "cpu=2").
			task("t1", "TASK_STAGING", "a1", res("cpu=1")).task("t2", "TASK_STAGING", "a1", res("cpu=1")).
			task("t1", "TASK_FINISHED", "a1", res("cpu=1")).task("t3", "TASK_STAGING", "a1", res("cpu=1")).
			task("t2", "TASK_RUNNING", "a1", res("cpu=1"), deleted()).task("t4", "TASK_STAGING", "a1", res("cpu=1"))},
		{name: "each overcommit is found", want: 2, checked: 4, rec: newRec().agent("n1", "a1", "Active", "cpu=1").
			task("t1", "TASK_STAGING", "a1", res("cpu=1")).task("t2", "TASK_STAGING", "a1", res("cpu=1")).
			task("t2", "TASK_KILLED", "a1", res("cpu=1")).task("t3", "TASK_STAGING", "a1", res("cpu=1")).task("t4", "TASK_STAGING", "a1", res("cpu=1"))},
		{name: "a resource the agent lacks", want: 1, checked: 1, says: "gpu 1 of 0", rec: newRec().agent("n1", "a1", "Active", "cpu=2").
			task("t1", "TASK_STAGING", "a1", res("cpu=1", "gpu=1"))},
		{name: "an executor is charged once", want: 0, checked: 3, rec: newRec().agent("n1", "a1", "Active", "cpu=2").
			task("t1", "TASK_STAGING", "a1", res("cpu=500m"), executor("e", "cpu=500m")).
			task("t2", "TASK_STAGING", "a1", res("cpu=500m"), executor("e", "cpu=500m")).
			task("t3", "TASK_STAGING", "a1", res("cpu=500m"), executor("e", "cpu=500m"))},
		{name: "two executors are charged twice", want: 1, checked: 3, says: "cpu 2500m of 2", rec: newRec().agent("n1", "a1", "Active", "cpu=2").
			task("t1", "TASK_STAGING", "a1", res("cpu=500m"), executor("e", "cpu=500m")).
			task("t2", "TASK_STAGING", "a1", res("cpu=500m"), executor("e", "cpu=500m")).
			task("t3", "TASK_STAGING", "a1", res("cpu=500m"), executor("f", "cpu=500m"))},
		{name: "an executor's charge ends with its last task", want: 0, checked: 3, rec: newRec().agent("n1", "a1", "Active", "cpu=2").
			task("t1", "TASK_STAGING", "a1", res("cpu=500m"), executor("e", "cpu=1")).
			task("t1", "TASK_FINISHED", "a1", res("cpu=500m"), executor("e", "cpu=1")).
			task("t2", "TASK_STAGING", "a1", res("cpu=1"), executor("f", "cpu=500m")).
			task("t3", "TASK_STAGING", "a1", res("cpu=500m"))},
		{name: "agentIDs are held apart", want: 0, checked: 2, rec: newRec().agent("n1", "a1", "Active", "cpu=1").
			task("t1", "TASK_RUNNING", "a1", res("cpu=1")).unreachable("n1", "a1", t0).agent("n1", "a2", "Active", "cpu=1").
			task("t2", "TASK_STAGING", "a2", res("cpu=1"))},
		{name: "an agent that shrank is noted", want: 0, checked: 1, notes: "shrank", rec: newRec().agent("n1", "a1", "Active", "cpu=2").
			task("t1", "TASK_RUNNING", "a1", res("cpu=2")).agent("n1", "a1", "Active", "cpu=1")},
		{name: "an unknown agentID is noted", want: 0, checked: 1, notes: "no Agent entry carries", rec: newRec().
			task("t1", "TASK_STAGING", "zz", res("cpu=100"))},
		{name: "a quantity that is not one is noted", want: 0, checked: 1, notes: "not quantities", rec: newRec().agent("n1", "a1", "Active", "cpu=1").
			task("t1", "TASK_STAGING", "a1", res("cpu=lots"))},
		{name: "tasks never admitted take nothing", want: 0, checked: 0, rec: newRec().agent("n1", "a1", "Active", "cpu=1").
			task("t1", "", "a1", res("cpu=5")).task("t2", "TASK_ERROR", "a1", res("cpu=5"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := tc.rec.check()
			expectViolations(t, rep, AgentResourcesHeld, tc.want, tc.says)
			if got := result(t, rep, AgentResourcesHeld).Checked; got != tc.checked {
				t.Errorf("checked %d admissions, want %d", got, tc.checked)
			}
			if tc.notes != "" && !strings.Contains(strings.Join(rep.Notes, "\n"), tc.notes) {
				t.Errorf("notes %q, want one saying %q", rep.Notes, tc.notes)
			}
		})
	}
}
