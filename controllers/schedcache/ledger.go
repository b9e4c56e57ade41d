package schedcache

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers/allocator"
	"github.com/kubemesos/kubemesos/internal/resources"
)

// Grace is how long an assumption may wait for the informer to confirm it
// after an unclear write (one that may or may not have been applied) before
// the cache forgets it.
const Grace = 30 * time.Second

// Pair is a framework and an agent: the key of a decline filter.
type Pair struct {
	Framework types.NamespacedName
	AgentID   string
}

// ledger is what the master wrote that its informers may not show yet,
// and the decline filters. It is rebuilt from the informers on every
// leader start: nothing in it keeps the registry's invariants, it only
// keeps the master from acting twice on a stale view.
type ledger struct {
	// use is what admitted tasks took from each offer, and uses when
	// each of them was admitted: the accept window runs from the latest.
	use  map[types.NamespacedName]allocator.Vector
	uses map[types.NamespacedName][]time.Time
	// wants holds, for each used offer, how many tasks its launch creates
	// (the most any of them said, kmv1.AnnotationLaunchTasks); uses
	// counts those admitted.
	wants map[types.NamespacedName]int
	// launched holds, for each offer, the tasks the informer showed
	// naming it, whatever became of them (admitted, waiting or refused),
	// and the launch size each said (kmv1.AnnotationLaunchTasks): while
	// fewer exist than their launch said, the rest are on their way.
	launched map[types.NamespacedName]map[types.UID]int
	// assumed holds the tasks admitted here that the informer has not
	// shown admitted yet.
	assumed map[types.UID]*assumedTask
	// settled holds the reservations dropped after Grace: their writes
	// were unclear and the informer never showed them, so what each took
	// from its offers stays taken (its write may yet have been applied)
	// until the task is reserved again, forgotten or shown admitted, and
	// is then given back or kept, never taken twice.
	settled map[types.UID]*assumedTask
	// counted holds the tasks whose use of their offers Rebuild counted
	// before the cache saw them with a state, so that their event is not
	// taken for a late admission by another master (countLate).
	counted map[types.UID]struct{}
	// lateUses holds the admitted tasks that were counted (by a rebuild,
	// or as another master's admissions) when none of their offers was
	// in the cache: the informer may show an offer after the tasks
	// admitted on it. Each is charged to the first of its offers to
	// appear, or dropped lateUseWindow after its admission.
	lateUses map[types.UID]*lateUse
	// made holds offers committed for creation that the informer has not
	// shown yet.
	made map[types.NamespacedName]*madeOffer
	// deleting holds offers this master is deleting, perhaps still shown,
	// and since when a delete whose outcome was unclear waits for the
	// informer (zero while the delete is on its way).
	deleting map[types.NamespacedName]time.Time
	// filters holds until when a framework refuses an agent.
	filters filters
	// generation counts admissions: a cycle's plan made on an older
	// snapshot must not be committed.
	generation uint64
	rebuilt    bool
}

type assumedTask struct {
	*task
	offers []types.NamespacedName
	// need is what the task took from its first offer.
	need allocator.Vector
	// at is when it was admitted; written when its TASK_STAGING write
	// came back (zero while it is on its way), from which its grace runs.
	at, written time.Time
}

// expired reports whether reservation at's write came back more than
// Grace before now.
func (at *assumedTask) expired(now time.Time) bool {
	return !at.written.IsZero() && now.Sub(at.written) > Grace
}

// admitted records a task admitted on offer k at time at, whose launch
// said it creates n tasks. The caller holds the lock.
func (c *Cache) admitted(k types.NamespacedName, at time.Time, n int) {
	c.uses[k] = append(c.uses[k], at)
	c.wants[k] = max(c.wants[k], n)
}

// complete reports whether every task of offer k's launch was admitted,
// when the launch said how many it creates. The caller holds the lock.
func (c *Cache) complete(k types.NamespacedName) bool {
	return c.wants[k] > 0 && len(c.uses[k]) >= c.wants[k]
}

