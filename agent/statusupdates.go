package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	utilcache "k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/util/workqueue"
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
	// Framework is the task's framework (empty in checkpoints written
	// before it was recorded).
	Framework string `json:"framework,omitempty"`
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
	// StartedAt is when the task started running, carried by an update
	// that took the place of an unwritten TASK_RUNNING.
	StartedAt *time.Time `json:"startedAt,omitempty"`
}

// WriteFunc writes one update into the registry. It returns nil once the
// API server accepted it or refused it for good (a terminal state got there
// first, or the task is gone); any other error means "retry".
type WriteFunc func(ctx context.Context, u Update) error

// AckFunc is told that an update reached the registry.
type AckFunc func(ctx context.Context, u Update)

// How many updates from executors the agent holds before they reach the
// registry. An executor that sends faster than the registry takes its
// updates is told to slow down (QueueFullError, a 429) and keeps them; the
// agent's own reports are never refused.
const (
	// MaxQueuedPerTask bounds the queued updates of one task. One terminal
	// update is taken beyond it, so that a task can always end.
	MaxQueuedPerTask = 32
	// MaxQueuedPerExecutor bounds the queued updates that one executor
	// sent, over all its tasks (terminal updates again excepted).
	MaxQueuedPerExecutor = 128
)

// What the manager remembers of the updates it delivered, so that one sent
// again (an executor that never saw its acknowledgement resends it when it
// subscribes) is acknowledged at once rather than queued and written
// again; and of the tasks whose TASK_RUNNING it wrote.
const (
	deliveredSize = 8192
	deliveredTTL  = 10 * time.Minute
)

// DefaultStatusUpdateWriters is how many tasks' updates the manager writes
// into the registry at once, unless told otherwise
// (--status-update-writers). One task's updates are written one at a time,
// in order, whatever the number.
const DefaultStatusUpdateWriters = 8

// QueueFullError refuses an executor's update while too many of its earlier
// updates wait for the registry. It is not the update's fault: the executor
// keeps it and sends it again later.
type QueueFullError struct {
	// What is full: "task <ns>/<name>" or "executor <ns>/<framework>/<id>".
	What string
	// Limit is the bound that was reached.
	Limit int
}

func (e *QueueFullError) Error() string {
	return fmt.Sprintf("%s has %d status updates waiting for the registry; send this one again later", e.What, e.Limit)
}

// StatusUpdates is the agent's status update manager: one ordered queue per
// task, checkpointed under its directory before an update is accepted, and
// written to the registry with retries and backoff. Consecutive non-terminal
// updates may be coalesced; a terminal update is never dropped.
//
// Each task's queue has its own lock, held while its checkpoint is written
// and synced: one executor's flood of updates slows only its own tasks.
// Several writers write different tasks' updates at once; the work queue
// that hands them the tasks never hands one task to two writers at once, so
// each task's updates reach the registry in order.
type StatusUpdates struct {
	dir   string
	write WriteFunc
	ack   AckFunc
	clock clock.WithTicker
	log   logr.Logger
	// save writes a checkpoint file durably (writeFileAtomic).
	save func(path string, data []byte) error
	// perTask and perExecutor are the queue bounds.
	perTask, perExecutor int
	// delay is how long a non-terminal update other than a task's first
	// TASK_RUNNING waits before it is written (TASK_STARTING for the
	// TASK_RUNNING that follows it, TASK_KILLING for the terminal state,
	// a running task's health and data for the next ones), so that the
	// updates that follow take its place: one write instead of several.
	delay time.Duration
	// runningDelay is how long a task's first TASK_RUNNING waits before
	// it is written. Zero (the default) writes it at once: it is what a
	// framework waits for. Longer lets a task that ends within it cost
	// one write, its terminal update in its TASK_RUNNING's place.
	runningDelay time.Duration
	// running holds the tasks whose TASK_RUNNING was written lately, whose
	// further TASK_RUNNING updates (health, data) wait for delay.
	running *utilcache.LRUExpireCache
	// writers is how many tasks' updates Run writes at once.
	writers int
	// work holds the tasks that may have an update to write, each once,
	// and gives each to one writer at a time (a task added while it is
	// being written is handed out again once its writer is done). A task
	// waiting out the delay or a backoff is added back after it.
	work workqueue.TypedDelayingInterface[types.NamespacedName]

	// mu guards tasks and executors. Lock order: a task's mu, then mu.
	mu        sync.Mutex
	tasks     map[types.NamespacedName]*taskQueue
	executors map[string]int // queued executor updates, by executor

	// delivered holds the tasks and UUIDs of updates that reached the
	// registry lately.
	delivered *utilcache.LRUExpireCache
	// recovered is when Recover loaded the checkpoints: the queued time
	// of their updates, for Backlog.
	recovered time.Time
}

