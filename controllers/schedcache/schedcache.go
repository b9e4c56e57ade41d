// Package schedcache is the master's scheduling cache: the one home of the
// in-memory view that allocation and admission share (agents, frameworks,
// offers, live tasks, decline filters) and of what the master has written
// but its informers may not show yet. It works the way kueue's cache does:
// a writer assumes its change here first, then writes to the API server
// with no lock held, and forgets the assumption if the write failed; the
// informer event of the written object confirms it.
//
// The cache locks internally and never holds its lock during I/O. Each
// allocation cycle reads a Snapshot: the informers' own objects (read
// only) with every amount already a vector, so that the cycle neither
// lists nor copies the world, and works in one resource representation.
// A task leaves the view once it is terminal, so the cycle's cost follows
// the live tasks, not every task ever run.
package schedcache

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers/allocator"
	"github.com/kubemesos/kubemesos/internal/metrics"
)

// Fate is what became of a deleted offer.
type Fate string

// The fates of a deleted offer.
const (
	// Removed offers were deleted by this master (consumed or rescinded).
	Removed Fate = "removed"
	// Used offers had tasks admitted on them before they went.
	Used Fate = "used"
	// Declined offers were deleted by their framework without being used.
	Declined Fate = "declined"
)

// Cache is the scheduling cache. The zero value is not usable; use New.
type Cache struct {
	// RefuseFor, when set before Register, says for how long a framework
	// refuses an agent after declining offer o; ok false records no filter
	// (a standby master judges no declines). It runs under the cache's
	// lock, so it must not block.
	RefuseFor func(o *kmv1.Offer, fw *kmv1.Framework) (d time.Duration, ok bool)
	// OfferDeleted, when set before Register, is called for each deleted
	// offer after the cache forgot it (and filtered a declined pair), from
	// the same informer event, with no lock held.
	OfferDeleted func(o *kmv1.Offer, fate Fate)
	// TaskChanged, when set before Register, is called with a task's
	// framework once the cache has counted the task's add, change or
	// deletion (FrameworkTasks), from the same informer event, with no
	// lock held. It must not block.
	TaskChanged func(framework types.NamespacedName)
	// LaunchAdmitted, when set before Register, is called once the
	// informer shows admitted every task of an offer's launch (see
	// Offer.Complete), with no lock held, so that a cycle uses the
	// offer up. It must not block.
	LaunchAdmitted func()

	clock clock.PassiveClock
	// handled are Register's registrations: each reports whether the
	// cache's handler has taken in its informer's first list.
	handled []toolscache.ResourceEventHandlerRegistration

	mu sync.Mutex
	// names indexes every resource name seen; it only grows.
	names      *allocator.Names
	agents     map[string]*agent // by node name
	byAgentID  map[string]*agent
	frameworks map[types.NamespacedName]*kmv1.Framework
	// slots index the frameworks for the allocator and the filters.
	slots  slots
	offers map[types.NamespacedName]*offer
	// live holds the tasks that hold resources: staged and not terminal.
	live map[types.UID]*task
	// states holds every task's state ("" before admission) and
	// framework; counts counts them by state, and byFramework by
	// framework (FrameworkTasks).
	states map[types.UID]taskState
	// waiting holds, for each task launched but not admitted yet (no
	// state), the offers it names, and waitingOn how many such tasks name
	// each offer: an offer is not consumed while tasks launched on it
	// wait in the admission queue.
	waiting     map[types.UID][]types.NamespacedName
	waitingOn   map[types.NamespacedName]int
	counts      map[kmv1.TaskState]int
	byFramework map[types.NamespacedName]*frameworkUse
	// executors counts the live and assumed tasks of each custom executor
	// on each agent: the executor's resources are charged while any is.
	executors map[executorOnAgent]*executorUse
	// agentUse is what the live and assumed tasks of each agentID and
	// their executors take, kept by hold and release, so that an
	// admission checks its agent without counting every task.
	agentUse map[string]allocator.Vector

	// What this master wrote that its informers may not show yet.
	ledger
}

type agent struct {
	obj *kmv1.Agent
	// total is what the master may promise of the agent: its
	// spec.resources less spec.held (what its pods hold at the kubelet
	// beyond what their live tasks are charged).
	total allocator.Vector
}

type offer struct {
	obj       *kmv1.Offer
	resources allocator.Vector
	framework types.NamespacedName
}

// task is a live or assumed task and what it charges.
type task struct {
	agentID   string
	framework types.NamespacedName
	own       allocator.Vector
	// executor is the custom executor's key, zero for a command task.
	executor executorOnAgent
	execRes  allocator.Vector
	obj      *kmv1.Task
}

