package controllers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/metrics"
)

// agentRegistry admits agents, watches their heartbeat Leases, and marks
// them Unreachable or Gone, as the Mesos master's agent registry does.
type agentRegistry struct {
	m *Master
	// removals holds when this master first saw each agent removed (by
	// name, for its agentID then): the earliest a renewal it saw may count
	// as the agent's return. status.unreachableTime may come from another
	// leader's clock, which a renewal timed by this one's must not be
	// compared with. Forgotten once the agent is back, or its Agent gone.
	removals firstSight[string]
}

func (m *Master) setupAgentRegistry(mgr ctrl.Manager) error {
	r := &agentRegistry{m: m}
	leaseToAgent := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		if o.GetNamespace() != m.Options.SystemNamespace || !strings.HasPrefix(o.GetName(), kmv1.AgentLeasePrefix) {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: strings.TrimPrefix(o.GetName(), kmv1.AgentLeasePrefix)}}}
	})
	nodeToAgent := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: o.GetName()}}}
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("agent-registry").
		For(&kmv1.Agent{}).
		Watches(&coordinationv1.Lease{}, leaseToAgent).
		Watches(&corev1.Node{}, nodeToAgent, builder.WithPredicates(predicate.Funcs{
			// Only a Node's coming and going matters here.
			UpdateFunc: func(_ event.UpdateEvent) bool { return false },
		})).
		Complete(r)
}

// After an agent is removed, the registry sweeps its tasks to TASK_LOST
// every lostSweepInterval for lostSweepPeriod.
const (
	lostSweepInterval = 10 * time.Second
	lostSweepPeriod   = 5 * time.Minute
)

// newAgentID returns a fresh agentID for node: the node's name (cut to fit)
// and 8 random hex digits, so every admission gets an ID never used before.
func newAgentID(node string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	if len(node) > 100 {
		node = node[:100]
	}
	return node + "-" + hex.EncodeToString(b[:])
}

// Reconcile brings one Agent's registry record up to date with its Lease
// and Node.
func (r *agentRegistry) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return requeueOnConflict(r.reconcile(ctx, req))
}

