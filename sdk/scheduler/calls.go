package scheduler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// This file holds the SchedulerDriver calls a framework makes to the
// master: launching tasks on offers, declining offers, killing tasks,
// suppressing and reviving offers, reconciling tasks, and ending the
// framework.

// launchWriters bounds the Task creates of one LaunchTasks call in flight.
const launchWriters = 16

// LaunchTasks creates the tasks on the offers, several at a time. With no
// tasks it declines the offers, as Mesos's launchTasks does. A task ID that
// another launch took already is an error for that task: a Task of that
// name exists on other offers.
func (d *Driver) LaunchTasks(offerIDs []string, tasks []TaskInfo) error {
	if len(offerIDs) == 0 {
		return errors.New("LaunchTasks needs at least one offer")
	}
	if !d.isActive() {
		return ErrNotActive
	}
	if len(tasks) == 0 {
		for _, id := range offerIDs {
			if err := d.DeclineOffer(id, nil); err != nil {
				return err
			}
		}
		return nil
	}
	var first kmv1.Offer
	if err := d.cache.Get(d.ctx, types.NamespacedName{Namespace: d.cfg.Namespace, Name: offerIDs[0]}, &first); err != nil {
		return fmt.Errorf("offer %s: %w", offerIDs[0], err)
	}
	fw := d.Framework()
	d.mu.Lock()
	for _, id := range offerIDs {
		d.usedOffers[id] = true
	}
	d.mu.Unlock()
	var mu sync.Mutex
	failed := map[string]error{}
	tried := make([]bool, len(tasks))
	// The creates are independent objects: up to launchWriters at a time,
	// so that one call's many tasks do not wait on each other's round trip.
	workqueue.ParallelizeUntil(d.ctx, min(launchWriters, len(tasks)), len(tasks), func(i int) {
		ti := tasks[i]
		tried[i] = true
		labels := map[string]string{kmv1.LabelFramework: d.cfg.Framework, kmv1.LabelAgent: first.Spec.NodeName}
		for k, v := range ti.Labels {
			labels[k] = v
		}
		t := &kmv1.Task{
			ObjectMeta: metav1.ObjectMeta{Namespace: d.cfg.Namespace, Name: ti.TaskID, Labels: labels,
				// The master uses the offers up once all are admitted.
				Annotations: kmv1.SetLaunchTasks(nil, len(tasks))},
			Spec: kmv1.TaskSpec{Framework: kmv1.ObjectName(d.cfg.Framework), OfferIDs: offerIDs, AgentID: first.Spec.AgentID,
				Resources: ti.Resources, Command: ti.Command, Executor: ti.Executor, Data: ti.Data, KillGracePeriodSeconds: ti.KillGracePeriodSeconds},
		}
		if fw.UID != "" {
			t.OwnerReferences = []metav1.OwnerReference{kmv1.FrameworkOwner(fw.Name, fw.UID)}
		}
		// Launching is idempotent: a Task that exists on these offers was
		// launched before, by a create that timed out but was stored, or
		// by the instance this one took over from.
		err := d.c.Create(d.ctx, t)
		if apierrors.IsAlreadyExists(err) {
			err = d.launchedBefore(t)
		}
		if err != nil {
			mu.Lock()
			failed[ti.TaskID] = err
			mu.Unlock()
		}
	})
	taken := 0 // tasks refused because their ID names another launch's Task
	for _, err := range failed {
		if errors.Is(err, errTaskIDTaken) {
			taken++
		}
	}
	if taken == len(tasks) {
		// Nothing was launched on the offers: they go back at once
		// rather than wait out the master's offer timeout.
		for _, id := range offerIDs {
			_ = d.DeclineOffer(id, nil)
		}
	}
	for i, ok := range tried {
		if !ok { // the driver stopped before this one's turn
			failed[tasks[i].TaskID] = fmt.Errorf("not created: %w", context.Cause(d.ctx))
		}
	}
	if len(failed) > 0 {
		return &LaunchError{Failed: failed}
	}
	return nil
}

// errTaskIDTaken says that a Task of the same ID exists on other offers.
var errTaskIDTaken = errors.New("task ID taken")

// launchedBefore checks a Task that exists already against the one to
// create: the same offers mean the same launch.
func (d *Driver) launchedBefore(t *kmv1.Task) error {
	var got kmv1.Task
	if err := d.c.Get(d.ctx, client.ObjectKeyFromObject(t), &got); err != nil {
		return fmt.Errorf("task %s exists, and reading it failed: %w", t.Name, err)
	}
	if !slices.Equal(got.Spec.OfferIDs, t.Spec.OfferIDs) {
		return fmt.Errorf("%w: a Task named %s exists, launched on offers %v (state %q): task IDs are unique within a framework's namespace",
			errTaskIDTaken, t.Name, got.Spec.OfferIDs, got.Status.State)
	}
	return nil
}

// LaunchError says which tasks of a LaunchTasks call were not created.
type LaunchError struct {
	// Failed maps task IDs to why they were not created.
	Failed map[string]error
}

func (e *LaunchError) Error() string {
	parts := make([]string, 0, len(e.Failed))
	for id, err := range e.Failed {
		parts = append(parts, fmt.Sprintf("task %s: %v", id, err))
	}
	sort.Strings(parts)
	return "launching tasks: " + strings.Join(parts, "; ")
}

