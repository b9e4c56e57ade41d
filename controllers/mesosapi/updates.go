package mesosapi

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

// AnnotationAcknowledged on a Task holds the uuid of its terminal status
// update once the framework acknowledged it, so that no master resends
// it. Acknowledgements of other updates are kept in memory only: after a
// master failover a task's latest non-terminal update is sent again,
// with the same uuid.
const AnnotationAcknowledged = "kubemesos.io/mesos-acknowledged"

// Resending of unacknowledged updates: the first resend after
// resendInitial, doubling up to resendMax, as a Mesos agent retries.
const (
	resendInitial = 10 * time.Second
	resendMax     = 10 * time.Minute
)

// updateNamespace names the uuids of status updates (UUID version 5).
var updateNamespace = uuid.MustParse("3c0b5a38-6f53-4d4a-9d55-6f1c2b7e8a41")

// UpdateUUID is the uuid of a Task's update to state at lastUpdate: the
// same for a resend by any master, different for every transition.
func UpdateUUID(uid types.UID, state kmv1.TaskState, lastUpdate time.Time) []byte {
	u := uuid.NewSHA1(updateNamespace, []byte(string(uid)+"/"+string(state)+"/"+lastUpdate.UTC().Format(time.RFC3339Nano)))
	return u[:]
}

// pending is an UPDATE waiting for its acknowledgement.
type pending struct {
	event   *schedulerv1.Event
	task    types.NamespacedName
	due     time.Time
	backoff time.Duration
}

