// Package schedcache is the master's scheduling cache: the view of agents,
// frameworks, offers and live tasks that each allocation cycle needs,
// kept current by informer events, so that a cycle neither lists the
// world nor copies it. A snapshot holds pointers to the informers' own
// objects, which nobody may change; a task leaves the view once it is
// terminal, so the cycle's cost follows the live tasks, not every task
// ever run.
package schedcache

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// Cache is the scheduling cache. The zero value is not usable; use New.
type Cache struct {
	// OfferDeleted, when set before Register, is called for each deleted
	// offer after the cache forgot it, from the same informer event: what
	// it learns (a decline) never meets a snapshot that still holds the
	// offer.
	OfferDeleted func(*kmv1.Offer)

	mu         sync.RWMutex
	agents     map[string]*kmv1.Agent
	frameworks map[types.NamespacedName]*kmv1.Framework
	offers     map[types.NamespacedName]*kmv1.Offer
	// live holds the tasks that hold resources: staged and not terminal.
	live map[types.UID]*kmv1.Task
	// states holds every task's state ("" before admission), for telling
	// that a task was seen staged; counts counts them by state.
	states map[types.UID]kmv1.TaskState
	counts map[kmv1.TaskState]int
}

// New returns an empty cache.
func New() *Cache {
	return &Cache{
		agents:     map[string]*kmv1.Agent{},
		frameworks: map[types.NamespacedName]*kmv1.Framework{},
		offers:     map[types.NamespacedName]*kmv1.Offer{},
		live:       map[types.UID]*kmv1.Task{},
		states:     map[types.UID]kmv1.TaskState{},
		counts:     map[kmv1.TaskState]int{},
	}
}

// Register keeps the cache current from the informers of agents,
// frameworks, offers and tasks.
func (c *Cache) Register(ctx context.Context, informers cache.Informers) error {
	for _, kind := range []client.Object{&kmv1.Agent{}, &kmv1.Framework{}, &kmv1.Offer{}, &kmv1.Task{}} {
		inf, err := informers.GetInformer(ctx, kind)
		if err != nil {
			return fmt.Errorf("watching %T for the scheduling cache: %w", kind, err)
		}
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { c.Upsert(o) },
			UpdateFunc: func(_, o any) { c.Upsert(o) },
			DeleteFunc: func(o any) {
				if d, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
					o = d.Obj
				}
				c.Remove(o)
				if off, ok := o.(*kmv1.Offer); ok && c.OfferDeleted != nil {
					c.OfferDeleted(off)
				}
			},
		}); err != nil {
			return fmt.Errorf("watching %T for the scheduling cache: %w", kind, err)
		}
	}
	return nil
}

// Upsert records an object as the informer holds it now.
func (c *Cache) Upsert(o any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch o := o.(type) {
	case *kmv1.Agent:
		c.agents[o.Name] = o
	case *kmv1.Framework:
		c.frameworks[client.ObjectKeyFromObject(o)] = o
	case *kmv1.Offer:
		c.offers[client.ObjectKeyFromObject(o)] = o
	case *kmv1.Task:
		if old, ok := c.states[o.UID]; ok {
			c.counts[old]--
		}
		c.states[o.UID] = o.Status.State
		c.counts[o.Status.State]++
		if o.Status.State != "" && !o.Status.State.IsTerminal() {
			c.live[o.UID] = o
		} else {
			delete(c.live, o.UID)
		}
	}
}

// Remove forgets a deleted object.
func (c *Cache) Remove(o any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch o := o.(type) {
	case *kmv1.Agent:
		delete(c.agents, o.Name)
	case *kmv1.Framework:
		delete(c.frameworks, client.ObjectKeyFromObject(o))
	case *kmv1.Offer:
		delete(c.offers, client.ObjectKeyFromObject(o))
	case *kmv1.Task:
		if old, ok := c.states[o.UID]; ok {
			c.counts[old]--
			delete(c.states, o.UID)
		}
		delete(c.live, o.UID)
	}
}

// Snapshot is one moment of the cache. Its objects are the informers':
// read them, never change them.
type Snapshot struct {
	// Agents, Frameworks and Offers are every one the cache holds.
	Agents     []*kmv1.Agent
	Frameworks []*kmv1.Framework
	Offers     []*kmv1.Offer
	// LiveTasks are the tasks that hold resources.
	LiveTasks []*kmv1.Task
	// TaskStates counts every task by state ("" for not yet admitted).
	TaskStates map[kmv1.TaskState]int
	// staged tells, of the tasks asked about, those seen admitted.
	staged map[types.UID]bool
}

// Staged reports whether task uid, one of those the snapshot was asked
// about, was seen admitted (with any state, live or ended) at the moment
// of the snapshot.
func (s *Snapshot) Staged(uid types.UID) bool { return s.staged[uid] }

// Snapshot returns the cache's current view, and whether each of the tasks
// in ask was seen admitted at that same moment (a task the caller staged
// and whose admission the cache may not show yet).
func (c *Cache) Snapshot(ask []types.UID) *Snapshot {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s := &Snapshot{
		Agents:     make([]*kmv1.Agent, 0, len(c.agents)),
		Frameworks: make([]*kmv1.Framework, 0, len(c.frameworks)),
		Offers:     make([]*kmv1.Offer, 0, len(c.offers)),
		LiveTasks:  make([]*kmv1.Task, 0, len(c.live)),
		TaskStates: make(map[kmv1.TaskState]int, len(c.counts)),
		staged:     make(map[types.UID]bool, len(ask)),
	}
	for _, uid := range ask {
		s.staged[uid] = c.states[uid] != ""
	}
	for _, a := range c.agents {
		s.Agents = append(s.Agents, a)
	}
	for _, f := range c.frameworks {
		s.Frameworks = append(s.Frameworks, f)
	}
	for _, o := range c.offers {
		s.Offers = append(s.Offers, o)
	}
	for _, t := range c.live {
		s.LiveTasks = append(s.LiveTasks, t)
	}
	for st, n := range c.counts {
		if n > 0 {
			s.TaskStates[st] = n
		}
	}
	return s
}
