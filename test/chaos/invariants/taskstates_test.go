package invariants

import (
	"testing"
	"time"
)

func TestTaskStatesForward(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rec     *rec
		want    int
		checked int
		says    string
	}{
		{name: "the whole life of a task", want: 0, checked: 5, rec: newRec().
			task("t1", "", "").task("t1", "TASK_STAGING", "a1").task("t1", "TASK_STARTING", "a1").
			task("t1", "TASK_RUNNING", "a1").task("t1", "TASK_FINISHED", "a1", data("under=1 total=2")).
			task("t1", "TASK_FINISHED", "a1", data("under=1 total=2"), deleted())},
		{name: "a state stays, ranks are skipped", want: 0, checked: 3, rec: newRec().
			task("t1", "TASK_STAGING", "a1").task("t1", "TASK_RUNNING", "a1").task("t1", "TASK_RUNNING", "a1", data("50%")).
			task("t1", "TASK_LOST", "a1")},
		{name: "STAGING straight to a terminal state", want: 0, checked: 1, rec: newRec().
			task("t1", "TASK_STAGING", "a1").task("t1", "TASK_DROPPED", "a1")},
		{name: "RUNNING back to STARTING", want: 1, checked: 2, says: "backwards from TASK_RUNNING to TASK_STARTING", rec: newRec().
			task("t1", "TASK_STAGING", "a1").task("t1", "TASK_RUNNING", "a1").task("t1", "TASK_STARTING", "a1")},
		{name: "KILLING back to RUNNING", want: 1, checked: 1, says: "backwards from TASK_KILLING to TASK_RUNNING", rec: newRec().
			task("t1", "TASK_KILLING", "a1").task("t1", "TASK_RUNNING", "a1")},
		{name: "a LOST task resurrected", want: 1, checked: 1, says: "terminal state TASK_LOST changed to TASK_RUNNING", rec: newRec().
			task("t1", "TASK_LOST", "a1").task("t1", "TASK_RUNNING", "a1")},
		{name: "one terminal state to another", want: 1, checked: 1, says: "terminal state TASK_FINISHED changed to TASK_FAILED", rec: newRec().
			task("t1", "TASK_FINISHED", "a1").task("t1", "TASK_FAILED", "a1")},
		{name: "a state removed", want: 1, checked: 1, says: "state TASK_RUNNING was removed", rec: newRec().
			task("t1", "TASK_RUNNING", "a1").task("t1", "", "a1")},
		{name: "a terminal task's data changed", want: 1, checked: 1, says: "data of terminal state", rec: newRec().
			task("t1", "TASK_FINISHED", "a1", data("under=1 total=2")).task("t1", "TASK_FINISHED", "a1", data("under=2 total=2"))},
		{name: "a state the CRD does not know", want: 1, checked: 1, says: `unknown state "TASK_GONE"`, rec: newRec().
			task("t1", "TASK_RUNNING", "a1").task("t1", "TASK_GONE", "a1")},
		{name: "a task re-created under its name is a new task", want: 0, checked: 1, rec: newRec().
			task("u1", "TASK_FINISHED", "a1", named("t1")).task("u1", "TASK_FINISHED", "a1", named("t1"), deleted()).
			task("u2", "TASK_STAGING", "a1", named("t1"))},
		{name: "without UIDs, by name", want: 1, checked: 1, rec: newRec().
			task("", "TASK_FINISHED", "a1", named("t1")).task("", "TASK_STAGING", "a1", named("t1"))},
		{name: "lines out of order are put in resourceVersion order", want: 0, checked: 2, rec: newRec().
			task("t1", "TASK_RUNNING", "a1", rv("30")).task("t1", "TASK_STAGING", "a1", rv("10")).task("t1", "TASK_FINISHED", "a1", rv("40"))},
		{name: "resourceVersion order finds what the time seen hides", want: 1, checked: 1, rec: newRec().
			task("t1", "TASK_RUNNING", "a1", rv("30"), seenAt(t0)).task("t1", "TASK_STAGING", "a1", rv("31"), seenAt(t0.Add(-time.Second)))},
		{name: "without numeric resourceVersions, by time seen", want: 0, checked: 1, rec: newRec().
			task("t1", "TASK_RUNNING", "a1", rv("b"), seenAt(t0.Add(time.Second))).task("t1", "TASK_STAGING", "a1", rv("a"), seenAt(t0))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := tc.rec.check()
			expectViolations(t, rep, TaskStatesForward, tc.want, tc.says)
			if got := result(t, rep, TaskStatesForward).Checked; got != tc.checked {
				t.Errorf("checked %d pairs, want %d", got, tc.checked)
			}
		})
	}
}

func TestTransitionsAndOrder(t *testing.T) {
	rep := newRec().task("t1", "", "").task("t1", "TASK_STAGING", "a1").task("t1", "TASK_STAGING", "a1").
		task("t1", "TASK_RUNNING", "a1").task("t2", "TASK_STAGING", "a1").check()
	if rep.Tasks != 2 || rep.Transitions != 3 {
		t.Errorf("%d tasks, %d transitions; want 2 and 3", rep.Tasks, rep.Transitions)
	}
	if rep.OrderedBy != orderResourceVersion {
		t.Errorf("ordered by %q", rep.OrderedBy)
	}
	rep = newRec().task("t1", "TASK_STAGING", "a1", rv("x")).check()
	if rep.OrderedBy != orderTimeSeen {
		t.Errorf("a record with a non-numeric resourceVersion ordered by %q", rep.OrderedBy)
	}
}
