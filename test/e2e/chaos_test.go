//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/test/chaos/invariants"
	"github.com/kubemesos/kubemesos/test/chaos/record"
)

// The fault campaign's settings, from the environment (`make chaos` sets
// them; unset, TestChaos makes the short run).
const (
	// ChaosFaultsEnv is how many faults of each kind: kind=N,... (kinds
	// as record.Fault*); kinds left out get none.
	ChaosFaultsEnv = "KUBEMESOS_CHAOS_FAULTS"
	// ChaosSeedEnv replays a run: its choices of fault, target and
	// duration come from this seed.
	ChaosSeedEnv = "KUBEMESOS_CHAOS_SEED"
	// ChaosDurationEnv bounds the injection (a Go duration; 0 or unset:
	// until the plan is done).
	ChaosDurationEnv = "KUBEMESOS_CHAOS_DURATION"
	// ChaosDirEnv is where the record, the master's writes and the report
	// go (a temporary folder when unset).
	ChaosDirEnv = "KUBEMESOS_CHAOS_DIR"
)

// shortChaos is the short run, part of make e2e (and so make test): a
// fault of each kind, the leader killed twice.
const shortChaos = "leader-kill=2,leader-pause=1,agent-restart=1,agent-pause=1,executor-crash=1,scheduler-kill=1,scheduler-pause=1,apiserver-restart=1,etcd-stall=1,etcd-slow-disk=1,node-partition=1"

