package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// memRow is the master's memory in one world.
type memRow struct {
	agents, live, ended int
	mem                 memory
	// ready is how long the master took from its start to a settled state
	// (leading, every agent Active, every task counted, every agent offered).
	ready time.Duration
	label string
	// top is the heap profile's summary, kept for the largest world.
	top string
}

func (r memRow) tasks() int { return r.live + r.ended }

// memory measures the master's memory at each agent count and Task count
// of the flags, with a fresh master process for each. Agent counts go up;
// Task counts go up at the first agent count, down at the second, and so on,
// so that each world differs from the last by one change.
func (bn *bench) memory(ctx context.Context) ([]memRow, error) {
	cfg := bn.cfg
	if err := bn.world.ensureFrameworks(ctx, cfg.frameworks); err != nil {
		return nil, err
	}
	if err := bn.world.setSuppressed(ctx, false); err != nil {
		return nil, err
	}
	var rows []memRow
	// Start at the end of the Task counts nearest to the Tasks that exist
	// (those of P5, say), then turn at each agent count.
	down := bn.world.live+bn.world.ended > 0
	for _, agents := range cfg.memAgents {
		if err := bn.ensureAgents(ctx, agents); err != nil {
			return rows, err
		}
		counts := slices.Clone(cfg.memTasks)
		if down {
			slices.Reverse(counts)
		}
		down = !down
		for _, n := range counts {
			ended := int(math.Round(float64(n) * cfg.endedFraction))
			if err := bn.ensureTasks(ctx, n-ended, ended); err != nil {
				return rows, err
			}
			row, err := bn.measureMaster(ctx, agents, n-ended, ended)
			if err != nil {
				return rows, err
			}
			logf("P4: %d agents, %d tasks: RSS %s MiB, heap after GC %s MiB (ready in %s)", agents, n, mib(row.mem.RSS), mib(row.mem.HeapAlloc), row.ready.Round(time.Second))
			rows = append(rows, row)
		}
	}
	if len(rows) > 0 {
		big := 0
		for i, r := range rows {
			if r.tasks()+r.agents > rows[big].tasks()+rows[big].agents {
				big = i
			}
		}
		rows[big].top = bn.heapTop(ctx, rows[big].label, 25)
	}
	return rows, nil
}

// deleteMasterLease removes the master Lease left by a killed master, so
// that the next one leads at once.
func (bn *bench) deleteMasterLease(ctx context.Context) error {
	err := bn.c.Delete(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: systemNS, Name: kmv1.MasterLeaseName}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting the master Lease: %w", err)
	}
	return nil
}

// masterHolder returns the holder of the master Lease, "" when none.
func (bn *bench) masterHolder(ctx context.Context) (string, error) {
	var l coordinationv1.Lease
	err := bn.c.Get(ctx, types.NamespacedName{Namespace: systemNS, Name: kmv1.MasterLeaseName}, &l)
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the master Lease: %w", err)
	}
	if l.Spec.HolderIdentity == nil {
		return "", nil
	}
	return *l.Spec.HolderIdentity, nil
}

// measureMaster starts a master on the world as it is, waits until it has
// settled, lets it run cfg.settle more, reads its memory and kills it.
func (bn *bench) measureMaster(ctx context.Context, agents, live, ended int) (memRow, error) {
	row := memRow{agents: agents, live: live, ended: ended, label: fmt.Sprintf("p4-%dagents-%dtasks", agents, live+ended)}
	if err := bn.world.deleteOffers(ctx); err != nil {
		return row, err
	}
	if err := bn.deleteMasterLease(ctx); err != nil {
		return row, err
	}
	p, err := bn.startMaster(row.label)
	if err != nil {
		return row, err
	}
	defer func() {
		p.kill()
		if err := bn.deleteMasterLease(ctx); err != nil {
			logf("%v", err)
		}
	}()
	if err := bn.waitSettled(ctx, p, agents, live, ended); err != nil {
		return row, err
	}
	row.ready = time.Since(p.started)
	select {
	case <-ctx.Done():
		return row, ctx.Err()
	case <-time.After(bn.cfg.settle):
	}
	if err := p.exited(); err != nil {
		return row, err
	}
	row.mem, err = bn.readMemory(ctx, p, row.label)
	return row, err
}

