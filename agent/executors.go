package agent

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// setupRetirement registers the controller agent-executors: it retires the
// idle custom executors of a framework that is done, found by their pods
// on this node. The task controller retires them through their tasks, but
// a framework's ended Tasks may be gone before it ends (the master deletes
// them past --terminal-task-limit), and an executor whose every Task is
// gone would otherwise run on.
func (r *taskReconciler) setupRetirement(mgr ctrl.Manager) error {
	executorPods := predicate.NewPredicateFuncs(func(o client.Object) bool {
		_, command := o.GetLabels()[kmv1.LabelTask]
		return o.GetLabels()[kmv1.LabelComponent] == "executor" && !command
	})
	frameworkPods := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		var pods corev1.PodList
		if err := r.client.List(ctx, &pods, client.InNamespace(o.GetNamespace()),
			client.MatchingLabels{kmv1.LabelFramework: o.GetName(), kmv1.LabelComponent: "executor"}); err != nil {
			return nil
		}
		out := make([]reconcile.Request, 0, len(pods.Items))
		for i := range pods.Items {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&pods.Items[i])})
		}
		return out
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("agent-executors").
		For(&corev1.Pod{}, builder.WithPredicates(executorPods)).
		Watches(&kmv1.Framework{}, frameworkPods, builder.WithPredicates(frameworkEnds)).
		Complete(reconcile.Func(r.reconcileExecutorPod))
}

// reconcileExecutorPod retires the executor that pod runs, if it is this
// agent's, its framework is done and it runs no live task.
func (r *taskReconciler) reconcileExecutorPod(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var pod corev1.Pod
	if err := r.client.Get(ctx, req.NamespacedName, &pod); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	agentID := r.id.get()
	execID, fw := pod.Annotations[AnnotationExecutorID], pod.Labels[kmv1.LabelFramework]
	if agentID == "" || pod.DeletionTimestamp != nil || pod.Spec.NodeName != r.options.NodeName ||
		pod.Annotations[AnnotationAgentID] != agentID || execID == "" || fw == "" {
		return reconcile.Result{}, nil // not a live executor of this agent
	}
	k := ExecutorKey{Namespace: pod.Namespace, Framework: fw, ExecutorID: execID}
	if executorPodName(k, agentID) != pod.Name {
		return reconcile.Result{}, nil
	}
	return reconcile.Result{}, r.retireIfIdle(ctx, k, pod.Name, time.Time{})
}