// TestChaos is the fault campaign: MonteCarloArea runs with exact results
// and a framework that launches and kills tasks continuously, while the
// injector applies faults one after another (each undone and recovered
// from before the next); a record of every Task, Agent, Framework and
// master Lease change is kept from watches started before the workload,
// and afterwards the invariant checker (test/chaos/invariants) reads it
// with the master's writes from the API server's audit log. Any
// violation fails the test; the report gives the faults by kind, the time
// to recover from each, and the seed that replays the run.
func TestChaos(t *testing.T) {
	plan, err := parseFaultPlan(envOr(ChaosFaultsEnv, shortChaos))
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(ChaosSeedEnv); s != "" {
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: not a seed: %v", ChaosSeedEnv, s, err)
		}
	}
	var budget time.Duration
	if s := os.Getenv(ChaosDurationEnv); s != "" && s != "0" {
		if budget, err = time.ParseDuration(s); err != nil {
			t.Fatalf("%s=%q: not a duration: %v", ChaosDurationEnv, s, err)
		}
	}
	dir := os.Getenv(ChaosDirEnv)
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("chaos: seed %d (replay: %s=%d), plan %s, output %s", seed, ChaosSeedEnv, seed, formatPlan(plan), dir)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	order := faultOrder(plan, rng)

	ctx, stopRecording := context.WithCancel(context.Background())
	defer stopRecording()
	rec, err := newRecorder(ctx, filepath.Join(dir, "record.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()

	// The workload: a churning framework, and MonteCarloArea runs, two at
	// a time, started between faults.
	churnCtx, stopChurn := context.WithCancel(context.Background())
	churn := startChurn(t, churnCtx, rng.Uint64())
	var runs []string
	want := expected(t, chaosPieces) // computed once: it samples as the pieces do
	// Each run retries a piece as often as the faults may fail it, and
	// waits for its scheduler as long as a fault may keep it away, as a
	// framework meant to survive failures is set up.
	params := map[string]string{"maxRetries": "30"}
	for k, v := range chaosPieces {
		params[k] = v
	}
	startRun := func() {
		ns := newNamespace(t, "chaos-mc")
		montecarlo(t, ns, params)
		if err := c.Patch(context.Background(), &kmv1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "montecarloarea"}},
			client.RawPatch(types.MergePatchType, []byte(`{"spec":{"failoverTimeoutSeconds":600}}`))); err != nil {
			t.Fatal(err)
		}
		rec.add(record.Entry{Kind: record.KindExpect, Namespace: ns, Name: "montecarloarea",
			Expect: &record.Expect{Phase: string(kmv1.FrameworkCompleted), Result: want}})
		runs = append(runs, ns)
	}
	live := func() int {
		n := 0
		for _, ns := range runs {
			var fw kmv1.Framework
			if c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "montecarloarea"}, &fw) != nil ||
				(fw.Status.Phase != kmv1.FrameworkCompleted && fw.Status.Phase != kmv1.FrameworkFailed) {
				n++
			}
		}
		return n
	}
	startRun()
	startRun()

	in := &injector{rng: rng, rec: rec, clusterDir: filepath.Dir(kubeconfig)}
	var applied []record.Fault
	for i, kind := range order {
		if budget > 0 && time.Since(started) > budget {
			t.Logf("chaos: %s=%s reached after %d faults", ChaosDurationEnv, budget, i)
			break
		}
		if live() < 2 {
			startRun()
		}
		f := in.inject(context.Background(), kind)
		applied = append(applied, f)
		t.Logf("chaos: fault %d/%d %s on %s: %s", i+1, len(order), kind, f.Target, faultOutcome(f))
		// A pause between faults, so that the workload makes progress.
		time.Sleep(time.Duration(1000+rng.IntN(2000)) * time.Millisecond)
	}

	faulted := time.Since(started)

	// Let the runs finish and the churn drain, then stop recording. A run
	// that does not finish is a violation the checker reports
	// (FrameworksReachEnd); what the cluster shows of it is kept for a
	// diagnosis, since the local cluster and its logs go with the run.
	for _, ns := range runs {
		if _, err := finished(ns, 5*time.Minute); err != nil {
			t.Error(err)
			keepUnfinished(t, dir, ns)
		}
	}
	ranOut := time.Since(started)
	stopChurn()
	launched, killed := churn.wait(t)
	drained := time.Since(started)
	time.Sleep(3 * time.Second)
	stopRecording()
	if err := rec.stop(); err != nil {
		t.Fatal(err)
	}

	// The check, from the record and the audit log alone.
	f, err := os.Open(filepath.Join(dir, "record.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := record.Read(f)
	_ = f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The run's own tasks and frameworks: those of earlier tests were
	// recorded from the middle of their lives (their agents' history
	// before the record is missing), so they are not judged.
	ours := map[string]bool{churn.ns: true}
	for _, ns := range runs {
		ours[ns] = true
	}
	entries = slices.DeleteFunc(entries, func(e record.Entry) bool {
		return (e.Kind == record.KindTask || e.Kind == record.KindFramework) && !ours[e.Namespace]
	})
	var writes []record.Write
	for _, w := range masterWrites(t, started) {
		writes = append(writes, w.asRecord())
	}
	if raw, err := json.Marshal(writes); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "writes.json"), raw, 0o644)
	}
	report := invariants.Check(entries, writes, invariants.Campaign)
	took := time.Since(started)
	// Where the run's time went, for the make test budget.
	t.Logf("chaos: faults done after %s, runs finished after %s, churn drained after %s, checked after %s",
		faulted.Round(time.Second), ranOut.Round(time.Second), drained.Round(time.Second), took.Round(time.Second))
	summary := chaosSummary(seed, plan, applied, len(runs), launched, killed, took, report)
	_ = os.WriteFile(filepath.Join(dir, "report.md"), []byte(summary), 0o644)
	t.Log("\n" + summary)
	for _, v := range report.Violations {
		t.Errorf("violation: %s %s at %s: %s", v.Invariant, v.Subject, v.At.Format(time.RFC3339Nano), v.Message)
	}
	for _, f := range applied {
		if f.Stuck != "" {
			t.Errorf("the cluster did not recover from %s on %s: %s", f.Kind, f.Target, f.Stuck)
		} else if f.Error == "" && f.Recovered.IsZero() {
			t.Errorf("the cluster did not recover within %s from %s on %s", chaosRecoveryTimeout, f.Kind, f.Target)
		}
	}
}

// parseFaultPlan reads kind=N,...
func parseFaultPlan(s string) (map[string]int, error) {
	plan := map[string]int{}
	known := map[string]bool{}
	for _, f := range faults {
		known[f.kind] = true
	}
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		kind, n, ok := strings.Cut(part, "=")
		count, err := strconv.Atoi(n)
		if !ok || err != nil || count < 0 || !known[kind] {
			return nil, fmt.Errorf("%s: %q is not kind=N with a known kind (%s)", ChaosFaultsEnv, part, strings.Join(slices.Sorted(maps.Keys(known)), ", "))
		}
		plan[kind] += count
	}
	return plan, nil
}

func formatPlan(plan map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(plan)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, plan[k]))
	}
	return strings.Join(parts, ",")
}

// faultOrder is the plan's faults in an order the seed decides.
func faultOrder(plan map[string]int, rng *rand.Rand) []string {
	var order []string
	for _, k := range slices.Sorted(maps.Keys(plan)) {
		for range plan[k] {
			order = append(order, k)
		}
	}
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	return order
}

