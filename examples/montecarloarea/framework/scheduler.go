package framework

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/examples/montecarloarea/area"
	"github.com/kubemesos/kubemesos/sdk/scheduler"
)

// ExecutorID is the executor of every MonteCarloArea task: one executor pod
// per agent runs all the pieces placed there.
const ExecutorID = "montecarloarea"

// LaunchFailureBackoff is how long the scheduler declines an agent whose
// kubelet refused its executor pod (REASON_CONTAINER_LAUNCH_FAILED, such
// as OutOfcpu: the node's room taken by pods the offer did not know of).
// Relaunching there at once would fail again, each time an attempt of the
// piece's MaxRetries.
const LaunchFailureBackoff = 5 * time.Second

type pieceState int

const (
	piecePending pieceState = iota
	pieceLaunched
	pieceDone
)

type piece struct {
	Piece
	state    pieceState
	attempts int // failed or lost attempts
	task     string
	count    Count
}

// Scheduler is the MonteCarloArea scheduler. It launches one task per piece
// onto offers as they arrive, declines what it cannot use, suppresses offers
// once every piece is placed, relaunches failed or lost pieces up to
// MaxRetries times, and completes the framework with the area.
type Scheduler struct {
	// DefaultImage runs the executor when the parameters name none.
	DefaultImage string
	// OnDone, if set, is called with the result or the failure.
	OnDone func(result string, err error)
	// Clock tells the time of LaunchFailureBackoff; the real clock when
	// nil.
	Clock clock.PassiveClock

	mu       sync.Mutex
	settings Settings
	name     string
	pieces   []*piece
	byTask   map[string]*piece
	finished bool
	// avoid holds, by agentID, until when the scheduler declines an agent
	// whose kubelet refused its executor pod.
	avoid map[string]time.Time
}

var _ scheduler.Scheduler = (*Scheduler)(nil)

// Registered reads the parameters and plans the pieces. Bad parameters fail
// the framework with a message that names them.
func (s *Scheduler) Registered(d scheduler.SchedulerDriver, frameworkID string) {
	fw := d.Framework()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.name = fw.Name
	settings, err := ParseSettings(fw.Spec.Parameters, s.DefaultImage)
	if err != nil {
		s.fail(d, fmt.Sprintf("invalid parameters: %v", err))
		return
	}
	s.settings = settings
	s.byTask = map[string]*piece{}
	for _, pc := range Pieces(settings.Params) {
		s.pieces = append(s.pieces, &piece{Piece: pc})
	}
}

// Reregistered keeps the plan: the task states arrive as status updates.
func (s *Scheduler) Reregistered(scheduler.SchedulerDriver) {}

// taskID names attempt a of piece i deterministically, so a failed-over
// scheduler can never launch a piece twice.
func (s *Scheduler) taskID(i, a int) string { return fmt.Sprintf("%s-piece-%d-%d", s.name, i, a) }

// ResourceOffers places pending pieces on the offers and declines the rest.
func (s *Scheduler) ResourceOffers(d scheduler.SchedulerDriver, offers []kmv1.Offer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, o := range offers {
		if s.finished || s.pieces == nil {
			_ = d.DeclineOffer(o.Name, nil)
			continue
		}
		if until, ok := s.avoid[o.Spec.AgentID]; ok {
			if left := until.Sub(now); left > 0 {
				_ = d.DeclineOffer(o.Name, &scheduler.Filters{RefuseSeconds: ptr.To(int32(math.Ceil(left.Seconds())))})
				continue
			}
			delete(s.avoid, o.Spec.AgentID)
		}
		cpu, mem := o.Spec.Resources[corev1.ResourceCPU], o.Spec.Resources[corev1.ResourceMemory]
		var tasks []scheduler.TaskInfo
		var placed []*piece
		for _, pc := range s.pieces {
			if pc.state != piecePending || cpu.Cmp(s.settings.CPU) < 0 || mem.Cmp(s.settings.Memory) < 0 {
				continue
			}
			cpu.Sub(s.settings.CPU)
			mem.Sub(s.settings.Memory)
			id := s.taskID(pc.Index, pc.attempts)
			tasks = append(tasks, scheduler.TaskInfo{
				TaskID:    id,
				Resources: kmv1.ResourceList{corev1.ResourceCPU: s.settings.CPU.DeepCopy(), corev1.ResourceMemory: s.settings.Memory.DeepCopy()},
				Executor:  &kmv1.ExecutorInfo{ExecutorID: ExecutorID, Image: s.settings.Image, Command: []string{"montecarloarea", "executor"}},
				Data:      pc.Encode(),
			})
			placed = append(placed, pc)
		}
		if len(tasks) == 0 {
			_ = d.DeclineOffer(o.Name, nil)
			continue
		}
		err := d.LaunchTasks([]string{o.Name}, tasks)
		var le *scheduler.LaunchError
		if err != nil && !errors.As(err, &le) {
			continue // nothing was created; the pieces stay pending
		}
		for i, pc := range placed {
			if le != nil && le.Failed[tasks[i].TaskID] != nil {
				continue
			}
			pc.state, pc.task = pieceLaunched, tasks[i].TaskID
			s.byTask[pc.task] = pc
		}
	}
	if s.allPlaced() {
		_ = d.SuppressOffers()
	}
}

