package controllers

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/kubemesos/kubemesos/internal/metrics"
)

func TestRemovalLimiter(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	r := newRemovalLimiter(2, time.Minute, clk)
	if r.Reserve("a") != 0 || r.Reserve("b") != 0 {
		t.Fatal("the first two removals must go ahead")
	}
	if wait := r.Reserve("c"); wait != time.Minute {
		t.Fatalf("third removal waits %s, want 1m", wait)
	}
	clk.Step(30 * time.Second)
	if wait := r.Reserve("c"); wait != 30*time.Second {
		t.Fatalf("after 30s the wait is %s, want 30s", wait)
	}
	clk.Step(30 * time.Second)
	if r.Reserve("c") != 0 {
		t.Fatal("after a full period a removal goes ahead")
	}
	if unlimited := newRemovalLimiter(0, time.Minute, clk); unlimited.Reserve("a") != 0 || unlimited.Reserve("b") != 0 || unlimited.Reserve("c") != 0 {
		t.Fatal("a zero limit means no bound")
	}
}

// TestRemovalLimiterHeld: the agents held back are counted once each,
// however often they ask, until they go ahead or are released.
func TestRemovalLimiterHeld(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	r := newRemovalLimiter(1, time.Minute, clk)
	held := func(want int) {
		t.Helper()
		if got, gauge := r.Held(), testutil.ToFloat64(metrics.AgentRemovalsHeld); got != want || gauge != float64(want) {
			t.Errorf("held %d (gauge %v), want %d", got, gauge, want)
		}
	}
	r.Reserve("a")
	held(0)
	r.Reserve("b")
	r.Reserve("b")
	r.Reserve("c")
	held(2)
	r.Release("c") // its heartbeat came back
	r.Release("x") // never held
	held(1)
	clk.Step(time.Minute)
	if r.Reserve("b") != 0 {
		t.Fatal("b may go ahead after the period")
	}
	held(0)
}
