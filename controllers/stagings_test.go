package controllers

import (
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestStagingsStopAtARemoval(t *testing.T) {
	s := newStagings(clocktesting.NewFakePassiveClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)))
	if !s.Begin("agent-1") {
		t.Fatal("a staging on an agent in good standing was refused")
	}
	s.End("agent-1")

	s.Remove("agent-1")
	if s.Begin("agent-1") {
		t.Fatal("a staging on an agent being removed was allowed")
	}
	if !s.Begin("agent-2") {
		t.Fatal("another agent's staging was refused")
	}
	s.End("agent-2")

	// A removal that marked nothing is taken back.
	s.Restore("agent-1")
	if !s.Begin("agent-1") {
		t.Fatal("a staging was refused after the removal was taken back")
	}
	s.End("agent-1")
}

func TestStagingsRemoveWaitsForTheWrites(t *testing.T) {
	s := newStagings(clocktesting.NewFakePassiveClock(time.Now()))
	if !s.Begin("agent-1") {
		t.Fatal("refused")
	}
	removed := make(chan struct{})
	go func() {
		s.Remove("agent-1")
		close(removed)
	}()
	select {
	case <-removed:
		t.Fatal("Remove returned while a staging on the agent was being written")
	case <-time.After(100 * time.Millisecond):
	}
	s.End("agent-1")
	<-removed
}

func TestStagingsForgetRemovalsAfterTheSweeps(t *testing.T) {
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakePassiveClock(start)
	s := newStagings(clk)
	s.Remove("agent-2")

	clk.SetTime(start.Add(time.Minute))
	if s.Begin("agent-2") {
		t.Error("agent-2's removal was forgotten before the registry's sweeps end")
	}
	clk.SetTime(start.Add(lostSweepPeriod + time.Minute))
	if !s.Begin("agent-2") {
		t.Error("agent-2's removal was still held after the registry's sweeps ended")
	}
}