func (r *agentRegistry) reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	m := r.m
	log := ctrl.LoggerFrom(ctx)
	var agent kmv1.Agent
	leaseKey := types.NamespacedName{Namespace: m.Options.SystemNamespace, Name: kmv1.AgentLeaseName(req.Name)}
	if err := m.Client.Get(ctx, req.NamespacedName, &agent); err != nil {
		if apierrors.IsNotFound(err) {
			m.renewals.Forget(leaseKey)
			m.removal.Release(req.Name)
			r.removals.forget(req.Name)
			// Its agentIDs are gone with it: their live tasks are lost, as
			// those of a removed agent are.
			return ctrl.Result{}, r.loseTasksOfOtherAgentIDs(ctx, req.Name, "")
		}
		return ctrl.Result{}, err
	}
	now := m.Clock.Now()

	nodeGone := false
	var node corev1.Node
	if err := m.Client.Get(ctx, types.NamespacedName{Name: agent.Spec.NodeName}, &node); apierrors.IsNotFound(err) {
		nodeGone = true
	} else if err != nil {
		return ctrl.Result{}, fmt.Errorf("reading node %s: %w", agent.Spec.NodeName, err)
	}

	var lease coordinationv1.Lease
	var stamp time.Time
	if err := m.Client.Get(ctx, leaseKey, &lease); err == nil && lease.Spec.RenewTime != nil {
		stamp = lease.Spec.RenewTime.Time
	} else if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("reading lease %s: %w", leaseKey, err)
	}
	// The agent's clock only tells that it renewed; the master's times it.
	renew, witnessed := m.renewals.Observe(leaseKey, stamp)
	deadline := renew.Add(m.Options.AgentTimeout())
	fresh := !renew.IsZero() && now.Before(deadline)

	switch agent.Status.Phase {
	case "", kmv1.AgentRegistering:
		// Not held back by the removal limit (an Agent deleted and made
		// again under its name while held).
		m.removal.Release(agent.Name)
		if nodeGone || !fresh || !witnessed {
			// Admission waits for a renewal that this master saw happen:
			// a Lease left by a dead agent is not a heartbeat.
			return ctrl.Result{}, r.setRegistering(ctx, &agent)
		}
		return r.admit(ctx, &agent, kmv1.ReasonAdmitted, deadline.Sub(now))

	case kmv1.AgentActive, kmv1.AgentDraining:
		if nodeGone {
			m.removal.Release(agent.Name)
			return ctrl.Result{}, r.remove(ctx, &agent, kmv1.AgentGone, kmv1.ReasonNodeDeleted,
				fmt.Sprintf("node %s was deleted", agent.Spec.NodeName))
		}
		// A removal that lost the agent's tasks but did not mark the agent
		// (its master died, or its write conflicted, half-way) is finished,
		// whatever the heartbeat says now: those tasks are lost for good,
		// and the agent comes back under a new agentID.
		if started, err := r.removalStarted(ctx, &agent); err != nil {
			return ctrl.Result{}, err
		} else if started {
			return ctrl.Result{}, r.remove(ctx, &agent, kmv1.AgentUnreachable, kmv1.ReasonHeartbeatExpired,
				"finishing a removal that had marked the agent's tasks TASK_LOST")
		}
		if fresh {
			m.removal.Release(agent.Name)
			return ctrl.Result{RequeueAfter: deadline.Sub(now)}, nil
		}
		if err := r.rememberRemovals(ctx); err != nil {
			return ctrl.Result{}, err
		}
		if wait := m.removal.Reserve(agent.Name, agent.Status.AgentID); wait > 0 {
			metrics.AgentRemovalsDeferred.Inc()
			log.Info("agent heartbeat expired; removal deferred by --agent-removal-rate-limit", "agent", agent.Name, "wait", wait)
			return ctrl.Result{RequeueAfter: wait}, nil
		}
		msg := fmt.Sprintf("no heartbeat for %s (last renewal %s)", m.Options.AgentTimeout(), renew.UTC().Format(time.RFC3339))
		if stamp.IsZero() {
			msg = fmt.Sprintf("heartbeat Lease %s is missing, and no renewal for %s", leaseKey, m.Options.AgentTimeout())
		}
		return ctrl.Result{}, r.remove(ctx, &agent, kmv1.AgentUnreachable, kmv1.ReasonHeartbeatExpired, msg)

	case kmv1.AgentUnreachable, kmv1.AgentGone:
		removedSince := r.removals.since(agent.Name, agent.Status.AgentID, now)
		m.removal.Release(agent.Name)
		// Finish what marking it removed started (a failover may have
		// cut it short), then re-admit it only on a heartbeat newer than
		// its removal: it comes back as a new agent.
		if _, err := r.loseTasksAndOffers(ctx, &agent, agent.Status.Phase); err != nil {
			return ctrl.Result{}, err
		}
		if nodeGone && agent.Status.Phase == kmv1.AgentUnreachable {
			// An unreachable agent whose node is deleted is gone: it will
			// not come back (its tasks are lost already).
			msg := fmt.Sprintf("node %s was deleted", agent.Spec.NodeName)
			return ctrl.Result{}, r.patchStatus(ctx, &agent, func(s *kmv1.AgentStatus) {
				s.Phase = kmv1.AgentGone
				s.Message = msg
				meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: kmv1.AgentReady, Status: metav1.ConditionFalse, Reason: kmv1.ReasonNodeDeleted,
					Message: msg, ObservedGeneration: agent.Generation})
			})
		}
		if !nodeGone && fresh && witnessed && renew.After(removedSince) {
			return r.admit(ctx, &agent, kmv1.ReasonReadmitted, deadline.Sub(now))
		}
		// A task staged just as the agent was removed may reach the cache
		// late: look again for a while.
		removedAt := time.Time{}
		if agent.Status.UnreachableTime != nil {
			removedAt = agent.Status.UnreachableTime.Time
		}
		if now.Sub(removedAt) < lostSweepPeriod {
			return ctrl.Result{RequeueAfter: lostSweepInterval}, nil
		}
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, nil
}

func (r *agentRegistry) setRegistering(ctx context.Context, agent *kmv1.Agent) error {
	if agent.Status.Phase == kmv1.AgentRegistering {
		return nil
	}
	return r.patchStatus(ctx, agent, func(s *kmv1.AgentStatus) {
		s.Phase = kmv1.AgentRegistering
		s.Message = "waiting for the agent's heartbeat Lease"
	})
}