// watchTasks sends an UPDATE whenever a Task of a subscribed framework
// changes state (or health).
func (s *Server) watchTasks(ctx context.Context, informers cache.Informers) error {
	inf, err := informers.GetInformer(ctx, &kmv1.Task{})
	if err != nil {
		return fmt.Errorf("watching Tasks: %w", err)
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		UpdateFunc: func(oldObj, newObj any) {
			was, ok1 := oldObj.(*kmv1.Task)
			now, ok2 := newObj.(*kmv1.Task)
			if !ok1 || !ok2 || now.Status.State == "" {
				return
			}
			if was.Status.State == now.Status.State && ptr.Equal(was.Status.Healthy, now.Status.Healthy) {
				return
			}
			s.taskChanged(now)
			s.groupTaskChanged(now)
		},
		AddFunc: func(obj any) {
			if t, ok := obj.(*kmv1.Task); ok && t.Status.State != "" {
				s.taskChanged(t)
				s.groupTaskChanged(t)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("watching Tasks: %w", err)
	}
	return nil
}

// streamOfFramework returns the open stream of a Framework, or nil.
func (s *Server) streamOfFramework(namespace, name string) *stream {
	return s.streams.ofObject(namespace, name)
}

// taskChanged queues a Task of a subscribed framework for its update.
// The informer's goroutine only queues: the update needs the whole Task
// (the cache keeps no annotations and no data), read from the API server
// by updateWorkers; a burst of changes to one Task is read once.
func (s *Server) taskChanged(cached *kmv1.Task) {
	if s.streamOfFramework(cached.Namespace, string(cached.Spec.Framework)) == nil {
		return
	}
	s.taskQueue.Add(taskKey{key: client.ObjectKeyFromObject(cached), framework: string(cached.Spec.Framework)})
}

// taskKey is a queued Task and its framework.
type taskKey struct {
	key       types.NamespacedName
	framework string
}

// updateWorkers is how many Tasks are read for their updates at once.
const updateWorkers = 4

// runUpdateWorkers sends the updates of queued Tasks until ctx ends.
func (s *Server) runUpdateWorkers(ctx context.Context) {
	go func() {
		<-ctx.Done()
		s.taskQueue.ShutDown()
	}()
	for range updateWorkers {
		go func() {
			for {
				k, quit := s.taskQueue.Get()
				if quit {
					return
				}
				s.sendTaskUpdate(ctx, k)
				s.taskQueue.Done(k)
			}
		}()
	}
}

// sendTaskUpdate reads a queued Task and sends its update; a read that
// fails is tried again later, with backoff.
func (s *Server) sendTaskUpdate(ctx context.Context, k taskKey) {
	st := s.streamOfFramework(k.key.Namespace, k.framework)
	if st == nil {
		s.taskQueue.Forget(k)
		return
	}
	var t kmv1.Task
	if err := s.reader.Get(ctx, k.key, &t); err != nil {
		if apierrors.IsNotFound(err) {
			st.forgetSent(k.key, "")
		}
		if apierrors.IsNotFound(err) || ctx.Err() != nil {
			s.taskQueue.Forget(k)
			return
		}
		s.log.V(2).Info("reading a Task for its status update", "task", k.key, "error", err.Error())
		s.taskQueue.AddRateLimited(k)
		return
	}
	s.taskQueue.Forget(k)
	s.sendUpdate(st, &t)
}

// sendUpdate sends a Task's latest status on a stream and keeps it until
// it is acknowledged (see pendingUpdate).
func (s *Server) sendUpdate(st *stream, t *kmv1.Task) {
	if e := s.pendingUpdate(st, t); e != nil {
		st.send(e)
	}
}

// pendingUpdate returns the UPDATE of a Task's latest status, kept on the
// stream until it is acknowledged, or nil when the framework cannot see it
// (TASK_KILLING without the capability), acknowledged it already, or was
// sent it already on this stream (acknowledged or not: the Task may
// change in other ways after its acknowledgement).
func (s *Server) pendingUpdate(st *stream, t *kmv1.Task) *schedulerv1.Event {
	id := t.Annotations[mesoswire.AnnotationTaskID]
	if id == "" || t.Status.State == "" {
		return nil // not launched through the Mesos API, or not yet admitted
	}
	// A Mesos master sends no update for a task it has just launched:
	// the first a framework sees is the agent's (or an error).
	if t.Status.State == kmv1.TaskStaging {
		return nil
	}
	if t.Status.State == kmv1.TaskKilling && !hasCapability(st.frameworkInfo(), mesosv1.FrameworkInfo_Capability_TASK_KILLING_STATE) {
		return nil
	}
	e := updateEvent(t, id, hasCapability(st.frameworkInfo(), mesosv1.FrameworkInfo_Capability_PARTITION_AWARE))
	u, key := string(e.Update.Status.Uuid), client.ObjectKeyFromObject(t)
	if acknowledged(t, e.Update.Status.Uuid) {
		st.forgetSent(key, u)
		return nil
	}
	if !st.markSent(key, u, &pending{event: e, task: key, due: s.clock.Now().Add(resendInitial), backoff: resendInitial}) {
		return nil // sent already, and acknowledged or waiting for it
	}
	return e
}

// acknowledged reports whether the update of uuid u is the one whose
// acknowledgement the Task keeps (AnnotationAcknowledged).
func acknowledged(t *kmv1.Task, u []byte) bool {
	return t.Annotations[AnnotationAcknowledged] == uuid.UUID(u).String()
}

// endAcknowledged reports whether a Task has ended and its framework
// acknowledged the update that told it so.
func endAcknowledged(t *kmv1.Task) bool {
	return t.Status.State.IsTerminal() && acknowledged(t, UpdateUUID(t.UID, t.Status.State, lastUpdate(t)))
}

// lastUpdate is when the Task's status last changed (zero when unknown).
func lastUpdate(t *kmv1.Task) time.Time {
	if t.Status.LastUpdateTime == nil {
		return time.Time{}
	}
	return t.Status.LastUpdateTime.Time
}

// updateEvent is the UPDATE of a Task's status.
func updateEvent(t *kmv1.Task, taskID string, partitionAware bool) *schedulerv1.Event {
	last := lastUpdate(t)
	state := mesosv1.TaskState(mesosv1.TaskState_value[string(t.Status.State)])
	switch {
	case partitionAware && t.Status.State == kmv1.TaskLost:
		// As Mesos: a partition-aware framework never sees TASK_LOST. A
		// Task is lost for good (its agent was removed, or its executor
		// or pod is gone), which Mesos tells it as TASK_GONE.
		state = mesosv1.TaskState_TASK_GONE
	case !partitionAware && t.Status.State == kmv1.TaskDropped:
		// And a framework that is not partition-aware never sees
		// TASK_DROPPED: Mesos tells it TASK_LOST.
		state = mesosv1.TaskState_TASK_LOST
	}
	status := &mesosv1.TaskStatus{
		TaskId: &mesosv1.TaskID{Value: ptr.To(taskID)},
		State:  state.Enum(),
		Uuid:   UpdateUUID(t.UID, t.Status.State, last),
	}
	if v, ok := mesosv1.TaskStatus_Source_value[string(t.Status.Source)]; ok {
		status.Source = mesosv1.TaskStatus_Source(v).Enum()
	}
	if v, ok := mesosv1.TaskStatus_Reason_value[string(t.Status.Reason)]; ok {
		status.Reason = mesosv1.TaskStatus_Reason(v).Enum()
	}
	if t.Status.Message != "" {
		status.Message = ptr.To(t.Status.Message)
	}
	if t.Status.Data != "" {
		status.Data = []byte(t.Status.Data)
	}
	agent := t.Status.AgentID
	if agent == "" {
		agent = t.Spec.AgentID
	}
	if agent != "" {
		status.AgentId = &mesosv1.AgentID{Value: ptr.To(agent)}
	}
	if t.Status.ExecutorID != "" {
		status.ExecutorId = &mesosv1.ExecutorID{Value: ptr.To(t.Status.ExecutorID)}
	}
	if t.Status.Healthy != nil {
		status.Healthy = ptr.To(*t.Status.Healthy)
	}
	if !last.IsZero() {
		status.Timestamp = ptr.To(float64(last.UnixNano()) / 1e9)
	}
	return &schedulerv1.Event{Type: schedulerv1.Event_UPDATE.Enum(), Update: &schedulerv1.Event_Update{Status: status}}
}

// resendDue writes again the updates whose time has come, each with a
// doubled wait before the next time. It runs on the stream's own
// goroutine, which writes them itself: queued, a framework with more
// unacknowledged updates than the queue holds would be disconnected.
func (s *Server) resendDue(st *stream, write func(*schedulerv1.Event) error) error {
	now := s.clock.Now()
	for _, p := range st.duePending(now) {
		if err := write(p.event); err != nil {
			return err
		}
	}
	return nil
}

// acknowledge records a framework's acknowledgement of an update. The
// acknowledgement of a terminal update is kept on the Task.
func (s *Server) acknowledge(ctx context.Context, st *stream, a *schedulerv1.Call_Acknowledge) error {
	p := st.takePending(string(a.GetUuid()))
	if p == nil {
		return nil // unknown or acknowledged already: Mesos ignores it too
	}
	// TASK_GONE is how a partition-aware framework is told TASK_LOST.
	if state := p.event.Update.Status.GetState(); state != mesosv1.TaskState_TASK_GONE && !kmv1.TaskState(state.String()).IsTerminal() {
		return nil
	}
	u, err := uuid.FromBytes(a.GetUuid())
	if err != nil {
		return nil
	}
	t := &kmv1.Task{ObjectMeta: metav1.ObjectMeta{Namespace: p.task.Namespace, Name: p.task.Name}}
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, AnnotationAcknowledged, u.String())
	if err := s.schedulerClient.Patch(ctx, t, client.RawPatch(types.MergePatchType, patch)); client.IgnoreNotFound(err) != nil {
		// Kept until it is recorded: the framework's retry of the call
		// (it gets a 5xx) finds it again.
		st.addPending(string(a.GetUuid()), p)
		return fmt.Errorf("recording the acknowledgement of task %s: %w", p.task, err)
	}
	return nil
}

// writeTaskUpdates writes, when a stream opens, the latest update of each
// of the framework's tasks that was not acknowledged for good. It runs on
// the stream's goroutine before it reads its queue, so it writes them
// itself: queued, a framework with more tasks than the queue holds could
// never stay subscribed.
func (s *Server) writeTaskUpdates(ctx context.Context, st *stream, write func(*schedulerv1.Event) error) error {
	var l kmv1.TaskList
	if err := s.reader.List(ctx, &l, client.InNamespace(st.namespace), client.MatchingLabels{kmv1.LabelFramework: st.name}); err != nil {
		s.log.Error(err, "listing the Tasks of a subscribed framework", "framework", st.namespace+"/"+st.name)
		return nil
	}
	for i := range l.Items {
		if e := s.pendingUpdate(st, &l.Items[i]); e != nil {
			if err := write(e); err != nil {
				return err
			}
		}
	}
	return nil
}
