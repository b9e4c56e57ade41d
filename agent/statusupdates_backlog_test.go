package agent

import (
	"context"
	"testing"
	"time"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// TestStatusUpdatesBacklog: the backlog counts the updates waiting and how
// long the longest-waiting queue has gone without a write; recovered
// updates wait from their recovery; a write empties it.
func TestStatusUpdatesBacklog(t *testing.T) {
	dir := t.TempDir()
	r := &registry{fail: 1000} // the API server is down
	var acks []string
	s, clk := newTestManager(t, dir, r, &acks)
	if n, age := s.Backlog(); n != 0 || age != 0 {
		t.Fatalf("empty manager: backlog %d, %s", n, age)
	}
	_ = s.Enqueue(t.Context(), upd("1", kmv1.TaskRunning))
	clk.Step(3 * time.Second)
	_ = s.Enqueue(t.Context(), upd("2", kmv1.TaskFinished))
	clk.Step(2 * time.Second)
	if n, age := s.Backlog(); n != 2 || age != 5*time.Second {
		t.Errorf("backlog %d updates, oldest %s; want 2, 5s", n, age)
	}

	// Restarted, the agent counts its checkpointed updates from recovery.
	r2 := &registry{fail: 1000}
	s2, clk2 := newTestManager(t, dir, r2, &acks)
	if err := s2.Recover(); err != nil {
		t.Fatal(err)
	}
	clk2.Step(time.Minute)
	if n, age := s2.Backlog(); n != 2 || age != time.Minute {
		t.Errorf("after recovery: backlog %d updates, oldest %s; want 2, 1m", n, age)
	}
	r2.fail = 0
	s2.flush(context.Background())
	if n, age := s2.Backlog(); n != 0 || age != 0 {
		t.Errorf("after the writes: backlog %d updates, oldest %s; want none", n, age)
	}
}