// partial reports whether the launch on offer k, not complete, said how
// many tasks it creates and fewer exist: a task that was refused counts,
// one whose create has not reached the master does not. The caller holds
// the lock.
func (c *Cache) partial(k types.NamespacedName) bool {
	if c.complete(k) {
		return false
	}
	size := c.wants[k]
	for _, n := range c.launched[k] {
		size = max(size, n)
	}
	return size > 0 && len(c.launched[k]) < size
}

// launchedOn records task uid, of a launch of n tasks, of the offer's own
// framework, on offer k. An offer records at most kmv1.MaxLaunchTasks, the
// largest launch: past that it is not partial, however many more come
// (refused tasks of a tenant that names it again and again). The caller
// holds the lock.
func (l *ledger) launchedOn(k types.NamespacedName, uid types.UID, n int) {
	m := l.launched[k]
	if m == nil {
		m = map[types.UID]int{}
		l.launched[k] = m
	}
	if _, ok := m[uid]; ok || len(m) < kmv1.MaxLaunchTasks {
		m[uid] = n
	}
}

type madeOffer struct {
	offer
	// at is when its create came back (Created); zero while the create
	// is on its way, however long a busy API server takes to answer.
	at time.Time
}

func newLedger() ledger {
	return ledger{
		use:      map[types.NamespacedName]allocator.Vector{},
		uses:     map[types.NamespacedName][]time.Time{},
		wants:    map[types.NamespacedName]int{},
		launched: map[types.NamespacedName]map[types.UID]int{},
		assumed:  map[types.UID]*assumedTask{},
		settled:  map[types.UID]*assumedTask{},
		counted:  map[types.UID]struct{}{},
		lateUses: map[types.UID]*lateUse{},
		made:     map[types.NamespacedName]*madeOffer{},
		deleting: map[types.NamespacedName]time.Time{},
		filters:  filters{},
	}
}

// forgetOffer drops what the ledger knows of a gone offer.
func (l *ledger) forgetOffer(key types.NamespacedName) {
	delete(l.use, key)
	delete(l.uses, key)
	delete(l.wants, key)
	delete(l.launched, key)
	delete(l.made, key)
}

// Verdict is the outcome of Reserve.
type Verdict struct {
	// State is TASK_STAGING when the task was reserved, TASK_ERROR or
	// TASK_DROPPED when it was refused, and "" when it is already
	// reserved and waits for its informer event.
	State   kmv1.TaskState
	Reason  kmv1.TaskReason
	Message string
	// Agent is the agent of the offers, for a reserved task.
	Agent *kmv1.Agent
	// Wait is, for a task already reserved (State ""), how long until
	// its reservation's grace ends (Grace after its write came back): if
	// the informer has not shown the task admitted by then, its write is
	// taken as not applied and the next Reserve reserves it again.
	Wait time.Duration
	// Need is what the task takes from its offers' agent.
	Need corev1.ResourceList
}

