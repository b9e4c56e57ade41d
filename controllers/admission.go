package controllers

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/resources"
)

// admissionController admits new Tasks against their offers, one at a
// time: a valid task becomes TASK_STAGING, an invalid one TASK_ERROR, and one
// on a gone offer TASK_DROPPED, each with a message that names the problem.
type admissionController struct{ m *Master }

func (m *Master) setupAdmission(mgr ctrl.Manager) error {
	pending := predicate.NewPredicateFuncs(func(o client.Object) bool {
		t, ok := o.(*kmv1.Task)
		return ok && t.Status.State == ""
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("task-admission").
		For(&kmv1.Task{}, builder.WithPredicates(pending)).
		// One admission at a time: together with the ledger this is what
		// keeps an offer from being used twice.
		WithOptions(controller.Options{MaxConcurrentReconciles: 1}).
		Complete(&admissionController{m: m})
}

// verdict is the outcome of checking a task against its offers.
type verdict struct {
	state   kmv1.TaskState // STAGING, ERROR or DROPPED
	reason  kmv1.TaskReason
	message string
	agent   *kmv1.Agent
	offers  []types.NamespacedName
	need    corev1.ResourceList
}

func invalid(reason kmv1.TaskReason, format string, args ...any) verdict {
	return verdict{state: kmv1.TaskError, reason: reason, message: fmt.Sprintf(format, args...)}
}

func dropped(format string, args ...any) verdict {
	return verdict{state: kmv1.TaskDropped, reason: kmv1.ReasonInvalidOffers, message: fmt.Sprintf(format, args...)}
}

// Reconcile admits one pending task.
func (a *admissionController) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return requeueOnConflict(a.admit(ctx, req))
}

func (a *admissionController) admit(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	m := a.m
	var task kmv1.Task
	if err := m.Client.Get(ctx, req.NamespacedName, &task); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if task.Status.State != "" || task.DeletionTimestamp != nil {
		return ctrl.Result{}, nil
	}
	l := m.ledger
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, done := l.admitted[task.UID]; done {
		return ctrl.Result{}, nil // staged by us; the cache has not caught up
	}
	if !l.rebuilt {
		// A new leader restores what staged tasks took from offers before
		// it admits anything, so no offer is used twice across a failover.
		if err := m.rebuildLedger(ctx); err != nil {
			return ctrl.Result{}, err
		}
	}
	v, err := m.check(ctx, &task)
	if err != nil {
		return ctrl.Result{}, err
	}
	if v.state != kmv1.TaskStaging {
		ok, err := m.writeTaskStatus(ctx, &task, masterStatus{state: v.state, reason: v.reason, message: v.message}, nil)
		if err != nil {
			return ctrl.Result{}, err
		}
		if ok {
			m.Recorder.Eventf(&task, nil, corev1.EventTypeWarning, "TaskRefused", "Admit", "%s: %s", v.state, v.message)
		}
		return ctrl.Result{}, nil
	}
	now := metav1.NewTime(m.Clock.Now())
	executorID := task.Name
	if task.Spec.Executor != nil {
		executorID = task.Spec.Executor.ExecutorID
	}
	ok, err := m.writeTaskStatus(ctx, &task, masterStatus{state: kmv1.TaskStaging, message: "admitted on " + v.agent.Name}, func(s *kmv1.TaskStatus) {
		s.AgentID = v.agent.Status.AgentID
		s.NodeName = v.agent.Name
		s.ExecutorID = executorID
		s.StagingTime = &now
	})
	if err != nil || !ok {
		return ctrl.Result{}, err
	}
	for i, key := range v.offers {
		if i == 0 {
			l.use(key, v.need, now.Time)
		} else {
			l.use(key, nil, now.Time)
		}
	}
	l.admitted[task.UID] = admission{agentID: v.agent.Status.AgentID, framework: types.NamespacedName{Namespace: task.Namespace, Name: string(task.Spec.Framework)},
		resources: v.need, executor: customExecutor(&task), at: now.Time}
	ctrl.LoggerFrom(ctx).V(2).Info("task staged", "task", req.NamespacedName, "agent", v.agent.Name, "resources", resources.String(v.need))
	return ctrl.Result{}, nil
}

// customExecutor is the task's custom executor, or zero for a command task.
func customExecutor(t *kmv1.Task) kmv1.ExecutorRef {
	if t.Spec.Executor == nil {
		return kmv1.ExecutorRef{}
	}
	return t.Executor()
}

// check validates task against its framework, offers and agent. The caller
// holds the ledger lock.
func (m *Master) check(ctx context.Context, task *kmv1.Task) (verdict, error) {
	l := m.ledger
	var fw kmv1.Framework
	fwKey := types.NamespacedName{Namespace: task.Namespace, Name: string(task.Spec.Framework)}
	if err := m.Client.Get(ctx, fwKey, &fw); apierrors.IsNotFound(err) {
		return invalid(kmv1.ReasonTaskInvalid, "framework %q does not exist in namespace %s", fwKey.Name, fwKey.Namespace), nil
	} else if err != nil {
		return verdict{}, fmt.Errorf("reading framework %s: %w", fwKey, err)
	}
	switch {
	case fw.Status.FrameworkID == "":
		return invalid(kmv1.ReasonTaskInvalid, "framework %q is not registered yet", fw.Name), nil
	case fw.DeletionTimestamp != nil || fw.Status.Phase == kmv1.FrameworkCompleted || fw.Status.Phase == kmv1.FrameworkFailed || fw.Status.Phase == kmv1.FrameworkTearingDown:
		return invalid(kmv1.ReasonTaskInvalid, "framework %q is %s and launches no more tasks", fw.Name, fw.Status.Phase), nil
	}
	if len(task.Spec.Resources) == 0 || resources.IsZero(task.Spec.Resources.Core()) {
		return invalid(kmv1.ReasonTaskInvalid, "spec.resources is empty: a task must take resources such as cpu or memory from its offers"), nil
	}

	v := verdict{state: kmv1.TaskStaging}
	capacity := corev1.ResourceList{}
	agentID := ""
	seen := map[string]bool{}
	for _, id := range task.Spec.OfferIDs {
		if seen[id] {
			return invalid(kmv1.ReasonInvalidOffers, "offer %s is named twice in spec.offerIDs", id), nil
		}
		seen[id] = true
		key := types.NamespacedName{Namespace: task.Namespace, Name: id}
		var o kmv1.Offer
		_, gone := l.deleted[key]
		if !gone {
			if err := m.Client.Get(ctx, key, &o); apierrors.IsNotFound(err) {
				c, ok := l.created[key]
				if !ok {
					gone = true
				} else {
					o.Spec = kmv1.OfferSpec{Framework: kmv1.ObjectName(c.framework.Name), AgentID: c.agentID, Resources: kmv1.ResourceList(c.resources)}
				}
			} else if err != nil {
				return verdict{}, fmt.Errorf("reading offer %s: %w", key, err)
			}
		}
		if gone || o.DeletionTimestamp != nil {
			return dropped("offer %s no longer exists: it was used by other tasks, declined or rescinded; launch on a current offer", id), nil
		}
		if string(o.Spec.Framework) != fw.Name {
			return invalid(kmv1.ReasonInvalidOffers, "offer %s belongs to framework %q, not %q", id, o.Spec.Framework, fw.Name), nil
		}
		if agentID != "" && o.Spec.AgentID != agentID {
			return invalid(kmv1.ReasonInvalidOffers, "the offers are on different agents (%s and %s); a task runs on one agent", agentID, o.Spec.AgentID), nil
		}
		agentID = o.Spec.AgentID
		capacity = resources.Add(capacity, resources.Sub(o.Spec.Resources.Core(), l.offerUse[key]))
		v.offers = append(v.offers, key)
	}
	if task.Spec.AgentID != "" && task.Spec.AgentID != agentID {
		return invalid(kmv1.ReasonInvalidOffers, "spec.agentID %s does not match the offers' agent %s", task.Spec.AgentID, agentID), nil
	}

	var agents kmv1.AgentList
	if err := m.Client.List(ctx, &agents); err != nil {
		return verdict{}, fmt.Errorf("reading agents: %w", err)
	}
	for i := range agents.Items {
		if agents.Items[i].Status.AgentID == agentID {
			v.agent = &agents.Items[i]
		}
	}
	if v.agent == nil || v.agent.Status.Phase != kmv1.AgentActive {
		return dropped("agent %s of the offers is no longer active", agentID), nil
	}

	charged, err := m.chargedOn(ctx, task, agentID)
	if err != nil {
		return verdict{}, err
	}
	v.need = charged.of(task, agentID)
	if short := resources.Shortfall(v.need, capacity); len(short) > 0 {
		return invalid(kmv1.ReasonTaskInvalid, "the task needs more than its offers have left: %s", strings.Join(short, "; ")), nil
	}
	return v, nil
}

// chargedOn returns the executors already charged on the agent: those of
// its live tasks (other than task) and of the tasks staged but not yet in
// the cache.
func (m *Master) chargedOn(ctx context.Context, task *kmv1.Task, agentID string) (charges, error) {
	charged := m.ledger.admittedExecutors()
	var tasks kmv1.TaskList
	if err := m.Client.List(ctx, &tasks, client.MatchingFields{IndexTaskAgentID: agentID}); err != nil {
		return nil, fmt.Errorf("listing the tasks of agent %s: %w", agentID, err)
	}
	for i := range tasks.Items {
		if t := &tasks.Items[i]; t.UID != task.UID && liveTask(t) {
			charged.mark(t, agentID)
		}
	}
	return charged, nil
}
