package agent

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// registry records writes; fail makes the next writes fail.
type registry struct {
	mu     sync.Mutex
	writes []Update
	fail   int
}

func (r *registry) write(_ context.Context, u Update) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail > 0 {
		r.fail--
		return errors.New("API server unavailable")
	}
	r.writes = append(r.writes, u)
	return nil
}

func (r *registry) states() []kmv1.TaskState {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []kmv1.TaskState
	for _, u := range r.writes {
		out = append(out, u.State)
	}
	return out
}

var taskA = types.NamespacedName{Namespace: "ns", Name: "a"}

func upd(uuid string, s kmv1.TaskState) Update {
	return Update{UUID: uuid, Task: taskA, AgentID: "ag-1", State: s, Source: kmv1.SourceExecutor}
}

func newTestManager(t *testing.T, dir string, r *registry, acks *[]string) (*StatusUpdates, *clocktesting.FakeClock) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	var mu sync.Mutex
	s := NewStatusUpdates(dir, r.write, func(u Update) {
		mu.Lock()
		*acks = append(*acks, u.UUID)
		mu.Unlock()
	}, clk, logr.Discard())
	return s, clk
}

func equalStates(a, b []kmv1.TaskState) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestStatusUpdatesInOrderWithCoalescing(t *testing.T) {
	r := &registry{}
	var acks []string
	s, _ := newTestManager(t, t.TempDir(), r, &acks)
	for _, u := range []Update{upd("1", kmv1.TaskStarting), upd("2", kmv1.TaskRunning), upd("3", kmv1.TaskFinished)} {
		if err := s.Enqueue(u); err != nil {
			t.Fatal(err)
		}
	}
	s.flush(context.Background())
	// STARTING and RUNNING coalesce into RUNNING; FINISHED is never dropped.
	if got := r.states(); !equalStates(got, []kmv1.TaskState{kmv1.TaskRunning, kmv1.TaskFinished}) {
		t.Errorf("writes %v", got)
	}
	if len(acks) != 3 {
		t.Errorf("acknowledged %v, want all three updates", acks)
	}
	if len(s.Pending(taskA)) != 0 {
		t.Error("updates left after a successful flush")
	}
}

func TestStatusUpdatesRetryWithBackoff(t *testing.T) {
	r := &registry{fail: 2}
	var acks []string
	s, clk := newTestManager(t, t.TempDir(), r, &acks)
	_ = s.Enqueue(upd("1", kmv1.TaskFinished))
	wait := s.flush(context.Background())
	if wait <= 0 || len(acks) != 0 {
		t.Fatalf("a failed write must wait and not ack (wait %s, acks %v)", wait, acks)
	}
	// Not due yet: nothing is written.
	s.flush(context.Background())
	if r.fail != 1 {
		t.Fatalf("retried before the backoff ended (fail=%d)", r.fail)
	}
	clk.Step(wait)
	wait2 := s.flush(context.Background())
	if wait2 <= wait {
		t.Errorf("backoff did not grow: %s then %s", wait, wait2)
	}
	clk.Step(wait2)
	s.flush(context.Background())
	if !equalStates(r.states(), []kmv1.TaskState{kmv1.TaskFinished}) || len(acks) != 1 {
		t.Errorf("after retries: writes %v acks %v", r.states(), acks)
	}
}

func TestStatusUpdatesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	r := &registry{fail: 1000} // the API server is down
	var acks []string
	s, _ := newTestManager(t, dir, r, &acks)
	_ = s.Enqueue(upd("1", kmv1.TaskRunning))
	_ = s.Enqueue(upd("2", kmv1.TaskFinished))
	s.flush(context.Background())

	// The agent dies; a new one recovers the queue from the checkpoint.
	r2 := &registry{}
	var acks2 []string
	s2, _ := newTestManager(t, dir, r2, &acks2)
	if err := s2.Recover(); err != nil {
		t.Fatal(err)
	}
	s2.flush(context.Background())
	if !equalStates(r2.states(), []kmv1.TaskState{kmv1.TaskRunning, kmv1.TaskFinished}) {
		t.Errorf("after restart: writes %v", r2.states())
	}
	// Nothing is written twice on a second restart.
	s3, _ := newTestManager(t, dir, r2, &acks2)
	_ = s3.Recover()
	s3.flush(context.Background())
	if len(r2.writes) != 2 {
		t.Errorf("updates written again after they were delivered: %v", r2.states())
	}
}

func TestStatusUpdatesDedupAndDropAgent(t *testing.T) {
	r := &registry{fail: 1000}
	var acks []string
	s, _ := newTestManager(t, t.TempDir(), r, &acks)
	_ = s.Enqueue(upd("1", kmv1.TaskRunning))
	_ = s.Enqueue(upd("1", kmv1.TaskRunning)) // retransmitted by the executor
	if n := len(s.Pending(taskA)); n != 1 {
		t.Fatalf("a retransmission was queued twice (%d)", n)
	}
	if !s.HasTerminal(taskA) {
		_ = s.Enqueue(upd("2", kmv1.TaskFailed))
	}
	s.DropAgent("ag-1")
	if n := len(s.Pending(taskA)); n != 0 {
		t.Errorf("updates of the old agentID kept: %d", n)
	}
}

func TestNextBatch(t *testing.T) {
	q := []Update{upd("1", kmv1.TaskStarting), upd("2", kmv1.TaskRunning), upd("3", kmv1.TaskKilled), upd("4", kmv1.TaskRunning)}
	u, n := next(q)
	if u.UUID != "2" || n != 2 {
		t.Errorf("next = %s,%d; want the coalesced RUNNING (2,2)", u.UUID, n)
	}
	u, n = next(q[2:])
	if u.UUID != "3" || n != 1 {
		t.Errorf("next = %s,%d; want the terminal alone", u.UUID, n)
	}
}
