package controllers

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// stagings orders the master's two writers of where a task runs: task
// admission, which stages a task on an agentID (TASK_STAGING), and the
// agent registry, which removes an agentID (its live tasks TASK_LOST, then
// the Agent Unreachable or Gone). Admission reads the scheduling cache and
// the registry the informers, both a little behind the API server, so on
// their own a task staged just as its agent is removed can miss the
// registry's sweep, and its agent can report it TASK_STARTING after the
// Agent is marked (the fourth default chaos run found one; see
// docs/reliability.md). With stagings, a removal first stops new stagings
// on the agentID and waits for those being written; the tasks staged on it
// that the informers may not show yet are then the scheduling cache's
// assumptions on it (schedcache.Cache.Assumed), and the registry makes
// every one of them terminal before the Agent is marked.
type stagings struct {
	mu    sync.Mutex
	idle  *sync.Cond
	clock clock.PassiveClock
	// writing counts, per agentID, the stagings being written.
	writing map[string]int
	// removed holds the agentIDs whose removal began, and when.
	removed map[string]time.Time
	// pruned is when prune last ran.
	pruned time.Time
}

func newStagings(clk clock.PassiveClock) *stagings {
	s := &stagings{
		clock:   clk,
		writing: map[string]int{},
		removed: map[string]time.Time{},
	}
	s.idle = sync.NewCond(&s.mu)
	return s
}

// Begin reports whether a task may be staged on agentID: not once the
// agentID's removal began. When it returns true the caller writes the
// staging and then calls End.
func (s *stagings) Begin(agentID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune()
	if _, gone := s.removed[agentID]; gone {
		return false
	}
	s.writing[agentID]++
	return true
}

// End follows a Begin, once the staging is written (or failed).
func (s *stagings) End(agentID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writing[agentID]--; s.writing[agentID] <= 0 {
		delete(s.writing, agentID)
		s.idle.Broadcast()
	}
}

// Remove begins (or repeats) the removal of agentID: no task is staged on
// it from now on. It returns once the stagings being written on it end
// (each one API write).
func (s *stagings) Remove(agentID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.removed[agentID]; !ok {
		s.removed[agentID] = s.clock.Now()
	}
	for s.writing[agentID] > 0 {
		s.idle.Wait()
	}
}

// Restore takes back a Remove that marked nothing (its first write
// failed), so that an agent whose heartbeat comes back before the
// registry tries again is not held.
func (s *stagings) Restore(agentID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.removed, agentID)
}

// prune forgets the removals older than the registry's sweeps, at most
// once a second (admission calls it for every task). The caller holds the
// lock.
func (s *stagings) prune() {
	now := s.clock.Now()
	if now.Sub(s.pruned) < time.Second {
		return
	}
	s.pruned = now
	for id, at := range s.removed {
		if now.Sub(at) > lostSweepPeriod {
			delete(s.removed, id)
		}
	}
}
