package invariants

import (
	"strings"
	"testing"
	"time"
)

func TestAgentRemovalRate(t *testing.T) {
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	for _, tc := range []struct {
		name    string
		rec     *rec
		limits  Limits
		want    int
		checked int
		says    string
		notes   string
	}{
		{name: "two within a minute", want: 0, checked: 2, rec: newRec().
			unreachable("n1", "a1", at(0)).unreachable("n2", "b1", at(10*sec))},
		{name: "three within a minute", want: 1, checked: 3, says: "removal 3 within 1m0s", rec: newRec().
			unreachable("n1", "a1", at(0)).unreachable("n2", "b1", at(10*sec)).unreachable("n3", "c1", at(30*sec))},
		{name: "spread over the period", want: 0, checked: 4, rec: newRec().
			unreachable("n1", "a1", at(0)).unreachable("n2", "b1", at(30*sec)).unreachable("n3", "c1", at(60*sec)).unreachable("n4", "d1", at(90*sec))},
		{name: "one agent removed again and again", want: 1, checked: 3, rec: newRec().
			unreachable("n1", "a1", at(0)).agent("n1", "a2", "Active").unreachable("n1", "a2", at(20*sec)).
			agent("n1", "a3", "Active").unreachable("n1", "a3", at(40*sec))},
		{name: "one removal seen twice counts once", want: 0, checked: 2, rec: newRec().
			unreachable("n1", "a1", at(0)).unreachable("n1", "a1", at(0)).unreachable("n2", "b1", at(5*sec))},
		{name: "seen in one burst after an API server restart, timed by the master", want: 0, checked: 3, rec: newRec().
			unreachable("n1", "a1", at(0)).unreachable("n2", "b1", at(40*sec)).unreachable("n3", "c1", at(80*sec))},
		{name: "without the master's time, by when the recorder saw them", want: 1, checked: 3, notes: "no unreachableTime", rec: newRec().
			unreachable("n1", "a1", time.Time{}).unreachable("n2", "b1", time.Time{}).unreachable("n3", "c1", time.Time{})},
		{name: "Gone is not held back by the limit", want: 0, checked: 2, rec: newRec().
			unreachable("n1", "a1", at(0)).unreachable("n2", "b1", at(1*sec)).agent("n3", "c1", "Gone").agent("n1", "a1", "Gone")},
		{name: "a wider limit", limits: Limits{AgentRemovalLimit: 3, AgentRemovalPeriod: time.Minute}, want: 0, checked: 3, rec: newRec().
			unreachable("n1", "a1", at(0)).unreachable("n2", "b1", at(10*sec)).unreachable("n3", "c1", at(30*sec))},
		{name: "no limit", limits: Limits{AgentRemovalLimit: -1, AgentRemovalPeriod: time.Minute}, want: 0, checked: 0, notes: "no removal limit", rec: newRec().
			unreachable("n1", "a1", at(0)).unreachable("n2", "b1", at(1*sec)).unreachable("n3", "c1", at(2*sec))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			limits := Limits{AgentRemovalLimit: 2, AgentRemovalPeriod: time.Minute}
			if tc.limits != (Limits{}) {
				limits = tc.limits
			}
			rep := Check(tc.rec.entries, nil, limits)
			expectViolations(t, rep, AgentRemovalRate, tc.want, tc.says)
			if got := result(t, rep, AgentRemovalRate).Checked; got != tc.checked {
				t.Errorf("checked %d removals, want %d", got, tc.checked)
			}
			if tc.notes != "" && !strings.Contains(strings.Join(rep.Notes, "\n"), tc.notes) {
				t.Errorf("notes %q, want one saying %q", rep.Notes, tc.notes)
			}
		})
	}
}
