package schedcache

import (
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers/allocator"
)

// Snapshot is one moment of the cache, for one allocation cycle. Its
// objects are the informers': read them, never change them. Every amount
// is a vector of Names.
type Snapshot struct {
	// Names indexes the vectors' resources.
	Names *allocator.Names
	// Agents are every agent, with what their live and reserved tasks
	// (and those tasks' executors) take.
	Agents []Agent
	// Frameworks are every framework, with what their tasks take, at
	// their slots: a framework's index here is its index in Filters' bit
	// sets and in Offer.FrameworkSlot. A free slot has a nil Obj.
	Frameworks []Framework
	// Offers are the outstanding offers: those the informer shows and
	// those committed but not shown yet, less those being deleted.
	Offers []Offer
	// Filters holds, for each agentID, the slots of the frameworks that
	// refuse it now (copies: the reader may add to them).
	Filters map[string]allocator.Bitset
	// TaskStates counts every task by state ("" for not yet admitted).
	TaskStates map[kmv1.TaskState]int
	// Generation is what a plan made on this snapshot commits against.
	Generation uint64
}

// Filtered reports whether framework fw refuses agent agentID now.
func (s *Snapshot) Filtered(agentID string, fw types.NamespacedName) bool {
	for slot, f := range s.Frameworks {
		if f.Obj != nil && f.Obj.Namespace == fw.Namespace && f.Obj.Name == fw.Name {
			return s.Filters[agentID].Has(slot)
		}
	}
	return false
}

// Agent is an agent and its use.
type Agent struct {
	Obj *kmv1.Agent
	// Total is what the master may promise of it: its spec.resources
	// less spec.held.
	Total allocator.Vector
	// Used is what its tasks and their executors take.
	Used allocator.Vector
	// Executors are the custom executors with a live or reserved task on
	// it, by framework: their IDs, sorted. Their resources are in Used.
	Executors map[types.NamespacedName][]string
}

// Framework is a framework and its use.
type Framework struct {
	Obj *kmv1.Framework
	// Used is what its tasks and their executors take.
	Used allocator.Vector
}

// Offer is an outstanding offer.
type Offer struct {
	Obj *kmv1.Offer
	// Framework is the offer's framework, and FrameworkSlot its slot
	// (-1 when the framework is not in the cache).
	Framework     types.NamespacedName
	FrameworkSlot int
	// Rest is what its tasks have left of it, never below zero.
	Rest allocator.Vector
	// LastUse is when its latest task was admitted; zero when unused.
	LastUse time.Time
	// Waiting counts the tasks launched on it that wait for admission.
	Waiting int
	// Complete is true once every task of its launch was admitted (the
	// tasks' kmv1.AnnotationLaunchTasks): it is used up without waiting
	// for the end of its accept window.
	Complete bool
	// Partial is true while a launch that said how many tasks it creates
	// is not complete and fewer of them exist: the rest are on their way.
	Partial bool
	// Made is true for an offer this master created that the informer
	// does not show yet (only its key and spec are set).
	Made bool
}

// Snapshot settles the ledger at the cache clock's now and returns the
// cache's current view.
func (c *Cache) Snapshot() *Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	c.settle(now)
	s := &Snapshot{
		Names:      c.names.Clone(),
		Agents:     make([]Agent, 0, len(c.agents)),
		Frameworks: make([]Framework, len(c.slots.keys)),
		Offers:     make([]Offer, 0, len(c.offers)+len(c.made)),
		Filters:    make(map[string]allocator.Bitset, len(c.filters)),
		TaskStates: make(map[kmv1.TaskState]int, len(c.counts)),
		Generation: c.generation,
	}
	fwUse := map[types.NamespacedName]allocator.Vector{}
	for _, t := range c.live {
		fwUse[t.framework] = fwUse[t.framework].Add(t.own)
	}
	for _, t := range c.assumed {
		fwUse[t.framework] = fwUse[t.framework].Add(t.own)
	}
	executors := map[string]map[types.NamespacedName][]string{}
	for k, u := range c.executors {
		fw := types.NamespacedName{Namespace: k.executor.Namespace, Name: k.executor.Framework}
		fwUse[fw] = fwUse[fw].Add(u.resources)
		if executors[k.agentID] == nil {
			executors[k.agentID] = map[types.NamespacedName][]string{}
		}
		executors[k.agentID][fw] = append(executors[k.agentID][fw], k.executor.ExecutorID)
	}
	for _, byFw := range executors {
		for _, ids := range byFw {
			slices.Sort(ids)
		}
	}
	for _, a := range c.agents {
		id := a.obj.Status.AgentID
		s.Agents = append(s.Agents, Agent{Obj: a.obj, Total: a.total, Used: c.agentUse[id].Clone(), Executors: executors[id]})
	}
	for key, f := range c.frameworks {
		s.Frameworks[c.slots.of[key]] = Framework{Obj: f, Used: fwUse[key]}
	}
	offerView := func(key types.NamespacedName, o *offer, made bool) {
		if _, gone := c.deleting[key]; gone {
			return
		}
		s.Offers = append(s.Offers, Offer{Obj: o.obj, Framework: o.framework, FrameworkSlot: c.slots.slot(o.framework), Rest: o.resources.Clone().Sub(c.use[key]).ClampZero(),
			LastUse: c.lastUse(key), Waiting: c.waitingOn[key], Complete: c.complete(key), Partial: c.partial(key), Made: made})
	}
	for key, o := range c.offers {
		offerView(key, o, false)
	}
	for key, m := range c.made {
		if _, shown := c.offers[key]; !shown {
			offerView(key, &m.offer, true)
		}
	}
	for id, af := range c.filters {
		s.Filters[id] = append(allocator.Bitset(nil), af.bits...)
	}
	for st, n := range c.counts {
		if n > 0 {
			s.TaskStates[st] = n
		}
	}
	return s
}
