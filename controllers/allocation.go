package controllers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers/allocator"
	"github.com/kubemesos/kubemesos/controllers/schedcache"
	"github.com/kubemesos/kubemesos/internal/metrics"
)

// allocationLoop runs an allocation cycle every AllocationInterval and
// whenever Trigger asks, on the leader only.
type allocationLoop struct{ m *Master }

// NeedLeaderElection is true: only the leader makes offers.
func (l *allocationLoop) NeedLeaderElection() bool { return true }

// Start runs cycles until ctx ends.
func (l *allocationLoop) Start(ctx context.Context) error {
	m := l.m
	log := ctrl.LoggerFrom(ctx).WithName("allocator")
	ctx = ctrl.LoggerInto(ctx, log)
	ticker := m.Clock.NewTicker(m.Options.AllocationInterval)
	defer ticker.Stop()
	for {
		if err := m.AllocateOnce(ctx); err != nil {
			log.Error(err, "allocation cycle")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
		case <-m.trigger:
		}
	}
}

func nsName(o client.Object) types.NamespacedName { return client.ObjectKeyFromObject(o) }

// frameworkEligible reports whether fw may receive offers: registered,
// Active (its scheduler holds its Lease) and not suppressing offers.
func frameworkEligible(fw *kmv1.Framework) bool {
	return fw.DeletionTimestamp == nil && fw.Status.FrameworkID != "" && fw.Status.Phase == kmv1.FrameworkActive && !fw.Spec.SuppressOffers
}

// liveTask reports whether t holds resources: admitted and not terminal.
func liveTask(t *kmv1.Task) bool { return t.Status.State != "" && !t.Status.State.IsTerminal() }

// planRetries bounds how often a cycle plans again because a task was
// admitted while it planned.
const planRetries = 3

// AllocateOnce runs one allocation cycle: it reads a snapshot of the
// scheduling cache, decides which offers are consumed or rescinded, runs
// DRF, commits the plan to the cache, and only then deletes and creates the
// offers, concurrently and with no lock held.
func (m *Master) AllocateOnce(ctx context.Context) error {
	start := time.Now()
	defer func() {
		metrics.AllocationCycles.Inc()
		metrics.AllocationDuration.Observe(time.Since(start).Seconds())
	}()
	if err := m.ensureRebuilt(ctx); err != nil {
		return err
	}
	var p *plan
	for try := 0; ; try++ {
		p = m.planCycle(m.sched.Snapshot())
		if m.sched.Commit(p.snap.Generation, p.removeKeys(), p.make) {
			break
		}
		if try == planRetries {
			return nil // admissions keep coming; the next cycle plans anew
		}
	}
	m.removeOffers(ctx, p.remove)
	m.makeOffers(ctx, p)
	m.shares.set(p.in, p.fws)
	m.publishCycle(p)
	observe(p.snap)
	return m.writeAgentUsage(ctx, p)
}

// plan is one cycle's decisions, made on one snapshot.
type plan struct {
	snap *schedcache.Snapshot
	// remove are the offers to delete, with their outcome and why.
	remove []removal
	// make are the offers to create, with in's agent and framework indexes.
	make   []*kmv1.Offer
	in     *allocator.Input
	agents []*kmv1.Agent
	fws    []*kmv1.Framework
}

type removal struct {
	offer        *kmv1.Offer
	outcome, why string
}

func (p *plan) removeKeys() []types.NamespacedName {
	keys := make([]types.NamespacedName, len(p.remove))
	for i, r := range p.remove {
		keys[i] = nsName(r.offer)
	}
	return keys
}

