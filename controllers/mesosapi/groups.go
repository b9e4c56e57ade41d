package mesosapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
	"github.com/kubemesos/kubemesos/internal/resources"
)

// Task groups. Mesos runs a task group on the executor the group names.
// On the DEFAULT executor each task is a container of that executor;
// kubemesos has no such executor: a task of such a group runs as a command
// task, in a pod of its own on the group's agent, and what the default
// executor guarantees is kept as far as pods allow. When one of its tasks
// fails or is killed, the master kills the others, as the default executor
// does. The tasks do not share a network namespace or a sandbox (they are
// separate pods).
//
// On a CUSTOM executor each task is a Task of that executor, as LAUNCH
// makes it, and the agent hands the executor the whole group in one
// LAUNCH_GROUP event (mesoswire.AnnotationTaskGroupTasks tells it the
// group). What happens to the others when one task ends is the executor's
// to decide, as in Mesos: the master kills no siblings.
//
// Either way the group is checked whole, as Mesos checks it, and launches
// whole or not at all, on one agent.

// minExecutorCPUs and minExecutorMemMB are the least a task group's
// executor may take, as in Mesos.
const (
	minExecutorCPUs  = 0.01
	minExecutorMemMB = 32
)

// group turns the tasks of a LAUNCH_GROUP into Tasks, all of them or none:
// when one cannot be launched, each gets TASK_ERROR with why.
func (l *launch) group(ctx context.Context, lg *mesosv1.Offer_Operation_LaunchGroup, invalid string) ([]*kmv1.Task, error) {
	infos := lg.GetTaskGroup().GetTasks()
	if invalid != "" {
		for _, ti := range infos {
			l.lost(ctx, ti, invalid)
		}
		return nil, nil
	}
	fail := func(msg string) ([]*kmv1.Task, error) {
		for _, ti := range infos {
			l.st.sendWait(ctx, l.s.masterUpdate(ti, mesosv1.TaskState_TASK_ERROR, mesosv1.TaskStatus_REASON_TASK_GROUP_INVALID, msg))
		}
		return nil, nil
	}
	ei := lg.GetExecutor()
	var exec *kmv1.ExecutorInfo // the custom executor; nil for the default one
	switch {
	case ei == nil:
		return fail("'LaunchGroup.executor' must be set")
	case ei.Type == nil:
		return fail("'ExecutorInfo.type' must be set")
	case ei.GetType() == mesosv1.ExecutorInfo_CUSTOM:
		if msg := customGroupExecutor(ei, l.st.frameworkID); msg != "" {
			return fail(msg)
		}
		var msg string
		if exec, msg = executorFor(ei, l.st.frameworkID, l.s.opts.CommandImage); msg != "" {
			return fail(msg)
		}
	case ei.GetType() != mesosv1.ExecutorInfo_DEFAULT:
		return fail("Unknown executor type")
	case ei.Command != nil:
		return fail("'ExecutorInfo.command' must not be set for 'DEFAULT' executor")
	case ei.GetExecutorId().GetValue() == "":
		return fail("ExecutorID must not be empty")
	}
	if len(infos) == 0 {
		return fail("Task group is empty")
	}
	ids := make([]string, 0, len(infos))
	for _, ti := range infos {
		ids = append(ids, ti.GetTaskId().GetValue())
	}
	var members string
	if exec != nil {
		var err error
		if members, err = mesoswire.TaskGroupAnnotation(ids); err != nil {
			return fail(err.Error())
		}
	}
	label := taskGroupLabel(l.st.frameworkID, l.offers[0].Spec.AgentID, ids)
	// A group that does not launch takes nothing from the operations
	// after it.
	before := l.save()
	failed := func(msg string) ([]*kmv1.Task, error) {
		l.restore(before)
		return fail(msg)
	}
	var out []*kmv1.Task
	for _, ti := range infos {
		if ti.Executor != nil && !proto.Equal(ti.GetExecutor(), ei) {
			return failed("The `ExecutorInfo` of task '" + ti.GetTaskId().GetValue() + "' is different from executor '" + ei.GetExecutorId().GetValue() + "'")
		}
		one := proto.Clone(ti).(*mesosv1.TaskInfo)
		if exec != nil {
			// A task of a custom executor is that executor's task; its
			// command, if any, is the executor's to run (kept below).
			one.Executor, one.Command = ei, nil
		} else {
			// A task of the default executor is a command task.
			one.Executor = nil
		}
		t, msg, err := l.task(ctx, one)
		if err != nil {
			return nil, err
		}
		if msg != "" {
			return failed("Task '" + ti.GetTaskId().GetValue() + "' of the group is invalid: " + msg)
		}
		t.Labels[mesoswire.LabelTaskGroup] = label
		if exec != nil {
			t.Annotations[mesoswire.AnnotationTaskGroupTasks] = members
			// The executor gets the task's command, which the Task
			// (a task of an executor) has no field for.
			if msg := keepForExecutor(t, ti); msg != "" {
				return failed("Task '" + ti.GetTaskId().GetValue() + "' of the group is invalid: " + msg)
			}
		}
		out = append(out, t)
	}
	if msg := l.groupFits(out, exec, before); msg != "" {
		return failed(msg)
	}
	return out, nil
}

