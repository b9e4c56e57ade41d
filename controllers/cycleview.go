package controllers

import (
	"time"

	"k8s.io/apimachinery/pkg/types"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers/allocator"
	"github.com/kubemesos/kubemesos/controllers/schedcache"
)

// Cycle is what one allocation cycle saw and decided, kept for readers
// outside the loop (the web console). Everything in it is read only: the
// loop never touches a published cycle again, and its objects are the
// informers'.
type Cycle struct {
	// Seq counts the cycles of this leadership, from 1.
	Seq uint64
	// At is when the cycle ended, by the master's clock.
	At time.Time
	// Snapshot is the scheduling cache as the cycle read it: every agent
	// and framework, the outstanding offers, the tasks by state. Its
	// Filters also hold the agents blocked by outstanding offers; read
	// the decline filters with Master.FiltersOf and Master.FilterCounts.
	Snapshot *schedcache.Snapshot
	// Input is the allocator's input after the cycle: the active agents
	// with what their tasks use and their offers hold (offers just made
	// included), and at each framework slot the framework's role and
	// allocation, the basis of its dominant share. Input.Weights are the
	// role weights.
	Input *allocator.Input
	// Agents are Input.Agents' objects and Frameworks Input.Frameworks'
	// (nil at a free slot or for an unregistered framework).
	Agents     []*kmv1.Agent
	Frameworks []*kmv1.Framework
}

// LastCycle returns the last allocation cycle of this master, nil before
// its first (and always on a standby).
func (m *Master) LastCycle() *Cycle { return m.lastCycle.Load() }

// publishCycle keeps p as the last cycle.
func (m *Master) publishCycle(p *plan) {
	var seq uint64 = 1
	if last := m.lastCycle.Load(); last != nil {
		seq = last.Seq + 1
	}
	m.lastCycle.Store(&Cycle{Seq: seq, At: m.Clock.Now(), Snapshot: p.snap, Input: p.in, Agents: p.agents, Frameworks: p.fws})
}

// FiltersOf returns the decline filters of framework fw that have not
// ended, by agentID.
func (m *Master) FiltersOf(fw types.NamespacedName) []schedcache.FilterEnd {
	return m.sched.FiltersOf(fw)
}

// FilterCounts returns how many agents each framework refuses now.
func (m *Master) FilterCounts() map[types.NamespacedName]int { return m.sched.FilterCounts() }