// planCycle decides a cycle on snap: pure, no I/O.
func (m *Master) planCycle(snap *schedcache.Snapshot) *plan {
	now := m.Clock.Now()
	p := &plan{snap: snap}
	overPromised := overPromisedAgents(snap)
	var agentsByName map[string]*kmv1.Agent // made for the first offer to judge
	fwByKey := make(map[types.NamespacedName]*kmv1.Framework, len(snap.Frameworks))
	for _, f := range snap.Frameworks {
		if f.Obj != nil {
			fwByKey[nsName(f.Obj)] = f.Obj
		}
	}
	// Consume used offers and rescind invalid or old ones.
	var keep []schedcache.Offer
	for _, o := range snap.Offers {
		if o.Made {
			keep = append(keep, o)
			continue
		}
		if o.Obj.DeletionTimestamp != nil {
			continue
		}
		if agentsByName == nil {
			agentsByName = make(map[string]*kmv1.Agent, len(snap.Agents))
			for _, a := range snap.Agents {
				agentsByName[a.Obj.Name] = a.Obj
			}
		}
		outcome, why := m.offerFate(&o, agentsByName, fwByKey, now)
		if outcome == "" && overPromised[o.Obj.Spec.AgentID] {
			outcome, why = metrics.OfferRescinded, "the agent's resources shrank below what its offers promise"
		}
		if outcome == "" {
			keep = append(keep, o)
			continue
		}
		p.remove = append(p.remove, removal{offer: o.Obj, outcome: outcome, why: why})
	}
	var executors []map[types.NamespacedName][]string
	p.in, p.agents, executors, p.fws = m.buildInput(snap, keep)
	t0 := time.Now()
	made := allocator.Allocate(p.in)
	metrics.AllocatorDuration.Observe(time.Since(t0).Seconds())
	p.make = make([]*kmv1.Offer, 0, len(made))
	for _, o := range made {
		fw, agent := p.fws[o.Framework], p.agents[o.Agent]
		p.make = append(p.make, newOffer(fw, agent, p.in.Names.ResourceList(o.Resources), executors[o.Agent][nsName(fw)]))
	}
	return p
}

// offerWriters bounds how many offer creates or deletes a cycle has in
// flight at once.
const offerWriters = 16

// removeOffers deletes the plan's offers concurrently.
func (m *Master) removeOffers(ctx context.Context, remove []removal) {
	tried := make([]bool, len(remove))
	// A deletion committed and never sent (the context ended first) is
	// undone: nothing else would take the offer out of being deleted.
	defer func() {
		for i, r := range remove {
			if !tried[i] {
				m.sched.Undelete(nsName(r.offer))
			}
		}
	}()
	workqueue.ParallelizeUntil(ctx, offerWriters, len(remove), func(i int) {
		tried[i] = true
		r := remove[i]
		if err := m.deleteOffer(ctx, r.offer, r.outcome, r.why); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "removing an offer; the next cycle tries again", "offer", nsName(r.offer))
		}
	})
}

// makeOffers creates the plan's offers concurrently. One framework's
// failure must not stall the others: its pair is filtered for a while.
func (m *Master) makeOffers(ctx context.Context, p *plan) {
	tried := make([]bool, len(p.make))
	// An offer committed and never sent (the context ended first: the
	// master is stopping) is forgotten: nothing else would take it out of
	// the snapshots.
	defer func() {
		for i, o := range p.make {
			if !tried[i] {
				m.sched.Unmake(nsName(o))
			}
		}
	}()
	workqueue.ParallelizeUntil(ctx, offerWriters, len(p.make), func(i int) {
		tried[i] = true
		o := p.make[i]
		if err := m.createOffer(ctx, o); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "making an offer; filtering the pair for 10s", "offer", nsName(o))
			m.sched.Filter(schedcache.Pair{Framework: types.NamespacedName{Namespace: o.Namespace, Name: string(o.Spec.Framework)}, AgentID: o.Spec.AgentID},
				m.Clock.Now().Add(10*time.Second))
		}
	})
}

// observe sets the gauges of tasks by state, and of agents and frameworks
// by phase.
func observe(snap *schedcache.Snapshot) {
	tasks := map[kmv1.TaskState]float64{}
	for s, n := range snap.TaskStates {
		tasks[s] = float64(n)
	}
	for _, s := range []kmv1.TaskState{kmv1.TaskStaging, kmv1.TaskStarting, kmv1.TaskRunning, kmv1.TaskKilling, kmv1.TaskFinished,
		kmv1.TaskFailed, kmv1.TaskKilled, kmv1.TaskError, kmv1.TaskLost, kmv1.TaskDropped} {
		metrics.Tasks.WithLabelValues(string(s)).Set(tasks[s])
	}
	agents := map[kmv1.AgentPhase]float64{}
	for _, a := range snap.Agents {
		agents[a.Obj.Status.Phase]++
	}
	for _, p := range []kmv1.AgentPhase{kmv1.AgentRegistering, kmv1.AgentActive, kmv1.AgentUnreachable, kmv1.AgentGone, kmv1.AgentDraining} {
		metrics.Agents.WithLabelValues(string(p)).Set(agents[p])
	}
	fws := map[kmv1.FrameworkPhase]float64{}
	for _, f := range snap.Frameworks {
		if f.Obj == nil {
			continue
		}
		phase := f.Obj.Status.Phase
		if phase == "" {
			phase = kmv1.FrameworkPending
		}
		fws[phase]++
	}
	for _, p := range []kmv1.FrameworkPhase{kmv1.FrameworkPending, kmv1.FrameworkActive, kmv1.FrameworkDisconnected, kmv1.FrameworkCompleted,
		kmv1.FrameworkFailed, kmv1.FrameworkTearingDown} {
		metrics.Frameworks.WithLabelValues(string(p)).Set(fws[p])
	}
}