// customGroupExecutor checks, as Mesos does, what a task group asks of a
// custom executor beyond what LAUNCH does (executorFor): a command, its
// framework ID, no Docker container, and the least resources an executor
// may take. It says what is wrong, or "".
func customGroupExecutor(ei *mesosv1.ExecutorInfo, frameworkID string) string {
	id := ei.GetExecutorId().GetValue()
	switch {
	case ei.Command == nil:
		return "'ExecutorInfo.command' must be set for 'CUSTOM' executor"
	case ei.FrameworkId == nil:
		return "'ExecutorInfo.framework_id' must be set"
	case ei.GetFrameworkId().GetValue() != frameworkID:
		return "ExecutorInfo has an invalid FrameworkID (Actual: " + ei.GetFrameworkId().GetValue() + " vs Expected: " + frameworkID + ")"
	case ei.Container != nil && ei.GetContainer().GetType() == mesosv1.ContainerInfo_DOCKER:
		return "Docker ContainerInfo is not supported on the executor"
	}
	scalars := map[string]float64{}
	for _, r := range ei.GetResources() {
		if r.GetType() == mesosv1.Value_SCALAR {
			scalars[r.GetName()] += r.GetScalar().GetValue()
		}
	}
	has := func(name string) (float64, string) {
		v, ok := scalars[name]
		if !ok {
			return 0, "None"
		}
		return v, strconv.FormatFloat(v, 'g', -1, 64)
	}
	if cpus, s := has(mesoswire.ResourceCPUs); s == "None" || cpus < minExecutorCPUs {
		return fmt.Sprintf("Executor '%s' uses less CPUs (%s) than the minimum required (%g)", id, s, minExecutorCPUs)
	}
	if mem, s := has(mesoswire.ResourceMem); s == "None" || mem < minExecutorMemMB {
		if s != "None" {
			s += "MB"
		}
		return fmt.Sprintf("Executor '%s' uses less memory (%s) than the minimum required (%dMB)", id, s, minExecutorMemMB)
	}
	if _, s := has(mesoswire.ResourceDisk); s == "None" {
		return "Executor '" + id + "' uses no disk"
	}
	return ""
}

// groupFits says, as Mesos words it, when the tasks of a group and the
// executor it starts (a custom executor that its offers do not list) need
// more than the call's offers hold once the tasks before the
// group (at before) took theirs; "" when they fit.
func (l *launch) groupFits(tasks []*kmv1.Task, exec *kmv1.ExecutorInfo, before launchState) string {
	var need corev1.ResourceList
	for _, t := range tasks {
		need = resources.Add(need, t.Spec.Resources.Core())
	}
	taken := before.used
	for id, res := range before.execs {
		if !l.executorRuns(id) {
			taken = resources.Add(taken, res)
		}
	}
	if exec != nil {
		if _, started := before.execs[exec.ExecutorID]; !started {
			if !l.executorRuns(exec.ExecutorID) {
				need = resources.Add(need, exec.Resources.Core())
			}
		}
	}
	var offered corev1.ResourceList
	for _, o := range l.offers {
		offered = resources.Add(offered, o.Spec.Resources.Core())
	}
	available := resources.Sub(offered, taken)
	if !resources.Fits(need, available) {
		return "Total resources " + resources.String(need) + " required by task group and its executor are more than available " + resources.String(available)
	}
	return ""
}

