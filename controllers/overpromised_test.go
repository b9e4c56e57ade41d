package controllers

import (
	"maps"
	"slices"
	"testing"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers/allocator"
	"github.com/kubemesos/kubemesos/controllers/schedcache"
)

// TestOverPromisedAgents: an agent is over-promised when what its
// outstanding offers have left, added up, is more than its resources less
// its tasks' use in any resource. An agent without offers is not (it has
// nothing to rescind, even used past its resources), nor is an offer of an
// agent the snapshot does not hold.
func TestOverPromisedAgents(t *testing.T) {
	agent := func(id string, total, used allocator.Vector) schedcache.Agent {
		a := &kmv1.Agent{}
		a.Name, a.Status.AgentID = "node-"+id, id
		return schedcache.Agent{Obj: a, Total: total, Used: used}
	}
	offer := func(agentID string, rest allocator.Vector) schedcache.Offer {
		o := &kmv1.Offer{}
		o.Spec.AgentID = agentID
		return schedcache.Offer{Obj: o, Rest: rest}
	}
	snap := &schedcache.Snapshot{
		Agents: []schedcache.Agent{
			agent("fits", allocator.Vector{4000, 8}, allocator.Vector{1000, 2}),
			agent("cpu-over", allocator.Vector{2000, 8}, allocator.Vector{1000, 0}),
			agent("mem-over", allocator.Vector{4000, 8}, allocator.Vector{0, 4}),
			agent("used-past", allocator.Vector{1000, 1}, allocator.Vector{2000, 2}),
			agent("", allocator.Vector{0, 0}, nil),
		},
		Offers: []schedcache.Offer{
			offer("fits", allocator.Vector{2000, 4}),
			offer("fits", allocator.Vector{1000, 2}),
			offer("cpu-over", allocator.Vector{600, 1}),
			offer("cpu-over", allocator.Vector{600, 1}),
			offer("mem-over", allocator.Vector{0, 5}),
			offer("gone", allocator.Vector{1, 1}),
			offer("", allocator.Vector{1, 1}),
		},
	}
	got := slices.Sorted(maps.Keys(overPromisedAgents(snap)))
	if want := []string{"cpu-over", "mem-over"}; !slices.Equal(got, want) {
		t.Errorf("over-promised %v, want %v", got, want)
	}
	if rest := snap.Offers[0].Rest; !slices.Equal(rest, allocator.Vector{2000, 4}) {
		t.Errorf("an offer's rest changed to %v while its agent was checked", rest)
	}
	if over := overPromisedAgents(&schedcache.Snapshot{Agents: snap.Agents}); len(over) != 0 {
		t.Errorf("without offers: %v over-promised, want none", over)
	}
}
