package controllers

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// removalLimiter bounds how many agents the master marks Unreachable per
// period (Mesos's --agent_removal_rate_limit). If the API server or the
// network fails, every Lease goes stale at once; the limit turns what would
// be a mass TASK_LOST into a slow trickle that an operator can stop.
type removalLimiter struct {
	mu     sync.Mutex
	limit  int
	period time.Duration
	clock  clock.Clock
	recent []time.Time
}

func newRemovalLimiter(limit int, period time.Duration, clk clock.Clock) *removalLimiter {
	return &removalLimiter{limit: limit, period: period, clock: clk}
}

// Reserve takes a removal slot. It returns zero when the removal may go
// ahead now, else how long to wait before asking again.
func (r *removalLimiter) Reserve() time.Duration {
	if r.limit <= 0 {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
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