func invalid(reason kmv1.TaskReason, format string, args ...any) Verdict {
	return Verdict{State: kmv1.TaskError, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

func dropped(format string, args ...any) Verdict {
	return Verdict{State: kmv1.TaskDropped, Reason: kmv1.ReasonInvalidOffers, Message: fmt.Sprintf(format, args...)}
}

// Reserve checks a task against its offers and their agent and, when it
// fits in what the offers have left and in what the agent has now (its
// resources less what its live and assumed tasks take), assumes it
// admitted: its resources (and its executor's, for the executor's first
// task there, from the offers only when they do not list the executor in
// spec.executorIDs) are taken from its first offer and charged to its
// agent at once, so no later reservation or cycle can promise them
// again. The caller then writes TASK_STAGING and, if the write failed,
// calls Forget, or Wrote once the write came back (it may have been
// applied). A task reserved within Grace of its write is not reserved
// again (the Verdict has no State and says how long the grace has left);
// past it, a task still without a state is reserved anew in place of its
// earlier reservation. The framework's own checks are the caller's.
func (c *Cache) Reserve(t *kmv1.Task) Verdict {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.states[t.UID]; ok && st.state != "" {
		// The caller read the task before the informer showed it
		// admitted (or refused): nothing to reserve, and no wait.
		return Verdict{}
	}
	now := c.clock.Now()
	if at, ok := c.assumed[t.UID]; ok && !at.expired(now) {
		left := Grace
		if !at.written.IsZero() {
			left -= now.Sub(at.written)
		}
		return Verdict{Wait: max(left, time.Second)}
	}
	// A task still without a state past its reservation's grace: its
	// write was not applied, and it is reserved anew in place of what
	// the reservation took.
	c.undo(t.UID)
	capacity := c.names.Zero()
	agentID := ""
	listed := false // whether an offer lists the task's executor
	var keys []types.NamespacedName
	seen := map[string]bool{}
	for _, id := range t.Spec.OfferIDs {
		if seen[id] {
			return invalid(kmv1.ReasonInvalidOffers, "offer %s is named twice in spec.offerIDs", id)
		}
		seen[id] = true
		key := types.NamespacedName{Namespace: t.Namespace, Name: id}
		o := c.outstanding(key)
		if _, gone := c.deleting[key]; gone || o == nil || o.obj.DeletionTimestamp != nil {
			return dropped("offer %s no longer exists: it was used by other tasks, declined or rescinded; launch on a current offer", id)
		}
		if o.obj.Spec.Framework != t.Spec.Framework {
			return invalid(kmv1.ReasonInvalidOffers, "offer %s belongs to framework %q, not %q", id, o.obj.Spec.Framework, t.Spec.Framework)
		}
		if agentID != "" && o.obj.Spec.AgentID != agentID {
			return invalid(kmv1.ReasonInvalidOffers, "the offers are on different agents (%s and %s); a task runs on one agent", agentID, o.obj.Spec.AgentID)
		}
		agentID = o.obj.Spec.AgentID
		listed = listed || t.Spec.Executor != nil && o.obj.ListsExecutor(t.Spec.Executor.ExecutorID)
		capacity = capacity.Add(o.resources).Sub(c.use[key])
		keys = append(keys, key)
	}
	if t.Spec.AgentID != "" && t.Spec.AgentID != agentID {
		return invalid(kmv1.ReasonInvalidOffers, "spec.agentID %s does not match the offers' agent %s", t.Spec.AgentID, agentID)
	}
	a := c.byAgentID[agentID]
	if a == nil || a.obj.Status.Phase != kmv1.AgentActive {
		return dropped("agent %s of the offers is no longer active", agentID)
	}
	// need is what the task takes from its offers, and onAgent what it
	// takes from its agent: with its executor's resources when it is the
	// executor's first task there, which the offers hold unless they were
	// made while the executor ran a task (then its resources are not in
	// them, though the executor may have no task left now).
	// A resource that no agent has ever offered is in none of the offers;
	// refused before its name enters the table, which tenants' made-up
	// names would otherwise grow without bound.
	lists := []kmv1.ResourceList{t.Spec.Resources}
	if t.Spec.Executor != nil {
		lists = append(lists, t.Spec.Executor.Resources)
	}
	for _, rl := range lists {
		if name, ok := c.names.Unknown(rl.Core()); ok {
			return invalid(kmv1.ReasonTaskInvalid, "no agent offers %s, which the task needs: its offers cannot have it", name)
		}
	}
	ct := c.charge(t, agentID)
	need, onAgent := ct.own.Clone(), ct.own.Clone()
	if ct.executor != (executorOnAgent{}) && c.executors[ct.executor] == nil {
		onAgent = onAgent.Add(ct.execRes)
		if !listed {
			need = need.Add(ct.execRes)
		}
	}
	if !capacity.Fits(need) {
		short := resources.Shortfall(c.names.ResourceList(need), c.names.ResourceList(capacity.ClampZero()))
		return invalid(kmv1.ReasonTaskInvalid, "the task needs more than its offers have left: %s", strings.Join(short, "; "))
	}
	// The agent's resources may have shrunk under its offers (its node's
	// other pods grew) since they were made; the next cycle rescinds
	// them, and until then no task may take what the agent no longer has.
	if left := a.total.Clone().Sub(c.agentUse[agentID]); !left.Fits(onAgent) {
		short := resources.Shortfall(c.names.ResourceList(onAgent), c.names.ResourceList(left.ClampZero()))
		return dropped("agent %s no longer has what its offers promised (its resources shrank; the offers are being rescinded): %s; launch on a current offer",
			agentID, strings.Join(short, "; "))
	}
	at := &assumedTask{task: c.hold(ct), offers: keys, need: need, at: now}
	// The caller's task is its own to change once its write comes back.
	at.obj = t.DeepCopy()
	c.use[keys[0]] = c.use[keys[0]].Clone().Add(need)
	n := kmv1.LaunchTasks(t.Annotations)
	for _, k := range keys {
		c.admitted(k, now, n)
	}
	c.assumed[t.UID] = at
	c.generation++
	return Verdict{State: kmv1.TaskStaging, Agent: a.obj, Need: c.names.ResourceList(onAgent)}
}

// Assumed lists the tasks reserved on agentID that the informer does not
// show admitted yet: their TASK_STAGING is being written, was written, or
// may have been (an unclear write, kept for Grace).
func (c *Cache) Assumed(agentID string) []types.NamespacedName {
	c.mu.Lock()
	defer c.mu.Unlock()
	var keys []types.NamespacedName
	for _, at := range c.assumed {
		if at.agentID == agentID {
			keys = append(keys, types.NamespacedName{Namespace: at.obj.Namespace, Name: at.obj.Name})
		}
	}
	return keys
}

// Wrote records that the TASK_STAGING write of reserved task uid came
// back, applied or perhaps not (an unclear error): the reservation's grace
// runs from now.
func (c *Cache) Wrote(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if at, ok := c.assumed[uid]; ok {
		at.written = c.clock.Now()
	}
}

// outstanding returns offer key as the informer shows it, or as this
// master committed it for creation; nil when it is neither. The caller
// holds the lock.
func (c *Cache) outstanding(key types.NamespacedName) *offer {
	if o := c.offers[key]; o != nil {
		return o
	}
	if m := c.made[key]; m != nil {
		return &m.offer
	}
	return nil
}

// Forget undoes the reservation of a task whose TASK_STAGING was not
// written: its offers (and its agent, if its grace has not ended) get back
// what it took.
func (c *Cache) Forget(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.undo(uid)
}

// undo takes back task uid's reservation, within its grace or settled:
// its offers get back what it took, and each its admission (the window
// runs from the latest use left, and the launch has one task admitted
// fewer; an offer with none is unused again). The caller holds the lock.
func (c *Cache) undo(uid types.UID) {
	at, ok := c.assumed[uid]
	if ok {
		delete(c.assumed, uid)
		c.release(at.task)
	} else if at, ok = c.settled[uid]; ok {
		delete(c.settled, uid)
	} else {
		return
	}
	if u, ok := c.use[at.offers[0]]; ok {
		c.use[at.offers[0]] = u.Clone().Sub(at.need)
	}
	for _, k := range at.offers {
		if i := slices.IndexFunc(c.uses[k], at.at.Equal); i >= 0 {
			c.uses[k] = slices.Delete(c.uses[k], i, i+1)
		}
		if len(c.uses[k]) == 0 {
			delete(c.uses, k)
		}
	}
	c.generation++
}

// expire drops reservation at of task uid past the grace of its write: its agent gets
// back what it held (the informer charges the task if it was admitted),
// and its offers keep what it took, in settled while the task exists. The
// caller holds the lock.
func (c *Cache) expire(uid types.UID, at *assumedTask) {
	c.release(at.task)
	delete(c.assumed, uid)
	if _, exists := c.states[uid]; exists {
		c.settled[uid] = at
	}
}

// Commit records a cycle's plan, made on the snapshot of generation gen:
// the offers it removes and those it makes. It refuses, returning false,
// when a task was reserved since that snapshot (the plan may promise what
// the task took); the caller then plans again on a new snapshot. The
// caller then deletes and creates the offers, and calls Undelete or
// Unmake for each write that failed, and Created for each create that
// came back otherwise.
func (c *Cache) Commit(gen uint64, remove []types.NamespacedName, make []*kmv1.Offer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.generation {
		return false
	}
	for _, k := range remove {
		// An offer that went since the snapshot (declined) is not
		// deleted: nothing would take its key out of deleting.
		if c.outstanding(k) != nil {
			c.deleting[k] = time.Time{}
		}
	}
	for _, o := range make {
		c.made[client.ObjectKeyFromObject(o)] = &madeOffer{
			offer: offer{obj: o, resources: c.names.Vector(o.Spec.Resources.Core()), framework: frameworkOf(o.Namespace, o.Spec.Framework)}}
	}
	return true
}

// BeginDelete records that the master is about to delete an offer, and
// reports false when it already is or the offer is gone.
func (c *Cache) BeginDelete(key types.NamespacedName) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.deleting[key]; ok {
		return false
	}
	if c.outstanding(key) == nil {
		return false
	}
	c.deleting[key] = time.Time{}
	return true
}

// Undelete forgets a deletion that failed: the offer stays outstanding.
func (c *Cache) Undelete(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.deleting, key)
}

