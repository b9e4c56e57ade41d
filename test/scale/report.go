package scale

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/kubemesos/kubemesos/internal/testenv"
)

// Size is what the suite measured at one cluster size.
type Size struct {
	// Nodes is the number of kwok nodes, each with a hollow agent.
	Nodes int
	// AgentsUp is how long the agents added for this size took to be
	// Active; zero for runs on a cluster grown before (the report leaves
	// them out of that line).
	AgentsUp time.Duration
	// Runs are the runs, by kind.
	Runs map[Kind]*Result
	// Idle is the idle check after the runs.
	Idle *Idle
}

// Report is the suite's result: the runs at each size.
type Report struct {
	// Machine describes where it ran.
	Machine string
	// Date is when it ran.
	Date time.Time
	// Command is how it was run.
	Command string
	// Took is how long the whole suite took.
	Took time.Duration
	// Sizes are the cluster sizes, smallest first.
	Sizes []*Size
}

// Kinds are the runs' kinds in the order of the tables.
var Kinds = []Kind{KindExecutor, KindCommand, KindPods}

// Machine describes this machine: CPU model, cores, memory and Go.
func Machine() string {
	model, mem := "unknown CPU", ""
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		_ = f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %d GiB", (kb+512*1024)>>20)
		}
	}
	return fmt.Sprintf("%s, %d cores%s, %s", model, runtime.NumCPU(), mem, runtime.Version())
}