// waitSettled waits until master p leads, counts every agent Active and
// every task in its state, has written every framework's task counts, and
// has offered every agent.
func (bn *bench) waitSettled(ctx context.Context, p *proc, agents, live, ended int) error {
	what := fmt.Sprintf("master %s to settle with %d agents, %d live and %d ended tasks (log: %s)", p.name, agents, live, ended, p.logPath)
	return waitFor(ctx, what, 15*time.Minute, time.Second, func() (bool, error) {
		if err := p.exited(); err != nil {
			return false, err
		}
		m, err := p.metricsFamilies(ctx)
		if err != nil {
			return false, err
		}
		terminal := 0.0
		for _, s := range []kmv1.TaskState{kmv1.TaskFinished, kmv1.TaskFailed, kmv1.TaskKilled, kmv1.TaskError, kmv1.TaskLost, kmv1.TaskDropped} {
			terminal += m[fmt.Sprintf("kubemesos_master_tasks{state=%q}", s)]
		}
		if m[`kubemesos_master_agents{phase="Active"}`] != float64(agents) || m[`kubemesos_master_tasks{state="TASK_RUNNING"}`] != float64(live) ||
			terminal != float64(ended) {
			return false, fmt.Errorf("metrics: %v agents Active, %v tasks RUNNING, %v ended", m[`kubemesos_master_agents{phase="Active"}`],
				m[`kubemesos_master_tasks{state="TASK_RUNNING"}`], terminal)
		}
		var fws kmv1.FrameworkList
		if err := bn.c.List(ctx, &fws); err != nil {
			return false, err
		}
		running, done := 0, 0
		for _, f := range fws.Items {
			if f.Status.Phase != kmv1.FrameworkActive {
				return false, fmt.Errorf("framework %s/%s is %q", f.Namespace, f.Name, f.Status.Phase)
			}
			c := f.Status.Tasks
			running += int(c.Running)
			done += int(c.Finished + c.Failed + c.Killed)
		}
		if running != live || done != ended {
			return false, fmt.Errorf("framework counts: %d running, %d ended", running, done)
		}
		_, offers, err := bn.world.offers(ctx)
		if err != nil {
			return false, err
		}
		if offers != agents {
			return false, fmt.Errorf("%d offers", offers)
		}
		return true, nil
	})
}

func (r *report) memory(rows []memRow, cfg *config) {
	r.printf("### P4: the master's memory\n\n")
	r.printf("One `kubemesos master` process (leader election on) per row, started on the world as it stands; measured %s after it settled (leading, every agent Active, every task counted, every framework's counts written, every agent offered). %d frameworks, each with a scheduler Lease held by the runner; %.0f%% of the Tasks ended (FINISHED, FAILED, KILLED), the rest RUNNING; each task on an agent in turn, among the agents that existed when it was made. RSS from /proc/<pid>/status; the heap after a forced GC from /debug/pprof/heap?gc=1&debug=1.\n\n",
		cfg.settle, cfg.frameworks, 100*cfg.endedFraction)
	if len(cfg.masterEnv) > 0 {
		r.printf("The masters ran with %s in their environment.\n\n", strings.Join(cfg.masterEnv, " "))
	}
	r.printf("| agents | tasks (live + ended) | RSS MiB | peak RSS MiB | heap after GC MiB (HeapAlloc) | HeapInuse MiB | Go Sys MiB | ready after |\n|---|---|---|---|---|---|---|---|\n")
	for _, row := range rows {
		r.printf("| %s | %s (%s + %s) | %s | %s | %s | %s | %s | %s |\n", thousands(row.agents), thousands(row.tasks()), thousands(row.live), thousands(row.ended),
			mib(row.mem.RSS), mib(row.mem.HWM), mib(row.mem.HeapAlloc), mib(row.mem.HeapInuse), mib(row.mem.Sys), secs(row.ready))
	}
	r.printf("\n")
	slopes := memSlopes(rows)
	if len(slopes) > 0 {
		r.printf("Per 10,000 Tasks (the difference between the most and the fewest Tasks at one agent count, scaled; goal: at most 30 MiB):\n\n")
		r.printf("| agents | tasks | RSS MiB per 10,000 Tasks | heap MiB per 10,000 Tasks |\n|---|---|---|---|\n")
		for _, s := range slopes {
			r.printf("| %s | %s → %s | %.1f | %.1f |\n", thousands(s.agents), thousands(s.from), thousands(s.to), s.rss, s.heap)
		}
		r.printf("\n")
	}
	for _, row := range rows {
		if row.top != "" {
			r.printf("The heap of the master with %s agents and %s Tasks (`go tool pprof -top -sample_index=inuse_space`; the profile is %s.heap.pb.gz in the output directory):\n\n```\n%s```\n\n",
				thousands(row.agents), thousands(row.tasks()), row.label, row.top)
		}
	}
}

// memSlope is the memory a master takes per 10,000 Tasks at one agent
// count, in MiB.
type memSlope struct {
	agents, from, to int
	rss, heap        float64
}

// memSlopes compares, at each agent count, the rows with the fewest and
// the most Tasks.
func memSlopes(rows []memRow) []memSlope {
	byAgents := map[int][]memRow{}
	var order []int
	for _, r := range rows {
		if _, ok := byAgents[r.agents]; !ok {
			order = append(order, r.agents)
		}
		byAgents[r.agents] = append(byAgents[r.agents], r)
	}
	var out []memSlope
	for _, a := range order {
		rs := byAgents[a]
		lo, hi := rs[0], rs[0]
		for _, r := range rs {
			if r.tasks() < lo.tasks() {
				lo = r
			}
			if r.tasks() > hi.tasks() {
				hi = r
			}
		}
		if hi.tasks() == lo.tasks() {
			continue
		}
		per := 10000 / float64(hi.tasks()-lo.tasks()) / (1 << 20)
		out = append(out, memSlope{agents: a, from: lo.tasks(), to: hi.tasks(),
			rss: float64(hi.mem.RSS-lo.mem.RSS) * per, heap: float64(hi.mem.HeapAlloc-lo.mem.HeapAlloc) * per})
	}
	return out
}
