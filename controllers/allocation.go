package controllers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers/allocator"
	"github.com/kubemesos/kubemesos/internal/metrics"
	"github.com/kubemesos/kubemesos/internal/resources"
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

// snapshot is one cycle's view of the cluster, from the scheduling cache:
// the informers' own objects, read only.
type snapshot struct {
	agents     []*kmv1.Agent
	frameworks []*kmv1.Framework
	offers     []*kmv1.Offer
	// tasks are the live tasks only.
	tasks      []*kmv1.Task
	taskStates map[kmv1.TaskState]int
	// staged tells whether a task in the ledger's admitted set was seen
	// admitted when the snapshot was read.
	staged func(types.UID) bool
}

// readSnapshot reads the scheduling cache; the caller holds the ledger
// lock, so the tasks staged but not yet seen are asked about at the same
// moment as everything else is read.
func (m *Master) readSnapshot() *snapshot {
	ask := make([]types.UID, 0, len(m.ledger.admitted))
	for uid := range m.ledger.admitted {
		ask = append(ask, uid)
	}
	s := m.sched.Snapshot(ask)
	return &snapshot{agents: s.Agents, frameworks: s.Frameworks, offers: s.Offers, tasks: s.LiveTasks, taskStates: s.TaskStates, staged: s.Staged}
}

// AllocateOnce runs one allocation cycle: it settles the ledger against the
// cache, consumes and rescinds offers, runs DRF and creates the new offers.
func (m *Master) AllocateOnce(ctx context.Context) error {
	start := time.Now()
	defer func() {
		metrics.AllocationCycles.Inc()
		metrics.AllocationDuration.Observe(time.Since(start).Seconds())
	}()
	l := m.ledger
	l.mu.Lock()
	defer l.mu.Unlock()
	// The snapshot is read under the lock, so the offer delete handler
	// cannot change the ledger between the read and its use.
	snap := m.readSnapshot()
	now := m.Clock.Now()
	if !l.rebuilt {
		if err := m.rebuildLedger(ctx); err != nil {
			return err
		}
	}
	m.settleLedger(snap, now)
	l.expireFilters(now)
	overPromised := m.overPromisedAgents(snap)

	agentsByName := map[string]*kmv1.Agent{}
	for _, a := range snap.agents {
		agentsByName[a.Name] = a
	}
	fwByKey := map[types.NamespacedName]*kmv1.Framework{}
	for _, fw := range snap.frameworks {
		fwByKey[nsName(fw)] = fw
	}

	// Consume used offers and rescind invalid or old ones.
	var keep []kmv1.Offer
	for _, o := range snap.offers {
		key := nsName(o)
		if _, gone := l.deleted[key]; gone || o.DeletionTimestamp != nil {
			continue
		}
		outcome, why := m.offerFate(o, agentsByName, fwByKey, now)
		if outcome == "" && overPromised[o.Spec.AgentID] {
			outcome, why = metrics.OfferRescinded, "the agent's resources shrank below what its offers promise"
		}
		if outcome == "" {
			keep = append(keep, *o)
			continue
		}
		if err := m.deleteOffer(ctx, o, outcome, why); err != nil {
			return err
		}
	}
	for key, c := range l.created {
		if !containsOffer(keep, key) {
			keep = append(keep, kmv1.Offer{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
				Spec: kmv1.OfferSpec{Framework: kmv1.ObjectName(c.framework.Name), AgentID: c.agentID, Resources: kmv1.ResourceList(c.resources)}})
		}
	}

	in, agentIdx, fwIdx := m.buildInput(snap, keep, now)
	t0 := time.Now()
	made := allocator.Allocate(in)
	metrics.AllocatorDuration.Observe(time.Since(t0).Seconds())
	for _, o := range made {
		a := agentIdx[o.Agent]
		fw := fwIdx[o.Framework]
		if err := m.createOffer(ctx, fw, a, in.Names.ResourceList(o.Resources)); err != nil {
			// One framework's failure must not stall the others: filter
			// the pair for a while and go on.
			ctrl.LoggerFrom(ctx).Error(err, "making an offer; filtering the pair for 10s", "framework", nsName(fw), "agent", a.Name)
			l.filters[filterKey{framework: nsName(fw), agentID: a.Status.AgentID}] = now.Add(10 * time.Second)
		}
	}
	m.shares.set(in, fwIdx)
	observe(snap)
	return m.writeAgentUsage(ctx, in, agentIdx)
}

