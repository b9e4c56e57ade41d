package scale

import (
	"testing"
	"time"

	"github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/sdk/scheduler"
)

// TestOpenArrivalsWaitForAnAgentWithTheExecutor: with open arrivals, a
// custom-executor task for which the framework holds only offers of agents
// without its executor waits up to localityWait for one of an agent with
// it, and then starts the executor on a held offer; a command task does
// not wait.
func TestOpenArrivalsWaitForAnAgentWithTheExecutor(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Rate = 10
	c := &Cluster{cfg: cfg, agents: make([]*hollowAgent, 2)}
	offer := func(name, agent string) v1alpha1.Offer { return wholeNode(cfg, name, agent) }
	for _, kind := range []Kind{KindExecutor, KindCommand} {
		s := newBenchScheduler(c, kind, 2) // one of two arrived: no decline yet
		s.started["with"] = true           // the executor's agent, whose offer is out
		s.mu.Lock()
		s.arrived[0], s.nArrived, s.pending = time.Now(), 1, []int{0}
		s.held = []v1alpha1.Offer{offer("o-without", "without")}
		s.launchHeld()
		waited := len(s.pending) == 1
		s.mu.Unlock()
		if want := kind == KindExecutor; waited != want {
			t.Errorf("%s: the task waited for an agent with the executor: %v, want %v", kind, waited, want)
		}
		if kind != KindExecutor {
			continue
		}
		// The executor's agent's offer comes back: the task takes it.
		s2 := newBenchScheduler(c, kind, 2) // one of two arrived: no decline yet
		s2.started["with"] = true
		s2.mu.Lock()
		s2.arrived[0], s2.nArrived, s2.pending = time.Now(), 1, []int{0}
		s2.held = []v1alpha1.Offer{offer("o-without", "without")}
		s2.launchHeld()
		s2.held = append(s2.held, offer("o-with", "with"))
		s2.launchHeld()
		if len(s2.pending) != 0 || len(s2.held) != 1 || s2.held[0].Name != "o-without" {
			t.Errorf("the offer of the agent with the executor came: pending %v, held %v, want the task launched on it", s2.pending, s2.held)
		}
		s2.mu.Unlock()
		// None comes: once the wait is over the task starts the
		// executor on the offer it holds.
		deadline := time.Now().Add(10 * time.Second)
		for {
			s.mu.Lock()
			launched := len(s.pending) == 0 && len(s.held) == 0
			s.mu.Unlock()
			if launched {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the task still waits after localityWait (%v)", kind, localityWait)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestMaxPendingHoldsOffersUntilTasksRun: with Config.MaxPending the
// benchmark framework launches no more tasks than that before they run;
// an offer it has no room for is held and used once a task runs or ends,
// and the held offers left once nothing is pending are declined.
func TestMaxPendingHoldsOffersUntilTasksRun(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxPending = 3
	c := &Cluster{cfg: cfg, agents: make([]*hollowAgent, 2)}
	offer := func(name, agent string) v1alpha1.Offer { return wholeNode(cfg, name, agent, benchExecutorID) }
	s := newBenchScheduler(c, KindExecutor, 4) // two a node
	s.ResourceOffers(nil, []v1alpha1.Offer{offer("o-a", "a"), offer("o-b", "b")})
	state := func() (launching, pending int, held []string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, o := range s.held {
			held = append(held, o.Name)
		}
		return s.launching, len(s.pending), held
	}
	// Two tasks an offer (two nodes, four tasks): the second offer's
	// two would make 4 pending, and it waits.
	if l, p, h := state(); l != 2 || p != 2 || len(h) != 1 || h[0] != "o-b" {
		t.Fatalf("two offers, room for 3: %d launching, %d pending, held %v; want 2, 2, [o-b]", l, p, h)
	}
	// The launches' tasks, as the workers would have recorded them.
	s.mu.Lock()
	for i := range 4 {
		s.attempts[taskID(i, 0)] = i
	}
	s.mu.Unlock()
	s.StatusUpdate(nil, scheduler.TaskStatus{TaskID: taskID(0, 0), State: v1alpha1.TaskStaging})
	if l, _, h := state(); l != 2 || len(h) != 1 {
		t.Fatalf("TASK_STAGING is not running: %d launching, held %v; want 2 and the offer held", l, h)
	}
	s.StatusUpdate(nil, scheduler.TaskStatus{TaskID: taskID(0, 0), State: v1alpha1.TaskRunning})
	if l, p, h := state(); l != 3 || p != 0 || len(h) != 0 {
		t.Fatalf("a task runs: %d launching, %d pending, held %v; want the last two launched on the held offer", l, p, h)
	}
	s.mu.Lock()
	suppressed := s.suppressed
	s.mu.Unlock()
	if !suppressed {
		t.Error("every task launched from a held offer, and the framework does not suppress its offers")
	}
	// Its TASK_FINISHED, and a second TASK_RUNNING, give nothing back twice.
	s.StatusUpdate(nil, scheduler.TaskStatus{TaskID: taskID(0, 0), State: v1alpha1.TaskFinished})
	s.StatusUpdate(nil, scheduler.TaskStatus{TaskID: taskID(0, 0), State: v1alpha1.TaskRunning})
	if l, _, _ := state(); l != 3 {
		t.Errorf("task 0 counted again: %d launching, want 3", l)
	}
	// A task that ends before it runs is launched again, on an offer held
	// meanwhile; nothing is left pending, so a later offer is declined.
	s.ResourceOffers(nil, []v1alpha1.Offer{offer("o-a3", "a")})
	if _, _, h := state(); len(h) != 0 {
		t.Fatalf("nothing pending: held %v, want the offer declined", h)
	}
	s.StatusUpdate(nil, scheduler.TaskStatus{TaskID: taskID(1, 0), State: v1alpha1.TaskDropped})
	if l, p, _ := state(); l != 2 || p != 1 {
		t.Errorf("task 1 dropped: %d launching, %d pending; want 2 and it pending again", l, p)
	}
	s.mu.Lock()
	peak := s.peak
	s.mu.Unlock()
	if peak != 3 {
		t.Errorf("peak %d launching, want 3", peak)
	}
}

// wholeNode is offer name of a node's allocatable on agent, listing
// executors as running there.
func wholeNode(cfg Config, name, agent string, executors ...string) v1alpha1.Offer {
	var o v1alpha1.Offer
	o.Name, o.Spec.AgentID = name, agent
	o.Spec.Resources = v1alpha1.ResourceList(cfg.nodeAllocatable())
	o.Spec.ExecutorIDs = executors
	return o
}
