package controllers

import (
	"context"
	"fmt"

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
	"github.com/kubemesos/kubemesos/controllers/allocator"
	"github.com/kubemesos/kubemesos/controllers/schedcache"
	"github.com/kubemesos/kubemesos/internal/resources"
)

// admissionWorkers is how many tasks are admitted at once: each admission
// is a reservation in the scheduling cache (microseconds, under its lock)
// and then one status write that waits on the API server, so admissions
// are bound by that round trip; with 8 at a time the scale suite's tasks
// waited in the queue longer than their whole run (docs/performance.md).
const admissionWorkers = 32

// admissionController admits new Tasks against their offers: a valid task
// becomes TASK_STAGING, an invalid one TASK_ERROR, and one on a gone offer
// TASK_DROPPED, each with a message that names the problem.
type admissionController struct{ m *Master }

func (m *Master) setupAdmission(mgr ctrl.Manager) error {
	pending := predicate.NewPredicateFuncs(func(o client.Object) bool {
		t, ok := o.(*kmv1.Task)
		return ok && t.Status.State == ""
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("task-admission").
		For(&kmv1.Task{}, builder.WithPredicates(pending)).
		// Reservations are atomic in the scheduling cache, so admissions
		// run side by side without an offer ever being used twice; each
		// then writes its task's status on its own.
		WithOptions(controller.Options{MaxConcurrentReconciles: admissionWorkers}).
		Complete(&admissionController{m: m})
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
	if err := m.ensureRebuilt(ctx); err != nil {
		return ctrl.Result{}, err
	}
	refused, err := m.checkFramework(ctx, &task)
	if err != nil {
		return ctrl.Result{}, err
	}
	v := refused
	if v.State == "" {
		if v = m.sched.Reserve(&task); v.State == "" {
			// Reserved before, and the informer has not shown it admitted
			// yet. If its write was unclear and not applied, nothing else
			// brings the task back: look again once its grace ends.
			return ctrl.Result{RequeueAfter: v.Wait}, nil
		}
	}
	if v.State == kmv1.TaskStaging && !m.stagings.Begin(v.Agent.Status.AgentID) {
		// The registry is removing the agent: the task would be lost
		// as soon as it is staged.
		m.sched.Forget(task.UID)
		v = schedcache.Verdict{State: kmv1.TaskDropped, Reason: kmv1.ReasonInvalidOffers,
			Message: fmt.Sprintf("agent %s of the offers is being removed (its heartbeat expired or its node is gone); launch on a current offer", v.Agent.Status.AgentID)}
	}
	if v.State != kmv1.TaskStaging {
		ok, err := m.writeTaskStatus(ctx, m.admissionClient, &task, masterStatus{state: v.State, reason: v.Reason, message: v.Message}, nil)
		if err != nil {
			return ctrl.Result{}, err
		}
		if ok {
			m.Recorder.Eventf(&task, nil, corev1.EventTypeWarning, "TaskRefused", "Admit", "%s: %s", v.State, v.Message)
		}
		return ctrl.Result{}, nil
	}
	agentID := v.Agent.Status.AgentID
	defer m.stagings.End(agentID)
	now := metav1.NewTime(m.Clock.Now())
	executorID := task.Name
	if task.Spec.Executor != nil {
		executorID = task.Spec.Executor.ExecutorID
	}
	ok, err := m.writeTaskStatus(ctx, m.admissionClient, &task, masterStatus{state: kmv1.TaskStaging, message: "admitted on " + v.Agent.Name}, func(s *kmv1.TaskStatus) {
		s.AgentID = agentID
		s.NodeName = v.Agent.Name
		s.ExecutorID = executorID
		s.StagingTime = &now
	})
	switch {
	case ok || err != nil && isUnclear(err) || apierrors.IsConflict(err) && m.stagedSince(ctx, &task):
		// Written, or perhaps (unclear), or the conflict of a task that
		// has a state now (an earlier write of this reservation's, taken
		// as not applied, was applied after all): the reservation waits
		// for the informer, for schedcache.Grace from now.
		m.sched.Wrote(task.UID)
	default:
		// Not written: the offers get back what the task took.
		m.sched.Forget(task.UID)
	}
	if err != nil || !ok {
		return ctrl.Result{}, err
	}
	ctrl.LoggerFrom(ctx).V(2).Info("task staged", "task", req.NamespacedName, "agent", v.Agent.Name, "resources", resources.String(v.Need))
	return ctrl.Result{}, nil
}

// stagedSince reports whether task, read without a state, has one in the
// API server now, or may have (the read failed).
func (m *Master) stagedSince(ctx context.Context, task *kmv1.Task) bool {
	var now kmv1.Task
	if err := m.apiReader.Get(ctx, client.ObjectKeyFromObject(task), &now); err != nil {
		return !apierrors.IsNotFound(err)
	}
	return now.UID == task.UID && now.Status.State != ""
}

// checkFramework refuses a task whose framework cannot launch it, or whose
// resources are empty; the zero Verdict lets it go on to its offers.
func (m *Master) checkFramework(ctx context.Context, task *kmv1.Task) (schedcache.Verdict, error) {
	var fw kmv1.Framework
	fwKey := types.NamespacedName{Namespace: task.Namespace, Name: string(task.Spec.Framework)}
	if err := m.Client.Get(ctx, fwKey, &fw); apierrors.IsNotFound(err) {
		return refuse(kmv1.ReasonTaskInvalid, "framework %q does not exist in namespace %s", fwKey.Name, fwKey.Namespace), nil
	} else if err != nil {
		return schedcache.Verdict{}, fmt.Errorf("reading framework %s: %w", fwKey, err)
	}
	switch {
	case fw.Status.FrameworkID == "":
		return refuse(kmv1.ReasonTaskInvalid, "framework %q is not registered yet", fw.Name), nil
	case fw.LaunchesNoMore():
		return refuse(kmv1.ReasonTaskInvalid, "framework %q is %s and launches no more tasks", fw.Name, fw.Status.Phase), nil
	}
	if len(task.Spec.Resources) == 0 || resources.IsZero(task.Spec.Resources.Core()) {
		return refuse(kmv1.ReasonTaskInvalid, "spec.resources is empty: a task must take resources such as cpu or memory from its offers"), nil
	}
	if why := tooLarge("spec.resources", task.Spec.Resources); why != "" {
		return refuse(kmv1.ReasonTaskInvalid, "%s", why), nil
	}
	if task.Spec.Executor != nil {
		if why := tooLarge("spec.executor.resources", task.Spec.Executor.Resources); why != "" {
			return refuse(kmv1.ReasonTaskInvalid, "%s", why), nil
		}
	}
	return schedcache.Verdict{}, nil
}

// tooLarge says which quantity of rl (the field path) is more than the
// master accounts for one resource (allocator.MaxAmount), "" when none is.
// No node has that much, and the master's sums would overflow with it.
func tooLarge(path string, rl kmv1.ResourceList) string {
	for name, q := range rl {
		if allocator.TooLarge(name, q) {
			limit := allocator.MaxQuantity(name)
			return fmt.Sprintf("%s[%s] is %s, more than any node has: the master accounts at most %s of it", path, name, q.String(), limit.String())
		}
	}
	return ""
}

func refuse(reason kmv1.TaskReason, format string, args ...any) schedcache.Verdict {
	return schedcache.Verdict{State: kmv1.TaskError, Reason: reason, Message: fmt.Sprintf(format, args...)}
}
