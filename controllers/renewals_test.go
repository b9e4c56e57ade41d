package controllers

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestRenewalsUseTheMastersClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakePassiveClock(start)
	r := newRenewals(clk)
	lagging := types.NamespacedName{Name: "lagging"}
	leading := types.NamespacedName{Name: "leading"}

	// First sight: counted as renewed now, not yet witnessed.
	if last, seen := r.Observe(lagging, start.Add(-time.Hour)); !last.Equal(start) || seen {
		t.Fatalf("first sight: %v %v", last, seen)
	}
	// A clock an hour behind that keeps renewing stays fresh: each new
	// stamp is timed by the master.
	for i := 1; i <= 3; i++ {
		now := start.Add(time.Duration(i) * 5 * time.Second)
		clk.SetTime(now)
		last, seen := r.Observe(lagging, now.Add(-time.Hour))
		if !last.Equal(now) || !seen {
			t.Fatalf("renewal %d of a lagging clock: last %v (want %v), witnessed %v", i, last, now, seen)
		}
	}
	// A clock an hour ahead that stopped renewing ages by the master's
	// clock, whatever its stamp says.
	clk.SetTime(start)
	r.Observe(leading, start.Add(time.Hour))
	clk.SetTime(start.Add(5 * time.Second))
	r.Observe(leading, start.Add(time.Hour+5*time.Second))
	clk.SetTime(start.Add(2 * time.Minute))
	if last, _ := r.Observe(leading, start.Add(time.Hour+5*time.Second)); !last.Equal(start.Add(5 * time.Second)) {
		t.Errorf("a stopped leading clock: last renewal %v, want %v", last, start.Add(5*time.Second))
	}
	// The Lease deleted: no renewal, and the count goes on from the last
	// one seen, not from nothing (which would remove the agent at once).
	if last, seen := r.Observe(leading, time.Time{}); !last.Equal(start.Add(5*time.Second)) || seen {
		t.Errorf("a deleted Lease: last renewal %v witnessed %v, want %v and no witness", last, seen, start.Add(5*time.Second))
	}
	// A Lease never seen: counted from when the master first saw it
	// missing.
	never := types.NamespacedName{Name: "never"}
	clk.SetTime(start.Add(3 * time.Minute))
	r.Observe(never, time.Time{})
	clk.SetTime(start.Add(4 * time.Minute))
	if last, seen := r.Observe(never, time.Time{}); !last.Equal(start.Add(3*time.Minute)) || seen {
		t.Errorf("a Lease never seen: last %v witnessed %v, want %v and no witness", last, seen, start.Add(3*time.Minute))
	}
}