// admit gives the agent a new agentID and makes it Active.
func (r *agentRegistry) admit(ctx context.Context, agent *kmv1.Agent, reason string, requeue time.Duration) (ctrl.Result, error) {
	m := r.m
	now := metav1.NewTime(m.Clock.Now())
	id := newAgentID(agent.Name)
	old := agent.Status.AgentID
	err := r.patchStatus(ctx, agent, func(s *kmv1.AgentStatus) {
		s.AgentID = id
		s.Phase = kmv1.AgentActive
		s.RegisteredTime = &now
		s.Message = ""
		s.ObservedGeneration = agent.Generation
		meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: kmv1.AgentAdmitted, Status: metav1.ConditionTrue, Reason: reason,
			Message: "agentID " + id, ObservedGeneration: agent.Generation})
		meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: kmv1.AgentReady, Status: metav1.ConditionTrue, Reason: kmv1.ReasonHeartbeatFresh,
			Message: "the heartbeat Lease is being renewed", ObservedGeneration: agent.Generation})
	})
	if err != nil {
		return ctrl.Result{}, err
	}
	r.removals.forget(agent.Name)
	// Tasks of an agentID the node had before that were never lost (its
	// Agent was deleted and made again) are lost now.
	if err := r.loseTasksOfOtherAgentIDs(ctx, agent.Name, id); err != nil {
		return ctrl.Result{}, err
	}
	note := "admitted agent " + id
	if old != "" {
		note = fmt.Sprintf("re-admitted as a new agent %s (was %s; its old tasks stay lost)", id, old)
	}
	m.Recorder.Eventf(agent, nil, corev1.EventTypeNormal, reason, "Admit", note)
	ctrl.LoggerFrom(ctx).Info("agent admitted", "agent", agent.Name, "agentID", id, "previous", old)
	m.Trigger()
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// remove rescinds the agent's offers and marks its live tasks TASK_LOST,
// then marks the agent Unreachable or Gone. The tasks go first: a task is
// terminal before the registry says its agentID is removed, so that no
// status from that agentID (the agent's TASK_STARTING of a task it had
// not yet seen lost) can land after the removal; terminal states are
// immutable (the Task's CEL rules). A master that dies half-way leaves an
// Active agent with an expired heartbeat, which the next leader removes
// again, or, if its heartbeat came back, an Active agent whose lost tasks
// stay lost. Tasks that reach the cache late are swept again while the
// agent stays removed (the Unreachable case of Reconcile).
func (r *agentRegistry) remove(ctx context.Context, agent *kmv1.Agent, phase kmv1.AgentPhase, reason, msg string) error {
	m := r.m
	lost, err := r.loseTasksAndOffers(ctx, agent, phase)
	// Nothing marked: the agent is not removed yet, and may stage tasks
	// again if its heartbeat comes back first.
	unmarked := func() {
		if lost == 0 && agent.Status.AgentID != "" {
			m.stagings.Restore(agent.Status.AgentID)
		}
	}
	if err != nil {
		unmarked()
		return err
	}
	now := metav1.NewTime(m.Clock.Now())
	if err := r.patchStatus(ctx, agent, func(s *kmv1.AgentStatus) {
		s.Phase = phase
		s.UnreachableTime = &now
		s.Message = msg
		meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: kmv1.AgentReady, Status: metav1.ConditionFalse, Reason: reason,
			Message: msg, ObservedGeneration: agent.Generation})
	}); err != nil {
		unmarked()
		return err
	}
	m.Recorder.Eventf(agent, nil, corev1.EventTypeWarning, reason, "Remove", "agent %s is %s: %s; its tasks are lost", agent.Status.AgentID, phase, msg)
	ctrl.LoggerFrom(ctx).Info("agent removed", "agent", agent.Name, "agentID", agent.Status.AgentID, "phase", phase, "reason", msg)
	return nil
}

// removalStarted reports whether a removal of the agent's current agentID
// began: one of its tasks is TASK_LOST by the master for its agent's
// removal, which only remove writes (before it marks the agent).
func (r *agentRegistry) removalStarted(ctx context.Context, agent *kmv1.Agent) (bool, error) {
	if agent.Status.AgentID == "" {
		return false, nil
	}
	var tasks kmv1.TaskList
	if err := r.m.Client.List(ctx, &tasks, client.MatchingFields{IndexTaskLostByRemoval: agent.Status.AgentID}, client.Limit(1)); err != nil {
		return false, fmt.Errorf("listing the lost tasks of agent %s: %w", agent.Status.AgentID, err)
	}
	return len(tasks.Items) > 0, nil
}

// loseTasksAndOffers stops the staging of tasks on the agent's current
// agentID, rescinds the agent's offers and marks every live task of that
// agentID TASK_LOST (SOURCE_MASTER, REASON_AGENT_REMOVED), the agent being
// phase (removed, or being removed). The tasks are those the informers
// show and those admission staged that they may not show yet (the
// scheduling cache's assumptions, read from the API server). It returns
// how many it marked.
func (r *agentRegistry) loseTasksAndOffers(ctx context.Context, agent *kmv1.Agent, phase kmv1.AgentPhase) (int, error) {
	m := r.m
	id := agent.Status.AgentID
	if id != "" {
		m.stagings.Remove(id)
	}
	if err := m.rescindOffersOnNode(ctx, agent.Name, "agent "+string(phase)); err != nil {
		return 0, err
	}
	if id == "" {
		return 0, nil
	}
	// The assumptions before the list: one that the informer confirms in
	// between is in its index before the cache drops it.
	staged := m.sched.Assumed(id)
	var tasks kmv1.TaskList
	if err := m.Client.List(ctx, &tasks, client.MatchingFields{IndexTaskAgentID: id}); err != nil {
		return 0, fmt.Errorf("listing the tasks of agent %s: %w", id, err)
	}
	late, err := r.stagedLate(ctx, id, staged, tasks.Items)
	if err != nil {
		return 0, err
	}
	tasks.Items = append(tasks.Items, late...)
	msg := fmt.Sprintf("agent %s on node %s is %s", id, agent.Name, phase)
	return r.loseAll(ctx, tasks.Items, func(*kmv1.Task) string { return msg })
}