// DeleteUnclear records that an offer's deletion came back with an
// unclear error (it may have been applied): the offer stays being deleted,
// so that its informer event is taken for the master's own removal, until
// the informer shows it gone or for Grace; then it is outstanding again.
func (c *Cache) DeleteUnclear(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.deleting[key]; ok {
		c.deleting[key] = c.clock.Now()
	}
}

// Created records that the create of committed offer key came back,
// applied or perhaps not (an unclear error): the offer stays in the
// snapshots until the informer shows it, or for Grace from now. While
// its create is on its way it stays, however long that takes: what it
// offers must not be offered again meanwhile.
func (c *Cache) Created(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.made[key]; m != nil {
		m.at = c.clock.Now()
	}
}

// Unmake forgets an offer whose creation failed.
func (c *Cache) Unmake(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.made, key)
	delete(c.launched, key)
}

// Filter keeps the pair from offers until the given time.
func (c *Cache) Filter(p Pair, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if slot := c.slots.slot(p.Framework); slot >= 0 {
		c.filters.set(p.AgentID, slot, until)
	}
}

// ClearFilters drops every decline filter of a framework, as a Mesos
// REVIVE does.
func (c *Cache) ClearFilters(fw types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if slot := c.slots.slot(fw); slot >= 0 {
		c.filters.drop(slot)
	}
}

