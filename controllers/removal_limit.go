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
//
// The removals it counts are its own and those the registry records
// (Remember: each Unreachable Agent's status.unreachableTime), so that a
// new leader goes on from where the old one stopped rather than from an
// empty period. Each removal is known by the agentID it removed, which a
// re-admitted agent does not keep, so one agent removed twice counts
// twice.
type removalLimiter struct {
	mu     sync.Mutex
	limit  int
	period time.Duration
	clock  clock.Clock
	// recent holds the removals of the last period, by agentID.
	recent map[string]time.Time
	held   map[string]struct{}
}

func newRemovalLimiter(limit int, period time.Duration, clk clock.Clock) *removalLimiter {
	return &removalLimiter{limit: limit, period: period, clock: clk, recent: map[string]time.Time{}, held: map[string]struct{}{}}
}

// Remember counts the removal of agentID at at, which the registry
// records (another master may have made it); a removal already counted
// keeps its earlier time.
func (r *removalLimiter) Remember(agentID string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.recent[agentID]; ok && !at.Before(t) {
		return
	}
	if r.clock.Since(at) < r.period {
		r.recent[agentID] = at
	}
}

// Reserve takes a removal slot for agent, whose current admission is
// agentID. It returns zero when the removal may go ahead now, else how
// long to wait before asking again; the agent counts as held back until a
// Reserve for it returns zero or Release forgets it.
func (r *removalLimiter) Reserve(agent, agentID string) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if agentID == "" {
		agentID = agent
	}
	wait := r.reserve(agentID)
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

// reserve takes a slot for the removal of agentID; the caller holds r.mu.
func (r *removalLimiter) reserve(agentID string) time.Duration {
	if r.limit <= 0 {
		return 0
	}
	now := r.clock.Now()
	var oldest time.Time
	for id, t := range r.recent {
		if now.Sub(t) >= r.period {
			delete(r.recent, id)
		} else if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	if _, counted := r.recent[agentID]; counted {
		// Already removed (a retry after a failed write): no new slot.
		return 0
	}
	if len(r.recent) >= r.limit {
		return oldest.Add(r.period).Sub(now)
	}
	r.recent[agentID] = now
	return 0
}
