package controllers

import (
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestRemovalLimiter(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	r := newRemovalLimiter(2, time.Minute, clk)
	if r.Reserve() != 0 || r.Reserve() != 0 {
		t.Fatal("the first two removals must go ahead")
	}
	if wait := r.Reserve(); wait != time.Minute {
		t.Fatalf("third removal waits %s, want 1m", wait)
	}
	clk.Step(30 * time.Second)
	if wait := r.Reserve(); wait != 30*time.Second {
		t.Fatalf("after 30s the wait is %s, want 30s", wait)
	}
	clk.Step(30 * time.Second)
	if r.Reserve() != 0 {
		t.Fatal("after a full period a removal goes ahead")
	}
	if unlimited := newRemovalLimiter(0, time.Minute, clk); unlimited.Reserve() != 0 || unlimited.Reserve() != 0 || unlimited.Reserve() != 0 {
		t.Fatal("a zero limit means no bound")
	}
}
