package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// Update is one task status update on its way from an executor (or from the
// agent's own observation of a pod) to the registry.
type Update struct {
	// UUID identifies the update; the executor gets it back in ACKNOWLEDGED.
	UUID string `json:"uuid"`
	// Task is the task's namespace and name.
	Task types.NamespacedName `json:"task"`
	// AgentID is the agentID the update was produced under.
	AgentID string `json:"agentID"`
	// ExecutorID is the executor that runs the task.
	ExecutorID string          `json:"executorID,omitempty"`
	PodName    string          `json:"podName,omitempty"`
	State      kmv1.TaskState  `json:"state"`
	Reason     kmv1.TaskReason `json:"reason,omitempty"`
	Source     kmv1.TaskSource `json:"source"`
	Message    string          `json:"message,omitempty"`
	Data       string          `json:"data,omitempty"`
	Healthy    *bool           `json:"healthy,omitempty"`
	Timestamp  time.Time       `json:"timestamp"`
}

// WriteFunc writes one update into the registry. It returns nil once the
// API server accepted it or refused it for good (a terminal state got there
// first, or the task is gone); any other error means "retry".
type WriteFunc func(ctx context.Context, u Update) error

// AckFunc is told that an update reached the registry.
type AckFunc func(u Update)

// StatusUpdates is the agent's status update manager: one ordered queue per
// task, checkpointed under its directory before an update is accepted, and
// written to the registry with retries and backoff. Consecutive non-terminal
// updates may be coalesced; a terminal update is never dropped.
type StatusUpdates struct {
	dir   string
	write WriteFunc
	ack   AckFunc
	clock clock.Clock
	log   logr.Logger

	mu     sync.Mutex
	queues map[types.NamespacedName][]Update
	retry  map[types.NamespacedName]time.Time
	fails  map[types.NamespacedName]int
	wake   chan struct{}
}

// NewStatusUpdates returns a manager that checkpoints under dir.
func NewStatusUpdates(dir string, write WriteFunc, ack AckFunc, clk clock.Clock, log logr.Logger) *StatusUpdates {
	return &StatusUpdates{dir: dir, write: write, ack: ack, clock: clk, log: log,
		queues: map[types.NamespacedName][]Update{}, retry: map[types.NamespacedName]time.Time{},
		fails: map[types.NamespacedName]int{}, wake: make(chan struct{}, 1)}
}

func (s *StatusUpdates) file(task types.NamespacedName) string {
	return filepath.Join(s.dir, task.Namespace+"_"+task.Name+".json")
}

// persist checkpoints task's queue; the caller holds s.mu.
func (s *StatusUpdates) persist(task types.NamespacedName) error {
	q := s.queues[task]
	if len(q) == 0 {
		if err := os.Remove(s.file(task)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("removing the checkpoint of %s: %w", task, err)
		}
		return nil
	}
	raw, err := json.Marshal(q)
	if err != nil {
		return err
	}
	return writeFileAtomic(s.file(task), raw)
}

// Enqueue checkpoints u and queues it behind the task's earlier updates.
// When it returns nil, the update survives an agent restart.
func (s *StatusUpdates) Enqueue(u Update) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.queues[u.Task] {
		if q.UUID == u.UUID {
			return nil // a retransmission of a queued update
		}
	}
	s.queues[u.Task] = append(s.queues[u.Task], u)
	if err := s.persist(u.Task); err != nil {
		s.queues[u.Task] = s.queues[u.Task][:len(s.queues[u.Task])-1]
		return err
	}
	s.signal()
	return nil
}

func (s *StatusUpdates) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Pending returns the queued updates of task, oldest first.
func (s *StatusUpdates) Pending(task types.NamespacedName) []Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Update(nil), s.queues[task]...)
}

// HasTerminal reports whether a terminal update of task is queued.
func (s *StatusUpdates) HasTerminal(task types.NamespacedName) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.queues[task] {
		if u.State.IsTerminal() {
			return true
		}
	}
	return false
}