// Rebuilt reports whether the ledger was rebuilt since the cache started.
func (c *Cache) Rebuilt() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rebuilt
}

// Rebuild restores, after a leader start, what admitted tasks took from
// the offers that still exist (their resources, and their executor's for
// the first task of an executor on an agent when its offer does not list
// the executor), so that no offer's resources are used twice across a
// failover, and when each task was admitted there and how many its launch
// has, so that each offer's accept window and launch go on where they
// were. tasks are every task, ended ones too: an ended task's use of an
// offer counts while the offer exists.
func (c *Cache) Rebuild(offers []*kmv1.Offer, tasks []*kmv1.Task) {
	_ = c.RebuildFrom(func() ([]*kmv1.Offer, []*kmv1.Task, error) { return offers, tasks, nil })
}

// RebuildFrom is Rebuild of what list reads: every offer and every task,
// from the informers whose events reach the cache. list is called with the
// cache's lock held, so that a task the informers show admitted after it
// listed the task is handled as an admission after the rebuild (counted
// once, by its event), and one they showed before is in the list: none is
// missed between the two (the old leader's late TASK_STAGING of a task
// listed without a state). list must not wait for anything that the
// cache's handlers do, such as WaitHandled: they wait for the lock.
func (c *Cache) RebuildFrom(list func() ([]*kmv1.Offer, []*kmv1.Task, error)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	offers, tasks, err := list()
	if err != nil {
		return err
	}
	byKey := make(map[types.NamespacedName]*kmv1.Offer, len(offers))
	for _, o := range offers {
		byKey[client.ObjectKeyFromObject(o)] = o
	}
	sort.SliceStable(tasks, func(i, j int) bool { return stagedAt(tasks[i]).Before(stagedAt(tasks[j])) })
	// busyUntil is when the last task of each executor on its agent,
	// among those staged so far, ended (the far future while one is
	// live): a task staged after that was the executor's first task
	// there, charged its resources as Reserve did.
	busyUntil := map[executorOnAgent]time.Time{}
	for _, t := range tasks {
		for _, id := range t.Spec.OfferIDs {
			k := types.NamespacedName{Namespace: t.Namespace, Name: id}
			if o := byKey[k]; o != nil && c.offers[k] != nil && o.Spec.Framework == t.Spec.Framework {
				c.launchedOn(k, t.UID, kmv1.LaunchTasks(t.Annotations))
			}
		}
		if !usedOffers(t) {
			continue
		}
		ct := c.charge(t, t.PlacedOn())
		first := false
		if ct.executor != (executorOnAgent{}) {
			until, seen := busyUntil[ct.executor]
			first = !seen || !until.After(stagedAt(t))
			busyUntil[ct.executor] = later(until, endedAt(t))
		}
		c.countUse(t, ct, first, func(k types.NamespacedName) *kmv1.Offer { return byKey[k] })
		if st, ok := c.states[t.UID]; !ok || st.state == "" {
			// Its event with a state is still on its way to the cache.
			c.counted[t.UID] = struct{}{}
		}
	}
	c.rebuilt = true
	return nil
}

