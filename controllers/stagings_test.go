package controllers

import (
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestStagingsStopAtARemoval(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	s := newStagings(clk)
	a := types.NamespacedName{Namespace: "ns", Name: "a"}
	if !s.Begin("agent-1") {
		t.Fatal("a staging on an agent in good standing was refused")
	}
	s.End("agent-1", a)
	if !s.Begin("agent-1") {
		t.Fatal("a second staging was refused")
	}
	s.End("agent-1", types.NamespacedName{}) // not written

	if got := s.Remove("agent-1"); !slices.Equal(got, []types.NamespacedName{a}) {
		t.Fatalf("Remove returned %v, want the one task staged: %v", got, a)
	}
	if s.Begin("agent-1") {
		t.Fatal("a staging on an agent being removed was allowed")
	}
	if !s.Begin("agent-2") {
		t.Fatal("another agent's staging was refused")
	}
	s.End("agent-2", types.NamespacedName{})

	// A removal that marked nothing is taken back.
	s.Restore("agent-1")
	if !s.Begin("agent-1") {
		t.Fatal("a staging was refused after the removal was taken back")
	}
	s.End("agent-1", types.NamespacedName{})
}

func TestStagingsRemoveWaitsForTheWrites(t *testing.T) {
	s := newStagings(clocktesting.NewFakePassiveClock(time.Now()))
	task := types.NamespacedName{Namespace: "ns", Name: "in-flight"}
	if !s.Begin("agent-1") {
		t.Fatal("refused")
	}
	removed := make(chan []types.NamespacedName)
	go func() { removed <- s.Remove("agent-1") }()
	select {
	case got := <-removed:
		t.Fatalf("Remove returned %v while a staging on the agent was being written", got)
	case <-time.After(100 * time.Millisecond):
	}
	s.End("agent-1", task)
	if got := <-removed; !slices.Equal(got, []types.NamespacedName{task}) {
		t.Fatalf("Remove returned %v, want the staging it waited for: %v", got, task)
	}
}

func TestStagingsForgetWhatTheInformersHaveShown(t *testing.T) {
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakePassiveClock(start)
	s := newStagings(clk)
	old := types.NamespacedName{Namespace: "ns", Name: "old"}
	s.Begin("agent-1")
	s.End("agent-1", old)
	s.Remove("agent-2")

	clk.SetTime(start.Add(stagedKeep + time.Second))
	recent := types.NamespacedName{Namespace: "ns", Name: "recent"}
	s.Begin("agent-1") // prunes
	s.End("agent-1", recent)
	if got := s.Remove("agent-1"); !slices.Equal(got, []types.NamespacedName{recent}) {
		t.Errorf("after %s Remove returned %v, want only %v", stagedKeep, got, recent)
	}
	if s.Begin("agent-2") {
		t.Error("agent-2's removal was forgotten before the registry's sweeps end")
	}
	clk.SetTime(start.Add(lostSweepPeriod + time.Minute))
	if !s.Begin("agent-2") {
		t.Error("agent-2's removal was still held after the registry's sweeps ended")
	}
}
