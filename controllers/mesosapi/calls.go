package mesosapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

// dispatch carries out a call other than SUBSCRIBE on its stream's
// framework. A nil answer is 202 Accepted.
func (s *Server) dispatch(ctx context.Context, st *stream, call *schedulerv1.Call) *httpError {
	var err error
	switch call.GetType() {
	case schedulerv1.Call_TEARDOWN:
		err = s.teardown(ctx, st)
	case schedulerv1.Call_SUPPRESS:
		err = s.setSuppress(ctx, st, true)
	case schedulerv1.Call_REVIVE:
		err = s.setSuppress(ctx, st, false)
		if err == nil && s.ClearFilters != nil {
			s.ClearFilters(types.NamespacedName{Namespace: st.namespace, Name: st.name})
		}
	case schedulerv1.Call_DECLINE:
		err = s.decline(ctx, st, call.GetDecline().GetOfferIds(), call.GetDecline().GetFilters())
	case schedulerv1.Call_ACCEPT:
		err = s.accept(ctx, st, call.GetAccept())
	case schedulerv1.Call_ACKNOWLEDGE:
		err = s.acknowledge(ctx, st, call.GetAcknowledge())
	case schedulerv1.Call_KILL:
		err = s.kill(ctx, st, call.GetKill().GetTaskId().GetValue())
	case schedulerv1.Call_RECONCILE:
		err = s.reconcile(ctx, st, call.GetReconcile())
	case schedulerv1.Call_SHUTDOWN:
		err = s.shutdown(ctx, st, call.GetShutdown())
	case schedulerv1.Call_MESSAGE:
		if herr := s.message(ctx, st, call.GetMessage()); herr != nil {
			return herr
		}
	case schedulerv1.Call_RECONCILE_OPERATIONS:
		s.reconcileOperations(st, call.GetReconcileOperations())
	case schedulerv1.Call_ACCEPT_INVERSE_OFFERS, schedulerv1.Call_DECLINE_INVERSE_OFFERS,
		schedulerv1.Call_ACKNOWLEDGE_OPERATION_STATUS, schedulerv1.Call_REQUEST:
		// kubemesos makes no inverse offers and no operations with
		// feedback; Mesos ignores calls about unknown ones, and its
		// allocator ignores requests.
	case schedulerv1.Call_UPDATE_FRAMEWORK:
		if herr := s.updateFramework(ctx, st, call.GetUpdateFramework()); herr != nil {
			return herr
		}
	default: // UNKNOWN, and types newer than this master
		return &httpError{Code: http.StatusNotImplemented, Msg: ""}
	}
	if fencedMaster(err) {
		s.log.Info("refused a scheduler call: this master no longer leads", "call", call.GetType().String(), "framework", st.namespace+"/"+st.name)
		return noLongerLeads()
	}
	if err != nil {
		s.log.Error(err, "carrying out a scheduler call", "call", call.GetType().String(), "framework", st.namespace+"/"+st.name)
		return failed("Failed to carry out " + call.GetType().String() + ": " + err.Error())
	}
	return nil
}

// teardown ends the framework as the SDK's Stop does: the Succeeded
// condition tells the master to complete it, kill its tasks and withdraw
// its offers. The stream then closes, as Mesos closes a removed
// framework's connection.
func (s *Server) teardown(ctx context.Context, st *stream) error {
	key := types.NamespacedName{Namespace: st.namespace, Name: st.name}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var fw kmv1.Framework
		if err := s.reader.Get(ctx, key, &fw); err != nil {
			return err
		}
		patch := client.MergeFromWithOptions(fw.DeepCopy(), client.MergeFromWithOptimisticLock{})
		meta.SetStatusCondition(&fw.Status.Conditions, metav1.Condition{Type: kmv1.FrameworkSucceeded, Status: metav1.ConditionTrue,
			Reason: kmv1.ReasonCompletedByScheduler, Message: "torn down by the scheduler (Mesos TEARDOWN call)"})
		return s.schedulerClient.Status().Patch(ctx, &fw, patch)
	})
	if err != nil {
		return fmt.Errorf("tearing down Framework %s: %w", key, err)
	}
	st.close(nil)
	return nil
}

