package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// registry returns a registry with the master's and the agent's metrics,
// every labelled one with a series, as promtool's `check metrics` sees
// them on a scrape.
func registry(t *testing.T) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := RegisterMaster(reg); err != nil {
		t.Fatal(err)
	}
	if err := RegisterAgent(reg); err != nil {
		t.Fatal(err)
	}
	Tasks.WithLabelValues("TASK_RUNNING")
	Agents.WithLabelValues("Active")
	Frameworks.WithLabelValues("Active")
	ExecutorAPICalls.WithLabelValues("UPDATE", "202")
	return reg
}

// TestPromlint runs promtool's lint (client_golang's promlint, which
// `promtool check metrics` is) on every kubemesos metric: no problems.
func TestPromlint(t *testing.T) {
	reg := registry(t)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	// Every metric was linted: a labelled one added without a series
	// above would be skipped silently.
	if got, want := len(families), 16; got != want {
		t.Errorf("gathered %d metric families, want %d (give a new labelled metric a series in registry())", got, want)
	}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "kubemesos_master_") && !strings.HasPrefix(f.GetName(), "kubemesos_agent_") {
			t.Errorf("%s is not named kubemesos_master_* or kubemesos_agent_*", f.GetName())
		}
		if f.GetHelp() == "" {
			t.Errorf("%s has no help", f.GetName())
		}
	}
}

func TestRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	for range 2 {
		if err := RegisterMaster(reg); err != nil {
			t.Fatalf("registering the master's metrics again: %v", err)
		}
	}
	// Counters start at zero for every known label value.
	if n := testutil.CollectAndCount(OffersTotal); n != 4 {
		t.Errorf("offers_total has %d series, want 4 (one per outcome)", n)
	}
	if n := testutil.CollectAndCount(TasksTerminated); n != 18 {
		t.Errorf("tasks_terminated_total has %d series, want 18 (6 states x 3 sources)", n)
	}
}

func TestSources(t *testing.T) {
	if v := testutil.ToFloat64(MesosAPIUnacknowledgedUpdates); v != 0 {
		t.Errorf("unset, the unacknowledged updates read %v, want 0", v)
	}
	ObserveUnacknowledgedUpdates(func() int { return 7 })
	if v := testutil.ToFloat64(MesosAPIUnacknowledgedUpdates); v != 7 {
		t.Errorf("unacknowledged updates read %v, want 7", v)
	}
	ObserveStatusUpdateBacklog(func() (int, time.Duration) { return 3, 1500 * time.Millisecond })
	if q, age := testutil.ToFloat64(StatusUpdatesQueued), testutil.ToFloat64(StatusUpdateOldestAge); q != 3 || age != 1.5 {
		t.Errorf("backlog reads %v updates, %vs; want 3, 1.5s", q, age)
	}
}
