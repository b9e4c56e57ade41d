package scale

import (
	"strings"
	"testing"
	"time"

	"github.com/kubemesos/kubemesos/internal/testenv"
)

// TestGoals reads each goal against made-up runs, on both sides of it.
func TestGoals(t *testing.T) {
	writes := func(perTask float64, tasks int) *Writes {
		n := perTask * float64(tasks)
		return &Writes{ByWriter: map[string]testenv.Requests{
			WriterMaster:  {{Resource: "tasks", Subresource: "status", Verb: "PATCH", Code: "200"}: n / 2},
			WriterAgent:   {{Resource: "tasks", Subresource: "status", Verb: "PATCH", Code: "200"}: n / 2},
			WriterKwok:    {{Resource: "pods", Subresource: "status", Verb: "PATCH", Code: "200"}: 100},
			WriterHarness: {{Resource: "leases", Verb: "PATCH", Code: "200"}: 100},
		}}
	}
	lat := func(d time.Duration, n int) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = d
		}
		return out
	}
	fast := &Size{Nodes: 50, Runs: map[Kind]*Result{
		KindExecutor: {Tasks: 100, Finished: 100, Elapsed: 5 * time.Second, Latencies: lat(300*time.Millisecond, 100), Writes: writes(2.5, 100)},
		KindPods:     {Tasks: 100, Finished: 100, Elapsed: 10 * time.Second},
	}, Idle: &Idle{Nodes: 50, Period: 10 * time.Second, Writes: &Writes{Counted: testenv.Requests{{Resource: "leases", Verb: "PATCH", Code: "200"}: 50}}}}
	slow := &Size{Nodes: 200, Runs: map[Kind]*Result{
		KindExecutor: {Tasks: 100, Finished: 100, Elapsed: 20 * time.Second, Latencies: lat(3*time.Second, 100), Writes: writes(5.1, 100)},
		KindPods:     {Tasks: 100, Finished: 100, Elapsed: 10 * time.Second},
	}, Idle: &Idle{Nodes: 200, Period: 10 * time.Second, Writes: &Writes{Counted: testenv.Requests{{Resource: "agents", Verb: "PATCH", Code: "200"}: 1}}}}
	open := &Size{Nodes: 200, Runs: map[Kind]*Result{
		KindExecutor: {Tasks: 100, Finished: 100, Elapsed: 10 * time.Second, ArrivalRate: 10, Latencies: lat(50*time.Millisecond, 100), FromArrival: lat(800*time.Millisecond, 100)},
		KindPods:     {Tasks: 100, Finished: 100, Elapsed: 10 * time.Second, ArrivalRate: 10},
	}}
	r := &Report{Sizes: []*Size{fast, slow, open}}
	want := []struct {
		goal, at, measured string
		met                bool
	}{
		{"P2: tasks per second", "50 nodes, 100 tasks at once", "2.00×", true},
		{"P2: p99 from creation", "50 nodes, 100 tasks at once", "300 ms", true},
		{"P3: at most 3", "50 nodes, 100 tasks at once", "2.50", true},
		{"P2: tasks per second", "200 nodes, 100 tasks at once", "0.50×", false},
		{"P2: p99 from creation", "200 nodes, 100 tasks at once", "3000 ms", false},
		{"P3: at most 3", "200 nodes, 100 tasks at once", "5.10", false},
		// Open arrivals: no throughput ratio (the rate is the arrivals'),
		// the p99 from arrival, no writes recorded.
		{"P2: p99 from arrival", "200 nodes, 100 tasks arriving 10 a second", "800 ms", true},
		{"P3: no write in an idle cluster", "50 nodes, idle for 10.0 s", "0 writes other than Leases", true},
		{"P3: no write in an idle cluster", "200 nodes, idle for 10.0 s", "1 writes other than Leases", false},
	}
	got := r.Goals()
	if len(got) != len(want) {
		t.Fatalf("%d goal rows, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if !strings.HasPrefix(g.Goal, w.goal) || g.At != w.at || g.Measured != w.measured || g.Met != w.met {
			t.Errorf("row %d: %+v, want goal %q… at %q, measured %q, met %v", i, g, w.goal, w.at, w.measured, w.met)
		}
	}
	var md strings.Builder
	r.goals(&md)
	if !strings.Contains(md.String(), "| P2: tasks per second at least 2× the plain pods' | 200 nodes, 100 tasks at once | 0.50× | no |") {
		t.Errorf("the goals table:\n%s", md.String())
	}
}