// usedOffers reports whether task t was admitted on its offers: it has a
// state other than admission's refusals (only admission moves a task out
// of no state; the agents and the registry write only admitted tasks').
func usedOffers(t *kmv1.Task) bool {
	s := t.Status.State
	return s != "" && s != kmv1.TaskError && s != kmv1.TaskDropped
}

// lateUseWindow is how long after its admission a task counted when none
// of its offers was in the cache waits for one to appear (lateUses):
// longer than an informer lags, far shorter than a live task's life, so
// that the tasks whose offers are long gone are not kept.
const lateUseWindow = 2 * time.Minute

// lateUse is what an admitted task takes from the first of its offers to
// appear in the cache (countUse).
type lateUse struct {
	offers []types.NamespacedName
	// own is what the task takes; execRes its executor's, taken too when
	// first and the offer does not list executorID.
	own, execRes allocator.Vector
	first        bool
	executorID   string
	staged       time.Time
	launch       int
}

// chargeLate charges to offer o, which the cache shows for the first
// time, the admitted tasks counted before it appeared (lateUses). The
// caller holds the lock.
func (c *Cache) chargeLate(key types.NamespacedName, o *kmv1.Offer) {
	for uid, lu := range c.lateUses {
		if !slices.Contains(lu.offers, key) {
			continue
		}
		need := lu.own.Clone()
		if lu.first && !o.ListsExecutor(lu.executorID) {
			need = need.Add(lu.execRes)
		}
		c.use[key] = c.use[key].Clone().Add(need)
		c.admitted(key, lu.staged, lu.launch)
		delete(c.lateUses, uid)
		c.generation++
	}
}