// kill sets spec.kill on the task's Task, as the SDK's KillTask does. A
// task that does not exist is reconciled, as Mesos does.
func (s *Server) kill(ctx context.Context, st *stream, taskID string) error {
	var t kmv1.Task
	err := s.reader.Get(ctx, types.NamespacedName{Namespace: st.namespace, Name: mesoswire.TaskName(st.frameworkID, taskID)}, &t)
	if apierrors.IsNotFound(err) || (err == nil && (string(t.Spec.Framework) != st.name || t.Annotations[mesoswire.AnnotationTaskID] != taskID)) {
		st.send(s.unknownTask(st, taskID))
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading task %s: %w", taskID, err)
	}
	if t.Spec.Kill {
		return nil
	}
	patch := []byte(`{"spec":{"kill":true}}`)
	if err := s.schedulerClient.Patch(ctx, &t, client.RawPatch(types.MergePatchType, patch)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("killing task %s: %w", taskID, err)
	}
	return nil
}

// setSuppress writes spec.suppressOffers = v. The patch is spelled out:
// false, an omitempty field, would not appear in a computed diff.
func (s *Server) setSuppress(ctx context.Context, st *stream, v bool) error {
	fw := &kmv1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: st.namespace, Name: st.name}}
	patch := fmt.Appendf(nil, `{"spec":{"suppressOffers":%t}}`, v)
	if err := s.schedulerClient.Patch(ctx, fw, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("setting suppressOffers=%t on Framework %s/%s: %w", v, st.namespace, st.name, err)
	}
	return nil
}

// unknownTask is the reconciliation answer for a task the master does
// not know: TASK_UNKNOWN for a partition-aware framework, else TASK_LOST.
func (s *Server) unknownTask(st *stream, taskID string) *schedulerv1.Event {
	state := mesosv1.TaskState_TASK_LOST
	if hasCapability(st.frameworkInfo(), mesosv1.FrameworkInfo_Capability_PARTITION_AWARE) {
		state = mesosv1.TaskState_TASK_UNKNOWN
	}
	return s.masterUpdate(&mesosv1.TaskInfo{TaskId: &mesosv1.TaskID{Value: &taskID}}, state,
		mesosv1.TaskStatus_REASON_RECONCILIATION, "Reconciliation: Task is unknown")
}

// reconcile answers RECONCILE: for the listed tasks their latest state,
// for none every non-terminal task's, with REASON_RECONCILIATION and no
// uuid (nothing to acknowledge), as Mesos does; a task launched and not
// yet admitted is TASK_STAGING.
func (s *Server) reconcile(ctx context.Context, st *stream, r *schedulerv1.Call_Reconcile) error {
	var l kmv1.TaskList
	if err := s.reader.List(ctx, &l, client.InNamespace(st.namespace), client.MatchingLabels{kmv1.LabelFramework: st.name}); err != nil {
		return fmt.Errorf("listing the tasks of Framework %s/%s: %w", st.namespace, st.name, err)
	}
	byID := map[string]*kmv1.Task{}
	for i := range l.Items {
		t := &l.Items[i]
		if id := t.Annotations[mesoswire.AnnotationTaskID]; id != "" {
			byID[id] = t
		}
	}
	reconciled := func(t *kmv1.Task) *schedulerv1.Event {
		e := updateEvent(t, t.Annotations[mesoswire.AnnotationTaskID], hasCapability(st.frameworkInfo(), mesosv1.FrameworkInfo_Capability_PARTITION_AWARE))
		if t.Status.State == "" {
			// Launched and not yet admitted: Mesos answers a pending
			// task TASK_STAGING, never unknown.
			e.Update.Status.State = mesosv1.TaskState_TASK_STAGING.Enum()
		}
		e.Update.Status.Uuid = nil
		e.Update.Status.Reason = mesosv1.TaskStatus_REASON_RECONCILIATION.Enum()
		e.Update.Status.Source = mesosv1.TaskStatus_SOURCE_MASTER.Enum()
		e.Update.Status.Timestamp = ptr.To(float64(s.clock.Now().UnixNano()) / 1e9)
		return e
	}
	if len(r.GetTasks()) == 0 {
		for _, t := range byID {
			if !t.Status.State.IsTerminal() && !st.sendWait(ctx, reconciled(t)) {
				break
			}
		}
		return nil
	}
	for _, rt := range r.GetTasks() {
		id := rt.GetTaskId().GetValue()
		e := s.unknownTask(st, id)
		if t, ok := byID[id]; ok {
			e = reconciled(t)
		}
		if !st.sendWait(ctx, e) {
			break
		}
	}
	return nil
}

