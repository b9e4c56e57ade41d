package scale

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

// TestSuiteCounts runs the scale suite small (20 nodes, 200 tasks a run)
// and checks that it works and that its counts are right: every task
// finished exactly once, the API server counted the writes that the runs
// must have made, the audit log attributes them to their writers, and an
// idle cluster writes nothing but Leases. Never its speed.
func TestSuiteCounts(t *testing.T) {
	if os.Getenv("KUBEMESOS_TEST_DEBUG") != "" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	} else {
		ctrl.SetLogger(logr.Discard())
	}
	const nodes, perNode = 20, 10
	cfg := DefaultConfig()
	// Heartbeats every 2 s, so that the idle check sees several of each
	// agent in a short time.
	cfg.HeartbeatInterval = 2 * time.Second
	// What the plain pods give back reaches the Agents within seconds, not
	// the default's half minute, which each settle would wait for.
	cfg.ResourceGrowthDelay = 5 * time.Second
	cfg.Timeout = 3 * time.Minute
	cfg.Log = funcr.New(func(prefix, args string) { t.Log(prefix, args) }, funcr.Options{})
	c, err := StartCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	ctx := context.Background()
	sizes, err := c.Run(ctx, []int{nodes}, func(n int) int { return n * perNode }, 3*cfg.HeartbeatInterval, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := sizes[0]
	if s.Nodes != nodes {
		t.Fatalf("the cluster has %d nodes, want %d", s.Nodes, nodes)
	}
	for _, k := range Kinds {
		r := s.Runs[k]
		if r == nil {
			t.Fatalf("no %s run", k)
		}
		t.Run(string(k), func(t *testing.T) { checkRun(t, c, r, nodes*perNode) })
	}

	// The idle cluster: heartbeats (the positive sign that the agents'
	// loops, and the master's that they wake, ran) and nothing else.
	idle := s.Idle.Writes
	if leases := idle.Total(IsLease); leases < nodes {
		t.Errorf("the idle check saw %v Lease writes, want at least a heartbeat per agent (%d)", leases, nodes)
	}
	for r, n := range idle.Counted {
		if NotLease(r) {
			t.Errorf("an idle cluster wrote: %v × %+v", n, r)
		}
	}

	// Open arrivals (-rate): the same cluster, tasks and pods arriving
	// one after another.
	const arrivals, rate = 100, 100
	c.cfg.Rate = rate
	open := &Size{Nodes: nodes, Runs: map[Kind]*Result{}}
	for _, k := range []Kind{KindExecutor, KindPods} {
		r, err := c.runKind(ctx, k, arrivals)
		if err != nil {
			t.Fatalf("open arrivals, %s: %v", k, err)
		}
		open.Runs[k] = r
		t.Run("open arrivals/"+string(k), func(t *testing.T) {
			checkRun(t, c, r, arrivals)
			checkArrivals(t, r, arrivals, rate)
		})
	}

	// A burst paced by -max-pending: at most that many tasks (pods)
	// created and not yet running at a time.
	const paced, maxPending = 100, 20
	c.cfg.Rate, c.cfg.MaxPending = 0, maxPending
	for _, k := range []Kind{KindExecutor, KindPods} {
		r, err := c.runKind(ctx, k, paced)
		if err != nil {
			t.Fatalf("at most %d pending, %s: %v", maxPending, k, err)
		}
		t.Run("paced/"+string(k), func(t *testing.T) {
			checkRun(t, c, r, paced)
			if r.MaxPending != maxPending || r.PeakPending <= 0 || r.PeakPending > maxPending {
				t.Errorf("at most %d pending: the run says %d, and had %d at once", maxPending, r.MaxPending, r.PeakPending)
			}
		})
	}
	c.cfg.MaxPending = 0

	var md strings.Builder
	report := &Report{Machine: Machine(), Date: time.Now(), Command: "go test", Sizes: append(sizes, open)}
	report.Markdown(&md)
	burst := nodes * perNode
	for _, want := range []string{fmt.Sprintf("| %d | %d | custom executors |", nodes, burst), fmt.Sprintf("| %d | %d | plain pods |", nodes, burst),
		"custom executors ÷ plain pods", "**Open arrivals**",
		fmt.Sprintf("| %d | %d | custom executors |", nodes, rate), fmt.Sprintf("| %d | %d | plain pods |", nodes, rate),
		"**Issue 12's goals**", fmt.Sprintf("| P2: tasks per second at least 2× the plain pods' | %d nodes, %d tasks at once |", nodes, burst),
		fmt.Sprintf("| P2: p99 from arrival to TASK_RUNNING under 1s | %d nodes, %d tasks arriving %d a second |", nodes, arrivals, rate)} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("the tables lack %q:\n%s", want, md.String())
		}
	}
	report.Sizes = sizes
	if svg := string(report.SVG()); !strings.HasPrefix(svg, "<svg") || strings.Count(svg, "<polyline") != len(Kinds)*2 {
		t.Errorf("the plot is not two charts of %d lines:\n%s", len(Kinds), svg)
	}
	t.Log("\n" + md.String())
}