// writeAgentUsage records each active agent's allocated and offered
// resources in its status where they changed, at most once per
// UsageWriteInterval per agent and within UsageWriteRate for all agents
// together, the agent written longest ago (or never) first, concurrently.
func (m *Master) writeAgentUsage(ctx context.Context, p *plan) error {
	now := m.Clock.Now()
	var due []agentUsage
	for i, a := range p.agents {
		alloc := kmv1.ResourceList(p.in.Names.ResourceList(p.in.Agents[i].Used))
		offered := kmv1.ResourceList(p.in.Names.ResourceList(p.in.Agents[i].Offered))
		if len(alloc) == 0 {
			alloc = nil
		}
		if len(offered) == 0 {
			offered = nil
		}
		if equality.Semantic.DeepEqual(a.Status.Allocated, alloc) && equality.Semantic.DeepEqual(a.Status.Offered, offered) {
			continue
		}
		last, ok := m.usageWritten[a.Name]
		if ok && now.Sub(last) < m.Options.UsageWriteInterval {
			continue
		}
		due = append(due, agentUsage{agent: a, alloc: alloc, offered: offered, last: last})
	}
	due = limitUsage(due, m.usageLimiter, now)
	for _, u := range due {
		m.usageWritten[u.agent.Name] = now
	}
	// Agents gone from the cache (nodes removed) leave no entry behind;
	// the others keep theirs, which orders them among the due agents.
	if now.Sub(m.usagePruned) > usagePruneInterval {
		exists := make(map[string]bool, len(p.snap.Agents))
		for i := range p.snap.Agents {
			exists[p.snap.Agents[i].Obj.Name] = true
		}
		pruneWritten(m.usageWritten, exists)
		m.usagePruned = now
	}
	errs := make([]error, len(due))
	workqueue.ParallelizeUntil(ctx, offerWriters, len(due), func(i int) {
		u := due[i]
		patched := u.agent.DeepCopy()
		patched.Status.Allocated, patched.Status.Offered = u.alloc, u.offered
		if err := m.allocatorClient.Status().Patch(ctx, patched, client.MergeFromWithOptions(u.agent, client.MergeFromWithOptimisticLock{})); err != nil &&
			!apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			errs[i] = fmt.Errorf("writing the usage of agent %s: %w", u.agent.Name, err)
		}
	})
	return errors.Join(errs...)
}

// pruneWritten drops from written the agents that no longer exist.
func pruneWritten(written map[string]time.Time, exists map[string]bool) {
	for name := range written {
		if !exists[name] {
			delete(written, name)
		}
	}
}

// usagePruneInterval is how often the record of usage writes drops the
// agents that are gone.
const usagePruneInterval = 10 * time.Minute

// agentUsage is one Agent's usage to write, and when it was last written
// (zero: never).
type agentUsage struct {
	agent          *kmv1.Agent
	alloc, offered kmv1.ResourceList
	last           time.Time
}

// limitUsage keeps the usage writes that lim allows at now, those of the
// agents written longest ago (never first); all of them when lim is nil.
func limitUsage(due []agentUsage, lim *rate.Limiter, now time.Time) []agentUsage {
	if lim == nil {
		return due
	}
	slices.SortStableFunc(due, func(x, y agentUsage) int { return x.last.Compare(y.last) })
	n := 0
	for n < len(due) && lim.AllowN(now, 1) {
		n++
	}
	return due[:n]
}

