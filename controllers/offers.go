package controllers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
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

func containsOffer(offers []kmv1.Offer, key types.NamespacedName) bool {
	for i := range offers {
		if offers[i].Namespace == key.Namespace && offers[i].Name == key.Name {
			return true
		}
	}
	return false
}

// offerFate decides whether an outstanding offer stays ("") or goes, and why.
func (m *Master) offerFate(o *kmv1.Offer, agents map[string]*kmv1.Agent, fws map[types.NamespacedName]*kmv1.Framework, now time.Time) (string, string) {
	l := m.ledger
	key := nsName(o)
	if first, used := l.firstUse[key]; used && now.Sub(first) >= m.Options.AcceptWindow {
		return metrics.OfferConsumed, "used by tasks"
	}
	a := agents[o.Spec.NodeName]
	if a == nil || a.Status.Phase != kmv1.AgentActive || a.Status.AgentID != o.Spec.AgentID {
		return metrics.OfferRescinded, "the agent is no longer active under this agentID"
	}
	fw := fws[types.NamespacedName{Namespace: o.Namespace, Name: string(o.Spec.Framework)}]
	if fw == nil || fw.DeletionTimestamp != nil || fw.Status.Phase != kmv1.FrameworkActive {
		return metrics.OfferRescinded, "the framework is not active"
	}
	if _, used := l.firstUse[key]; !used && m.Options.OfferTimeout > 0 && now.Sub(o.CreationTimestamp.Time) >= m.Options.OfferTimeout {
		return metrics.OfferRescinded, fmt.Sprintf("not used within --offer-timeout %s", m.Options.OfferTimeout)
	}
	return "", ""
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

// createOffer makes one Offer of all of agent's free resources to fw.
func (m *Master) createOffer(ctx context.Context, fw *kmv1.Framework, agent *kmv1.Agent, rl corev1.ResourceList) error {
	offer := &kmv1.Offer{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:    fw.Namespace,
			GenerateName: fw.Name + "-" + agent.Name + "-",
			Labels:       map[string]string{kmv1.LabelFramework: fw.Name, kmv1.LabelAgent: agent.Name},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: kmv1.GroupVersion.String(), Kind: "Framework", Name: fw.Name, UID: fw.UID,
				BlockOwnerDeletion: ptr.To(false)}},
		},
		Spec: kmv1.OfferSpec{
			Framework:   kmv1.ObjectName(fw.Name),
			FrameworkID: fw.Status.FrameworkID,
			AgentID:     agent.Status.AgentID,
			NodeName:    agent.Name,
			Resources:   kmv1.ResourceList(rl),
			Attributes:  agent.Spec.Attributes,
		},
	}
	if len(offer.GenerateName) > 200 {
		offer.GenerateName = offer.GenerateName[:200]
	}
	if err := m.Client.Create(ctx, offer); err != nil {
		return fmt.Errorf("offering agent %s to framework %s: %w", agent.Name, nsName(fw), err)
	}
	m.ledger.created[nsName(offer)] = createdOffer{framework: nsName(fw), agentID: agent.Status.AgentID, resources: rl}
	metrics.OffersTotal.WithLabelValues(metrics.OfferMade).Inc()
	ctrl.LoggerFrom(ctx).V(2).Info("offer made", "offer", nsName(offer), "agent", agent.Name, "resources", resources.String(rl))
	return nil
}

// deleteOffer removes an offer that was consumed or rescinded. The ledger
// remembers the deletion, so its informer event is not taken for a decline.
// The caller holds the ledger lock.
func (m *Master) deleteOffer(ctx context.Context, o *kmv1.Offer, outcome, why string) error {
	key := nsName(o)
	m.ledger.deleted[key] = struct{}{}
	err := m.Client.Delete(ctx, o, client.Preconditions{UID: &o.UID})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		delete(m.ledger.deleted, key)
		return fmt.Errorf("deleting offer %s (%s): %w", key, why, err)
	}
	metrics.OffersTotal.WithLabelValues(outcome).Inc()
	ctrl.LoggerFrom(ctx).V(2).Info("offer removed", "offer", key, "outcome", outcome, "why", why)
	return nil
}

// rescindOffersOnNode deletes every offer of the agent on node.
func (m *Master) rescindOffersOnNode(ctx context.Context, node, why string) error {
	var offers kmv1.OfferList
	if err := m.Client.List(ctx, &offers, client.MatchingFields{IndexOfferNode: node}); err != nil {
		return fmt.Errorf("listing the offers on %s: %w", node, err)
	}
	m.ledger.mu.Lock()
	defer m.ledger.mu.Unlock()
	for i := range offers.Items {
		o := &offers.Items[i]
		if _, gone := m.ledger.deleted[nsName(o)]; gone {
			continue
		}
		if err := m.deleteOffer(ctx, o, metrics.OfferRescinded, why); err != nil {
			return err
		}
	}
	return nil
}