// taskQueue is the queue of one task.
type taskQueue struct {
	mu      sync.Mutex
	updates []Update
	retryAt time.Time
	fails   int
	// since is when the oldest unwritten update was queued.
	since time.Time
	// gone is set when the queue was emptied and left the manager; an
	// Enqueue that holds it looks the task up again.
	gone bool
}

// NewStatusUpdates returns a manager that checkpoints under dir, with the
// default queue bounds and DefaultStatusUpdateWriters writers.
func NewStatusUpdates(dir string, write WriteFunc, ack AckFunc, clk clock.WithTicker, log logr.Logger) *StatusUpdates {
	return &StatusUpdates{dir: dir, write: write, ack: ack, clock: clk, log: log, save: writeFileAtomic,
		perTask: MaxQueuedPerTask, perExecutor: MaxQueuedPerExecutor, writers: DefaultStatusUpdateWriters,
		work: workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[types.NamespacedName]{
			Name: "status-updates", Clock: clk}),
		tasks: map[types.NamespacedName]*taskQueue{}, executors: map[string]int{},
		delivered: utilcache.NewLRUExpireCacheWithClock(deliveredSize, clk),
		running:   utilcache.NewLRUExpireCacheWithClock(deliveredSize, clk)}
}

// wait is how long the update u, the head of task's queue, waits after its
// queue's oldest unwritten update was queued.
func (s *StatusUpdates) wait(task types.NamespacedName, u *Update) time.Duration {
	if u.State == kmv1.TaskRunning {
		if _, ran := s.running.Get(task.String()); !ran {
			return s.runningDelay
		}
	}
	return s.delay
}

func deliveredKey(u *Update) string { return u.Task.String() + "/" + u.UUID }

func (s *StatusUpdates) file(task types.NamespacedName) string {
	return filepath.Join(s.dir, checkpointName(task))
}

// checkpointName is the name of the file that holds task's queue:
// <namespace>_<name>.json (neither a namespace nor a Task's name holds an
// underscore, so no two tasks share a file), or, when that would be longer
// than a file name may be (a Task's name may have 253 characters),
// <namespace>__<SHA-256 of namespace/name>.json, which no name can give.
func checkpointName(task types.NamespacedName) string {
	if name := task.Namespace + "_" + task.Name + ".json"; len(name) <= maxFileName {
		return name
	}
	sum := sha256.Sum256([]byte(task.String()))
	return task.Namespace + "__" + hex.EncodeToString(sum[:]) + ".json"
}

// maxFileName is the longest file name Linux file systems take, in bytes.
const maxFileName = 255

