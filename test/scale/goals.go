package scale

import (
	"fmt"
	"io"
	"time"
)

// The goals of issue 12 that the suite's runs measure (P2 and P3, with
// custom executors). The report reads each against the figures of the run
// and says whether it was met; no test fails when one is not, as speed is
// measured, never asserted.
const (
	// GoalThroughputRatio is P2's least ratio of the custom executors'
	// tasks per second to the plain pods' of the same size.
	GoalThroughputRatio = 2.0
	// GoalP99 is P2's bound of the 99th percentile to TASK_RUNNING.
	GoalP99 = time.Second
	// GoalWritesPerTask is P3's most API writes per task by kubemesos
	// (master, agents, scheduler SDK), Leases apart: the Task's create
	// and at most two status writes.
	GoalWritesPerTask = 3.0
)

// GoalRow is one goal read against one run.
type GoalRow struct {
	// Goal says what was to be reached.
	Goal string
	// At says which run: its size and how its tasks arrived.
	At string
	// Measured is the run's figure.
	Measured string
	// Met is whether the figure reaches the goal.
	Met bool
}

// Goals reads the goals against every run with custom executors, and the
// idle check against "no write in an idle cluster beyond heartbeats".
func (r *Report) Goals() []GoalRow {
	var rows []GoalRow
	for _, s := range r.Sizes {
		x, pods := s.Runs[KindExecutor], s.Runs[KindPods]
		if x == nil {
			continue
		}
		at := fmt.Sprintf("%d nodes, %d tasks at once", s.Nodes, x.Tasks)
		p99, p99What := x.Percentile(.99), "creation"
		if x.ArrivalRate > 0 {
			at = fmt.Sprintf("%d nodes, %d tasks arriving %g a second", s.Nodes, x.Tasks, x.ArrivalRate)
			p99, p99What = x.ArrivalPercentile(.99), "arrival"
		}
		if x.MaxPending > 0 {
			at += fmt.Sprintf(", at most %d pending", x.MaxPending)
		}
		if x.ArrivalRate == 0 && pods != nil && pods.Rate() > 0 {
			ratio := x.Rate() / pods.Rate()
			rows = append(rows, GoalRow{Goal: fmt.Sprintf("P2: tasks per second at least %g× the plain pods'", GoalThroughputRatio), At: at,
				Measured: fmt.Sprintf("%.2f×", ratio), Met: ratio >= GoalThroughputRatio})
		}
		if len(x.Latencies) > 0 {
			rows = append(rows, GoalRow{Goal: fmt.Sprintf("P2: p99 from %s to TASK_RUNNING under %v", p99What, GoalP99), At: at,
				Measured: ms(p99), Met: p99 < GoalP99})
		}
		if x.Writes != nil && x.Tasks > 0 {
			perTask := x.Writes.Of(KubemesosWriters, NotLease) / float64(x.Tasks)
			rows = append(rows, GoalRow{Goal: fmt.Sprintf("P3: at most %g API writes per task by kubemesos, Leases apart", GoalWritesPerTask), At: at,
				Measured: fmt.Sprintf("%.2f", perTask), Met: perTask <= GoalWritesPerTask})
		}
	}
	for _, s := range r.Sizes {
		if s.Idle == nil || s.Idle.Writes == nil {
			continue
		}
		n := s.Idle.Writes.Total(NotLease)
		rows = append(rows, GoalRow{Goal: "P3: no write in an idle cluster beyond heartbeats", At: fmt.Sprintf("%d nodes, idle for %s", s.Nodes, ms(s.Idle.Period)),
			Measured: fmt.Sprintf("%.0f writes other than Leases", n), Met: n == 0})
	}
	return rows
}

// goals writes the Goals table.
func (r *Report) goals(w io.Writer) {
	rows := r.Goals()
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\n**Issue 12's goals**, read against these runs (custom executors; a figure, not a test: nothing fails when a goal is missed).\n\n")
	fmt.Fprintf(w, "| goal | run | measured | met |\n|---|---|---:|---|\n")
	for _, g := range rows {
		met := "no"
		if g.Met {
			met = "yes"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", g.Goal, g.At, g.Measured, met)
	}
}
