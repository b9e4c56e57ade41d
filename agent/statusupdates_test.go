package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

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
	s := NewStatusUpdates(dir, r.write, func(_ context.Context, u Update) {
		mu.Lock()
		*acks = append(*acks, u.UUID)
		mu.Unlock()
	}, clk, logr.Discard())
	return s, clk
}

// flush drives the manager without its writers: it writes every task's
// due batches, one after another, as the writers do, and returns how long
// until the earliest of the rest is due.
func (s *StatusUpdates) flush(ctx context.Context) time.Duration {
	wait := time.Minute
	for _, t := range s.snapshot() {
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

// mustEnqueue queues u, failing the test if the manager refuses it.
func mustEnqueue(t *testing.T, s *StatusUpdates, u Update) {
	t.Helper()
	if err := s.Enqueue(t.Context(), u); err != nil {
		t.Fatal(err)
	}
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
	running := upd("2", kmv1.TaskRunning)
	running.Timestamp, running.PodName, running.Data = time.Unix(990, 0), "pod-a", "started"
	for _, u := range []Update{upd("1", kmv1.TaskStarting), running, upd("3", kmv1.TaskFinished)} {
		mustEnqueue(t, s, u)
	}
	s.flush(context.Background())
	// STARTING, RUNNING and FINISHED coalesce into FINISHED, which keeps
	// when the task started and what RUNNING carried.
	if got := r.states(); !equalStates(got, []kmv1.TaskState{kmv1.TaskFinished}) {
		t.Fatalf("writes %v, want FINISHED alone", got)
	}
	if w := r.writes[0]; w.StartedAt == nil || !w.StartedAt.Equal(time.Unix(990, 0)) || w.PodName != "pod-a" || w.Data != "started" {
		t.Errorf("the coalesced write lost what RUNNING carried: startedAt %v, pod %q, data %q", w.StartedAt, w.PodName, w.Data)
	}
	if len(acks) != 3 {
		t.Errorf("acknowledged %v, want all three updates", acks)
	}
	if len(s.Pending(taskA)) != 0 {
		t.Error("updates left after a successful flush")
	}
}

// TestStatusUpdatesDelayLetsAQuickTaskEndInOneWrite: with
// --running-update-delay, a task's first TASK_RUNNING waits for it, so a
// task that ends within it costs one write; one that runs on gets its
// TASK_RUNNING written when the delay is over; a terminal update never
// waits.
func TestStatusUpdatesDelayLetsAQuickTaskEndInOneWrite(t *testing.T) {
	r := &registry{}
	var acks []string
	s, clk := newTestManager(t, t.TempDir(), r, &acks)
	s.delay, s.runningDelay = time.Hour, 200*time.Millisecond
	enqueue := func(u Update) { mustEnqueue(t, s, u) }
	enqueue(upd("1", kmv1.TaskRunning))
	if wait := s.flush(context.Background()); len(r.writes) != 0 || wait != 200*time.Millisecond {
		t.Fatalf("RUNNING written at once (%v) or the wait is %v, want none and 200ms", r.states(), wait)
	}
	clk.Step(100 * time.Millisecond)
	enqueue(upd("2", kmv1.TaskFinished))
	s.flush(context.Background())
	if got := r.states(); !equalStates(got, []kmv1.TaskState{kmv1.TaskFinished}) {
		t.Fatalf("a quick task: writes %v, want FINISHED alone", got)
	}

	other := upd("3", kmv1.TaskRunning)
	other.Task = types.NamespacedName{Namespace: "ns", Name: "long"}
	enqueue(other)
	s.flush(context.Background())
	clk.Step(200 * time.Millisecond)
	s.flush(context.Background())
	if got := r.states(); !equalStates(got, []kmv1.TaskState{kmv1.TaskFinished, kmv1.TaskRunning}) {
		t.Errorf("a long task: writes %v, want its RUNNING once the delay is over", got)
	}
}

// TestStatusUpdatesRunningIsWrittenAtOnce: by default a task's first
// TASK_RUNNING is written as soon as it is queued, in the place of the
// TASK_STARTING that waited --status-update-delay for it; the task's later
// TASK_RUNNING updates (health, data) wait for that delay, so that a
// flood of them is written at most once per delay; its terminal update is
// written at once.
func TestStatusUpdatesRunningIsWrittenAtOnce(t *testing.T) {
	r := &registry{}
	var acks []string
	s, clk := newTestManager(t, t.TempDir(), r, &acks)
	s.delay = 200 * time.Millisecond
	enqueue := func(u Update) { mustEnqueue(t, s, u) }
	enqueue(upd("1", kmv1.TaskStarting))
	if wait := s.flush(t.Context()); len(r.writes) != 0 || wait != 200*time.Millisecond {
		t.Fatalf("STARTING written at once (%v) or the wait is %v, want none and 200ms", r.states(), wait)
	}
	clk.Step(10 * time.Millisecond)
	enqueue(upd("2", kmv1.TaskRunning))
	s.flush(t.Context())
	if got := r.states(); !equalStates(got, []kmv1.TaskState{kmv1.TaskRunning}) {
		t.Fatalf("writes %v, want the first RUNNING at once in STARTING's place", got)
	}

	health := upd("3", kmv1.TaskRunning)
	health.Healthy = ptr.To(false)
	enqueue(health)
	enqueue(upd("4", kmv1.TaskRunning))
	if wait := s.flush(t.Context()); len(r.writes) != 1 || wait != 200*time.Millisecond {
		t.Fatalf("a running task's later updates: writes %v, wait %v, want them held for 200ms", r.states(), wait)
	}
	clk.Step(200 * time.Millisecond)
	s.flush(t.Context())
	if got := r.states(); !equalStates(got, []kmv1.TaskState{kmv1.TaskRunning, kmv1.TaskRunning}) {
		t.Fatalf("writes %v, want the held updates in one write once the delay is over", got)
	}
	if h := r.writes[1].Healthy; h == nil || *h {
		t.Errorf("the coalesced write lost the health the executor sent: %v", h)
	}

	enqueue(upd("5", kmv1.TaskRunning))
	enqueue(upd("6", kmv1.TaskFinished))
	s.flush(t.Context())
	if got := r.states(); !equalStates(got, []kmv1.TaskState{kmv1.TaskRunning, kmv1.TaskRunning, kmv1.TaskFinished}) {
		t.Fatalf("writes %v, want the terminal update at once", got)
	}
	if _, ran := s.running.Get(taskA.String()); ran {
		t.Error("the ended task is still remembered as running")
	}
}

func TestStatusUpdatesRetryWithBackoff(t *testing.T) {
	r := &registry{fail: 2}
	var acks []string
	s, clk := newTestManager(t, t.TempDir(), r, &acks)
	_ = s.Enqueue(t.Context(), upd("1", kmv1.TaskFinished))
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
	_ = s.Enqueue(t.Context(), upd("1", kmv1.TaskRunning))
	_ = s.Enqueue(t.Context(), upd("2", kmv1.TaskFinished))
	s.flush(context.Background())

	// The agent dies; a new one recovers the queue from the checkpoint.
	r2 := &registry{}
	var acks2 []string
	s2, _ := newTestManager(t, dir, r2, &acks2)
	if err := s2.Recover(); err != nil {
		t.Fatal(err)
	}
	s2.flush(context.Background())
	if !equalStates(r2.states(), []kmv1.TaskState{kmv1.TaskFinished}) || len(acks2) != 2 {
		t.Errorf("after restart: writes %v (want FINISHED in RUNNING's place), acks %v (want both)", r2.states(), acks2)
	}
	// Nothing is written twice on a second restart.
	s3, _ := newTestManager(t, dir, r2, &acks2)
	_ = s3.Recover()
	s3.flush(context.Background())
	if len(r2.writes) != 1 {
		t.Errorf("updates written again after they were delivered: %v", r2.states())
	}
}

func TestStatusUpdatesDedupAndDropAgent(t *testing.T) {
	r := &registry{fail: 1000}
	var acks []string
	s, _ := newTestManager(t, t.TempDir(), r, &acks)
	_ = s.Enqueue(t.Context(), upd("1", kmv1.TaskRunning))
	_ = s.Enqueue(t.Context(), upd("1", kmv1.TaskRunning)) // retransmitted by the executor
	if n := len(s.Pending(taskA)); n != 1 {
		t.Fatalf("a retransmission was queued twice (%d)", n)
	}
	if !s.HasTerminal(taskA) {
		_ = s.Enqueue(t.Context(), upd("2", kmv1.TaskFailed))
	}
	s.DropAgent("ag-1")
	if n := len(s.Pending(taskA)); n != 0 {
		t.Errorf("updates of the old agentID kept: %d", n)
	}
}

func TestNextBatch(t *testing.T) {
	q := []Update{upd("1", kmv1.TaskStarting), upd("2", kmv1.TaskRunning), upd("3", kmv1.TaskKilled), upd("4", kmv1.TaskRunning)}
	u, n := next(q)
	if u.UUID != "3" || n != 3 {
		t.Errorf("next = %s,%d; want the terminal in place of the updates before it (3,3)", u.UUID, n)
	}
	u, n = next(q[:2])
	if u.UUID != "2" || n != 2 {
		t.Errorf("next = %s,%d; want the coalesced RUNNING (2,2)", u.UUID, n)
	}
	u, n = next(q[2:])
	if u.UUID != "3" || n != 1 {
		t.Errorf("next = %s,%d; want the terminal alone", u.UUID, n)
	}
}

func updFrom(task, exec, uuid string, s kmv1.TaskState) Update {
	return Update{UUID: uuid, Task: types.NamespacedName{Namespace: "ns", Name: task}, AgentID: "ag-1", Framework: "fw",
		ExecutorID: exec, State: s, Source: kmv1.SourceExecutor}
}

// TestStatusUpdatesBounded: an executor cannot queue more than the bounds
// per task and per executor; it is told to come back later (and nothing it
// was told 202 for is lost); a task can always end; the agent's own
// reports always pass; room comes back once the registry takes the queue.
func TestStatusUpdatesBounded(t *testing.T) {
	r := &registry{fail: 1 << 30} // the API server is down
	var acks []string
	s, _ := newTestManager(t, t.TempDir(), r, &acks)
	s.perTask, s.perExecutor = 3, 5
	full := func(err error, what string) bool {
		var f *QueueFullError
		return errors.As(err, &f) && strings.HasPrefix(f.What, what)
	}
	for i := range 3 {
		if err := s.Enqueue(t.Context(), updFrom("a", "e", fmt.Sprint("a", i), kmv1.TaskRunning)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Enqueue(t.Context(), updFrom("a", "e", "a3", kmv1.TaskRunning)); !full(err, "task ns/a") {
		t.Errorf("a fourth update of one task: %v, want the task's queue full", err)
	}
	if err := s.Enqueue(t.Context(), updFrom("a", "e", "a0", kmv1.TaskRunning)); err != nil {
		t.Errorf("a retransmission of a queued update: %v, want it taken", err)
	}
	if err := s.Enqueue(t.Context(), updFrom("a", "e", "a-end", kmv1.TaskFinished)); err != nil {
		t.Errorf("the terminal update of a full task: %v, want it taken", err)
	}
	if err := s.Enqueue(t.Context(), updFrom("a", "e", "a-end2", kmv1.TaskFailed)); !full(err, "task") {
		t.Errorf("a second terminal update beyond the bound: %v, want it refused", err)
	}
	agentReport := upd("agent/x", kmv1.TaskLost)
	agentReport.Task.Name = "a"
	agentReport.Source = kmv1.SourceAgent
	if err := s.Enqueue(t.Context(), agentReport); err != nil {
		t.Errorf("the agent's own report to a full queue: %v, want it taken", err)
	}
	// Executor e has 4 queued (3 + the terminal); one more fits, on task b.
	if err := s.Enqueue(t.Context(), updFrom("b", "e", "b0", kmv1.TaskRunning)); err != nil {
		t.Fatal(err)
	}
	if err := s.Enqueue(t.Context(), updFrom("c", "e", "c0", kmv1.TaskRunning)); !full(err, "executor ns/fw/e") {
		t.Errorf("an update beyond the executor's bound: %v, want the executor's queue full", err)
	}
	if err := s.Enqueue(t.Context(), updFrom("c", "other", "c0", kmv1.TaskRunning)); err != nil {
		t.Errorf("another executor's update: %v, want it taken", err)
	}
	if n := len(s.snapshot()); n != 3 {
		t.Errorf("%d task queues, want 3 (a refused update leaves none behind)", n)
	}

	r.mu.Lock()
	r.fail = 0
	r.mu.Unlock()
	s.flush(context.Background())
	if len(acks) != 7 {
		t.Errorf("acknowledged %v, want every update that was taken", acks)
	}
	if n := len(s.snapshot()); n != 0 || len(s.executors) != 0 {
		t.Errorf("after the flush: %d queues, executor counts %v; want none", n, s.executors)
	}
	if err := s.Enqueue(t.Context(), updFrom("c", "e", "c0", kmv1.TaskRunning)); err != nil {
		t.Errorf("once the registry took the queue: %v, want room again", err)
	}
}

// TestStatusUpdatesLockPerTask: while one task's checkpoint is being
// written (a slow disk, or one executor's flood), updates of other tasks
// are taken.
func TestStatusUpdatesLockPerTask(t *testing.T) {
	var acks []string
	s, _ := newTestManager(t, t.TempDir(), &registry{}, &acks)
	release, entered := make(chan struct{}), make(chan struct{})
	s.save = func(path string, data []byte) error {
		if strings.HasSuffix(path, "ns_slow.json") {
			close(entered)
			<-release
		}
		return writeFileAtomic(path, data)
	}
	slow := make(chan error, 1)
	go func() { slow <- s.Enqueue(t.Context(), updFrom("slow", "e1", "s0", kmv1.TaskRunning)) }()
	defer func() {
		close(release)
		if err := <-slow; err != nil {
			t.Error(err)
		}
	}()
	<-entered
	done := make(chan error, 1)
	go func() { done <- s.Enqueue(t.Context(), updFrom("fast", "e2", "f0", kmv1.TaskRunning)) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an update of another task waited for a checkpoint it has nothing to do with")
	}
	if s.HasTerminal(types.NamespacedName{Namespace: "ns", Name: "fast"}) || len(s.Pending(types.NamespacedName{Namespace: "ns", Name: "fast"})) != 1 {
		t.Error("the other task's update is not queued")
	}
}

// TestStatusUpdatesDeliveredOnce: an update sent again after it reached
// the registry (its acknowledgement was lost with the executor's stream) is
// acknowledged again, not queued and written again.
func TestStatusUpdatesDeliveredOnce(t *testing.T) {
	r := &registry{}
	var acks []string
	s, _ := newTestManager(t, t.TempDir(), r, &acks)
	if err := s.Enqueue(t.Context(), upd("1", kmv1.TaskRunning)); err != nil {
		t.Fatal(err)
	}
	s.flush(context.Background())
	if err := s.Enqueue(t.Context(), upd("1", kmv1.TaskRunning)); err != nil {
		t.Fatal(err)
	}
	s.flush(context.Background())
	if len(r.writes) != 1 || len(acks) != 2 || len(s.snapshot()) != 0 {
		t.Errorf("writes %v, acks %v, queues %d; want one write, two acknowledgements, no queue", r.states(), acks, len(s.snapshot()))
	}
}

// concurrentRegistry is a registry stub for the manager's writers. It
// records each task's writes in the order they completed, and the most
// writes in flight at once, over all tasks and for any one task. Until gate
// writes are in flight at once, each write waits for the others (10 s at
// most, after which gateTimedOut is set and the writes go on), so that
// writers that do not write concurrently cannot pass for ones that do. The
// first write of each task in failOnce fails.
type concurrentRegistry struct {
	gate     int
	opened   chan struct{}
	openOnce sync.Once

	mu                       sync.Mutex
	inFlight, maxInFlight    int
	perTask                  map[types.NamespacedName]int
	maxPerTask               int
	gateTimedOut             bool
	failOnce                 map[types.NamespacedName]bool
	writes                   map[types.NamespacedName][]Update
	acks                     map[types.NamespacedName][]string
	ackedUUIDs               map[string]int
	totalWrites, totalFailed int
}

func newConcurrentRegistry(gate int) *concurrentRegistry {
	return &concurrentRegistry{gate: gate, opened: make(chan struct{}), perTask: map[types.NamespacedName]int{},
		failOnce: map[types.NamespacedName]bool{}, writes: map[types.NamespacedName][]Update{},
		acks: map[types.NamespacedName][]string{}, ackedUUIDs: map[string]int{}}
}

func (r *concurrentRegistry) write(_ context.Context, u Update) error {
	r.mu.Lock()
	r.inFlight++
	r.perTask[u.Task]++
	r.maxInFlight, r.maxPerTask = max(r.maxInFlight, r.inFlight), max(r.maxPerTask, r.perTask[u.Task])
	if r.inFlight >= r.gate {
		r.openOnce.Do(func() { close(r.opened) })
	}
	r.mu.Unlock()
	select {
	case <-r.opened:
	case <-time.After(10 * time.Second):
		r.mu.Lock()
		r.gateTimedOut = true
		r.mu.Unlock()
		r.openOnce.Do(func() { close(r.opened) })
	}
	time.Sleep(time.Millisecond) // an API server's write: later updates queue meanwhile
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inFlight--
	r.perTask[u.Task]--
	if r.failOnce[u.Task] {
		r.failOnce[u.Task] = false
		r.totalFailed++
		return errors.New("API server unavailable")
	}
	r.writes[u.Task] = append(r.writes[u.Task], u)
	r.totalWrites++
	return nil
}

func (r *concurrentRegistry) ack(_ context.Context, u Update) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acks[u.Task] = append(r.acks[u.Task], u.UUID)
	r.ackedUUIDs[u.UUID]++
}

// TestStatusUpdatesWritersConcurrentInOrder: the manager's writers write
// many tasks' updates at once, as many as there are writers, yet never two
// of one task at once, and each task's updates reach the registry in the
// order they were queued (coalesced ones taken by later ones), its terminal
// update last; a failed write is retried after its backoff, still in
// order; every update is acknowledged once, each task's in order.
func TestStatusUpdatesWritersConcurrentInOrder(t *testing.T) {
	const tasks, perTask, writers = 12, 10, 4
	r := newConcurrentRegistry(writers)
	s := NewStatusUpdates(t.TempDir(), r.write, r.ack, clock.RealClock{}, logr.Discard())
	s.writers = writers
	name := func(i int) types.NamespacedName {
		return types.NamespacedName{Namespace: "ns", Name: fmt.Sprint("t", i)}
	}
	failing := 0
	for i := range tasks {
		if i%5 == 0 {
			r.failOnce[name(i)] = true
			failing++
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		s.Run(ctx)
	}()
	defer func() {
		cancel()
		<-ran
	}()

	// Each task's updates come from one sender, in order, a little apart:
	// some are written alone, some coalesce with those queued behind them.
	var senders sync.WaitGroup
	for i := range tasks {
		senders.Go(func() {
			for seq := range perTask {
				state := kmv1.TaskRunning
				if seq == perTask-1 {
					state = kmv1.TaskFinished
				}
				u := updFrom(name(i).Name, fmt.Sprint("e", i), fmt.Sprintf("t%d-%d", i, seq), state)
				u.Message = fmt.Sprint(seq)
				if err := s.Enqueue(ctx, u); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(time.Duration(i%3) * 3 * time.Millisecond)
			}
		})
	}
	senders.Wait()
	deadline := time.Now().Add(time.Minute)
	for {
		r.mu.Lock()
		acked := len(r.ackedUUIDs)
		r.mu.Unlock()
		if acked == tasks*perTask {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d updates acknowledged after a minute", acked, tasks*perTask)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-ran

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gateTimedOut || r.maxInFlight != writers {
		t.Errorf("at most %d writes in flight at once (the gate timed out: %v), want %d", r.maxInFlight, r.gateTimedOut, writers)
	}
	if r.maxPerTask != 1 {
		t.Errorf("%d writes of one task in flight at once, want 1", r.maxPerTask)
	}
	if r.totalFailed != failing {
		t.Errorf("%d writes failed, want %d (the first of every fifth task)", r.totalFailed, failing)
	}
	for i := range tasks {
		task := name(i)
		ws := r.writes[task]
		last := -1
		for _, w := range ws {
			var seq int
			if _, err := fmt.Sscan(w.Message, &seq); err != nil || seq <= last {
				t.Errorf("task %s: update %q written after update %d", task, w.Message, last)
			}
			last = seq
		}
		if len(ws) == 0 || ws[len(ws)-1].State != kmv1.TaskFinished || last != perTask-1 {
			t.Errorf("task %s: writes end with %v, want its TASK_FINISHED (update %d) last", task, ws, perTask-1)
		}
		want := make([]string, perTask)
		for seq := range perTask {
			want[seq] = fmt.Sprintf("t%d-%d", i, seq)
		}
		if d := cmp.Diff(want, r.acks[task]); d != "" {
			t.Errorf("task %s: acknowledgements (-want +got):\n%s", task, d)
		}
	}
	for uuid, n := range r.ackedUUIDs {
		if n != 1 {
			t.Errorf("update %s acknowledged %d times", uuid, n)
		}
	}
	if n := len(s.snapshot()); n != 0 {
		t.Errorf("%d task queues left, want none", n)
	}
	t.Logf("%d writes for %d updates; %d in flight at most", r.totalWrites, tasks*perTask, r.maxInFlight)
}

// TestStatusUpdatesWritersKeepTheDelay: with the writers running, a first
// TASK_RUNNING still waits for --running-update-delay, so each quick task
// that ends within it costs one write (its terminal update, which keeps
// when it started running), and a task that runs on has its TASK_RUNNING
// written once the delay is over.
func TestStatusUpdatesWritersKeepTheDelay(t *testing.T) {
	const quick = 20
	r := &registry{}
	var acks []string
	s, clk := newTestManager(t, t.TempDir(), r, &acks)
	s.runningDelay = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		s.Run(ctx)
	}()
	defer func() {
		cancel()
		<-ran
	}()
	enqueue := func(u Update) {
		if err := s.Enqueue(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	for i := range quick + 1 {
		running := updFrom(fmt.Sprint("t", i), "e", fmt.Sprint("run-", i), kmv1.TaskRunning)
		running.Timestamp = clk.Now()
		enqueue(running)
	}
	for i := range quick {
		enqueue(updFrom(fmt.Sprint("t", i), "e", fmt.Sprint("end-", i), kmv1.TaskFinished))
	}
	waitFor := func(what string, writes int, step bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			r.mu.Lock()
			n := len(r.writes)
			r.mu.Unlock()
			if n >= writes {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d writes after 30 s, want %d", what, n, writes)
			}
			if step {
				clk.Step(50 * time.Millisecond)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("the quick tasks", quick, false)
	r.mu.Lock()
	for _, w := range r.writes {
		if w.State != kmv1.TaskFinished || w.StartedAt == nil {
			t.Errorf("a quick task's write: %s (started at %v), want its TASK_FINISHED in its TASK_RUNNING's place", w.State, w.StartedAt)
		}
	}
	r.mu.Unlock()
	waitFor("the task that runs on", quick+1, true)
	time.Sleep(20 * time.Millisecond) // nothing more comes
	states := r.states()
	r.mu.Lock()
	defer r.mu.Unlock()
	if last := r.writes[len(r.writes)-1]; len(r.writes) != quick+1 || last.Task.Name != fmt.Sprint("t", quick) || last.State != kmv1.TaskRunning {
		t.Errorf("writes %v, want one per quick task, then the TASK_RUNNING of t%d", states, quick)
	}
}

// TestRecoverTakesEachTaskFromItsOwnCheckpoint: a checkpoint file that
// holds another task's updates (a copy, or a file renamed by hand) is
// skipped. Recover took it as well, so the task's executor had its queued
// updates counted twice, and once they were written one count stayed: the
// executor kept less room under its bound for as long as the agent ran.
func TestRecoverTakesEachTaskFromItsOwnCheckpoint(t *testing.T) {
	dir := t.TempDir()
	down := &registry{fail: 1 << 30}
	var acks []string
	s, _ := newTestManager(t, dir, down, &acks)
	if err := s.Enqueue(t.Context(), updFrom("a", "e1", "1", kmv1.TaskRunning)); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "ns_a.json"))
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{"ns_b.json": raw, "ns_c.json": []byte(`[]`), "ns_d.json": []byte(`null`)} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	r := &registry{}
	s2, _ := newTestManager(t, dir, r, &acks)
	if err := s2.Recover(); err != nil {
		t.Fatal(err)
	}
	if got := s2.snapshot(); len(got) != 1 || got[0].Name != "a" {
		t.Fatalf("recovered queues of %v; want task a's alone", got)
	}
	exec := executorOfUpdate(&s2.Pending(types.NamespacedName{Namespace: "ns", Name: "a"})[0])
	if n := s2.executors[exec]; n != 1 {
		t.Errorf("executor %s has %d queued updates counted; want 1", exec, n)
	}
	s2.flush(context.Background())
	if len(r.writes) != 1 || len(s2.executors) != 0 {
		t.Errorf("after the write: %d writes (want 1), queued executor updates still counted: %v", len(r.writes), s2.executors)
	}
}

// TestLongTaskNamesAreCheckpointed: a Task's name may have 253
// characters, too long for <namespace>_<name>.json; its queue is
// checkpointed under a hashed name, and recovered from it.
func TestLongTaskNamesAreCheckpointed(t *testing.T) {
	dir := t.TempDir()
	var acks []string
	s, _ := newTestManager(t, dir, &registry{fail: 1 << 30}, &acks)
	long := strings.Repeat("a", 253)
	if err := s.Enqueue(t.Context(), updFrom(long, "e1", "1", kmv1.TaskRunning)); err != nil {
		t.Fatalf("enqueueing an update of a task with a 253-character name: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || len(entries[0].Name()) > 255 || !strings.HasPrefix(entries[0].Name(), "ns__") {
		t.Fatalf("checkpoint files %v, want one named ns__<hash>.json", entries)
	}
	s2, _ := newTestManager(t, dir, &registry{}, &acks)
	if err := s2.Recover(); err != nil {
		t.Fatal(err)
	}
	if got := s2.snapshot(); len(got) != 1 || got[0].Name != long {
		t.Errorf("recovered queues of %v, want the long-named task's", got)
	}
}

// FuzzDecodeQueue: whatever a status update checkpoint holds, decodeQueue
// does not panic, and it takes only a queue that persist could have
// written under that file name, which reads back the same once written
// again.
func FuzzDecodeQueue(f *testing.F) {
	healthy, started := true, time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	full := updFrom("a", "e1", "2", kmv1.TaskFinished)
	full.PodName, full.Reason, full.Message, full.Data = "p", kmv1.TaskReason("REASON_COMMAND_EXECUTOR_FAILED"), "m", "d"
	full.Healthy, full.StartedAt, full.Timestamp = &healthy, &started, started.Add(time.Second)
	own := upd("agent/uid/TASK_LOST/gone", kmv1.TaskLost)
	own.Source = kmv1.SourceAgent
	seed := func(name string, q ...Update) {
		raw, err := json.Marshal(q)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(name, raw)
	}
	seed("ns_a.json", updFrom("a", "e1", "1", kmv1.TaskRunning), full)
	seed("ns_a.json", own)
	seed(checkpointName(types.NamespacedName{Namespace: "ns", Name: strings.Repeat("b", 253)}), updFrom(strings.Repeat("b", 253), "e1", "1", kmv1.TaskRunning))
	seed("ns_b.json", upd("1", kmv1.TaskRunning))                                        // another task's file
	seed("ns_a.json", upd("1", kmv1.TaskRunning), upd("1", kmv1.TaskFinished))           // a UUID twice
	seed("ns_a.json", upd("1", kmv1.TaskRunning), updFrom("b", "", "2", "TASK_RUNNING")) // two tasks
	seed("ns_a.json", upd("", kmv1.TaskRunning))
	seed("ns_a.json", upd("1", "TASK_UNKNOWN"))
	for _, raw := range []string{`[]`, `null`, `{}`, `[{"uuid":"1","task":{"Namespace":"ns","Name":"a"},"state":"TASK_RUNNING","source":"SOURCE_MASTER"}]`,
		`[{"uuid":"1","task":{"Namespace":"NS","Name":"a"},"state":"TASK_RUNNING","source":"SOURCE_AGENT"}]`,
		`[{"uuid":"1","task":{"Namespace":"ns","Name":"a"},"state":"TASK_RUNNING","source":"SOURCE_AGENT","timestamp":"2026-01-02T03:04:05+01:00"}]`,
		`[{"uuid":"1","task":{"Namespace":"ns","Name":"a"},"state":"TASK_RUNNING","source":"SOURCE_AGENT","timestamp":"9999-12-31T23:59:59-23:59"}]`,
		`[{"uuid":"1","task":{"Namespace":"ns","Name":"a"},"state":"TASK_RUNNING","source":"SOURCE_AGENT"}`, "\x00"} {
		f.Add("ns_a.json", []byte(raw))
	}
	f.Fuzz(func(t *testing.T, name string, raw []byte) {
		q, err := decodeQueue(name, raw)
		if err != nil {
			return
		}
		if len(q) == 0 || checkpointName(q[0].Task) != name {
			t.Fatalf("decodeQueue(%q, %q) took %d updates of task %v", name, raw, len(q), q)
		}
		uuids := map[string]bool{}
		for _, u := range q {
			if u.Task != q[0].Task || u.UUID == "" || uuids[u.UUID] || !knownState(u.State) ||
				(u.Source != kmv1.SourceAgent && u.Source != kmv1.SourceExecutor) {
				t.Fatalf("decodeQueue(%q, %q) took the update %+v", name, raw, u)
			}
			uuids[u.UUID] = true
		}
		saved, err := json.Marshal(q)
		if err != nil {
			t.Fatalf("decodeQueue(%q, %q) took a queue that cannot be written again: %v", name, raw, err)
		}
		again, err := decodeQueue(name, saved)
		if err != nil {
			t.Fatalf("decodeQueue(%q, %q) took a queue that, written again as %s, is refused: %v", name, raw, saved, err)
		}
		if resaved, err := json.Marshal(again); err != nil || !bytes.Equal(resaved, saved) {
			t.Fatalf("decodeQueue(%q, %q): written again as %s, it reads back as %s, %v", name, raw, saved, resaved, err)
		}
	})
}