// now is the scheduler's clock's time.
func (s *Scheduler) now() time.Time {
	if s.Clock == nil {
		return time.Now()
	}
	return s.Clock.Now()
}

func (s *Scheduler) allPlaced() bool {
	for _, pc := range s.pieces {
		if pc.state == piecePending {
			return false
		}
	}
	return true
}

// OfferRescinded needs nothing: offers are not held.
func (s *Scheduler) OfferRescinded(scheduler.SchedulerDriver, string) {}

// pieceOf finds the piece of a task by its ID, also for tasks that a
// previous scheduler instance launched.
func (s *Scheduler) pieceOf(taskID string) (*piece, int) {
	var i, a int
	prefix := s.name + "-piece-"
	if !strings.HasPrefix(taskID, prefix) {
		return nil, 0
	}
	if _, err := fmt.Sscanf(strings.TrimPrefix(taskID, prefix), "%d-%d", &i, &a); err != nil || i < 0 || i >= len(s.pieces) {
		return nil, 0
	}
	return s.pieces[i], a
}

// StatusUpdate records finished pieces and relaunches failed ones.
func (s *Scheduler) StatusUpdate(d scheduler.SchedulerDriver, st scheduler.TaskStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished {
		return
	}
	pc, attempt := s.pieceOf(st.TaskID)
	if pc == nil || pc.state == pieceDone {
		return
	}
	switch {
	case st.State == kmv1.TaskFinished:
		c, err := ParseCount(st.Data)
		if err != nil {
			s.retry(d, pc, attempt, err.Error())
			break
		}
		pc.state, pc.count, pc.task = pieceDone, c, st.TaskID
	case st.State.IsTerminal():
		if st.Reason == kmv1.ReasonContainerLaunchFailed && st.AgentID != "" {
			if s.avoid == nil {
				s.avoid = map[string]time.Time{}
			}
			s.avoid[st.AgentID] = s.now().Add(LaunchFailureBackoff)
		}
		s.retry(d, pc, attempt, fmt.Sprintf("%s (%s): %s", st.State, st.Reason, st.Message))
	default:
		if attempt >= pc.attempts {
			pc.state, pc.task, pc.attempts = pieceLaunched, st.TaskID, attempt
		}
	}
	s.maybeComplete(d)
}

// retry puts a piece back for a new attempt, or fails the framework when
// it ran out of attempts.
func (s *Scheduler) retry(d scheduler.SchedulerDriver, pc *piece, attempt int, why string) {
	if attempt < pc.attempts {
		return // an older attempt; a newer one is under way
	}
	pc.attempts = attempt + 1
	if pc.attempts > s.settings.MaxRetries {
		s.fail(d, fmt.Sprintf("piece %d failed %d times; last: %s", pc.Index, pc.attempts, why))
		return
	}
	pc.state = piecePending
	_ = d.ReviveOffers()
}

func (s *Scheduler) maybeComplete(d scheduler.SchedulerDriver) {
	var sum Count
	for _, pc := range s.pieces {
		if pc.state != pieceDone {
			return
		}
		sum.Under += pc.count.Under
		sum.Total += pc.count.Total
	}
	r := area.Summarize(s.settings.Params, sum.Under, sum.Total)
	s.finished = true
	result := r.String()
	if err := d.Complete(result); err != nil {
		s.finished = false
		return
	}
	if s.OnDone != nil {
		s.OnDone(result, nil)
	}
}

func (s *Scheduler) fail(d scheduler.SchedulerDriver, msg string) {
	s.finished = true
	_ = d.Fail(msg)
	if s.OnDone != nil {
		s.OnDone("", fmt.Errorf("%s", msg))
	}
}

// FrameworkMessage is unused by MonteCarloArea.
func (s *Scheduler) FrameworkMessage(scheduler.SchedulerDriver, string, string, string) {}

// Disconnected needs nothing: the driver campaigns for the Lease again.
func (s *Scheduler) Disconnected(scheduler.SchedulerDriver) {}

// AgentLost needs nothing: its tasks arrive as TASK_LOST and are relaunched.
func (s *Scheduler) AgentLost(scheduler.SchedulerDriver, string) {}

// ExecutorLost needs nothing: its tasks arrive as TASK_FAILED and are relaunched.
func (s *Scheduler) ExecutorLost(scheduler.SchedulerDriver, string, string, int) {}

// Error fails the run.
func (s *Scheduler) Error(d scheduler.SchedulerDriver, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail(d, message)
}
