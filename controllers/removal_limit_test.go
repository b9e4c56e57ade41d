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
	if r.Reserve("a", "id-a") != 0 || r.Reserve("b", "id-b") != 0 {
		t.Fatal("the first two removals must go ahead")
	}
	if wait := r.Reserve("c", "id-c"); wait != time.Minute {
		t.Fatalf("third removal waits %s, want 1m", wait)
	}
	clk.Step(30 * time.Second)
	if wait := r.Reserve("c", "id-c"); wait != 30*time.Second {
		t.Fatalf("after 30s the wait is %s, want 30s", wait)
	}
	clk.Step(30 * time.Second)
	if r.Reserve("c", "id-c") != 0 {
		t.Fatal("after a full period a removal goes ahead")
	}
	if unlimited := newRemovalLimiter(0, time.Minute, clk); unlimited.Reserve("a", "id-a") != 0 || unlimited.Reserve("b", "id-b") != 0 || unlimited.Reserve("c", "id-c") != 0 {
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
	r.Reserve("a", "id-a")
	held(0)
	r.Reserve("b", "id-b")
	r.Reserve("b", "id-b")
	r.Reserve("c", "id-c")
	held(2)
	r.Release("c") // its heartbeat came back
	r.Release("x") // never held
	held(1)
	clk.Step(time.Minute)
	if r.Reserve("b", "id-b") != 0 {
		t.Fatal("b may go ahead after the period")
	}
	held(0)
}

// TestRemovalLimiterRemembers: removals the registry records count as the
// limiter's own (a new leader goes on where the old one stopped), each
// agentID once, and only within the period.
func TestRemovalLimiterRemembers(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	r := newRemovalLimiter(2, time.Minute, clk)
	r.Remember("old-1", clk.Now().Add(-20*time.Second))
	r.Remember("old-1", clk.Now().Add(-10*time.Second)) // the same removal, seen again
	r.Remember("ancient", clk.Now().Add(-2*time.Minute))
	if r.Reserve("a", "id-a") != 0 {
		t.Fatal("one remembered removal of two: the next goes ahead")
	}
	if wait := r.Reserve("b", "id-b"); wait != 40*time.Second {
		t.Fatalf("the third removal in the period waits %s, want 40s (until old-1's removal is a period old)", wait)
	}
	if r.Reserve("a", "id-a") != 0 {
		t.Fatal("a retry of a removal already counted takes no new slot")
	}
	r2 := newRemovalLimiter(1, time.Minute, clk)
	if r2.Reserve("a", "id-a") != 0 {
		t.Fatal("first removal")
	}
	r2.Remember("id-a", clk.Now().Add(time.Second)) // its own removal, written just after
	clk.Step(61 * time.Second)
	if r2.Reserve("b", "id-b") != 0 {
		t.Fatal("a removal remembered twice counts once, from its first time")
	}
}
