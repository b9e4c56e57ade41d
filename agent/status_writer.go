package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// statusWriter is the sink of the status update manager (StatusUpdates):
// it writes each update into its Task's status and, once the registry
// holds an executor's update, acknowledges it to the executor.
type statusWriter struct {
	// client reads the Tasks from the agent's cache and writes their
	// status as the agent (fieldowner.Agent).
	client client.Client
	// live reads from the API server, past the cache, after a conflict
	// (the manager's API reader); unset, the cache is read again.
	live client.Reader
	// server carries the acknowledgements to the executors.
	server *ExecutorServer
	log    logr.Logger
	// own remembers the writer's last write of each task until the cache
	// has seen it.
	own ownWrites
}

// write writes one update into its Task's status (a WriteFunc): a merge
// patch of the fields the agent owns, preconditioned on the Task's
// resourceVersion. The Task is read from the cache or, while the cache has
// not yet seen the writer's own last write of it, taken from what that
// write returned (under load the cache lags the agent's own writes by
// seconds, and a patch based on it would only conflict). On a conflict it
// reads the Task again, from the API server, and retries, briefly; a
// conflict that outlasts that is returned, and the manager retries later,
// so no update is lost to a concurrent writer. Refusals by the registry
// (the task reached a terminal state first) and gone tasks are final: they
// return nil.
func (w *statusWriter) write(ctx context.Context, u Update) error {
	var reader client.Reader = w.client
	fromCache, cached := true, ""
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		err := w.writeOnce(ctx, u, reader, fromCache, &cached)
		if apierrors.IsConflict(err) && w.live != nil {
			reader, fromCache = w.live, false
		}
		return err
	})
	switch {
	case err == nil:
		return nil
	case apierrors.IsInvalid(err) || apierrors.IsNotFound(err):
		w.own.forget(u.Task)
		w.log.Info("the registry refused a status update; dropping it", "task", u.Task, "state", u.State, "error", err.Error())
		return nil
	default:
		return fmt.Errorf("writing the %s update of task %s: %w", u.State, u.Task, err)
	}
}

// writeOnce reads the Task through r and patches its status with u, unless the
// registry no longer takes u. When r is the cache (fromCache), writeOnce
// records in cached the resourceVersion that the cache showed; a write is
// remembered against the version of the write's first read from the cache.
func (w *statusWriter) writeOnce(ctx context.Context, u Update, r client.Reader, fromCache bool, cached *string) error {
	var task kmv1.Task
	if err := r.Get(ctx, u.Task, &task); err != nil {
		if apierrors.IsNotFound(err) {
			w.own.forget(u.Task)
			return nil
		}
		return fmt.Errorf("reading task %s: %w", u.Task, err)
	}
	if fromCache {
		*cached = task.ResourceVersion
		if own := w.own.since(u.Task, task.ResourceVersion); own != nil {
			task = *own
		}
	}
	if task.Status.AgentID != u.AgentID || task.Status.State.IsTerminal() {
		w.own.forget(u.Task)
		w.log.V(1).Info("dropping an update the registry no longer takes", "task", u.Task, "state", u.State, "current", task.Status.State)
		return nil
	}
	patch := client.MergeFromWithOptions(task.DeepCopy(), client.MergeFromWithOptimisticLock{})
	applyUpdate(&task.Status, u)
	if err := w.client.Status().Patch(ctx, &task, patch); err != nil {
		if apierrors.IsConflict(err) {
			w.own.forget(u.Task) // someone else wrote since
		}
		return err
	}
	switch {
	case u.State.IsTerminal():
		w.own.forget(u.Task)
	case *cached != "":
		w.own.remember(u.Task, *cached, &task)
	}
	return nil
}

// ownWrites remembers, for each task, the Task that the writer's last
// patch returned, with the resourceVersion the cache showed when that
// write began. While the cache still shows that version it has not seen
// the write, and the next write of the task starts from the remembered
// Task. An entry goes once the cache has moved on, the task ends or is
// gone, or after ownWriteTTL (a cache lags by seconds, not minutes).
type ownWrites struct {
	mu      sync.Mutex
	entries map[client.ObjectKey]ownWrite
	swept   time.Time
}

type ownWrite struct {
	cached string
	task   *kmv1.Task
	at     time.Time
}

// ownWriteTTL bounds how long a remembered write is kept.
const ownWriteTTL = time.Minute

// since returns a copy of the task's remembered write if the cache still
// shows the version it showed when that write began, and forgets it if not.
func (o *ownWrites) since(key client.ObjectKey, cached string) *kmv1.Task {
	o.mu.Lock()
	defer o.mu.Unlock()
	e, ok := o.entries[key]
	if !ok {
		return nil
	}
	if e.cached != cached || time.Since(e.at) > ownWriteTTL {
		delete(o.entries, key)
		return nil
	}
	return e.task.DeepCopy()
}

// remember keeps what a write of the task returned.
func (o *ownWrites) remember(key client.ObjectKey, cached string, task *kmv1.Task) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	if o.entries == nil {
		o.entries = map[client.ObjectKey]ownWrite{}
	}
	if now.Sub(o.swept) > ownWriteTTL {
		for k, e := range o.entries {
			if now.Sub(e.at) > ownWriteTTL {
				delete(o.entries, k)
			}
		}
		o.swept = now
	}
	o.entries[key] = ownWrite{cached: cached, task: task.DeepCopy(), at: now}
}

// forget drops the task's remembered write.
func (o *ownWrites) forget(key client.ObjectKey) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.entries, key)
}

// len is the number of writes remembered.
func (o *ownWrites) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.entries)
}

// applyUpdate sets the status fields that the agent owns from u: state,
// reason, source, message and lastUpdateTime always (an update without a
// reason clears the last one); data, health, executor and pod when u
// carries them; startTime on the first TASK_RUNNING (or from the TASK_RUNNING
// an update took the place of), completionTime on a
// terminal state.
func applyUpdate(st *kmv1.TaskStatus, u Update) {
	ts := metav1.NewTime(u.Timestamp)
	st.State, st.Reason, st.Source, st.Message = u.State, u.Reason, u.Source, u.Message
	st.LastUpdateTime = &ts
	if u.Data != "" {
		st.Data = u.Data
	}
	if u.Healthy != nil {
		st.Healthy = ptr.To(*u.Healthy)
	}
	if u.ExecutorID != "" {
		st.ExecutorID = u.ExecutorID
	}
	if u.PodName != "" {
		st.PodName = u.PodName
	}
	if st.StartTime == nil {
		if u.State == kmv1.TaskRunning {
			st.StartTime = &ts
		} else if u.StartedAt != nil {
			st.StartTime = &metav1.Time{Time: *u.StartedAt}
		}
	}
	if u.State.IsTerminal() {
		st.CompletionTime = &ts
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