// decodeQueue reads the checkpoint file name of one task's queue, as
// persist writes it: a JSON list of that task's updates, oldest first. It
// refuses a file that persist could not have written, rather than recover
// an update that the manager could never write or take off its queue: no
// updates; an update without a UUID or with one it already had, of a state
// that is not a task state, from a source other than the agent or an
// executor; an update of another task than the first, or of a task whose
// file has another name, or whose namespace or name is not one an object
// can have.
func decodeQueue(name string, raw []byte) ([]Update, error) {
	var q []Update
	if err := json.Unmarshal(raw, &q); err != nil {
		return nil, err
	}
	if len(q) == 0 {
		return nil, errors.New("no updates")
	}
	task := q[0].Task
	if errs := validation.IsDNS1123Label(task.Namespace); len(errs) > 0 {
		return nil, fmt.Errorf("the namespace of task %s: %s", task, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(task.Name); len(errs) > 0 {
		return nil, fmt.Errorf("the name of task %s: %s", task, strings.Join(errs, "; "))
	}
	if want := checkpointName(task); name != want {
		return nil, fmt.Errorf("it holds the updates of task %s, whose checkpoint is %s", task, want)
	}
	uuids := make(map[string]bool, len(q))
	for i := range q {
		u := &q[i]
		switch {
		case u.Task != task:
			return nil, fmt.Errorf("update %d is of task %s, not %s", i, u.Task, task)
		case u.UUID == "":
			return nil, fmt.Errorf("update %d has no UUID", i)
		case uuids[u.UUID]:
			return nil, fmt.Errorf("update %d has the UUID %q of an earlier one", i, u.UUID)
		case !knownState(u.State):
			return nil, fmt.Errorf("update %d has state %q", i, u.State)
		case u.Source != kmv1.SourceAgent && u.Source != kmv1.SourceExecutor:
			return nil, fmt.Errorf("update %d has source %q", i, u.Source)
		}
		uuids[u.UUID] = true
	}
	return q, nil
}

// knownState reports whether s is one of the task states.
func knownState(s kmv1.TaskState) bool {
	r := s.Rank()
	return (r >= kmv1.TaskStaging.Rank() && r <= kmv1.TaskKilling.Rank()) || s.IsTerminal()
}

// executorOfUpdate names the executor whose bound an update counts
// against; "" for the agent's own reports, which are never refused.
func executorOfUpdate(u *Update) string {
	if u.Source != kmv1.SourceExecutor {
		return ""
	}
	return kmv1.ExecutorRef{Namespace: u.Task.Namespace, Framework: u.Framework, ExecutorID: u.ExecutorID}.String()
}

// persist checkpoints task's queue; the caller holds q.mu.
func (s *StatusUpdates) persist(task types.NamespacedName, q *taskQueue) error {
	if len(q.updates) == 0 {
		if err := os.Remove(s.file(task)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("removing the checkpoint of %s: %w", task, err)
		}
		return nil
	}
	raw, err := json.Marshal(q.updates)
	if err != nil {
		return fmt.Errorf("encoding the checkpoint of %s: %w", task, err)
	}
	return s.save(s.file(task), raw)
}

// queue returns task's queue, creating it when create is set.
func (s *StatusUpdates) queue(task types.NamespacedName, create bool) *taskQueue {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.tasks[task]
	if q == nil && create {
		q = &taskQueue{}
		s.tasks[task] = q
	}
	return q
}

// lockQueue returns task's queue locked, or nil when there is none and
// create is not set.
func (s *StatusUpdates) lockQueue(task types.NamespacedName, create bool) *taskQueue {
	for {
		q := s.queue(task, create)
		if q == nil {
			return nil
		}
		q.mu.Lock()
		if !q.gone {
			return q
		}
		q.mu.Unlock()
	}
}

// forget takes removed updates off the executors' counts and, when task's
// queue is empty, removes it from the manager; the caller holds q.mu.
func (s *StatusUpdates) forget(task types.NamespacedName, q *taskQueue, removed []Update) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range removed {
		if e := executorOfUpdate(&removed[i]); e != "" {
			if s.executors[e]--; s.executors[e] <= 0 {
				delete(s.executors, e)
			}
		}
	}
	if len(q.updates) == 0 && s.tasks[task] == q {
		delete(s.tasks, task)
		q.gone = true
	}
}

func hasTerminal(q []Update) bool {
	for i := range q {
		if q[i].State.IsTerminal() {
			return true
		}
	}
	return false
}

// Enqueue checkpoints u and queues it behind the task's earlier updates.
// When it returns nil, the update survives an agent restart. An update
// from an executor whose queues are full is refused with a
// *QueueFullError. An update delivered lately is acknowledged again at
// once (under ctx), not queued.
func (s *StatusUpdates) Enqueue(ctx context.Context, u Update) error {
	q := s.lockQueue(u.Task, true)
	// Checked under the task's lock, which its writer holds while it takes
	// written updates off the queue and records them as delivered.
	if _, done := s.delivered.Get(deliveredKey(&u)); done {
		s.forget(u.Task, q, nil) // drops the queue if it was made for u
		q.mu.Unlock()
		s.ack(ctx, u)
		return nil
	}
	defer q.mu.Unlock()
	for i := range q.updates {
		if q.updates[i].UUID == u.UUID {
			return nil // a retransmission of a queued update
		}
	}
	exec := executorOfUpdate(&u)
	// One terminal update per task passes the bounds: a task can always end.
	bounded := exec != "" && !(u.State.IsTerminal() && !hasTerminal(q.updates))
	if bounded && len(q.updates) >= s.perTask {
		return &QueueFullError{What: "task " + u.Task.String(), Limit: s.perTask}
	}
	s.mu.Lock()
	if bounded && s.executors[exec] >= s.perExecutor {
		s.mu.Unlock()
		s.forget(u.Task, q, nil) // drops the queue if it was made for u
		return &QueueFullError{What: "executor " + exec, Limit: s.perExecutor}
	}
	if exec != "" {
		s.executors[exec]++
	}
	s.mu.Unlock()
	if len(q.updates) == 0 {
		q.since = s.clock.Now()
	}
	q.updates = append(q.updates, u)
	if err := s.persist(u.Task, q); err != nil {
		q.updates = q.updates[:len(q.updates)-1]
		s.forget(u.Task, q, []Update{u})
		return err
	}
	s.work.Add(u.Task)
	return nil
}

// Pending returns the queued updates of task, oldest first.
func (s *StatusUpdates) Pending(task types.NamespacedName) []Update {
	q := s.lockQueue(task, false)
	if q == nil {
		return nil
	}
	defer q.mu.Unlock()
	return append([]Update(nil), q.updates...)
}

// HasTerminal reports whether a terminal update of task is queued.
func (s *StatusUpdates) HasTerminal(task types.NamespacedName) bool {
	q := s.lockQueue(task, false)
	if q == nil {
		return false
	}
	defer q.mu.Unlock()
	return hasTerminal(q.updates)
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
	s.recovered = s.clock.Now()
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(s.dir, e.Name()))
		if err != nil {
			return fmt.Errorf("reading checkpoint %s: %w", e.Name(), err)
		}
		q, err := decodeQueue(e.Name(), raw)
		if err != nil {
			s.log.Error(err, "skipping a corrupt status update checkpoint", "file", e.Name())
			continue
		}
		s.tasks[q[0].Task] = &taskQueue{updates: q}
		for i := range q {
			if exec := executorOfUpdate(&q[i]); exec != "" {
				s.executors[exec]++
			}
		}
		s.work.Add(q[0].Task)
	}
	return nil
}

