package controllers

import (
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/kubemesos/kubemesos/internal/metrics"
)

// removalLimiter bounds how many agents the master marks Unreachable per
// period (Mesos's --agent_removal_rate_limit). If the API server or the
// network fails, every Lease goes stale at once; the limit turns what would
// be a mass TASK_LOST into a slow trickle that an operator can stop. It
// keeps the agents it holds back, which the gauge
// kubemesos_master_agent_removals_held shows.
type removalLimiter struct {
	mu     sync.Mutex
	limit  int
	period time.Duration
	clock  clock.Clock
	recent []time.Time
	held   map[string]struct{}
}

func newRemovalLimiter(limit int, period time.Duration, clk clock.Clock) *removalLimiter {
	return &removalLimiter{limit: limit, period: period, clock: clk, held: map[string]struct{}{}}
}

// Reserve takes a removal slot for agent. It returns zero when the removal
// may go ahead now, else how long to wait before asking again; the agent
// counts as held back until a Reserve for it returns zero or Release
// forgets it.
func (r *removalLimiter) Reserve(agent string) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	wait := r.reserve()
	if wait > 0 {
		r.held[agent] = struct{}{}
	} else {
		delete(r.held, agent)
	}
	metrics.AgentRemovalsHeld.Set(float64(len(r.held)))
	return wait
}

// Release forgets agent as held back: its heartbeat is fresh again, or it
// is gone.
func (r *removalLimiter) Release(agent string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.held[agent]; !ok {
		return
	}
	delete(r.held, agent)
	metrics.AgentRemovalsHeld.Set(float64(len(r.held)))
}

// Held is the number of agents held back now.
func (r *removalLimiter) Held() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.held)
}

// reserve takes a slot; the caller holds r.mu.
func (r *removalLimiter) reserve() time.Duration {
	if r.limit <= 0 {
		return 0
	}
	now := r.clock.Now()
	keep := r.recent[:0]
	for _, t := range r.recent {
		if now.Sub(t) < r.period {
			keep = append(keep, t)
		}
	}
	r.recent = keep
	if len(r.recent) >= r.limit {
		return r.recent[0].Add(r.period).Sub(now)
	}
	r.recent = append(r.recent, now)
	return 0
}
