package scale

import (
	"testing"
	"time"

	"github.com/kubemesos/kubemesos/api/v1alpha1"
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
	offer := func(name, agent string) v1alpha1.Offer {
		var o v1alpha1.Offer
		o.Name, o.Spec.AgentID = name, agent
		o.Spec.Resources = v1alpha1.ResourceList(cfg.nodeAllocatable())
		return o
	}
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