// shutdown ends an executor, as Mesos does on SHUTDOWN. The executor of a
// command task is the task's own: its tasks are killed.
func (s *Server) shutdown(ctx context.Context, st *stream, sh *schedulerv1.Call_Shutdown) error {
	var l kmv1.TaskList
	if err := s.reader.List(ctx, &l, client.InNamespace(st.namespace), client.MatchingLabels{kmv1.LabelFramework: st.name}); err != nil {
		return fmt.Errorf("listing the tasks of Framework %s/%s: %w", st.namespace, st.name, err)
	}
	for i := range l.Items {
		t := &l.Items[i]
		id, agent := sh.GetExecutorId().GetValue(), t.Status.AgentID
		if agent == "" {
			agent = t.Spec.AgentID
		}
		if (t.Status.ExecutorID != id && (t.Spec.Executor == nil || t.Spec.Executor.ExecutorID != id)) || agent != sh.GetAgentId().GetValue() {
			continue
		}
		if t.Spec.Executor != nil {
			// The agent shuts the executor down, and deletes its pod,
			// once it runs no live task: an ended Task of it asks too.
			// The time keeps the ask to the pod that runs now.
			patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, kmv1.AnnotationShutdownExecutor, s.clock.Now().UTC().Format(time.RFC3339))
			if err := s.schedulerClient.Patch(ctx, t, client.RawPatch(types.MergePatchType, patch)); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("asking for the shutdown of executor %s: %w", sh.GetExecutorId().GetValue(), err)
			}
		}
		if t.Status.State.IsTerminal() {
			continue
		}
		if err := s.kill(ctx, st, t.Annotations[mesoswire.AnnotationTaskID]); err != nil {
			return err
		}
	}
	return nil
}

// reconcileOperations answers RECONCILE_OPERATIONS: kubemesos knows no
// operations, so each one listed is OPERATION_UNKNOWN, as Mesos answers
// for one it does not know.
func (s *Server) reconcileOperations(st *stream, r *schedulerv1.Call_ReconcileOperations) {
	for _, op := range r.GetOperations() {
		st.send(&schedulerv1.Event{Type: schedulerv1.Event_UPDATE_OPERATION_STATUS.Enum(), UpdateOperationStatus: &schedulerv1.Event_UpdateOperationStatus{
			Status: &mesosv1.OperationStatus{OperationId: op.GetOperationId(), State: mesosv1.OperationState_OPERATION_UNKNOWN.Enum(), AgentId: op.GetAgentId()},
		}})
	}
}

// updateFramework answers UPDATE_FRAMEWORK: the new FrameworkInfo is kept,
// its failover timeout applied, and the suppression set as its
// suppressed_roles say. The role cannot change.
func (s *Server) updateFramework(ctx context.Context, st *stream, u *schedulerv1.Call_UpdateFramework) *httpError {
	info := u.GetFrameworkInfo()
	role, herr := frameworkRole(info)
	if herr != nil {
		return herr
	}
	suppress, herr := suppressed(role, u.GetSuppressedRoles())
	if herr != nil {
		return herr
	}
	var fw kmv1.Framework
	if err := s.reader.Get(ctx, types.NamespacedName{Namespace: st.namespace, Name: st.name}, &fw); err != nil {
		return failed("Failed to read the framework: " + err.Error())
	}
	if role != fw.Spec.Role {
		return badRequest("kubemesos cannot change the role of a framework ('" + fw.Spec.Role + "' to '" + role + "')")
	}
	kept, err := infoAnnotation(info)
	if err != nil {
		return badRequest(err.Error())
	}
	if err := s.recordSubscription(ctx, &fw, kept, failoverSeconds(info), suppress); err != nil {
		return writeFailed(err, "the framework's update")
	}
	next := cloneInfo(info)
	next.Id = st.frameworkInfo().GetId()
	st.mu.Lock()
	st.info = next
	st.mu.Unlock()
	return nil
}
