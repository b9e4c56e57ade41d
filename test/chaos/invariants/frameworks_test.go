package invariants

import (
	"reflect"
	"testing"

	"github.com/kubemesos/kubemesos/test/chaos/record"
)

func TestFrameworksReachEnd(t *testing.T) {
	for _, tc := range []struct {
		name string
		rec  *rec
		want int
		says string
	}{
		{name: "completed", want: 0, rec: newRec().framework("mc", "Active", "").framework("mc", "Completed", "r").expect("mc", "Completed", "")},
		{name: "deleted once completed", want: 0, rec: newRec().framework("mc", "Completed", "r").gone().expect("mc", "Completed", "")},
		{name: "expected to fail, failed", want: 0, rec: newRec().framework("bad", "Failed", "").expect("bad", "Completed", "").expect("bad", "Failed", "")},
		{name: "still active", want: 1, says: "ended Active", rec: newRec().framework("mc", "Active", "").expect("mc", "Completed", "")},
		{name: "failed", want: 1, says: "ended Failed (resourceVersion 102), expected Completed", rec: newRec().
			framework("mc", "Active", "").framework("mc", "Failed", "").expect("mc", "Completed", "")},
		{name: "never seen", want: 1, says: "no state of it", rec: newRec().framework("other", "Completed", "").expect("mc", "Completed", "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := tc.rec.check()
			expectViolations(t, rep, FrameworksReachEnd, tc.want, tc.says)
			if got := result(t, rep, FrameworksReachEnd).Checked; got != 1 {
				t.Errorf("checked %d frameworks, want 1", got)
			}
		})
	}
}

func TestFaultsCounted(t *testing.T) {
	rep := newRec().fault(record.FaultLeaderKill, "").fault(record.FaultLeaderKill, "no leader to kill").
		fault(record.FaultAgentPause, "").check()
	want := []FaultCount{{Kind: record.FaultAgentPause, Applied: 1}, {Kind: record.FaultLeaderKill, Applied: 1, Failed: 1}}
	if !reflect.DeepEqual(rep.Faults, want) {
		t.Errorf("faults %+v, want %+v", rep.Faults, want)
	}
	if !rep.Clean() {
		t.Errorf("a fault that could not be applied is a violation:\n%s", rep.Table())
	}
}