// DeclineOffer deletes the offer; the master filters that agent for the
// framework's refuseSeconds, or filters.RefuseSeconds.
func (d *Driver) DeclineOffer(offerID string, filters *Filters) error {
	if !d.isActive() {
		return ErrNotActive
	}
	d.mu.Lock()
	d.usedOffers[offerID] = true
	d.mu.Unlock()
	o := &kmv1.Offer{ObjectMeta: metav1.ObjectMeta{Namespace: d.cfg.Namespace, Name: offerID}}
	if filters != nil && filters.RefuseSeconds != nil {
		// The annotation tells the master this decline's filter before the
		// Offer goes.
		filtered := o.DeepCopy()
		filtered.Annotations = map[string]string{kmv1.AnnotationRefuseSeconds: strconv.FormatInt(int64(*filters.RefuseSeconds), 10)}
		if err := d.c.Patch(d.ctx, filtered, client.MergeFrom(o)); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("declining offer %s: %w", offerID, err)
		}
	}
	if err := d.c.Delete(d.ctx, o); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("declining offer %s: %w", offerID, err)
	}
	return nil
}

// KillTask sets the task's spec.kill.
func (d *Driver) KillTask(taskID string) error {
	if !d.isActive() {
		return ErrNotActive
	}
	t := &kmv1.Task{ObjectMeta: metav1.ObjectMeta{Namespace: d.cfg.Namespace, Name: taskID}}
	killed := t.DeepCopy()
	killed.Spec.Kill = true
	if err := d.c.Patch(d.ctx, killed, client.MergeFrom(t)); err != nil {
		return fmt.Errorf("killing task %s: %w", taskID, err)
	}
	return nil
}

// setSuppress writes spec.suppressOffers = v, whatever the driver last saw;
// a revival (v false) also sets kubemesos.io/revive to the time, which
// makes the master drop the framework's decline filters. The patch is
// spelled out rather than computed with MergeFrom: a diff against the
// cached Framework is empty while the cache lags behind the previous call
// (SuppressOffers, then at once ReviveOffers), and false, an omitempty
// field, cannot appear in a diff against a blank Framework.
func (d *Driver) setSuppress(v bool) error {
	if !d.isActive() {
		return ErrNotActive
	}
	fw := &kmv1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: d.cfg.Namespace, Name: d.cfg.Framework}}
	patch := fmt.Appendf(nil, `{"spec":{"suppressOffers":%t}}`, v)
	if !v {
		patch = fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}},"spec":{"suppressOffers":false}}`,
			kmv1.AnnotationRevive, time.Now().UTC().Format(time.RFC3339Nano))
	}
	if err := d.c.Patch(d.ctx, fw, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("setting suppressOffers=%t: %w", v, err)
	}
	return nil
}

// ReviveOffers clears spec.suppressOffers and drops the framework's
// decline filters (kubemesos.io/revive), as a Mesos REVIVE does: every agent
// is offered to it again.
func (d *Driver) ReviveOffers() error { return d.setSuppress(false) }

// SuppressOffers sets spec.suppressOffers.
func (d *Driver) SuppressOffers() error { return d.setSuppress(true) }

// ReconcileTasks delivers the current state of tasks through StatusUpdate
// (REASON_RECONCILIATION): of those named, or of every task of the
// framework when none are. Each answer is the task's state when its turn
// among the callbacks comes, so it is never older than an update delivered
// before it; a task named that does not exist is TASK_LOST. It returns at
// once, also from inside a callback.
func (d *Driver) ReconcileTasks(taskIDs []string) error {
	if !d.isActive() {
		return ErrNotActive
	}
	explicit := len(taskIDs) > 0
	if !explicit {
		var tasks kmv1.TaskList
		if err := d.cache.List(d.ctx, &tasks); err != nil {
			return fmt.Errorf("reconciling tasks: %w", err)
		}
		for i := range tasks.Items {
			taskIDs = append(taskIDs, tasks.Items[i].Name)
		}
		sort.Strings(taskIDs)
	}
	for _, id := range taskIDs {
		d.call(func() { d.reconcile(id, explicit) })
	}
	return nil
}

// finishFramework writes the scheduler's verdict: result and the
// Succeeded condition, which the master turns into Completed or Failed.
func (d *Driver) finishFramework(succeeded bool, result, message string) error {
	if !d.isActive() {
		return ErrNotActive
	}
	key := types.NamespacedName{Namespace: d.cfg.Namespace, Name: d.cfg.Framework}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var fw kmv1.Framework
		if err := d.c.Get(d.ctx, key, &fw); err != nil {
			return err
		}
		patch := client.MergeFromWithOptions(fw.DeepCopy(), client.MergeFromWithOptimisticLock{})
		cond := metav1.Condition{Type: kmv1.FrameworkSucceeded, Status: metav1.ConditionTrue, Reason: kmv1.ReasonCompletedByScheduler, Message: message}
		if !succeeded {
			cond.Status, cond.Reason = metav1.ConditionFalse, kmv1.ReasonFailedByScheduler
		}
		if cond.Message == "" {
			cond.Message = "completed by the scheduler"
		}
		if result != "" {
			fw.Status.Result = result
		}
		meta.SetStatusCondition(&fw.Status.Conditions, cond)
		return d.c.Status().Patch(d.ctx, &fw, patch)
	})
}

// Complete completes the framework with result.
func (d *Driver) Complete(result string) error {
	if err := d.finishFramework(true, result, "completed by the scheduler: "+result); err != nil {
		return fmt.Errorf("completing the framework: %w", err)
	}
	return nil
}

// Fail ends the framework as Failed with message.
func (d *Driver) Fail(message string) error {
	if err := d.finishFramework(false, "", message); err != nil {
		return fmt.Errorf("failing the framework: %w", err)
	}
	return nil
}