// countUse charges what admitted task t (charged ct) took to its first
// offer that exists (by offer), with its executor's resources when first
// and the offer does not list the executor, and records its admission on
// each of its offers that exists. When none exists and t was admitted
// within lateUseWindow, its use waits for the first to appear
// (lateUses). The caller holds the lock.
func (c *Cache) countUse(t *kmv1.Task, ct *task, first bool, offer func(types.NamespacedName) *kmv1.Offer) {
	took := false
	defer func() {
		if took || len(t.Spec.OfferIDs) == 0 || c.clock.Now().Sub(stagedAt(t)) > lateUseWindow {
			return
		}
		lu := &lateUse{own: ct.own, execRes: ct.execRes, first: first, executorID: ct.executor.executor.ExecutorID,
			staged: stagedAt(t), launch: kmv1.LaunchTasks(t.Annotations)}
		for _, id := range t.Spec.OfferIDs {
			lu.offers = append(lu.offers, types.NamespacedName{Namespace: t.Namespace, Name: id})
		}
		c.lateUses[t.UID] = lu
	}()
	for _, id := range t.Spec.OfferIDs {
		key := types.NamespacedName{Namespace: t.Namespace, Name: id}
		o := offer(key)
		if o == nil {
			continue
		}
		if !took {
			need := ct.own.Clone()
			if first && !o.ListsExecutor(ct.executor.executor.ExecutorID) {
				need = need.Add(ct.execRes)
			}
			c.use[key] = c.use[key].Clone().Add(need)
			took = true
		}
		c.admitted(key, stagedAt(t), kmv1.LaunchTasks(t.Annotations))
	}
}

// countLate charges to its offers a task the informer shows admitted for
// the first time, after the rebuild, that this master did not reserve:
// another master (the leader before this one) admitted it, and the
// informers had not shown it when this one rebuilt. The caller holds the
// lock, before the task is charged to its agent.
func (c *Cache) countLate(t *kmv1.Task) {
	ct := c.charge(t, t.PlacedOn())
	first := ct.executor != (executorOnAgent{}) && c.executors[ct.executor] == nil
	c.countUse(t, ct, first, func(k types.NamespacedName) *kmv1.Offer {
		if o := c.offers[k]; o != nil {
			return o.obj
		}
		return nil
	})
	c.generation++
}

// lastUse is when the latest task was admitted on offer key; zero when
// none was. The caller holds the lock.
func (c *Cache) lastUse(key types.NamespacedName) time.Time {
	var last time.Time
	for _, at := range c.uses[key] {
		if at.After(last) {
			last = at
		}
	}
	return last
}

// endedAt is when task t ended, the far future while it is live.
func endedAt(t *kmv1.Task) time.Time {
	if !t.Status.State.IsTerminal() {
		return farFuture
	}
	if t.Status.CompletionTime != nil {
		return t.Status.CompletionTime.Time
	}
	if t.Status.LastUpdateTime != nil {
		return t.Status.LastUpdateTime.Time
	}
	return stagedAt(t)
}

var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func stagedAt(t *kmv1.Task) time.Time {
	if t.Status.StagingTime != nil {
		return t.Status.StagingTime.Time
	}
	return t.CreationTimestamp.Time
}

// settle drops what waited too long for the informer: reservations and
// creations whose writes were unclear, and filters that ended. What an
// expired reservation took from its offers stays taken (settled) while
// the offers exist. The caller holds the lock.
func (c *Cache) settle(now time.Time) {
	for uid, at := range c.assumed {
		if at.expired(now) {
			c.expire(uid, at)
		}
	}
	for key, since := range c.deleting {
		if !since.IsZero() && now.Sub(since) > Grace {
			delete(c.deleting, key)
		}
	}
	for key, m := range c.made {
		if !m.at.IsZero() && now.Sub(m.at) > Grace {
			delete(c.made, key)
			if c.offers[key] == nil {
				delete(c.launched, key)
			}
		}
	}
	for uid, lu := range c.lateUses {
		if now.Sub(lu.staged) > lateUseWindow {
			delete(c.lateUses, uid)
		}
	}
	c.filters.expire(now)
}
