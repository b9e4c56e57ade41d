package invariants

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubemesos/kubemesos/test/chaos/record"
)

// failover is an audit log in which master-0 leads, renews at 0s, 2s and
// 4s, is paused, and master-1 takes the Lease at 20s and renews at 22s.
func failover(extra ...record.Write) []record.Write {
	ws := []record.Write{
		renew("master-0", 200, 0), write("master-0", "patch", "tasks/status", "t1", 200, 1*sec),
		renew("master-0", 200, 2*sec), write("master-0", "create", "offers", "", 201, 3*sec), renew("master-0", 200, 4*sec),
		renew("master-1", 409, 10*sec), renew("master-1", 200, 20*sec), write("master-1", "patch", "agents/status", "n1", 200, 21*sec),
		renew("master-1", 200, 22*sec),
	}
	return append(ws, extra...)
}

// withRVs gives the writes of ws resourceVersions 10, 20, ... in their
// order, as the audit log's answers carry them.
func withRVs(ws []record.Write) []record.Write {
	for i := range ws {
		ws[i].ResourceVersion = strconv.Itoa(10 * (i + 1))
	}
	return ws
}

// at gives w resourceVersion rv.
func at(w record.Write, rv string) record.Write { w.ResourceVersion = rv; return w }

func leaseRec() *rec { return newRec().lease("master-0_5f1c@console=10.0.0.1:8080@10.0.0.1:5050") }