// buildInput turns the snapshot and the offers kept into the allocator's
// input, returning the agents and frameworks behind its indexes. Every
// amount is already a vector of the snapshot's Names.
func (m *Master) buildInput(snap *schedcache.Snapshot, offers []schedcache.Offer) (*allocator.Input, []*kmv1.Agent, []map[types.NamespacedName][]string, []*kmv1.Framework) {
	names := snap.Names
	names.Index(corev1.ResourceCPU)
	names.Index(corev1.ResourceMemory)
	in := &allocator.Input{Names: names, Weights: m.Options.RoleWeights}

	agents := make([]*kmv1.Agent, 0, len(snap.Agents))
	executors := make([]map[types.NamespacedName][]string, 0, len(snap.Agents))
	in.Agents = make([]allocator.Agent, 0, len(snap.Agents))
	// Visit agents in a new order every cycle, as Mesos shuffles them, so
	// no agent is always first.
	for _, p := range rand.Perm(len(snap.Agents)) {
		a := &snap.Agents[p]
		if a.Obj.Status.Phase != kmv1.AgentActive || a.Obj.Status.AgentID == "" {
			continue
		}
		agents = append(agents, a.Obj)
		executors = append(executors, a.Executors)
		in.Agents = append(in.Agents, allocator.Agent{ID: a.Obj.Status.AgentID, Node: a.Obj.Name, Total: a.Total, Used: a.Used.Clone()})
	}
	var agentIdx map[string]int // by agentID, for the offers
	if len(offers) > 0 {
		agentIdx = make(map[string]int, len(agents))
		for i, a := range agents {
			agentIdx[a.Status.AgentID] = i
		}
	}
	// Frameworks sit at their cache slots, so that the cache's filter
	// bitsets index them as they are; a free slot or an unregistered
	// framework is an ineligible placeholder that holds nothing.
	fws := make([]*kmv1.Framework, len(snap.Frameworks))
	in.Frameworks = make([]allocator.Framework, len(snap.Frameworks))
	for i, f := range snap.Frameworks {
		if f.Obj == nil || f.Obj.Status.FrameworkID == "" {
			in.Frameworks[i] = allocator.Framework{Allocated: names.Zero()}
			continue
		}
		fws[i] = f.Obj
		in.Frameworks[i] = allocator.Framework{Key: nsName(f.Obj).String(), Role: f.Obj.Spec.Role, Eligible: frameworkEligible(f.Obj),
			Allocated: names.Zero().Add(f.Used)}
	}
	in.Blocked = make([]allocator.Bitset, len(in.Agents))
	for i, a := range agents {
		in.Blocked[i] = snap.Filters[a.Status.AgentID] // the snapshot's own copy
	}
	for _, o := range offers {
		a, aok := agentIdx[o.Obj.Spec.AgentID]
		f := o.FrameworkSlot
		fok := f >= 0 && fws[f] != nil
		// What tasks took from the offer is already charged as used.
		if aok {
			in.Agents[a].Offered = in.Agents[a].Offered.Add(o.Rest)
		}
		if fok {
			in.Frameworks[f].Allocated = in.Frameworks[f].Allocated.Add(o.Rest)
		}
		if aok && fok {
			in.Blocked[a].Set(f)
		}
	}
	in.Minimum = allocator.DefaultMinimum(names)
	return in, agents, executors, fws
}

// overPromisedAgents returns the agents whose outstanding offers promise
// more than their resources minus their tasks' use: their offers must be
// rescinded and made anew.
func overPromisedAgents(snap *schedcache.Snapshot) map[string]bool {
	offered := map[string]allocator.Vector{}
	for _, o := range snap.Offers {
		if o.Obj.DeletionTimestamp != nil && !o.Made {
			// Declined or rescinded, and held only by a finalizer: no
			// task is admitted on it, and its resources are offered again.
			continue
		}
		offered[o.Obj.Spec.AgentID] = offered[o.Obj.Spec.AgentID].Add(o.Rest)
	}
	over := map[string]bool{}
	if len(offered) == 0 {
		return over
	}
	for _, a := range snap.Agents {
		id := a.Obj.Status.AgentID
		v, ok := offered[id]
		if !ok || id == "" {
			continue
		}
		if slices.ContainsFunc(a.Total.Clone().Sub(a.Used).Sub(v), func(x int64) bool { return x < 0 }) {
			over[id] = true
		}
	}
	return over
}