// checkRun checks one run's counts: each of its tasks finished once, seen
// by the framework (or the harness's watch), and by the API server.
func checkRun(t *testing.T, c *Cluster, r *Result, tasks int) {
	if r.Tasks != tasks || r.Finished != tasks || r.FinishedTwice != 0 {
		t.Errorf("%d tasks, %d finished, %d finished twice; want %d, each once", r.Tasks, r.Finished, r.FinishedTwice, tasks)
	}
	if len(r.Latencies)+r.NoRunning != tasks || r.Elapsed <= 0 {
		t.Errorf("%d latencies and %d tasks never seen running, over %v; want %d in all", len(r.Latencies), r.NoRunning, r.Elapsed, tasks)
	}
	relaunched := 0
	for _, n := range r.Relaunched {
		relaunched += n
	}
	w := r.Writes
	created := func(res string) testenv.Request { return testenv.Request{Verb: "POST", Resource: res, Code: "201"} }
	switch r.Kind {
	case KindPods:
		// The harness creates each pod, kube-scheduler binds it, kwok
		// makes it Running then Succeeded; kubemesos writes nothing
		// per pod (its agents see the nodes' usage change, and update
		// their Agents, at most once per pod's arrival and departure).
		want := map[testenv.Request]float64{
			created("pods"): float64(tasks),
			{Verb: "POST", Resource: "pods", Subresource: "binding", Code: "201"}: float64(tasks),
		}
		for req, n := range want {
			if w.Counted[req] != n {
				t.Errorf("the API server counted %v × %+v, want %v", w.Counted[req], req, n)
			}
		}
		if n := w.Of([]string{WriterKwok}, func(r testenv.Request) bool {
			return r.Resource == "pods" && r.Subresource == "status" && r.Code == "200"
		}); n < 2*float64(tasks) {
			t.Errorf("kwok wrote %v pod statuses, want at least 2 per pod (Running, Succeeded)", n)
		}
		if n := w.Of([]string{WriterMaster, WriterFramework}, nil); n != 0 {
			t.Errorf("the master and the framework wrote %v times during the plain pods' run, want 0", n)
		}
	default:
		// The framework creates each task (again when relaunched); the
		// master stages it; the agent writes at least its TASK_FINISHED
		// (a quick task's TASK_RUNNING can ride in the same write, under
		// --status-update-delay) and at most each state.
		launched := float64(tasks + relaunched)
		taskCreates := testenv.Request{Verb: "POST", Group: kmv1.GroupVersion.Group, Resource: "tasks", Code: "201"}
		if w.Counted[taskCreates] != launched || w.ByWriter[WriterFramework][taskCreates] != launched {
			t.Errorf("Task creates: counted %v, audited for the framework %v; want %v", w.Counted[taskCreates], w.ByWriter[WriterFramework][taskCreates], launched)
		}
		status := func(r testenv.Request) bool {
			return r.Resource == "tasks" && r.Subresource == "status" && r.Code == "200"
		}
		if n := w.Of([]string{WriterMaster}, status); n < launched {
			t.Errorf("the master wrote %v Task statuses, want one per launch (TASK_STAGING), %v", n, launched)
		}
		// A command task's pod adds TASK_STARTING.
		perLaunch := 2.0
		if r.Kind == KindCommand {
			perLaunch = 3
		}
		if n := w.Of([]string{WriterAgent}, status); n < float64(tasks) || n > perLaunch*launched {
			t.Errorf("the agents wrote %v Task statuses, want from one per task (TASK_FINISHED, with the states before coalesced) to %v per launch (%v to %v)", n, perLaunch, tasks, perLaunch*launched)
		}
		pods := w.Of([]string{WriterAgent}, func(r testenv.Request) bool { return r == created("pods") })
		if r.Kind == KindCommand && pods != float64(tasks) {
			t.Errorf("the agents created %v pods, want one per command task (%d)", pods, tasks)
		}
		if r.Kind == KindExecutor && (pods < 1 || pods > float64(r.Nodes)) {
			t.Errorf("the agents created %v executor pods, want one per agent used (1 to %d)", pods, r.Nodes)
		}
		// Every task ended TASK_FINISHED, as the API server stores it.
		var list kmv1.TaskList
		if err := c.Client().List(context.Background(), &list, client.InNamespace(r.Namespace)); err != nil {
			t.Fatal(err)
		}
		finished := 0
		for _, tk := range list.Items {
			if tk.Status.State == kmv1.TaskFinished {
				finished++
			}
		}
		if finished != tasks || len(list.Items) != tasks+relaunched {
			t.Errorf("the API server holds %d Tasks, %d of them TASK_FINISHED; want %d launched, %d finished", len(list.Items), finished, tasks+relaunched, tasks)
		}
	}
	// The audit log saw what the counters counted: every counted write
	// but the Leases' (left out) and a few at the window's edges has its
	// audit event.
	if counted, audited := w.Total(NotLease), w.Audited(); audited < counted*0.98 || audited > counted*1.02 {
		t.Errorf("the API server counted %v writes, its audit log %v", counted, audited)
	}
	if r.Teardown == nil {
		t.Error("the run's ending was not counted")
	}
}

// checkArrivals checks a run of open arrivals: every task seen running
// has its latency from arrival, no task was created before it arrived,
// and the run lasted at least as long as its arrivals.
func checkArrivals(t *testing.T, r *Result, tasks int, rate float64) {
	if r.ArrivalRate != rate || len(r.FromArrival) != len(r.Latencies) {
		t.Fatalf("arrival rate %v with %d latencies from arrival for %d from creation; want %v, one each", r.ArrivalRate, len(r.FromArrival), len(r.Latencies), rate)
	}
	for i, d := range r.FromArrival {
		if d < r.Latencies[i] {
			t.Errorf("latency %d: %v from arrival, %v from creation: a task was created before it arrived", i, d, r.Latencies[i])
		}
	}
	if least := time.Duration(float64(tasks-1) / rate * float64(time.Second)); r.Elapsed < least {
		t.Errorf("the run took %v from its first creation to its last end; its arrivals alone span %v", r.Elapsed, least)
	}
}