// taskGroupLabel is the value of mesoswire.LabelTaskGroup for the group of taskIDs
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

// groupTaskChanged queues, on the leader, a task of a default executor's
// group that failed or was killed, for killGroup. The cache keeps the
// group label.
func (s *Server) groupTaskChanged(cached *kmv1.Task) {
	if s.leading() && endsGroup(cached) {
		s.groupQueue.Add(client.ObjectKeyFromObject(cached))
	}
}

// endsGroup reports whether t, a task of a group on the default executor,
// failed or was killed: the group's other tasks are then to be killed.
func endsGroup(t *kmv1.Task) bool {
	return t.Labels[mesoswire.LabelTaskGroup] != "" && t.Spec.Executor == nil &&
		(t.Status.State == kmv1.TaskFailed || t.Status.State == kmv1.TaskKilled)
}

// runGroupKiller kills the other tasks of the queued tasks' groups until
// ctx ends, once this master leads. A standby queues nothing; as it takes
// over, it queues the group tasks that ended before (from its cache).
func (s *Server) runGroupKiller(ctx context.Context) {
	go func() {
		<-ctx.Done()
		s.groupQueue.ShutDown()
	}()
	go func() {
		if s.elected != nil {
			select {
			case <-s.elected:
			case <-ctx.Done():
				return
			}
		}
		var ended kmv1.TaskList
		if err := s.c.List(ctx, &ended, client.HasLabels{mesoswire.LabelTaskGroup}); err != nil && ctx.Err() == nil {
			s.log.Error(err, "listing the task groups' tasks as this master takes over; those that ended before are not acted on")
		}
		for i := range ended.Items {
			if endsGroup(&ended.Items[i]) {
				s.groupQueue.Add(client.ObjectKeyFromObject(&ended.Items[i]))
			}
		}
		for {
			k, quit := s.groupQueue.Get()
			if quit {
				return
			}
			var t kmv1.Task
			err := s.c.Get(ctx, k, &t)
			if err == nil {
				err = s.killGroup(ctx, &t)
			}
			switch {
			case err == nil || apierrors.IsNotFound(err) || ctx.Err() != nil:
				s.groupQueue.Forget(k)
			default:
				s.log.Error(err, "killing a task group", "task", k)
				s.groupQueue.AddRateLimited(k)
			}
			s.groupQueue.Done(k)
		}
	}()
}

// killGroup kills the live tasks of t's task group on the default executor
// once t failed or was killed, as Mesos's default executor does, whether
// or not the framework is subscribed.
func (s *Server) killGroup(ctx context.Context, t *kmv1.Task) error {
	group := t.Labels[mesoswire.LabelTaskGroup]
	// A custom executor's group is its own to end: Mesos kills a group's
	// other tasks on its default executor only.
	if group == "" || t.Spec.Executor != nil || (t.Status.State != kmv1.TaskFailed && t.Status.State != kmv1.TaskKilled) {
		return nil
	}
	var l kmv1.TaskList
	if err := s.c.List(ctx, &l, client.InNamespace(t.Namespace), client.MatchingLabels{mesoswire.LabelTaskGroup: group}); err != nil {
		return fmt.Errorf("listing the task group of %s/%s: %w", t.Namespace, t.Name, err)
	}
	for i := range l.Items {
		sib := &l.Items[i]
		if sib.Name == t.Name || sib.Spec.Framework != t.Spec.Framework || sib.Spec.Kill || sib.Status.State.IsTerminal() {
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