func TestNoWritesWithoutLease(t *testing.T) {
	inFlight := write("master-0", "patch", "tasks/status", "t2", 200, 19*sec)
	inFlight.Answered = t0.Add(20*sec + time.Millisecond)
	for _, tc := range []struct {
		name      string
		rec       *rec
		writes    []record.Write
		want      int
		checked   int
		takeovers int
		says      string
		notes     string
	}{
		{name: "a clean failover", want: 0, checked: 3, takeovers: 1, rec: leaseRec(), writes: failover()},
		{name: "the old leader writes after the takeover", want: 1, checked: 4, takeovers: 1, says: "wrote while master-1 held the Lease",
			rec: leaseRec(), writes: failover(write("master-0", "patch", "tasks/status", "t1", 200, 25*sec))},
		{name: "a write in flight at the takeover", want: 1, checked: 4, takeovers: 1, says: "past its tenure",
			rec: leaseRec(), writes: failover(inFlight)},
		// By resourceVersion: the takeover is the 7th write (70).
		{name: "a write in flight at the takeover, stored before it", want: 0, checked: 4, takeovers: 1, notes: "stored before the takeover",
			rec: leaseRec(), writes: append(withRVs(failover()), at(inFlight, "65"))},
		{name: "a write in flight at the takeover, stored after it", want: 1, checked: 4, takeovers: 1, says: "past its tenure",
			rec: leaseRec(), writes: append(withRVs(failover()), at(inFlight, "75"))},
		{name: "a write received after the takeover cannot be stored before it", want: 1, checked: 4, takeovers: 1, says: "wrote while master-1 held the Lease",
			rec: leaseRec(), writes: append(withRVs(failover()), at(write("master-0", "patch", "tasks/status", "t1", 200, 25*sec), "95"))},
		{name: "the takeover's resourceVersion unknown", want: 1, checked: 4, takeovers: 1, says: "past its tenure",
			rec: leaseRec(), writes: append(failover(), at(inFlight, "65"))},
		{name: "a write answered just before the takeover", want: 0, checked: 4, takeovers: 1,
			rec: leaseRec(), writes: failover(write("master-0", "patch", "tasks/status", "t2", 200, 20*sec-20*time.Millisecond))},
		{name: "a 5xx may have been stored", want: 1, checked: 4, takeovers: 1,
			rec: leaseRec(), writes: failover(write("master-0", "patch", "tasks/status", "t1", 504, 25*sec))},
		{name: "a refused write is noted", want: 0, checked: 3, takeovers: 1, notes: "were refused",
			rec: leaseRec(), writes: failover(write("master-0", "patch", "tasks/status", "t1", 409, 25*sec))},
		{name: "a late Event is noted", want: 0, checked: 3, takeovers: 1, notes: "Events",
			rec: leaseRec(), writes: failover(write("master-0", "create", "events", "", 201, 25*sec))},
		{name: "a refused renewal of the old leader is no write", want: 0, checked: 3, takeovers: 1,
			rec: leaseRec(), writes: failover(renew("master-0", 409, 25*sec))},
		{name: "a standby writes", want: 1, checked: 4, takeovers: 1, says: "wrote while master-0 held the Lease",
			rec: leaseRec(), writes: failover(write("master-1", "patch", "tasks/status", "t1", 200, 5*sec))},
		{name: "a master writes before any holds the Lease", want: 1, checked: 1, says: "nobody",
			rec: newRec(), writes: []record.Write{write("master-1", "patch", "tasks/status", "t1", 200, 0), renew("master-1", 200, sec)}},
		{name: "the Lease taken before it expired", want: 1, checked: 1, takeovers: 1, says: "before the lease duration (15s) passed",
			rec: leaseRec(), writes: []record.Write{renew("master-0", 200, 0), renew("master-0", 200, 2*sec), renew("master-1", 200, 10*sec),
				write("master-1", "patch", "tasks/status", "t1", 200, 11*sec)}},
		// A standby sees renewals within one second as one: its wait may
		// start at the first (client-go compares whole seconds).
		{name: "a takeover timed from the first renewal of its second", want: 0, checked: 1, takeovers: 1,
			rec: leaseRec(), writes: []record.Write{renew("master-0", 200, 0), renew("master-0", 200, 2*sec), renew("master-0", 200, 2*sec+800*time.Millisecond),
				renew("master-1", 200, 17*sec+100*time.Millisecond), write("master-1", "patch", "tasks/status", "t1", 200, 18*sec)}},
		{name: "renewals a second apart are two", want: 1, checked: 1, takeovers: 1, says: "before the lease duration (15s) passed",
			rec: leaseRec(), writes: []record.Write{renew("master-0", 200, 0), renew("master-0", 200, 2*sec), renew("master-0", 200, 3*sec),
				renew("master-1", 200, 17*sec+100*time.Millisecond), write("master-1", "patch", "tasks/status", "t1", 200, 18*sec)}},
		{name: "a restarted leader in its own pod", want: 0, checked: 2, takeovers: 0,
			rec: leaseRec(), writes: []record.Write{renew("master-0", 200, 0), write("master-0", "patch", "tasks/status", "t1", 200, sec),
				renew("master-0", 200, 30*sec), write("master-0", "patch", "tasks/status", "t1", 200, 31*sec)}},
		{name: "the Lease back to the first leader", want: 1, checked: 5, takeovers: 2, says: "wrote while master-1 held the Lease",
			rec: leaseRec(), writes: failover(write("master-0", "patch", "tasks/status", "t1", 200, 30*sec), renew("master-0", 200, 40*sec),
				write("master-0", "patch", "tasks/status", "t1", 200, 41*sec))},
		{name: "no Lease writes in the audit log: the record's holders", want: 1, checked: 2, notes: "taken from the record's Lease entries",
			rec:    leaseRec().lease("master-0_5f1c").lease("master-1_77aa"),
			writes: []record.Write{write("master-0", "patch", "tasks/status", "t1", 200, 0), write("master-0", "patch", "tasks/status", "t1", 200, 10*sec)}},
		{name: "nothing tells who held the Lease", want: 0, checked: 0, notes: "were not judged",
			rec: newRec(), writes: []record.Write{write("master-0", "patch", "tasks/status", "t1", 200, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := tc.rec.check(tc.writes...)
			expectViolations(t, rep, NoWritesWithoutLease, tc.want, tc.says)
			if got := result(t, rep, NoWritesWithoutLease).Checked; got != tc.checked {
				t.Errorf("checked %d writes, want %d", got, tc.checked)
			}
			if rep.LeaseTakeovers != tc.takeovers {
				t.Errorf("%d takeovers, want %d", rep.LeaseTakeovers, tc.takeovers)
			}
			if tc.notes != "" && !strings.Contains(strings.Join(rep.Notes, "\n"), tc.notes) {
				t.Errorf("notes %q, want one saying %q", rep.Notes, tc.notes)
			}
		})
	}
}

func TestHolderPod(t *testing.T) {
	for identity, want := range map[string]string{
		"kubemesos-master-7d9f-abcde_0b6f3c1e-8d2a-4c59-9a57-2f3d1c0e9b11": "kubemesos-master-7d9f-abcde",
		"master-0_5f1c@console=10.0.0.1:8080@10.0.0.1:5050":                "master-0",
		"master-0@10.0.0.1:5050":                                           "master-0",
		"master-0":                                                         "master-0",
	} {
		if got := holderPod(identity); got != want {
			t.Errorf("holderPod(%q) = %q, want %q", identity, got, want)
		}
	}
}

func TestLeaseDurationFromTheRecord(t *testing.T) {
	writes := []record.Write{renew("master-0", 200, 0), renew("master-1", 200, 10*sec)}
	rep := Check(leaseRec().entries, writes, Limits{})
	expectViolations(t, rep, NoWritesWithoutLease, 1, "lease duration (15s)")
}