// Backlog returns how many updates wait to be written, and the longest
// time any task's queue has waited for its next write (zero when none
// waits): the agent's status update backlog, which its metrics show.
func (s *StatusUpdates) Backlog() (updates int, oldest time.Duration) {
	s.mu.Lock()
	queues := make([]*taskQueue, 0, len(s.tasks))
	for _, q := range s.tasks {
		queues = append(queues, q)
	}
	recovered := s.recovered
	s.mu.Unlock()
	now := s.clock.Now()
	for _, q := range queues {
		q.mu.Lock()
		n, since := len(q.updates), q.since
		q.mu.Unlock()
		if n == 0 {
			continue
		}
		updates += n
		if since.IsZero() { // loaded from a checkpoint
			since = recovered
		}
		oldest = max(oldest, now.Sub(since))
	}
	return updates, oldest
}

// snapshot returns the tasks with queues, in a stable order.
func (s *StatusUpdates) snapshot() []types.NamespacedName {
	s.mu.Lock()
	tasks := make([]types.NamespacedName, 0, len(s.tasks))
	for t := range s.tasks {
		tasks = append(tasks, t)
	}
	s.mu.Unlock()
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].String() < tasks[j].String() })
	return tasks
}

// DropAgent discards the queued updates produced under agentID: after a
// re-admission the agent never reports status for its old tasks.
func (s *StatusUpdates) DropAgent(agentID string) {
	for _, task := range s.snapshot() {
		q := s.lockQueue(task, false)
		if q == nil {
			continue
		}
		var keep, dropped []Update
		for _, u := range q.updates {
			if u.AgentID != agentID {
				keep = append(keep, u)
			} else {
				dropped = append(dropped, u)
			}
		}
		if len(dropped) > 0 {
			q.updates = keep
			if err := s.persist(task, q); err != nil {
				s.log.Error(err, "dropping the updates of an old agentID", "task", task, "agentID", agentID)
			}
			s.forget(task, q, dropped)
		}
		q.mu.Unlock()
	}
}

