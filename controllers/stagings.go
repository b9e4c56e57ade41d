package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// stagedKeep is how long stagings remembers a task it staged: longer than
// the informers take to show the task staged (milliseconds to seconds),
// after which the registry's own list of an agent's tasks has it.
const stagedKeep = time.Minute

// stagings orders the master's two writers of where a task runs: task
// admission, which stages a task on an agentID (TASK_STAGING), and the
// agent registry, which removes an agentID (its live tasks TASK_LOST, then
// the Agent Unreachable or Gone). Admission reads the scheduling cache and
// the registry the informers, both a little behind the API server, so on
// their own a task staged just as its agent is removed can miss the
// registry's sweep, and its agent can report it TASK_STARTING after the
// Agent is marked (the fourth default chaos run found one; see
// docs/reliability.md). With stagings, a removal first stops new stagings
// on the agentID, waits for those being written, and gets the tasks staged
// on it that the informers may not show yet, so that every one of them is
// terminal before the Agent is marked.
type stagings struct {
	mu    sync.Mutex
	idle  *sync.Cond
	clock clock.PassiveClock
	// writing counts, per agentID, the stagings being written.
	writing map[string]int
	// removed holds the agentIDs whose removal began, and when.
	removed map[string]time.Time
	// staged holds, per agentID, the tasks staged on it and when.
	staged map[string]map[types.NamespacedName]time.Time
	// pruned is when prune last ran.
	pruned time.Time
}

func newStagings(clk clock.PassiveClock) *stagings {
	s := &stagings{
		clock:   clk,
		writing: map[string]int{},
		removed: map[string]time.Time{},
		staged:  map[string]map[types.NamespacedName]time.Time{},
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

// End follows a Begin; staged is the task when its TASK_STAGING was
// written (or may have been), the zero name when it was not.
func (s *stagings) End(agentID string, staged types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if staged != (types.NamespacedName{}) {
		if s.staged[agentID] == nil {
			s.staged[agentID] = map[types.NamespacedName]time.Time{}
		}
		s.staged[agentID][staged] = s.clock.Now()
	}
	if s.writing[agentID]--; s.writing[agentID] <= 0 {
		delete(s.writing, agentID)
		s.idle.Broadcast()
	}
}

// Remove begins (or repeats) the removal of agentID: no task is staged on
// it from now on. It waits until the stagings being written on it end
// (each one API write), and returns the tasks staged on it recently.
func (s *stagings) Remove(agentID string) []types.NamespacedName {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.removed[agentID]; !ok {
		s.removed[agentID] = s.clock.Now()
	}
	for s.writing[agentID] > 0 {
		s.idle.Wait()
	}
	keys := make([]types.NamespacedName, 0, len(s.staged[agentID]))
	for k := range s.staged[agentID] {
		keys = append(keys, k)
	}
	return keys
}

// Restore takes back a Remove that marked nothing (its first write
// failed), so that an agent whose heartbeat comes back before the
// registry tries again is not held.
func (s *stagings) Restore(agentID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.removed, agentID)
}

// prune forgets stagings and removals older than the informers' lag and
// the registry's sweeps, at most once a second (admission calls it for
// every task). The caller holds the lock.
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
	for id, tasks := range s.staged {
		for k, at := range tasks {
			if now.Sub(at) > stagedKeep {
				delete(tasks, k)
			}
		}
		if len(tasks) == 0 {
			delete(s.staged, id)
		}
	}
}
