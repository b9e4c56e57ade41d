package agent

import (
	"context"
	"encoding/json"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// statusWriter is the sink of the status update manager (StatusUpdates):
// it writes each update into its Task's status and, once the registry
// holds an executor's update, acknowledges it to the executor.
type statusWriter struct {
	// client reads the Tasks from the agent's cache and writes their
	// status.
	client client.Client
	// server carries the acknowledgements to the executors.
	server *ExecutorServer
	log    logr.Logger
}

// write writes one update into its Task's status (a WriteFunc) with a
// merge patch of exactly the fields the agent owns. Refusals by the
// registry (the task reached a terminal state first) and gone tasks are
// final: they return nil.
func (w *statusWriter) write(ctx context.Context, u Update) error {
	var task kmv1.Task
	if err := w.client.Get(ctx, u.Task, &task); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	if task.Status.AgentID != u.AgentID || task.Status.State.IsTerminal() {
		w.log.V(1).Info("dropping an update the registry no longer takes", "task", u.Task, "state", u.State, "current", task.Status.State)
		return nil
	}
	ts := metav1.NewTime(u.Timestamp)
	status := map[string]any{
		"state":          u.State,
		"source":         u.Source,
		"message":        u.Message,
		"lastUpdateTime": ts,
	}
	if u.Reason != "" {
		status["reason"] = u.Reason
	} else {
		status["reason"] = nil
	}
	if u.Data != "" {
		status["data"] = u.Data
	}
	if u.Healthy != nil {
		status["healthy"] = *u.Healthy
	}
	if u.ExecutorID != "" {
		status["executorID"] = u.ExecutorID
	}
	if u.PodName != "" {
		status["podName"] = u.PodName
	}
	if u.State == kmv1.TaskRunning && task.Status.StartTime == nil {
		status["startTime"] = ts
	}
	if u.State.IsTerminal() {
		status["completionTime"] = ts
	}
	patch, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	err = w.client.Status().Patch(ctx, &task, client.RawPatch(types.MergePatchType, patch))
	switch {
	case err == nil:
		return nil
	case apierrors.IsInvalid(err) || apierrors.IsNotFound(err):
		w.log.Info("the registry refused a status update; dropping it", "task", u.Task, "state", u.State, "error", err.Error())
		return nil
	default:
		return err
	}
}

// acknowledge tells the executor that the registry holds its update (an
// AckFunc).
func (w *statusWriter) acknowledge(ctx context.Context, u Update) {
	if u.Source != kmv1.SourceExecutor {
		return
	}
	fw := u.Framework
	if fw == "" { // an update checkpointed before updates recorded it
		var task kmv1.Task
		if err := w.client.Get(ctx, u.Task, &task); err != nil {
			w.log.V(1).Info("cannot acknowledge an update of a task that cannot be read", "task", u.Task, "error", err.Error())
			return
		}
		fw = string(task.Spec.Framework)
	}
	k := ExecutorKey{Namespace: u.Task.Namespace, Framework: fw, ExecutorID: u.ExecutorID}
	w.server.Send(k, executorapi.Event{Type: executorapi.EventAcknowledged, Acknowledged: &executorapi.Acknowledged{TaskID: u.Task.Name, UUID: u.UUID}})
}
