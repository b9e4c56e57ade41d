package mesosapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

// LabelTaskGroup on a Task names the task group it was launched in with
// LAUNCH_GROUP: a digest of the framework ID, the agent and the group's
// task IDs, so that each group is its own (a framework may launch many
// groups on one executor ID, and on many agents).
const LabelTaskGroup = "kubemesos.io/mesos-task-group"

// Task groups. Mesos runs a task group on its default executor, each task
// a container of the group's executor. kubemesos has no such executor: a
// task of a group runs as a command task, in a pod of its own on the
// group's agent, and what the default executor guarantees is kept as far
// as pods allow. The group launches whole or not at all, on one agent; when
// one of its tasks fails or is killed, the master kills the others, as the
// default executor does. The tasks do not share a network
// namespace or a sandbox (they are separate pods).

// group turns the tasks of a LAUNCH_GROUP into Tasks, all of them or none:
// when one cannot be launched, each gets TASK_ERROR with why.
func (l *launch) group(ctx context.Context, lg *mesosv1.Offer_Operation_LaunchGroup, invalid string) ([]*kmv1.Task, error) {
	infos := lg.GetTaskGroup().GetTasks()
	if invalid != "" {
		for _, ti := range infos {
			l.s.lostOnInvalidOffers(l.st, ti, invalid)
		}
		return nil, nil
	}
	fail := func(msg string) ([]*kmv1.Task, error) {
		for _, ti := range infos {
			l.st.send(l.s.masterUpdate(ti, mesosv1.TaskState_TASK_ERROR, mesosv1.TaskStatus_REASON_TASK_GROUP_INVALID, msg))
		}
		return nil, nil
	}
	ei := lg.GetExecutor()
	switch {
	case ei == nil:
		return fail("'LaunchGroup.executor' must be set")
	case ei.Type == nil:
		return fail("'ExecutorInfo.type' must be set")
	case ei.GetType() == mesosv1.ExecutorInfo_CUSTOM:
		return fail("kubemesos runs task groups on the default executor only: each task of a group is a pod of its own")
	case ei.GetType() != mesosv1.ExecutorInfo_DEFAULT:
		return fail("Unknown executor type")
	case ei.Command != nil:
		return fail("'ExecutorInfo.command' must not be set for 'DEFAULT' executor")
	case ei.GetExecutorId().GetValue() == "":
		return fail("ExecutorID must not be empty")
	case len(infos) == 0:
		return fail("Task group is empty")
	}
	ids := make([]string, 0, len(infos))
	for _, ti := range infos {
		ids = append(ids, ti.GetTaskId().GetValue())
	}
	label := taskGroupLabel(l.st.frameworkID, l.offers[0].Spec.AgentID, ids)
	// A group that does not launch takes no ports from the tasks after it.
	var ports *portLedger
	if l.ports != nil {
		ports = l.ports.clone()
	}
	var out []*kmv1.Task
	for _, ti := range infos {
		if ti.Executor != nil && !proto.Equal(ti.GetExecutor(), ei) {
			return fail("The `ExecutorInfo` of task '" + ti.GetTaskId().GetValue() + "' is different from executor '" + ei.GetExecutorId().GetValue() + "'")
		}
		// A task of the default executor is a command task.
		cmd := proto.Clone(ti).(*mesosv1.TaskInfo)
		cmd.Executor = nil
		t, msg, err := l.task(ctx, cmd)
		if err != nil {
			return nil, err
		}
		if msg != "" {
			for _, done := range out {
				delete(l.seen, done.Annotations[mesoswire.AnnotationTaskID])
			}
			if ports != nil {
				l.ports = ports
			} else {
				l.ports = nil // made by this group: read again when needed
			}
			return fail("Task '" + ti.GetTaskId().GetValue() + "' of the group is invalid: " + msg)
		}
		t.Labels[LabelTaskGroup] = label
		out = append(out, t)
	}
	return out, nil
}

// taskGroupLabel is the value of LabelTaskGroup for the group of taskIDs
// on agentID.
func taskGroupLabel(frameworkID, agentID string, taskIDs []string) string {
	ids := slices.Clone(taskIDs)
	slices.Sort(ids)
	h := sha256.New()
	for _, part := range append([]string{frameworkID, agentID}, ids...) {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// killGroup kills the live tasks of t's task group once t failed or was
// killed, as Mesos's default executor does. t is read from the API server
// (the cache keeps no labels).
func (s *Server) killGroup(ctx context.Context, t *kmv1.Task) error {
	group := t.Labels[LabelTaskGroup]
	if group == "" || (t.Status.State != kmv1.TaskFailed && t.Status.State != kmv1.TaskKilled) {
		return nil
	}
	var l kmv1.TaskList
	if err := s.reader.List(ctx, &l, client.InNamespace(t.Namespace), client.MatchingLabels{LabelTaskGroup: group, kmv1.LabelFramework: string(t.Spec.Framework)}); err != nil {
		return fmt.Errorf("listing the task group of %s/%s: %w", t.Namespace, t.Name, err)
	}
	for i := range l.Items {
		sib := &l.Items[i]
		if sib.Name == t.Name || sib.Spec.Kill || sib.Status.State.IsTerminal() {
			continue
		}
		patch := client.MergeFrom(sib.DeepCopy())
		sib.Spec.Kill = true
		if err := s.schedulerClient.Patch(ctx, sib, patch); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("killing %s/%s of the task group of %s: %w", sib.Namespace, sib.Name, t.Name, err)
		}
		s.log.Info("killed a task of a task group whose task ended", "task", sib.Name, "ended", t.Name, "state", string(t.Status.State))
	}
	return nil
}
