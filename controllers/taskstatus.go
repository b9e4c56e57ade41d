package controllers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/metrics"
)

// masterStatus is a task status that the master writes: STAGING, ERROR,
// DROPPED or LOST, always with SOURCE_MASTER.
type masterStatus struct {
	state   kmv1.TaskState
	reason  kmv1.TaskReason
	message string
}

// writeTaskStatus moves task to st, written by c (its writer's client), with a merge patch that carries the
// cached resourceVersion, so a concurrent writer makes it fail with a
// conflict instead of being overwritten. A write that the API server
// refuses because the task already reached a terminal state is dropped and
// logged, never retried: it reports (false, nil). Conflicts are returned.
func (m *Master) writeTaskStatus(ctx context.Context, c client.Client, task *kmv1.Task, st masterStatus, mutate func(*kmv1.TaskStatus)) (bool, error) {
	log := ctrl.LoggerFrom(ctx).WithValues("task", client.ObjectKeyFromObject(task), "state", st.state)
	if task.Status.State.IsTerminal() {
		log.V(2).Info("dropping a status write on a terminal task", "current", task.Status.State)
		return false, nil
	}
	now := metav1.NewTime(m.Clock.Now())
	patched := task.DeepCopy()
	s := &patched.Status
	s.State, s.Reason, s.Source, s.Message = st.state, st.reason, kmv1.SourceMaster, st.message
	s.LastUpdateTime = &now
	if st.state.IsTerminal() && s.CompletionTime == nil {
		s.CompletionTime = &now
	}
	if mutate != nil {
		mutate(s)
	}
	err := c.Status().Patch(ctx, patched, client.MergeFromWithOptions(task, client.MergeFromWithOptimisticLock{}))
	switch {
	case err == nil:
		metrics.TaskTransitions.WithLabelValues(string(st.state)).Inc()
		*task = *patched
		return true, nil
	case apierrors.IsInvalid(err):
		// The registry refused it: the task reached a terminal state first.
		log.Info("the API server refused a task status write; dropping it", "error", err.Error())
		return false, nil
	case apierrors.IsNotFound(err):
		return false, nil
	default:
		return false, fmt.Errorf("writing %s to task %s: %w", st.state, client.ObjectKeyFromObject(task), err)
	}
}

// requeueOnConflict turns an optimistic-concurrency conflict into a quiet
// requeue: the cache was behind, and the next pass reads a newer object.
func requeueOnConflict(res ctrl.Result, err error) (ctrl.Result, error) {
	if apierrors.IsConflict(err) {
		return ctrl.Result{Requeue: true}, nil
	}
	return res, err
}