// loseAll marks every live task of tasks TASK_LOST (SOURCE_MASTER,
// REASON_AGENT_REMOVED) with the message msg gives it, and returns how many
// it marked and the first error.
func (r *agentRegistry) loseAll(ctx context.Context, tasks []kmv1.Task, msg func(*kmv1.Task) string) (int, error) {
	lost := 0
	var firstErr error
	for i := range tasks {
		t := &tasks[i]
		if t.Status.State.IsTerminal() {
			continue
		}
		ok, err := r.m.writeTaskStatus(ctx, r.m.registryClient, t, masterStatus{state: kmv1.TaskLost, reason: kmv1.ReasonAgentRemoved, message: msg(t)}, nil)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if ok {
			lost++
		}
	}
	return lost, firstErr
}

// loseTasksOfOtherAgentIDs marks TASK_LOST (SOURCE_MASTER,
// REASON_AGENT_REMOVED) every live task staged on node under an agentID
// other than keep: tasks of an Agent that was deleted, which no removal
// lost, and whose agent, if it runs on, kills their executors as an agent
// re-admitted under a new agentID does.
func (r *agentRegistry) loseTasksOfOtherAgentIDs(ctx context.Context, node, keep string) error {
	m := r.m
	var tasks kmv1.TaskList
	if err := m.Client.List(ctx, &tasks, client.MatchingFields{IndexTaskNode: node}); err != nil {
		return fmt.Errorf("listing the tasks of node %s: %w", node, err)
	}
	others := slices.DeleteFunc(tasks.Items, func(t kmv1.Task) bool { return t.PlacedOn() == keep })
	_, err := r.loseAll(ctx, others, func(t *kmv1.Task) string {
		return fmt.Sprintf("agent %s on node %s is gone: its Agent was deleted", t.PlacedOn(), node)
	})
	return err
}

// stagedLate reads from the API server the tasks that admission staged on
// agentID (staged) that the informers' list (known) does not have yet.
func (r *agentRegistry) stagedLate(ctx context.Context, agentID string, staged []types.NamespacedName, known []kmv1.Task) ([]kmv1.Task, error) {
	if len(staged) == 0 {
		return nil, nil
	}
	listed := make(map[types.NamespacedName]bool, len(known))
	for i := range known {
		listed[client.ObjectKeyFromObject(&known[i])] = true
	}
	var late []kmv1.Task
	for _, key := range staged {
		if listed[key] {
			continue
		}
		var t kmv1.Task
		if err := r.m.apiReader.Get(ctx, key, &t); apierrors.IsNotFound(err) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("reading task %s, staged on agent %s: %w", key, agentID, err)
		}
		if t.Status.AgentID == agentID {
			late = append(late, t)
		}
	}
	return late, nil
}

// patchStatus writes the Agent's status if mutate changed it. The master is
// the only writer of Agent status.
func (r *agentRegistry) patchStatus(ctx context.Context, agent *kmv1.Agent, mutate func(*kmv1.AgentStatus)) error {
	patched := agent.DeepCopy()
	mutate(&patched.Status)
	if equality.Semantic.DeepEqual(agent.Status, patched.Status) {
		return nil
	}
	if err := r.m.registryClient.Status().Patch(ctx, patched, client.MergeFromWithOptions(agent, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("writing the status of agent %s: %w", agent.Name, err)
	}
	*agent = *patched
	return nil
}

// rememberRemovals tells the removal limiter the removals that the
// registry records (the Unreachable Agents' status.unreachableTime), which
// an earlier leader may have made: the limit holds across failovers. It
// reads the cache.
func (r *agentRegistry) rememberRemovals(ctx context.Context) error {
	var agents kmv1.AgentList
	if err := r.m.Client.List(ctx, &agents); err != nil {
		return fmt.Errorf("listing agents for the removal limit: %w", err)
	}
	for i := range agents.Items {
		st := &agents.Items[i].Status
		if st.Phase == kmv1.AgentUnreachable && st.UnreachableTime != nil && st.AgentID != "" {
			r.m.removal.Remember(st.AgentID, st.UnreachableTime.Time)
		}
	}
	return nil
}