// next picks the batch to write for a task: the run of updates at its
// head up to and including its first terminal one, coalesced into the last
// of them. What the run's earlier updates carried and the last lacks (data,
// health, executor, pod, when the task started running) is kept.
func next(q []Update) (write Update, batch int) {
	if len(q) == 0 {
		return Update{}, 0
	}
	n := 1
	for n < len(q) && !q[n-1].State.IsTerminal() {
		n++
	}
	write = q[n-1]
	for i := n - 2; i >= 0; i-- {
		e := &q[i]
		if write.Data == "" {
			write.Data = e.Data
		}
		if write.Healthy == nil {
			write.Healthy = e.Healthy
		}
		if write.ExecutorID == "" {
			write.ExecutorID = e.ExecutorID
		}
		if write.PodName == "" {
			write.PodName = e.PodName
		}
		if e.State == kmv1.TaskRunning && write.State != kmv1.TaskRunning {
			write.StartedAt = &e.Timestamp
		} else if e.StartedAt != nil && write.StartedAt == nil {
			write.StartedAt = e.StartedAt
		}
	}
	return write, n
}

// Run writes queued updates with the manager's writers until ctx ends.
func (s *StatusUpdates) Run(ctx context.Context) {
	go func() {
		<-ctx.Done()
		s.work.ShutDown()
	}()
	var wg sync.WaitGroup
	for range max(s.writers, 1) {
		wg.Go(func() {
			for s.writeNext(ctx) {
			}
		})
	}
	wg.Wait()
}

// writeNext takes a task from the work queue and writes its head batch,
// and hands the task back: at once when more of it is due, after the delay
// or the backoff when it must wait. It reports false once the queue is shut
// down.
func (s *StatusUpdates) writeNext(ctx context.Context) bool {
	task, shutdown := s.work.Get()
	if shutdown {
		return false
	}
	defer s.work.Done(task)
	wait, more := s.writeHead(ctx, task)
	switch {
	case more:
		// Behind the other tasks waiting for a writer: one task's
		// updates do not hold a writer while others wait.
		s.work.Add(task)
	case wait > 0:
		s.work.AddAfter(task, wait)
	}
	return true
}

// writeHead writes the head batch of task's queue. It returns how long
// until the head is due, when it is not yet (the delay) or its write failed
// (the backoff), and whether more is queued once it was written. The queue
// is not locked during the write: executors keep adding to it.
func (s *StatusUpdates) writeHead(ctx context.Context, task types.NamespacedName) (time.Duration, bool) {
	q := s.lockQueue(task, false)
	if q == nil {
		return 0, false
	}
	now := s.clock.Now()
	if now.Before(q.retryAt) {
		q.mu.Unlock()
		return q.retryAt.Sub(now), false
	}
	u, n := next(q.updates)
	if n > 0 && !u.State.IsTerminal() {
		if due := q.since.Add(s.wait(task, &u)); now.Before(due) {
			// The task's next update may yet take this one's place.
			q.mu.Unlock()
			return due.Sub(now), false
		}
	}
	batch := make(map[string]bool, n)
	for _, b := range q.updates[:n] {
		batch[b.UUID] = true
	}
	q.mu.Unlock()
	if n == 0 {
		return 0, false
	}
	if err := s.write(ctx, u); err != nil {
		q.mu.Lock()
		q.fails++
		backoff := time.Duration(1<<min(q.fails, 6)) * 100 * time.Millisecond // 200ms … 6.4s
		q.retryAt = s.clock.Now().Add(backoff)
		q.mu.Unlock()
		s.log.V(1).Info("status write failed; will retry", "task", task, "state", u.State, "retryIn", backoff, "error", err.Error())
		return backoff, false
	}
	q.mu.Lock()
	// The batch is taken off by UUID: DropAgent may have removed some of
	// it meanwhile, and later updates stay queued.
	var keep, done []Update
	for _, x := range q.updates {
		if batch[x.UUID] {
			done = append(done, x)
		} else {
			keep = append(keep, x)
		}
	}
	q.updates = keep
	for i := range done {
		s.delivered.Add(deliveredKey(&done[i]), true, deliveredTTL)
	}
	switch {
	case u.State == kmv1.TaskRunning:
		s.running.Add(task.String(), true, deliveredTTL)
	case u.State.IsTerminal():
		s.running.Remove(task.String())
	}
	q.retryAt, q.fails, q.since = time.Time{}, 0, s.clock.Now()
	if err := s.persist(task, q); err != nil {
		s.log.Error(err, "updating the checkpoint", "task", task)
	}
	more := len(q.updates) > 0
	s.forget(task, q, done)
	q.mu.Unlock()
	for _, d := range done {
		s.ack(ctx, d)
	}
	return 0, more
}
