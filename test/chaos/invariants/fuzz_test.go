package invariants

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubemesos/kubemesos/test/chaos/record"
)

// FuzzCheck feeds Check any record a recorder could write and any audit
// log: it never panics, and its report adds up.
func FuzzCheck(f *testing.F) {
	entries, err := os.ReadFile(filepath.Join("testdata", "failover.jsonl"))
	if err != nil {
		f.Fatal(err)
	}
	writes, err := os.ReadFile(filepath.Join("testdata", "failover-writes.jsonl"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(entries, writes, 2)
	f.Add([]byte(`{"kind":"Task","resourceVersion":"1","uid":"u","task":{"state":"TASK_RUNNING","agentID":"a","resources":{"cpu":"1e400"}}}`), []byte(`{}`), 1)
	f.Add([]byte(`{"kind":"Agent","name":"n","agent":{"phase":"Unreachable","agentID":"a"}}`), []byte(`{"pod":"p","resource":"leases","verb":"create","code":200}`), 0)
	f.Fuzz(func(t *testing.T, rec, audit []byte, limit int) {
		es, err := record.Read(bytes.NewReader(rec))
		if err != nil {
			return
		}
		var ws []record.Write
		dec := json.NewDecoder(bytes.NewReader(audit))
		for {
			var w record.Write
			if dec.Decode(&w) != nil {
				break
			}
			ws = append(ws, w)
		}
		rep := Check(es, ws, Limits{AgentRemovalLimit: limit, AgentRemovalPeriod: time.Minute, LeaseDuration: 15 * time.Second})
		if len(rep.Invariants) != len(All) {
			t.Fatalf("%d results for %d invariants", len(rep.Invariants), len(All))
		}
		n := 0
		for i, r := range rep.Invariants {
			if r.Invariant != All[i] || r.Checked < 0 || r.Violations < 0 {
				t.Fatalf("result %d: %+v", i, r)
			}
			n += r.Violations
		}
		if n != len(rep.Violations) {
			t.Fatalf("the results count %d violations, the list has %d", n, len(rep.Violations))
		}
		_ = rep.Table()
		_ = rep.Markdown()
	})
}