type executorOnAgent struct {
	agentID  string
	executor kmv1.ExecutorRef
}

type executorUse struct {
	tasks     int
	resources allocator.Vector
}

// New returns an empty cache that reads time from clk.
func New(clk clock.PassiveClock) *Cache {
	return &Cache{
		clock:       clk,
		names:       allocator.NewNames(),
		agents:      map[string]*agent{},
		byAgentID:   map[string]*agent{},
		frameworks:  map[types.NamespacedName]*kmv1.Framework{},
		slots:       newSlots(),
		offers:      map[types.NamespacedName]*offer{},
		live:        map[types.UID]*task{},
		states:      map[types.UID]taskState{},
		waiting:     map[types.UID][]types.NamespacedName{},
		waitingOn:   map[types.NamespacedName]int{},
		counts:      map[kmv1.TaskState]int{},
		byFramework: map[types.NamespacedName]*frameworkUse{},
		executors:   map[executorOnAgent]*executorUse{},
		agentUse:    map[string]allocator.Vector{},
		ledger:      newLedger(),
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
		reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { c.Upsert(o) },
			UpdateFunc: func(_, o any) { c.Upsert(o) },
			DeleteFunc: func(o any) {
				if d, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
					o = d.Obj
				}
				c.Remove(o)
			},
		})
		if err != nil {
			return fmt.Errorf("watching %T for the scheduling cache: %w", kind, err)
		}
		c.handled = append(c.handled, reg)
	}
	return nil
}

// WaitHandled waits until the cache has taken in the first list of every
// informer Register watches, so that a rebuild or a cycle does not run on
// a cache the informers have not filled yet (a new leader's first
// admissions would drop tasks on offers it has not seen, and its first
// cycle offer again what existing offers hold). The manager's own wait
// is for the informers, not for their handlers. It returns false when
// ctx ends first. It must be called without the cache's lock, which the
// handlers take.
func (c *Cache) WaitHandled(ctx context.Context) bool {
	synced := make([]toolscache.InformerSynced, len(c.handled))
	for i, reg := range c.handled {
		synced[i] = reg.HasSynced
	}
	return toolscache.WaitForCacheSync(ctx.Done(), synced...)
}

func frameworkOf(namespace string, name kmv1.ObjectName) types.NamespacedName {
	return types.NamespacedName{Namespace: namespace, Name: string(name)}
}