// rebuildLedger restores, after a leader start, what staged tasks took
// from offers that still exist (their resources, and their executor's for
// the first task of an executor), so no offer's resources are used twice.
// The caller holds the ledger lock.
func (m *Master) rebuildLedger(ctx context.Context) error {
	l := m.ledger
	// Once per leadership: every offer and every task (an ended task's
	// use of an offer still counts while the offer exists).
	var offerList kmv1.OfferList
	var taskList kmv1.TaskList
	if err := m.Client.List(ctx, &offerList); err != nil {
		return fmt.Errorf("reading the offers: %w", err)
	}
	if err := m.Client.List(ctx, &taskList); err != nil {
		return fmt.Errorf("reading the tasks: %w", err)
	}
	offers := map[types.NamespacedName]bool{}
	for i := range offerList.Items {
		offers[nsName(&offerList.Items[i])] = true
	}
	tasks := make([]*kmv1.Task, 0, len(taskList.Items))
	for i := range taskList.Items {
		tasks = append(tasks, &taskList.Items[i])
	}
	sort.Slice(tasks, func(i, j int) bool { return stagedAt(tasks[i]).Before(stagedAt(tasks[j])) })
	charged := charges{}
	for _, t := range tasks {
		if t.Status.State == "" || t.Status.State == kmv1.TaskError || t.Status.State == kmv1.TaskDropped {
			continue
		}
		rl := charged.of(t, TaskAgentID(t))
		for _, id := range t.Spec.OfferIDs {
			key := types.NamespacedName{Namespace: t.Namespace, Name: id}
			if offers[key] {
				l.use(key, rl, stagedAt(t))
				break
			}
		}
	}
	l.rebuilt = true
	return nil
}

func stagedAt(t *kmv1.Task) time.Time {
	if t.Status.StagingTime != nil {
		return t.Status.StagingTime.Time
	}
	return t.CreationTimestamp.Time
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

// admittedGrace is how long a staged task may stay out of the cache
// before the ledger forgets it (the task was deleted meanwhile).
const admittedGrace = 30 * time.Second

// settleLedger drops expectations that the cache now shows, and those of
// tasks deleted before the cache ever showed them staged.
func (m *Master) settleLedger(snap *snapshot, now time.Time) {
	l := m.ledger
	inCache := map[types.NamespacedName]bool{}
	for _, o := range snap.offers {
		inCache[nsName(o)] = true
	}
	for key := range l.created {
		if inCache[key] {
			delete(l.created, key)
		}
	}
	// l.deleted is settled by the informer's delete handler, not here: the
	// cache drops an object before its handlers run, and a deletion the
	// handler cannot match to the master would count as a decline.
	for uid, ad := range l.admitted {
		if snap.staged(uid) || now.Sub(ad.at) > admittedGrace {
			delete(l.admitted, uid)
		}
	}
}

// offerDeleted records a decline, unless the master itself removed the
// offer or tasks used it. A standby's informer sees the leader's deletions
// too; only the leader keeps a ledger.
func (m *Master) offerDeleted(ctx context.Context, o *kmv1.Offer) {
	if !m.leading() {
		return
	}
	l := m.ledger
	l.mu.Lock()
	key := nsName(o)
	_, own := l.deleted[key]
	_, used := l.firstUse[key]
	delete(l.deleted, key)
	l.forgetOffer(key)
	if !own && !used {
		refuse := 5 * time.Second
		var fw kmv1.Framework
		if err := m.Client.Get(ctx, types.NamespacedName{Namespace: o.Namespace, Name: string(o.Spec.Framework)}, &fw); err == nil &&
			fw.Spec.OfferFilters != nil && fw.Spec.OfferFilters.RefuseSeconds != nil {
			refuse = time.Duration(*fw.Spec.OfferFilters.RefuseSeconds) * time.Second
		}
		// A decline may carry its own filter (the SDK's DeclineOffer filters).
		if v, err := strconv.Atoi(o.Annotations[kmv1.AnnotationRefuseSeconds]); err == nil && v >= 0 && v <= 86400 {
			refuse = time.Duration(v) * time.Second
		}
		l.filters[filterKey{framework: types.NamespacedName{Namespace: o.Namespace, Name: string(o.Spec.Framework)}, agentID: o.Spec.AgentID}] = m.Clock.Now().Add(refuse)
		metrics.OffersTotal.WithLabelValues(metrics.OfferDeclined).Inc()
		ctrl.LoggerFrom(ctx).V(2).Info("offer declined", "offer", key, "refuse", refuse)
	}
	l.mu.Unlock()
	m.Trigger()
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
		id := TaskAgentID(t)
		use(id, types.NamespacedName{Namespace: t.Namespace, Name: string(t.Spec.Framework)}, charged.of(t, id))
	}
	for _, ad := range l.admitted {
		use(ad.agentID, ad.framework, ad.resources)
	}
}

// offerRest is what is left of an offer after the tasks admitted on it,
// never below zero. The caller holds the ledger lock.
func (m *Master) offerRest(o *kmv1.Offer) corev1.ResourceList {
	rest := resources.Sub(o.Spec.Resources.Core(), m.ledger.offerUse[nsName(o)])
	for k, q := range rest {
		if q.Sign() < 0 {
			delete(rest, k)
		}
	}
	return rest
}
