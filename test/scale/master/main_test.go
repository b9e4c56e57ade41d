package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseMemStatsReadsTheHeapProfileTrailer(t *testing.T) {
	text := `heap profile: 3: 1024 [9: 4096] @ heap/1048576
1: 512 [1: 512] @ 0x1 0x2
#	0x1	main.f+0x1	main.go:1

# runtime.MemStats
# Alloc = 123456
# TotalAlloc = 999999
# Sys = 30000000
# HeapAlloc = 123456
# HeapInuse = 204800
# PauseNs = [1 2 3]
# NumGC = 7
`
	got := parseMemStats(text)
	for k, want := range map[string]int64{"HeapAlloc": 123456, "HeapInuse": 204800, "Sys": 30000000, "NumGC": 7} {
		if got[k] != want {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], want, got)
		}
	}
	if _, ok := got["PauseNs"]; ok {
		t.Errorf("a list was read as a number: %v", got)
	}
}

func TestParseProcField(t *testing.T) {
	status := "Name:\tkubemesos\nVmPeak:\t  900000 kB\nVmHWM:\t   81234 kB\nVmRSS:\t   70000 kB\nThreads:\t9\n"
	for name, want := range map[string]int64{"VmRSS": 70000, "VmHWM": 81234, "Threads": 9} {
		got, err := parseProcField(status, name)
		if err != nil || got != want {
			t.Errorf("%s = %d, %v; want %d", name, got, err, want)
		}
	}
	if _, err := parseProcField(status, "VmSwap"); err == nil {
		t.Error("a missing field was found")
	}
}

func TestParseInts(t *testing.T) {
	got, err := parseInts(" 0, 10000,50000 ")
	if err != nil || !cmp.Equal(got, []int{0, 10000, 50000}) {
		t.Errorf("parseInts = %v, %v", got, err)
	}
	for _, bad := range []string{"10,5", "x", "-1"} {
		if _, err := parseInts(bad); err == nil {
			t.Errorf("parseInts(%q) took it", bad)
		}
	}
}

func TestDurations(t *testing.T) {
	d := durations{5 * time.Second, time.Second, 3 * time.Second, 2 * time.Second}
	if got := d.median(); got != 2500*time.Millisecond {
		t.Errorf("median = %s", got)
	}
	if got := d.worst(); got != 5*time.Second {
		t.Errorf("worst = %s", got)
	}
	if got := d.quantile(0.5); got != 2*time.Second {
		t.Errorf("p50 = %s", got)
	}
	if got := d.quantile(0.99); got != 5*time.Second {
		t.Errorf("p99 = %s", got)
	}
	if d[0] != 5*time.Second {
		t.Error("summarising sorted the samples in place")
	}
	if (durations{}).median() != 0 || (durations{}).quantile(0.99) != 0 {
		t.Error("empty samples are not zero")
	}
}

func TestMemSlopesCompareFewestAndMostTasksPerAgentCount(t *testing.T) {
	const mb = 1 << 20
	rows := []memRow{
		{agents: 1000, live: 0, mem: memory{RSS: 100 * mb, HeapAlloc: 40 * mb}},
		{agents: 1000, live: 9000, ended: 1000, mem: memory{RSS: 120 * mb, HeapAlloc: 50 * mb}},
		{agents: 1000, live: 45000, ended: 5000, mem: memory{RSS: 200 * mb, HeapAlloc: 90 * mb}},
		{agents: 5000, live: 45000, ended: 5000, mem: memory{RSS: 260 * mb, HeapAlloc: 120 * mb}},
		{agents: 5000, live: 0, mem: memory{RSS: 160 * mb, HeapAlloc: 70 * mb}},
		{agents: 7000, live: 10, mem: memory{RSS: 1}},
	}
	got := memSlopes(rows)
	want := []memSlope{{agents: 1000, from: 0, to: 50000, rss: 20, heap: 10}, {agents: 5000, from: 0, to: 50000, rss: 20, heap: 10}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(memSlope{})); diff != "" {
		t.Errorf("memSlopes (-want +got):\n%s", diff)
	}
}

func TestParseMetrics(t *testing.T) {
	raw := `# TYPE kubemesos_master_agents gauge
kubemesos_master_agents{phase="Active"} 1000
kubemesos_master_agents{phase="Gone"} 0
# TYPE kubemesos_master_allocation_cycles_total counter
kubemesos_master_allocation_cycles_total 42
`
	got, err := parseMetrics([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got[`kubemesos_master_agents{phase="Active"}`] != 1000 || got["kubemesos_master_allocation_cycles_total"] != 42 {
		t.Errorf("parseMetrics = %v", got)
	}
}

func TestFlags(t *testing.T) {
	c, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.phases["api"] || !c.phases["failover"] || !c.phases["memory"] || !c.phases["agent"] {
		t.Errorf("default phases %v", c.phases)
	}
	if !slices.Equal(c.fanoutWatches, []int{0, 250, 1000}) {
		t.Errorf("default fan-out watches %v", c.fanoutWatches)
	}
	for _, bad := range [][]string{{"-phases", "api,speed"}, {"-memory-tasks", "50000,10000"}, {"-ended-fraction", "1.5"},
		{"-pump-period", "10m", "-agent-ping-timeout", "1m"}, {"-frameworks", "0"}, {"-fanout-watches", "1000,250"}, {"-fanout-watches", "-1"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("flags %v accepted", bad)
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 50000: "50,000", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
	if !strings.Contains(machine(), "cores") {
		t.Errorf("machine() = %q", machine())
	}
}

func TestWaitForGivesUpWhenItsProcessExited(t *testing.T) {
	calls := 0
	p := &proc{name: "p5-0-master-2", logPath: "/logs/p5-0-master-2.log", done: make(chan struct{})}
	close(p.done)
	err := waitFor(context.Background(), "the standby", time.Hour, time.Millisecond, func() (bool, error) {
		calls++
		return false, p.exited()
	})
	if !errors.Is(err, errExited) || calls != 1 {
		t.Fatalf("waitFor = %v after %d calls; want errExited at once", err, calls)
	}
	if !strings.Contains(err.Error(), p.logPath) {
		t.Errorf("%q does not name the process's log", err)
	}
	// Any other error is waited out.
	calls = 0
	err = waitFor(context.Background(), "the API server", time.Hour, time.Millisecond, func() (bool, error) {
		calls++
		if calls < 3 {
			return false, fmt.Errorf("connection refused")
		}
		return true, nil
	})
	if err != nil || calls != 3 {
		t.Errorf("waitFor = %v after %d calls; want success at the third", err, calls)
	}
}
