package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// teardown kills the framework's live tasks (of tasks, its task list from
// frameworkTasks, left unchanged),
// rescinds its offers and removes its scheduler pod. It is idempotent.
func (m *Master) teardown(ctx context.Context, fw *kmv1.Framework, tasks []kmv1.Task, why string) error {
	for i := range tasks {
		t := &tasks[i]
		if t.Status.State.IsTerminal() || t.Spec.Kill {
			continue
		}
		// t shares its maps and slices with the cache (frameworkTasks),
		// and the patch's answer is decoded into the object it is sent
		// with: send a copy.
		kill := t.DeepCopy()
		kill.Spec.Kill = true
		if err := m.frameworksClient.Patch(ctx, kill, client.MergeFrom(t)); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("killing task %s (%s): %w", t.Name, why, err)
		}
	}
	var offers kmv1.OfferList
	if err := m.Client.List(ctx, &offers, client.InNamespace(fw.Namespace), client.MatchingFields{IndexOfferFramework: fw.Name}); err != nil {
		return fmt.Errorf("listing the offers of %s: %w", fw.Name, err)
	}
	if err := m.rescindOffers(ctx, offers.Items, why); err != nil {
		return err
	}
	var pod corev1.Pod
	err := m.Client.Get(ctx, types.NamespacedName{Namespace: fw.Namespace, Name: SchedulerPodName(fw.Name)}, &pod)
	if apierrors.IsNotFound(err) || (err == nil && !metav1.IsControlledBy(&pod, fw)) {
		return nil // no scheduler pod of this framework's
	}
	if err != nil {
		return fmt.Errorf("reading the scheduler pod: %w", err)
	}
	if _, err := m.deletes.Delete(ctx, &pod); err != nil {
		return fmt.Errorf("removing the scheduler pod: %w", err)
	}
	return nil
}

// finalize tears a deleted framework down and releases it once no live task
// and no pod of it is left.
func (r *frameworkController) finalize(ctx context.Context, fw *kmv1.Framework) (ctrl.Result, error) {
	m := r.m
	if !controllerutil.ContainsFinalizer(fw, kmv1.FrameworkFinalizer) {
		return ctrl.Result{}, nil
	}
	if fw.Status.Phase != kmv1.FrameworkTearingDown {
		old := fw.Status.DeepCopy()
		fw.Status.Phase = kmv1.FrameworkTearingDown
		fw.Status.Message = "the Framework is being deleted; its tasks are being killed"
		setCond(fw, kmv1.FrameworkReady, false, kmv1.ReasonDeleted, fw.Status.Message)
		if _, err := r.writeStatus(ctx, fw, old); err != nil { // the phase changed: written now
			return ctrl.Result{}, err
		}
		r.event(fw, old.Phase)
	}
	tasks, err := m.frameworkTasks(ctx, fw)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := m.teardown(ctx, fw, tasks, "framework deleted"); err != nil {
		return ctrl.Result{}, err
	}
	live := 0
	for i := range tasks {
		if liveTask(&tasks[i]) {
			live++
		}
	}
	pods, err := m.frameworkPods(ctx, fw)
	if err != nil {
		return ctrl.Result{}, err
	}
	if live > 0 || pods > 0 {
		left := m.Options.TeardownTimeout - m.Clock.Since(fw.DeletionTimestamp.Time)
		if left > 0 {
			ctrl.LoggerFrom(ctx).V(2).Info("waiting for the framework's tasks and pods to end", "liveTasks", live, "pods", pods)
			return ctrl.Result{RequeueAfter: min(2*time.Second, left)}, nil
		}
		// Past the bound: whatever kubelet or agent should have finished
		// did not. Remove the pods at once and let the Framework go; its
		// Tasks go with it (owner references).
		removed, err := m.forceRemovePods(ctx, fw)
		if err != nil {
			return ctrl.Result{}, err
		}
		m.Recorder.Eventf(fw, nil, corev1.EventTypeWarning, "TeardownTimedOut", "Teardown",
			"%d tasks and %d pods had not ended after --teardown-timeout %s; removed %d pods at once and released the framework",
			live, pods, m.Options.TeardownTimeout, removed)
	}
	// Locked on the resourceVersion, as when the finalizer is added: the
	// list is written whole.
	patch := client.MergeFromWithOptions(fw.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(fw, kmv1.FrameworkFinalizer)
	if err := m.frameworksClient.Patch(ctx, fw, patch); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return ctrl.Result{}, nil
}

// runningPods returns the framework's pods that have not ended (Succeeded
// or Failed): those whose containers may still run.
func (m *Master) runningPods(ctx context.Context, fw *kmv1.Framework) ([]*corev1.Pod, error) {
	var pods corev1.PodList
	if err := m.Client.List(ctx, &pods, client.InNamespace(fw.Namespace), client.MatchingLabels{kmv1.LabelFramework: fw.Name}); err != nil {
		return nil, fmt.Errorf("listing the pods of %s: %w", fw.Name, err)
	}
	var out []*corev1.Pod
	for i := range pods.Items {
		if p := &pods.Items[i]; p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, p)
		}
	}
	return out, nil
}

// forceRemovePods deletes, with a grace period of 0, every pod of the
// framework that has not ended, and returns how many it deleted.
func (m *Master) forceRemovePods(ctx context.Context, fw *kmv1.Framework) (int, error) {
	pods, err := m.runningPods(ctx, fw)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range pods {
		// Terminating pods included: this is the deletion that does not
		// wait for a kubelet.
		if err := m.frameworksClient.Delete(ctx, p, client.GracePeriodSeconds(0), client.Preconditions{UID: &p.UID}); err != nil &&
			!apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return n, fmt.Errorf("removing pod %s of framework %s: %w", p.Name, fw.Name, err)
		}
		n++
	}
	return n, nil
}

// frameworkPods counts the framework's pods that are still to go: those
// whose containers may still run. A pod that has ended (Succeeded or
// Failed, such as a finished command task's) runs nothing and is left to
// its owner's garbage collection. Executor pods on an agent that is no
// longer Active have no kubelet to finish their deletion: they are removed
// at once and not waited for.
func (m *Master) frameworkPods(ctx context.Context, fw *kmv1.Framework) (int, error) {
	pods, err := m.runningPods(ctx, fw)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range pods {
		if p.Labels[kmv1.LabelComponent] == "executor" && p.Spec.NodeName != "" {
			var a kmv1.Agent
			err := m.Client.Get(ctx, types.NamespacedName{Name: p.Spec.NodeName}, &a)
			if apierrors.IsNotFound(err) || (err == nil && a.Status.Phase != kmv1.AgentActive && a.Status.Phase != kmv1.AgentDraining) {
				if _, err := m.deletes.Delete(ctx, p, client.GracePeriodSeconds(0)); err != nil {
					return 0, fmt.Errorf("removing a pod on lost node %s: %w", p.Spec.NodeName, err)
				}
				continue
			}
		}
		n++
	}
	return n, nil
}