// Upsert records an object as the informer holds it now. A task seen
// admitted confirms its assumption; an offer seen confirms its creation.
func (c *Cache) Upsert(o any) {
	if t, ok := o.(*kmv1.Task); ok {
		c.mu.Lock()
		waited := c.waiting[t.UID]
		was := c.upsertTask(t)
		_, waits := c.waiting[t.UID]
		admitted := false
		for _, k := range waited {
			admitted = admitted || !waits && c.waitingOn[k] == 0 && c.complete(k)
		}
		c.mu.Unlock()
		c.taskChanged(was, frameworkOf(t.Namespace, t.Spec.Framework))
		if admitted && c.LaunchAdmitted != nil {
			c.LaunchAdmitted()
		}
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch o := o.(type) {
	case *kmv1.Agent:
		if old := c.agents[o.Name]; old != nil && c.byAgentID[old.obj.Status.AgentID] == old {
			delete(c.byAgentID, old.obj.Status.AgentID)
		}
		a := &agent{obj: o, total: c.names.Vector(o.Spec.Resources.Core()).Sub(c.names.Vector(o.Spec.Held.Core())).ClampZero()}
		c.agents[o.Name] = a
		if o.Status.AgentID != "" {
			c.byAgentID[o.Status.AgentID] = a
		}
	case *kmv1.Framework:
		key := client.ObjectKeyFromObject(o)
		c.frameworks[key] = o
		c.slots.take(key)
	case *kmv1.Offer:
		key := client.ObjectKeyFromObject(o)
		_, seen := c.offers[key]
		c.offers[key] = &offer{obj: o, resources: c.names.Vector(o.Spec.Resources.Core()), framework: frameworkOf(o.Namespace, o.Spec.Framework)}
		delete(c.made, key)
		if !seen {
			c.chargeLate(key, o)
		}
	}
}

// taskChanged tells TaskChanged of the frameworks of a task event: the
// one it had (was, zero for a new task) and the one it has.
func (c *Cache) taskChanged(was, now types.NamespacedName) {
	if c.TaskChanged == nil {
		return
	}
	if was != (types.NamespacedName{}) && was != now {
		c.TaskChanged(was)
	}
	c.TaskChanged(now)
}

// upsertTask records t and returns the framework it had in the cache (zero
// for a task new to it). The caller holds the lock.
func (c *Cache) upsertTask(t *kmv1.Task) (was types.NamespacedName) {
	fw := frameworkOf(t.Namespace, t.Spec.Framework)
	old, seen := c.states[t.UID]
	if seen {
		was = old.framework
	}
	c.trackWaiting(t)
	for _, id := range t.Spec.OfferIDs {
		k := types.NamespacedName{Namespace: t.Namespace, Name: id}
		if o := c.outstanding(k); o != nil && o.obj.Spec.Framework == t.Spec.Framework {
			c.launchedOn(k, t.UID, kmv1.LaunchTasks(t.Annotations))
		}
	}
	// A live task leaves its framework's allocation before its count
	// moves (the count holds the framework's entry).
	if lt, ok := c.live[t.UID]; ok && (t.Status.State == "" || t.Status.State.IsTerminal() || lt.framework != fw) {
		c.allocate(lt, true)
		c.release(lt)
		delete(c.live, t.UID)
	}
	// Count the new state before uncounting the old, so that the
	// framework's entry (and what its live tasks take) never goes in
	// between.
	c.states[t.UID] = taskState{state: t.Status.State, framework: fw}
	if seen && !old.state.IsTerminal() && t.Status.State.IsTerminal() {
		// An end this cache saw happen, whoever wrote it; a task that was
		// terminal when first seen ended before this master watched.
		metrics.TasksTerminated.WithLabelValues(string(t.Status.State), string(t.Status.Source)).Inc()
	}
	c.counts[t.Status.State]++
	c.countState(fw, t.Status.State, 1)
	if seen {
		c.counts[old.state]--
		c.countState(old.framework, old.state, -1)
	}
	if t.Status.State != "" {
		_, reserved := c.assumed[t.UID]
		_, settled := c.settled[t.UID]
		_, counted := c.counted[t.UID]
		if c.rebuilt && !reserved && !settled && !counted && (!seen || old.state == "") && usedOffers(t) {
			c.countLate(t)
		}
		// Admitted, as this master assumed: the informer shows it now.
		if a, ok := c.assumed[t.UID]; ok {
			c.release(a.task)
			delete(c.assumed, t.UID)
		}
		// What a reservation past its grace took stays taken: it was
		// applied after all.
		delete(c.settled, t.UID)
		delete(c.counted, t.UID)
	}
	if t.Status.State == "" || t.Status.State.IsTerminal() {
		return was
	}
	if lt, ok := c.live[t.UID]; ok {
		lt.obj = t // what it charges does not change after admission
		return was
	}
	lt := c.hold(c.charge(t, t.PlacedOn()))
	c.live[t.UID] = lt
	c.allocate(lt, false)
	return was
}

// trackWaiting counts t among the tasks waiting for admission on their
// offers while it has no state, and no more once it has one (or goes). The
// caller holds the lock.
func (c *Cache) trackWaiting(t *kmv1.Task) {
	_, was := c.waiting[t.UID]
	now := t.Status.State == "" && t.DeletionTimestamp == nil
	switch {
	case now && !was:
		keys := make([]types.NamespacedName, 0, len(t.Spec.OfferIDs))
		for _, id := range t.Spec.OfferIDs {
			k := types.NamespacedName{Namespace: t.Namespace, Name: id}
			keys = append(keys, k)
			c.waitingOn[k]++
		}
		c.waiting[t.UID] = keys
	case !now && was:
		c.unwait(t.UID)
	}
}

// unwait forgets a task that no longer waits for admission. The caller
// holds the lock.
func (c *Cache) unwait(uid types.UID) {
	for _, k := range c.waiting[uid] {
		if c.waitingOn[k]--; c.waitingOn[k] <= 0 {
			delete(c.waitingOn, k)
		}
	}
	delete(c.waiting, uid)
}

// charge is the one rule for what task t, on agent agentID, takes: its
// own resources, plus its custom executor's while the executor has a
// task there (an executor pod holds its resources once, however many
// tasks it runs).
func (c *Cache) charge(t *kmv1.Task, agentID string) *task {
	ct := &task{agentID: agentID, framework: frameworkOf(t.Namespace, t.Spec.Framework), own: c.names.Vector(t.Spec.Resources.Core()), obj: t}
	if t.Spec.Executor != nil {
		ct.executor = executorOnAgent{agentID: agentID, executor: t.Executor()}
		ct.execRes = c.names.Vector(t.Spec.Executor.Resources.Core())
	}
	return ct
}

// hold charges live or assumed task t to its agent: its own resources,
// and its executor's when t is the executor's first task there.
func (c *Cache) hold(t *task) *task {
	use := c.agentUse[t.agentID].Add(t.own)
	if t.executor != (executorOnAgent{}) {
		u := c.executors[t.executor]
		if u == nil {
			u = &executorUse{resources: t.execRes}
			c.executors[t.executor] = u
			use = use.Add(u.resources)
		}
		u.tasks++
	}
	c.agentUse[t.agentID] = use
	return t
}

// release undoes hold.
func (c *Cache) release(t *task) {
	use := c.agentUse[t.agentID].Sub(t.own)
	if u := c.executors[t.executor]; t.executor != (executorOnAgent{}) && u != nil {
		if u.tasks--; u.tasks <= 0 {
			delete(c.executors, t.executor)
			use = use.Sub(u.resources)
		}
	}
	if isZero(use) {
		delete(c.agentUse, t.agentID)
		return
	}
	c.agentUse[t.agentID] = use
}

// isZero reports whether v holds nothing at all (no amount above or
// below zero).
func isZero(v allocator.Vector) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

// Remove forgets a deleted object. A deleted offer is judged: removed by
// this master, used, or declined (then its pair is filtered).
func (c *Cache) Remove(o any) {
	c.mu.Lock()
	switch o := o.(type) {
	case *kmv1.Agent:
		if old := c.agents[o.Name]; old != nil && c.byAgentID[old.obj.Status.AgentID] == old {
			delete(c.byAgentID, old.obj.Status.AgentID)
		}
		delete(c.agents, o.Name)
	case *kmv1.Framework:
		key := client.ObjectKeyFromObject(o)
		delete(c.frameworks, key)
		if slot := c.slots.release(key); slot >= 0 {
			c.filters.drop(slot)
		}
	case *kmv1.Offer:
		fate := c.offerGone(o)
		c.mu.Unlock()
		if c.OfferDeleted != nil {
			c.OfferDeleted(o, fate)
		}
		return
	case *kmv1.Task:
		c.unwait(o.UID)
		if t, ok := c.live[o.UID]; ok {
			c.allocate(t, true)
			c.release(t)
			delete(c.live, o.UID)
		}
		old, seen := c.states[o.UID]
		if seen {
			c.counts[old.state]--
			c.countState(old.framework, old.state, -1)
			delete(c.states, o.UID)
		}
		// An assumed task deleted before the informer showed it admitted
		// is kept until its grace ends: what it took from its offer stays
		// taken while the offer exists, and its pod may still be started.
		// Past its grace it stays taken too; nothing reserves it again.
		delete(c.settled, o.UID)
		delete(c.counted, o.UID)
		c.mu.Unlock()
		if seen {
			c.taskChanged(types.NamespacedName{}, old.framework)
		} else {
			c.taskChanged(types.NamespacedName{}, frameworkOf(o.Namespace, o.Spec.Framework))
		}
		return
	}
	c.mu.Unlock()
}

// offerGone forgets a deleted offer and tells its fate. The caller holds
// the lock.
func (c *Cache) offerGone(o *kmv1.Offer) Fate {
	key := client.ObjectKeyFromObject(o)
	delete(c.offers, key)
	_, own := c.deleting[key]
	used := len(c.uses[key]) > 0
	delete(c.deleting, key)
	c.forgetOffer(key)
	// An offer that was used keeps its framework from the agent's rest
	// only when its user asked so (the filters of a Mesos ACCEPT); a
	// declined one always does.
	_, asked := o.Annotations[kmv1.AnnotationRefuseSeconds]
	if (!own && !used) || asked {
		c.filter(o)
	}
	switch {
	case own:
		return Removed
	case used:
		return Used
	}
	return Declined
}

// filter keeps the framework of a deleted offer from its agent for as
// long as RefuseFor says. The caller holds the lock.
func (c *Cache) filter(o *kmv1.Offer) {
	if c.RefuseFor == nil {
		return
	}
	fw := frameworkOf(o.Namespace, o.Spec.Framework)
	if d, ok := c.RefuseFor(o, c.frameworks[fw]); ok {
		if slot := c.slots.slot(fw); slot >= 0 {
			c.filters.set(o.Spec.AgentID, slot, c.clock.Now().Add(d))
		}
	}
}

// Framework returns the cached framework, or nil: the informer's object,
// read only.
func (c *Cache) Framework(key types.NamespacedName) *kmv1.Framework {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frameworks[key]
}

// ResourceList converts a vector of this cache back to a ResourceList.
func (c *Cache) ResourceList(v allocator.Vector) corev1.ResourceList {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.names.ResourceList(v)
}
