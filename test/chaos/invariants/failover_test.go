package invariants

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubemesos/kubemesos/test/chaos/record"
)

// defaultLimits are the master's defaults (controllers/master.go): 10
// removals per minute; and the chart's 15s Lease.
var defaultLimits = Limits{AgentRemovalLimit: 10, AgentRemovalPeriod: time.Minute, LeaseDuration: 15 * time.Second}

// readFailover reads testdata/failover.jsonl, a hand-written record of a
// four-piece MonteCarloArea run on two agents during which the leading
// master was killed and the standby took over, and its audit log's master
// writes.
func readFailover(t *testing.T) ([]record.Entry, []record.Write) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "failover.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries, err := record.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	wf, err := os.Open(filepath.Join("testdata", "failover-writes.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer wf.Close()
	var writes []record.Write
	dec := json.NewDecoder(wf)
	for {
		var w record.Write
		if err := dec.Decode(&w); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		writes = append(writes, w)
	}
	return entries, writes
}

func TestFailoverRecordIsClean(t *testing.T) {
	entries, writes := readFailover(t)
	rep := Check(entries, writes, defaultLimits)
	if !rep.Clean() || len(rep.Notes) > 0 {
		t.Fatalf("the failover record is not clean:\n%s", rep.Table())
	}
	if rep.Tasks != 4 || rep.Transitions != 16 || rep.Agents != 2 || rep.AgentIDs != 2 || rep.Frameworks != 1 ||
		rep.Writes != 33 || rep.LeaseTakeovers != 1 || rep.OrderedBy != orderResourceVersion {
		t.Errorf("counted %+v", rep)
	}
	want := map[Invariant]int{TaskStatesForward: 16, NoRunAfterUnreachable: 8, MonteCarloExact: 1, AgentResourcesHeld: 4,
		NoLostStatusUpdate: 4, NoWritesWithoutLease: 18, AgentRemovalRate: 0, FrameworksReachEnd: 1}
	for _, res := range rep.Invariants {
		if res.Checked != want[res.Invariant] {
			t.Errorf("%s checked %d, want %d", res.Invariant, res.Checked, want[res.Invariant])
		}
	}
	if len(rep.Faults) != 1 || rep.Faults[0] != (FaultCount{Kind: record.FaultLeaderKill, Applied: 1}) {
		t.Errorf("faults %+v", rep.Faults)
	}
	if !strings.Contains(rep.Summary(), ": 0 violations") {
		t.Errorf("summary %q", rep.Summary())
	}
}

// TestFailoverRecordBroken breaks the clean record in one place at a time:
// each break must be found, by the invariant it breaks.
func TestFailoverRecordBroken(t *testing.T) {
	for _, tc := range []struct {
		name    string
		inv     Invariant
		corrupt func(entries []record.Entry, writes []record.Write) ([]record.Entry, []record.Write)
	}{
		{name: "a piece's FINISHED lost", inv: MonteCarloExact, corrupt: func(es []record.Entry, ws []record.Write) ([]record.Entry, []record.Write) {
			return without(es, func(e record.Entry) bool { return e.Name == "mc-piece-2-0" && e.Task.State == "TASK_FINISHED" }), ws
		}},
		{name: "the zombie writes", inv: NoWritesWithoutLease, corrupt: func(es []record.Entry, ws []record.Write) ([]record.Entry, []record.Write) {
			late := ws[0]
			late.Resource, late.Name = "tasks/status", "mc-piece-3-0"
			late.Received, late.Answered = t0.Add(33*time.Second), t0.Add(33*time.Second+5*time.Millisecond)
			return es, append(ws, late)
		}},
		{name: "a RUNNING task goes back to STARTING", inv: TaskStatesForward, corrupt: func(es []record.Entry, ws []record.Write) ([]record.Entry, []record.Write) {
			for i := range es {
				if es[i].Name == "mc-piece-1-0" && es[i].Task.State == "TASK_FINISHED" {
					es[i].Task.State, es[i].Task.Data = "TASK_STARTING", ""
				}
			}
			return es, ws
		}},
		{name: "the framework never completes", inv: FrameworksReachEnd, corrupt: func(es []record.Entry, ws []record.Write) ([]record.Entry, []record.Write) {
			return without(es, func(e record.Entry) bool { return e.Framework != nil && e.Framework.Phase == "Completed" }), ws
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries, writes := readFailover(t)
			entries, writes = tc.corrupt(entries, writes)
			rep := Check(entries, writes, defaultLimits)
			if len(of(rep, tc.inv)) == 0 {
				t.Fatalf("no %s violation:\n%s", tc.inv, rep.Table())
			}
		})
	}
}

func without(es []record.Entry, drop func(record.Entry) bool) []record.Entry {
	var out []record.Entry
	for _, e := range es {
		if !drop(e) {
			out = append(out, e)
		}
	}
	return out
}