func faultOutcome(f record.Fault) string {
	switch {
	case f.Error != "":
		return "not applied: " + f.Error
	case f.Stuck != "":
		return "NOT RECOVERED: " + f.Stuck
	case f.Recovered.IsZero():
		return "NOT RECOVERED"
	default:
		return "recovered in " + recoveryOf(f).Round(10*time.Millisecond).String()
	}
}

// recoveryOf is how long the cluster took to be whole again once the
// fault was undone (or, for a kill, once it was applied).
func recoveryOf(f record.Fault) time.Duration {
	return f.Recovered.Sub(f.Undone)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// chaosSummary is the run's report, in Markdown: the faults by kind with
// their recovery times, the workload, and the invariants checked.
func chaosSummary(seed uint64, plan map[string]int, applied []record.Fault, runs int, launched, killed int64, took time.Duration, report invariants.Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Seed %d (replay: %s=%d %s=%s), %s.\n\n", seed, ChaosSeedEnv, seed, ChaosFaultsEnv, formatPlan(plan), took.Round(time.Second))
	b.WriteString("| fault | injected | not applied | recovered | median recovery | worst recovery |\n|---|---:|---:|---:|---:|---:|\n")
	byKind := map[string][]record.Fault{}
	for _, f := range applied {
		byKind[f.Kind] = append(byKind[f.Kind], f)
	}
	total := 0
	for _, k := range slices.Sorted(maps.Keys(byKind)) {
		var times []time.Duration
		failed := 0
		for _, f := range byKind[k] {
			switch {
			case f.Error != "":
				failed++
			case !f.Recovered.IsZero():
				times = append(times, recoveryOf(f))
			}
		}
		total += len(byKind[k])
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		med, worst := "–", "–"
		if len(times) > 0 {
			med, worst = times[len(times)/2].Round(10*time.Millisecond).String(), times[len(times)-1].Round(10*time.Millisecond).String()
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %s | %s |\n", k, len(byKind[k]), failed, len(times), med, worst)
	}
	fmt.Fprintf(&b, "| **all** | %d | | | | |\n\n", total)
	fmt.Fprintf(&b, "Workload: %d MonteCarloArea runs (exact results expected), %d churn tasks launched, %d of them killed.\n\n", runs, launched, killed)
	b.WriteString(report.Markdown())
	return b.String()
}

// chaosPieces are the campaign's MonteCarloArea parameters: random
// sampling, so that a piece runs for seconds and faults land on running
// pieces, but a third of the e2e cases' points, so that the runs live
// when the last fault comes end soon after it (a run's six pieces share
// three nodes of about 2 cpus with the churn).
var chaosPieces = map[string]string{"method": "random", "points": "10000", "tasks": "6", "cpu": "1"}

// maxChurn bounds the churning framework's live tasks.
const maxChurn = 6

// churner is a framework whose scheduler the test plays: it launches
// short command tasks on its offers and kills some of them, until
// stopped.
type churner struct {
	ns               string
	launched, killed atomic.Int64
	done             chan struct{}
}

// startChurn starts the churning framework in a namespace of its own.
func startChurn(t *testing.T, ctx context.Context, seed uint64) *churner {
	t.Helper()
	ch := &churner{ns: newNamespace(t, "chaos-churn"), done: make(chan struct{})}
	fw := builders.MakeFramework("churn", ch.ns).RefuseSeconds(1).Obj()
	if err := c.Create(context.Background(), fw); err != nil {
		t.Fatal(err)
	}
	leaseKey := client.ObjectKey{Namespace: ch.ns, Name: kmv1.SchedulerLeaseName(fw.Name)}
	holdSchedulerLease(t, ch.ns, fw.Name, 60)
	rng := rand.New(rand.NewPCG(seed, seed+1))
	enough := func(o *kmv1.Offer) bool {
		rl := o.Spec.Resources.Core()
		return rl.Cpu().MilliValue() >= 100 && rl.Memory().Value() >= 16<<20
	}
	go func() {
		defer close(ch.done)
		renewed := time.Now()
		n := 0
		var live []*kmv1.Task // launched, maybe still running
		for ctx.Err() == nil {
			bg := context.Background()
			if time.Since(renewed) > 10*time.Second {
				patch := fmt.Sprintf(`{"spec":{"renewTime":%q}}`, metav1.NewMicroTime(time.Now()).Format(metav1.RFC3339Micro))
				if c.Patch(bg, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ch.ns, Name: leaseKey.Name}}, client.RawPatch(types.MergePatchType, []byte(patch))) == nil {
					renewed = time.Now()
				}
			}
			var offers kmv1.OfferList
			if c.List(bg, &offers, client.InNamespace(ch.ns), client.MatchingLabels{kmv1.LabelFramework: fw.Name}) == nil {
				for i := range offers.Items {
					o := &offers.Items[i]
					if o.DeletionTimestamp != nil {
						continue
					}
					// At most maxChurn tasks at a time, each on an offer
					// that holds it; any other offer is declined.
					if len(live) >= maxChurn || !enough(o) {
						_ = c.Delete(bg, o)
						continue
					}
					n++
					sleep := strconv.Itoa(1 + rng.IntN(3))
					task := builders.MakeTask(fmt.Sprintf("churn-%d", n), ch.ns).Framework(fw.Name).Offer(o.Name).
						Resources("cpu", "100m", "memory", "16Mi").Command("busybox:stable", "sleep", sleep).Obj()
					if c.Create(bg, task) == nil {
						ch.launched.Add(1)
						live = append(live, task)
					}
				}
			}
			// Forget the tasks that ended; now and then, kill a live one.
			kept := live[:0]
			for _, tk := range live {
				if c.Get(bg, client.ObjectKeyFromObject(tk), tk) != nil || !tk.Status.State.IsTerminal() {
					kept = append(kept, tk)
				}
			}
			live = kept
			if len(live) > 0 && rng.IntN(4) == 0 {
				victim := live[rng.IntN(len(live))]
				if s := victim.Status.State; s != "" && !s.IsTerminal() && !victim.Spec.Kill &&
					c.Patch(bg, victim, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"kill":true}}`))) == nil {
					ch.killed.Add(1)
				}
			}
			sleepCtx(ctx, 500*time.Millisecond)
		}
	}()
	return ch
}

// wait waits for the churn to stop and every one of its tasks to end,
// then returns how many it launched and killed.
func (ch *churner) wait(t *testing.T) (int64, int64) {
	t.Helper()
	<-ch.done
	// Done: suppress offers and decline those held, so that the framework
	// takes nothing from the tests that follow.
	_ = c.Patch(context.Background(), &kmv1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: ch.ns, Name: "churn"}},
		client.RawPatch(types.MergePatchType, []byte(`{"spec":{"suppressOffers":true}}`)))
	_ = c.DeleteAllOf(context.Background(), &kmv1.Offer{}, client.InNamespace(ch.ns))
	wait(t, "every churn task to end", 3*time.Minute, func() bool {
		var tasks kmv1.TaskList
		if err := c.List(context.Background(), &tasks, client.InNamespace(ch.ns)); err != nil {
			return false
		}
		for _, tk := range tasks.Items {
			if !tk.Status.State.IsTerminal() {
				return false
			}
		}
		return true
	})
	return ch.launched.Load(), ch.killed.Load()
}

// keepUnfinished writes what the cluster shows of an unfinished run to
// dir/unfinished-<ns>.txt: its tasks, its pods and events, and the agents'
// and masters' logs.
func keepUnfinished(t *testing.T, dir, ns string) {
	t.Helper()
	var b strings.Builder
	for _, args := range [][]string{
		{"get", "mtask,pods", "-n", ns, "-o", "wide"},
		{"get", "mtask", "-n", ns, "-o", "yaml"},
		{"get", "events", "-n", ns, "--sort-by=.lastTimestamp"},
		{"get", "magent", "-o", "wide"},
		{"logs", "-n", systemNS, "-l", "app.kubernetes.io/component=agent", "--prefix", "--tail=-1", "--all-containers"},
		{"logs", "-n", systemNS, "-l", "app.kubernetes.io/component=master", "--prefix", "--tail=-1", "--all-containers"},
	} {
		out, err := kubectl(args...)
		fmt.Fprintf(&b, "$ kubectl %s\n%s\n", strings.Join(args, " "), out)
		if err != nil {
			fmt.Fprintf(&b, "(%v)\n", err)
		}
		b.WriteString("\n")
	}
	path := filepath.Join(dir, "unfinished-"+ns+".txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Error(err)
		return
	}
	t.Logf("what the cluster shows of %s: %s", ns, path)
}