func ms(d time.Duration) string {
	if d >= 10*time.Second {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

// perTask divides n by the run's tasks.
func perTask(n float64, r *Result) string {
	return fmt.Sprintf("%.2f", n/float64(max(r.Tasks, 1)))
}

// Markdown writes the report's tables.
func (r *Report) Markdown(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("Machine: %s. Date: %s. Command: `%s`. The whole suite took %s.\n\n", r.Machine, r.Date.Format("2006-01-02"), r.Command, r.Took.Round(time.Second))

	p("**P2: throughput and latency.** Tasks (pods) per second from the first creation to the last TASK_FINISHED (Succeeded); latency from a task's creation to TASK_RUNNING (a pod's to Running) as its framework (a watch) saw it, and to its placement: TASK_STAGING, the master's admission onto an agent (a pod's binding to a node by kube-scheduler).\n\n")
	p("| nodes | tasks | run | tasks/s | first creation → last finished | p50 creation → running | p99 | p50 creation → placed | p99 | launched again |\n")
	p("|---:|---:|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, s := range r.Sizes {
		for _, k := range Kinds {
			x := s.Runs[k]
			if x == nil {
				continue
			}
			p("| %d | %d | %s | %.1f | %s | %s | %s | %s | %s | %s |\n", s.Nodes, x.Tasks, k, x.Rate(), ms(x.Elapsed), ms(x.Percentile(.5)), ms(x.Percentile(.99)),
				ms(x.PlacedPercentile(.5)), ms(x.PlacedPercentile(.99)), relaunched(x))
		}
	}
	r.openArrivals(w)
	for _, s := range r.Sizes {
		if x := s.Runs[KindExecutor]; x != nil && x.NotRetired > 0 {
			p("\nAt %d nodes, %d executor pods were still running after the framework had completed and the cluster had settled: their agents never retired them.\n", s.Nodes, x.NotRetired)
		}
	}
	p("\n| nodes | custom executors ÷ plain pods (tasks/s) | command tasks ÷ plain pods | p99 custom executors ÷ plain pods |\n|---:|---:|---:|---:|\n")
	for _, s := range r.Sizes {
		e, c, pods := s.Runs[KindExecutor], s.Runs[KindCommand], s.Runs[KindPods]
		if pods == nil || pods.Rate() == 0 || pods.Percentile(.99) == 0 || (e == nil && c == nil) {
			continue
		}
		ratio := func(x *Result, of func(*Result) float64) string {
			if x == nil {
				return "—"
			}
			return fmt.Sprintf("%.2f", of(x)/of(pods))
		}
		rate := func(x *Result) float64 { return x.Rate() }
		p99 := func(x *Result) float64 { return float64(x.Percentile(.99)) }
		p("| %d | %s | %s | %s |\n", s.Nodes, ratio(e, rate), ratio(c, rate), ratio(e, p99))
	}

	p("\n**P3: API writes per task, amortised**, from the API server's own counters (apiserver_request_total: every POST, PUT, PATCH, DELETE, conflicts and 404s included; reviews are not writes), over a run: from just before the first creation until the cluster settled after the last task finished. The audit log, which records every write with its client's user agent, splits them by writer; Leases (heartbeats, the scheduler's Lease) are counted apart, as they cost by the second, not by the task.\n\n")
	writers := []string{WriterMaster, WriterAgent, WriterFramework, WriterKwok, WriterKubeScheduler, WriterHarness}
	p("| nodes | run | counted by the API server | kubemesos, without Leases | %s | Leases | ending the run (per task) |\n", strings.Join(writers, " | "))
	p("|---:|---|---:|---:|%s---:|---:|\n", strings.Repeat("---:|", len(writers)))
	for _, s := range r.Sizes {
		for _, k := range Kinds {
			x := s.Runs[k]
			if x == nil || x.Writes == nil {
				continue
			}
			cols := []string{}
			for _, wr := range writers {
				cols = append(cols, perTask(x.Writes.Of([]string{wr}, NotLease), x))
			}
			teardown := "—"
			if x.Teardown != nil {
				teardown = perTask(x.Teardown.Total(nil), x)
			}
			p("| %d | %s | %s | %s | %s | %s | %s |\n", s.Nodes, k, perTask(x.Writes.Total(nil), x), perTask(x.Writes.Of(KubemesosWriters, NotLease), x),
				strings.Join(cols, " | "), perTask(x.Writes.Total(IsLease), x), teardown)
		}
	}
	if last := r.largest(); last != nil {
		p("\nThe writes of each run at %d nodes, by resource, verb and answer (per task; the writer from the audit log):\n\n", last.Nodes)
		p("| run | resource | verb | code | per task | writer |\n|---|---|---|---|---:|---|\n")
		for _, k := range Kinds {
			x := last.Runs[k]
			if x == nil || x.Writes == nil {
				continue
			}
			for _, row := range detail(x) {
				p("| %s | %s | %s | %s | %s | %s |\n", k, row.resource, row.req.Verb, row.req.Code, perTask(row.n, x), row.writers)
			}
		}
	}

	if last := r.largest(); last != nil {
		r.diagnostics(w, last)
	}

	p("\n**Idle cluster**: the writes after the runs, with no framework running, and the cores that every process used meanwhile.\n\n| nodes | watched | writes other than Leases | Lease writes per second | cores |\n|---:|---:|---:|---:|---:|\n")
	for _, s := range r.Sizes {
		if s.Idle == nil {
			continue
		}
		i := s.Idle
		cpu := 0.0
		for _, v := range i.Writes.Stats.CPU {
			cpu += v
		}
		p("| %d | %s | %.0f | %.1f | %.2f |\n", s.Nodes, ms(i.Period), i.Writes.Total(NotLease), i.Writes.Total(IsLease)/i.Period.Seconds(), cpu/i.Period.Seconds())
	}
	var up []string
	for _, s := range r.Sizes {
		if s.AgentsUp > 0 {
			up = append(up, fmt.Sprintf("%d in %s", s.Nodes, ms(s.AgentsUp)))
		}
	}
	if len(up) > 0 {
		p("\nAgents Active after their nodes were added: %s.\n", strings.Join(up, ", "))
	}
	r.goals(w)
}

// openArrivals writes the latencies from arrival of the runs whose tasks
// arrived one after another (Config.Rate), with the ratio of each to the
// plain pods' of its size.
func (r *Report) openArrivals(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	header := false
	for _, s := range r.Sizes {
		pods := s.Runs[KindPods]
		for _, k := range Kinds {
			x := s.Runs[k]
			if x == nil || x.ArrivalRate <= 0 {
				continue
			}
			if !header {
				header = true
				p("\n**Open arrivals**: the tasks (pods) arrived one after another at the rate given, each launched as it arrived; latency from its arrival to TASK_RUNNING (Running), which for a task includes the wait for an offer and the framework's create.\n\n")
				p("| nodes | arrivals/s | run | tasks/s | p50 arrival → running | p99 | p99 ÷ plain pods' | p50 creation → running | p99 |\n|---:|---:|---|---:|---:|---:|---:|---:|---:|\n")
			}
			ratio := "—"
			if pods != nil && pods.ArrivalPercentile(.99) > 0 {
				ratio = fmt.Sprintf("%.2f", float64(x.ArrivalPercentile(.99))/float64(pods.ArrivalPercentile(.99)))
			}
			p("| %d | %g | %s | %.1f | %s | %s | %s | %s | %s |\n", s.Nodes, x.ArrivalRate, k, x.Rate(), ms(x.ArrivalPercentile(.5)), ms(x.ArrivalPercentile(.99)), ratio,
				ms(x.Percentile(.5)), ms(x.Percentile(.99)))
		}
	}
}

func relaunched(r *Result) string {
	if len(r.Relaunched) == 0 {
		return "0"
	}
	var parts []string
	for state, n := range r.Relaunched {
		parts = append(parts, fmt.Sprintf("%d after %s", n, state))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

func (r *Report) largest() *Size {
	if len(r.Sizes) == 0 {
		return nil
	}
	return r.Sizes[len(r.Sizes)-1]
}

type detailRow struct {
	resource string
	req      testenv.Request
	n        float64
	writers  string
}

// detail lists a run's counted writes by request, most first, each with
// the writers that the audit log names for it.
func detail(x *Result) []detailRow {
	var rows []detailRow
	for req, n := range x.Writes.Counted {
		res := req.Resource
		if req.Group != "" {
			res += "." + req.Group
		}
		if req.Subresource != "" {
			res += "/" + req.Subresource
		}
		var ws []string
		for w, reqs := range x.Writes.ByWriter {
			audited := req
			if audited.Verb == "APPLY" {
				audited.Verb = "PATCH"
			}
			if m := reqs[audited]; m > 0 {
				ws = append(ws, fmt.Sprintf("%s %.0f", w, m))
			}
		}
		slices.Sort(ws)
		rows = append(rows, detailRow{resource: res, req: req, n: n, writers: strings.Join(ws, ", ")})
	}
	slices.SortFunc(rows, func(a, b detailRow) int {
		if a.n != b.n {
			if a.n > b.n {
				return -1
			}
			return 1
		}
		return strings.Compare(a.resource+a.req.Verb+a.req.Code, b.resource+b.req.Verb+b.req.Code)
	})
	return rows
}

// Run grows the cluster to each of sizes in turn (smallest first) and runs
// each kind there with tasks(nodes) tasks, then checks that the idle
// cluster writes nothing but Leases for idle (no check when 0). sized is
// called after each size, for example to print progress.
func (c *Cluster) Run(ctx context.Context, sizes []int, tasks func(nodes int) int, idle time.Duration, sized func(*Size)) ([]*Size, error) {
	var out []*Size
	for _, n := range sizes {
		start := time.Now()
		if err := c.Grow(ctx, n); err != nil {
			return out, err
		}
		s := &Size{Nodes: c.Nodes(), AgentsUp: time.Since(start), Runs: map[Kind]*Result{}}
		out = append(out, s)
		for _, k := range Kinds {
			if len(c.cfg.Kinds) > 0 && !slices.Contains(c.cfg.Kinds, k) {
				continue
			}
			r, err := c.runKind(ctx, k, tasks(n))
			if r != nil {
				s.Runs[k] = r
			}
			if err != nil {
				return out, fmt.Errorf("%d nodes: %w", n, err)
			}
			c.cfg.Log.Info("run done", "kind", k, "nodes", n, "tasks", r.Tasks, "tasks/s", fmt.Sprintf("%.1f", r.Rate()),
				"p50", r.Percentile(.5).Round(time.Millisecond), "p99", r.Percentile(.99).Round(time.Millisecond),
				"placed p50", r.PlacedPercentile(.5).Round(time.Millisecond))
		}
		if idle > 0 {
			i, err := c.IdleCheck(ctx, idle)
			if err != nil {
				return out, err
			}
			s.Idle = i
		}
		if sized != nil {
			sized(s)
		}
	}
	return out, nil
}

// runKind runs n tasks of kind k: plain pods through the peer, the others
// through the benchmark framework.
func (c *Cluster) runKind(ctx context.Context, k Kind, n int) (*Result, error) {
	if k == KindPods {
		return c.RunPeer(ctx, n)
	}
	return c.RunFramework(ctx, k, n)
}

// diagnostics writes where the time of each run at size s went: CPU by
// program, the busiest controllers and the API server's write latency.
func (r *Report) diagnostics(w io.Writer, s *Size) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("\n**Where the time went** at %d nodes: CPU seconds per 1,000 tasks by program (over the run's window, settling included), and the cores used on average.\n\n", s.Nodes)
	progs := map[string]bool{}
	for _, k := range Kinds {
		if x := s.Runs[k]; x != nil && x.Writes != nil && x.Writes.Stats != nil {
			for prog := range x.Writes.Stats.CPU {
				progs[prog] = true
			}
		}
	}
	names := slices.Sorted(maps.Keys(progs))
	p("| run | %s | cores |\n|---|%s---:|\n", strings.Join(names, " | "), strings.Repeat("---:|", len(names)))
	for _, k := range Kinds {
		x := s.Runs[k]
		if x == nil || x.Writes == nil || x.Writes.Stats == nil {
			continue
		}
		var cols []string
		total := 0.0
		for _, prog := range names {
			v := x.Writes.Stats.CPU[prog]
			total += v
			cols = append(cols, fmt.Sprintf("%.1f", v*1000/float64(max(x.Tasks, 1))))
		}
		p("| %s | %s | %.2f |\n", k, strings.Join(cols, " | "), total/x.Writes.Stats.Window.Seconds())
	}
	p("\nThe in-process controllers (the agents' summed over all agents): reconciles per task, mean reconcile time and mean wait in the work queue, busiest first.\n\n")
	p("| run | controller | reconciles per task | mean reconcile | mean queue wait |\n|---|---|---:|---:|---:|\n")
	for _, k := range Kinds {
		x := s.Runs[k]
		if x == nil || x.Writes == nil || x.Writes.Stats == nil {
			continue
		}
		st := x.Writes.Stats
		ctrls := slices.Collect(maps.Keys(st.Reconciles))
		slices.SortFunc(ctrls, func(a, b string) int { return cmp.Compare(st.Reconciles[b].Seconds, st.Reconciles[a].Seconds) })
		for _, name := range ctrls[:min(len(ctrls), 5)] {
			t := st.Reconciles[name]
			p("| %s | %s | %.2f | %.1f ms | %.1f ms |\n", k, name, t.Count/float64(max(x.Tasks, 1)), t.Mean()*1000, st.QueueWait[name].Mean()*1000)
		}
	}
	p("\nThe API server's own handling time of the most frequent writes (apiserver_request_duration_seconds, mean).\n\n| run | write | count | mean |\n|---|---|---:|---:|\n")
	for _, k := range Kinds {
		x := s.Runs[k]
		if x == nil || x.Writes == nil || x.Writes.Stats == nil {
			continue
		}
		st := x.Writes.Stats
		ws := slices.Collect(maps.Keys(st.Writes))
		slices.SortFunc(ws, func(a, b string) int { return cmp.Compare(st.Writes[b].Count, st.Writes[a].Count) })
		for _, name := range ws[:min(len(ws), 5)] {
			t := st.Writes[name]
			p("| %s | %s | %.0f | %.1f ms |\n", k, name, t.Count, t.Mean()*1000)
		}
	}
}