// observe sets the gauges of tasks by state and agents by phase.
func observe(snap *snapshot) {
	tasks := map[kmv1.TaskState]float64{}
	for s, n := range snap.taskStates {
		tasks[s] = float64(n)
	}
	for _, s := range []kmv1.TaskState{kmv1.TaskStaging, kmv1.TaskStarting, kmv1.TaskRunning, kmv1.TaskKilling, kmv1.TaskFinished,
		kmv1.TaskFailed, kmv1.TaskKilled, kmv1.TaskError, kmv1.TaskLost, kmv1.TaskDropped} {
		metrics.Tasks.WithLabelValues(string(s)).Set(tasks[s])
	}
	agents := map[kmv1.AgentPhase]float64{}
	for _, a := range snap.agents {
		agents[a.Status.Phase]++
	}
	for _, p := range []kmv1.AgentPhase{kmv1.AgentRegistering, kmv1.AgentActive, kmv1.AgentUnreachable, kmv1.AgentGone, kmv1.AgentDraining} {
		metrics.Agents.WithLabelValues(string(p)).Set(agents[p])
	}
}

// writeAgentUsage records each active agent's allocated and offered
// resources in its status, only where they changed.
func (m *Master) writeAgentUsage(ctx context.Context, in *allocator.Input, agents []*kmv1.Agent) error {
	for i, a := range agents {
		alloc := kmv1.ResourceList(in.Names.ResourceList(in.Agents[i].Used))
		offered := kmv1.ResourceList(in.Names.ResourceList(in.Agents[i].Offered))
		if len(alloc) == 0 {
			alloc = nil
		}
		if len(offered) == 0 {
			offered = nil
		}
		if equality.Semantic.DeepEqual(a.Status.Allocated, alloc) && equality.Semantic.DeepEqual(a.Status.Offered, offered) {
			continue
		}
		patched := a.DeepCopy()
		patched.Status.Allocated, patched.Status.Offered = alloc, offered
		if err := m.Client.Status().Patch(ctx, patched, client.MergeFromWithOptions(a, client.MergeFromWithOptimisticLock{})); err != nil &&
			!apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return fmt.Errorf("writing the usage of agent %s: %w", a.Name, err)
		}
	}
	return nil
}

