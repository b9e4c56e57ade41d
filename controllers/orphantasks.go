package controllers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// orphanTaskCollector deletes terminal Tasks whose Framework does not exist
// (a Task that named a framework that never existed, or the leftovers of a
// deleted one) once they have been terminal for --orphan-task-ttl. A
// framework's own terminal tasks are collected by the framework controller
// beyond --terminal-task-limit; these have no framework to do it, and would
// otherwise stay in etcd and in the master's cache for ever.
type orphanTaskCollector struct{ m *Master }

func (m *Master) setupOrphanTasks(mgr ctrl.Manager) error {
	terminal := predicate.NewPredicateFuncs(func(o client.Object) bool {
		t, ok := o.(*kmv1.Task)
		return ok && t.Status.State.IsTerminal()
	})
	// A deleted Framework leaves its terminal tasks behind: look at them.
	deleted := predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return true },
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("orphan-tasks").
		For(&kmv1.Task{}, builder.WithPredicates(terminal)).
		Watches(&kmv1.Framework{}, handler.EnqueueRequestsFromMapFunc(m.tasksOfFramework), builder.WithPredicates(deleted)).
		Complete(&orphanTaskCollector{m: m})
}

// tasksOfFramework maps a Framework to its Tasks, from the cache's index.
func (m *Master) tasksOfFramework(ctx context.Context, o client.Object) []reconcile.Request {
	var tasks kmv1.TaskList
	if err := m.Client.List(ctx, &tasks, client.InNamespace(o.GetNamespace()), client.MatchingFields{IndexTaskFramework: o.GetName()},
		client.UnsafeDisableDeepCopy); err != nil { // only their names are read
		ctrl.LoggerFrom(ctx).Error(err, "listing the tasks of a deleted framework", "framework", client.ObjectKeyFromObject(o))
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(tasks.Items))
	for i := range tasks.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&tasks.Items[i])})
	}
	return reqs
}

// Reconcile deletes one orphaned terminal task when its time has come.
func (r *orphanTaskCollector) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	m := r.m
	ttl := m.Options.OrphanTaskTTL
	if ttl <= 0 {
		return ctrl.Result{}, nil
	}
	var task kmv1.Task
	if err := m.Client.Get(ctx, req.NamespacedName, &task); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !task.Status.State.IsTerminal() || task.DeletionTimestamp != nil {
		return ctrl.Result{}, nil
	}
	var fw kmv1.Framework
	err := m.Client.Get(ctx, types.NamespacedName{Namespace: task.Namespace, Name: string(task.Spec.Framework)}, &fw)
	if err == nil {
		return ctrl.Result{}, nil // the framework collects its own
	}
	if !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("reading the framework of task %s: %w", req.NamespacedName, err)
	}
	if age := m.Clock.Since(completedAt(&task)); age < ttl {
		return ctrl.Result{RequeueAfter: ttl - age}, nil
	}
	if _, err := m.deletes.Delete(ctx, &task); err != nil {
		return ctrl.Result{}, fmt.Errorf("collecting an orphaned task: %w", err)
	}
	ctrl.LoggerFrom(ctx).V(2).Info("collected a terminal task whose framework does not exist", "task", req.NamespacedName, "framework", task.Spec.Framework)
	return ctrl.Result{}, nil
}