// Recover loads the checkpointed queues after a restart.
func (s *StatusUpdates) Recover() error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", s.dir, err)
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("reading %s: %w", s.dir, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(s.dir, e.Name()))
		if err != nil {
			return fmt.Errorf("reading checkpoint %s: %w", e.Name(), err)
		}
		var q []Update
		if err := json.Unmarshal(raw, &q); err != nil {
			s.log.Error(err, "skipping a corrupt status update checkpoint", "file", e.Name())
			continue
		}
		if len(q) > 0 {
			s.queues[q[0].Task] = q
		}
	}
	s.signal()
	return nil
}

// DropAgent discards the queued updates produced under agentID: after a
// re-admission the agent never reports status for its old tasks.
func (s *StatusUpdates) DropAgent(agentID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for task, q := range s.queues {
		keep := q[:0]
		for _, u := range q {
			if u.AgentID != agentID {
				keep = append(keep, u)
			}
		}
		s.queues[task] = keep
		if err := s.persist(task); err != nil {
			s.log.Error(err, "dropping old updates", "task", task)
		}
		if len(keep) == 0 {
			delete(s.queues, task)
		}
	}
}

// next picks the batch to write for a task: its head, or the run of
// consecutive non-terminal updates at its head coalesced into the latest.
func next(q []Update) (write Update, batch int) {
	if len(q) == 0 {
		return Update{}, 0
	}
	if q[0].State.IsTerminal() {
		return q[0], 1
	}
	n := 1
	for n < len(q) && !q[n].State.IsTerminal() {
		n++
	}
	return q[n-1], n
}

// Run writes queued updates until ctx ends.
func (s *StatusUpdates) Run(ctx context.Context) {
	for {
		wait := s.flush(ctx)
		timer := s.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-s.wake:
		case <-timer.C():
		}
		timer.Stop()
	}
}

// flush tries every due queue once and returns how long to wait before the
// earliest retry.
func (s *StatusUpdates) flush(ctx context.Context) time.Duration {
	s.mu.Lock()
	tasks := make([]types.NamespacedName, 0, len(s.queues))
	for t := range s.queues {
		tasks = append(tasks, t)
	}
	s.mu.Unlock()
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].String() < tasks[j].String() })
	wait := time.Minute
	for _, t := range tasks {
		for {
			d, more := s.writeHead(ctx, t)
			if d > 0 && d < wait {
				wait = d
			}
			if !more {
				break
			}
		}
	}
	return wait
}

// writeHead writes the head batch of task's queue. It returns a retry delay
// when the write failed, and whether more is queued and due.
func (s *StatusUpdates) writeHead(ctx context.Context, task types.NamespacedName) (time.Duration, bool) {
	s.mu.Lock()
	now := s.clock.Now()
	if until, ok := s.retry[task]; ok && now.Before(until) {
		s.mu.Unlock()
		return until.Sub(now), false
	}
	u, n := next(s.queues[task])
	s.mu.Unlock()
	if n == 0 {
		return 0, false
	}
	if err := s.write(ctx, u); err != nil {
		s.mu.Lock()
		s.fails[task]++
		backoff := time.Duration(1<<min(s.fails[task], 6)) * 100 * time.Millisecond // 200ms … 6.4s
		s.retry[task] = s.clock.Now().Add(backoff)
		s.mu.Unlock()
		s.log.V(1).Info("status write failed; will retry", "task", task, "state", u.State, "retryIn", backoff, "error", err.Error())
		return backoff, false
	}
	s.mu.Lock()
	q := s.queues[task]
	done := append([]Update(nil), q[:n]...)
	s.queues[task] = q[n:]
	delete(s.retry, task)
	delete(s.fails, task)
	if err := s.persist(task); err != nil {
		s.log.Error(err, "updating the checkpoint", "task", task)
	}
	more := len(s.queues[task]) > 0
	if !more {
		delete(s.queues, task)
	}
	s.mu.Unlock()
	for _, d := range done {
		s.ack(d)
	}
	return 0, more
}