// buildInput turns the snapshot into the allocator's input, returning the
// agents and frameworks behind its indexes.
func (m *Master) buildInput(snap *snapshot, offers []kmv1.Offer, now time.Time) (*allocator.Input, []*kmv1.Agent, []*kmv1.Framework) {
	l := m.ledger
	names := allocator.NewNames()
	names.Index(corev1.ResourceCPU)
	names.Index(corev1.ResourceMemory)
	in := &allocator.Input{Names: names, Weights: m.Options.RoleWeights}

	var agents []*kmv1.Agent
	agentIdx := map[string]int{} // by agentID
	for _, a := range snap.agents {
		if a.Status.Phase != kmv1.AgentActive || a.Status.AgentID == "" {
			continue
		}
		agentIdx[a.Status.AgentID] = len(agents)
		agents = append(agents, a)
		in.Agents = append(in.Agents, allocator.Agent{ID: a.Status.AgentID, Node: a.Name, Total: names.Vector(a.Spec.Resources.Core())})
	}
	// Visit agents in a new order every cycle, as Mesos shuffles them, so
	// no agent is always first.
	perm := rand.Perm(len(agents))
	shuffledAgents := make([]*kmv1.Agent, len(agents))
	shuffledIn := make([]allocator.Agent, len(agents))
	for i, p := range perm {
		shuffledAgents[i], shuffledIn[i] = agents[p], in.Agents[p]
		agentIdx[agents[p].Status.AgentID] = i
	}
	agents, in.Agents = shuffledAgents, shuffledIn

	var fws []*kmv1.Framework
	fwIdx := map[types.NamespacedName]int{}
	for _, fw := range snap.frameworks {
		if fw.Status.FrameworkID == "" {
			continue
		}
		fwIdx[nsName(fw)] = len(fws)
		fws = append(fws, fw)
		in.Frameworks = append(in.Frameworks, allocator.Framework{Key: nsName(fw).String(), Role: fw.Spec.Role, Eligible: frameworkEligible(fw), Allocated: names.Zero()})
	}

	charge := func(agentID string, fw types.NamespacedName, rl corev1.ResourceList, offered bool) {
		v := names.Vector(rl)
		if a, ok := agentIdx[agentID]; ok {
			if offered {
				in.Agents[a].Offered = in.Agents[a].Offered.Add(v)
			} else {
				in.Agents[a].Used = in.Agents[a].Used.Add(v)
			}
		}
		if f, ok := fwIdx[fw]; ok {
			in.Frameworks[f].Allocated = in.Frameworks[f].Allocated.Add(v)
		}
	}
	m.forEachUse(snap, func(agentID string, fw types.NamespacedName, rl corev1.ResourceList) {
		charge(agentID, fw, rl, false)
	})
	in.Blocked = make([]allocator.Bitset, len(in.Agents))
	for i := range offers {
		o := &offers[i]
		fwKey := types.NamespacedName{Namespace: o.Namespace, Name: string(o.Spec.Framework)}
		// What tasks took from the offer is already charged as used.
		charge(o.Spec.AgentID, fwKey, m.offerRest(o), true)
		if a, ok := agentIdx[o.Spec.AgentID]; ok {
			if f, ok := fwIdx[fwKey]; ok {
				in.Blocked[a].Set(f)
			}
		}
	}
	for k := range l.filters {
		if !l.filtered(k, now) {
			continue
		}
		a, aok := agentIdx[k.agentID]
		f, fok := fwIdx[k.framework]
		if aok && fok {
			in.Blocked[a].Set(f)
		}
	}
	in.Minimum = allocator.DefaultMinimum(names)
	return in, agents, fws
}

// overPromisedAgents returns the agents whose outstanding offers promise
// more than their resources minus their live tasks: their offers must be
// rescinded and made anew.
func (m *Master) overPromisedAgents(snap *snapshot) map[string]bool {
	l := m.ledger
	left := map[string]corev1.ResourceList{}
	for _, a := range snap.agents {
		if a.Status.AgentID != "" {
			left[a.Status.AgentID] = a.Spec.Resources.Core()
		}
	}
	m.forEachUse(snap, func(agentID string, _ types.NamespacedName, used corev1.ResourceList) {
		if rl, ok := left[agentID]; ok {
			left[agentID] = resources.Sub(rl, used)
		}
	})
	for _, o := range snap.offers {
		if _, gone := l.deleted[nsName(o)]; gone {
			continue
		}
		if rl, ok := left[o.Spec.AgentID]; ok {
			left[o.Spec.AgentID] = resources.Sub(rl, m.offerRest(o))
		}
	}
	over := map[string]bool{}
	for id, rl := range left {
		for _, q := range rl {
			if q.Sign() < 0 {
				over[id] = true
			}
		}
	}
	return over
}

// forEachUse calls use with what each live task takes from its agent (its
// resources, plus its executor's for the first task of that executor on the
// agent), and with each task this master staged that the cache does not
// show yet. The caller holds the ledger lock.
func (m *Master) forEachUse(snap *snapshot, use func(agentID string, fw types.NamespacedName, rl corev1.ResourceList)) {
	l := m.ledger
	charged := l.admittedExecutors()
	for _, t := range snap.tasks {
		if _, pending := l.admitted[t.UID]; pending || !liveTask(t) {
			continue
		}
		id := t.PlacedOn()
		use(id, types.NamespacedName{Namespace: t.Namespace, Name: string(t.Spec.Framework)}, charged.of(t, id))
	}
	for _, ad := range l.admitted {
		use(ad.agentID, ad.framework, ad.resources)
	}
}
