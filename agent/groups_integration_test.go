package agent_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	executorv1 "github.com/kubemesos/kubemesos/api/mesos/v1/executor"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

// groupTasks makes the Tasks of a task group on custom executor ex as the
// master's scheduler API makes them: each named for its Mesos task ID, and
// annotated with the task IDs of the whole group (group), in order.
func groupTasks(t *testing.T, fwID, ex string, group []string, ids ...string) []*kmv1.Task {
	t.Helper()
	members, err := mesoswire.TaskGroupAnnotation(group)
	if err != nil {
		t.Fatal(err)
	}
	var out []*kmv1.Task
	for _, id := range ids {
		tk := b.MakeTask(mesoswire.TaskName(fwID, id), "").Resources("cpu", "100m", "memory", "32Mi").Executor(ex, "mesos-executor:1").Obj()
		tk.Annotations = map[string]string{mesoswire.AnnotationTaskID: id, mesoswire.AnnotationTaskGroupTasks: members}
		// What the master keeps of a group task for its executor: a
		// name and a command, and labels.
		kept, err := mesoswire.ExecutorTaskAnnotation(&mesosv1.TaskInfo{TaskId: &mesosv1.TaskID{Value: &id}, Name: ptr.To("name of " + id),
			Command: &mesosv1.CommandInfo{Value: ptr.To("run " + id)}})
		if err != nil {
			t.Fatal(err)
		}
		labels, err := mesoswire.TaskLabelsAnnotation([]*mesosv1.Label{{Key: ptr.To("task"), Value: &id}})
		if err != nil {
			t.Fatal(err)
		}
		tk.Annotations[mesoswire.AnnotationExecutorTask], tk.Annotations[mesoswire.AnnotationTaskLabels] = kept, labels
		tk.Spec.Data = mesoswire.SpecData([]byte("data of " + id))
		out = append(out, tk)
	}
	return out
}

// frameworkUID is the Mesos framework ID of Framework name in ns.
func frameworkUID(t *testing.T, ns, name string) string {
	t.Helper()
	var fw kmv1.Framework
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &fw); err != nil {
		t.Fatal(err)
	}
	return string(fw.UID)
}

// TestMesosExecutorLaunchGroup: an executor of the Mesos form gets the
// tasks of a task group in one LAUNCH_GROUP, in the group's order, with
// their Mesos IDs and bytes, and no LAUNCH; its updates reach each Task.
func TestMesosExecutorLaunchGroup(t *testing.T) {
	startTestMaster(t, 5*time.Second)
	addNode(t, "group-exec-node")
	startTestAgent(t, "group-exec-node", t.TempDir(), freeAddr(t), time.Minute, nil)
	ns := frameworkWithScheduler(t, "groupfw")
	fwID := frameworkUID(t, ns, "groupfw")
	group := []string{"Web.1", "Side.1"}
	tasks := groupTasks(t, fwID, "group-ex", group, group...)
	launchAllOnOffer(t, ns, "groupfw", "group-exec-node", tasks)
	pod := podOf(t, ns, map[string]string{kmv1.LabelExecutor: "group-ex"})
	kubelet(t, pod, corev1.PodRunning, 0)

	ex := newMesosExecutor(t, pod)
	ex.subscribe(t, mesoswire.MediaProtobuf)
	ex.next(t, executorv1.Event_SUBSCRIBED)
	var first *executorv1.Event
	select {
	case first = <-ex.events:
	case <-time.After(30 * time.Second):
		t.Fatal("no event after SUBSCRIBED")
	}
	got := first.GetLaunchGroup().GetTaskGroup().GetTasks()
	if first.GetType() != executorv1.Event_LAUNCH_GROUP || len(got) != 2 {
		t.Fatalf("the event after SUBSCRIBED is %v, want one LAUNCH_GROUP of both tasks", first)
	}
	for i, ti := range got {
		if ti.GetTaskId().GetValue() != group[i] || !bytes.Equal(ti.GetData(), []byte("data of "+group[i])) || ti.GetAgentId().GetValue() == "" {
			t.Errorf("task %d of LAUNCH_GROUP: %v, want %s with its data", i, ti, group[i])
		}
		if ti.GetName() != "name of "+group[i] || ti.GetCommand().GetValue() != "run "+group[i] ||
			len(ti.GetLabels().GetLabels()) != 1 || ti.GetLabels().GetLabels()[0].GetValue() != group[i] {
			t.Errorf("task %d of LAUNCH_GROUP: %v, want the name, command and labels it was launched with", i, ti)
		}
	}
	for _, id := range group {
		ex.update(t, mesoswire.MediaJSON, id, mesosv1.TaskState_TASK_RUNNING, nil)
		ex.next(t, executorv1.Event_ACKNOWLEDGED)
	}
	for _, tk := range tasks {
		waitState(t, ns, tk.Name, kmv1.TaskRunning)
	}
	ex.update(t, mesoswire.MediaProtobuf, "Side.1", mesosv1.TaskState_TASK_FINISHED, nil)
	waitState(t, ns, tasks[1].Name, kmv1.TaskFinished)
	for len(ex.events) > 0 {
		if ev := <-ex.events; ev.GetType() == executorv1.Event_LAUNCH || ev.GetType() == executorv1.Event_LAUNCH_GROUP {
			t.Errorf("the group's tasks were sent again: %v", ev)
		}
	}
	if st := task(t, ns, tasks[0].Name).Status.State; st != kmv1.TaskRunning {
		t.Errorf("Web.1 is %s once Side.1 finished; the executor, not kubemesos, decides about it", st)
	}
}

// TestMesosExecutorIncompleteGroup: a task whose group never arrives whole
// is not sent to its executor, and ends TASK_ERROR (REASON_TASK_GROUP_INVALID)
// naming the missing task, once the agent's registration timeout has passed
// since it was staged.
func TestMesosExecutorIncompleteGroup(t *testing.T) {
	startTestMaster(t, 5*time.Second)
	addNode(t, "group-lone-node")
	startTestAgent(t, "group-lone-node", t.TempDir(), freeAddr(t), 4*time.Second, nil)
	ns := frameworkWithScheduler(t, "lonefw")
	fwID := frameworkUID(t, ns, "lonefw")
	tasks := groupTasks(t, fwID, "lone-ex", []string{"Lone.1", "Never.1"}, "Lone.1")
	launchAllOnOffer(t, ns, "lonefw", "group-lone-node", tasks)
	pod := podOf(t, ns, map[string]string{kmv1.LabelExecutor: "lone-ex"})
	kubelet(t, pod, corev1.PodRunning, 0)
	ex := newMesosExecutor(t, pod)
	ex.subscribe(t, mesoswire.MediaJSON)
	ex.next(t, executorv1.Event_SUBSCRIBED)

	done := waitState(t, ns, tasks[0].Name, kmv1.TaskError)
	if done.Status.Reason != kmv1.ReasonTaskGroupInvalid || done.Status.Source != kmv1.SourceAgent || !strings.Contains(done.Status.Message, "Never.1") {
		t.Errorf("status %+v, want REASON_TASK_GROUP_INVALID from the agent naming Never.1", done.Status)
	}
	for len(ex.events) > 0 {
		if ev := <-ex.events; ev.GetType() == executorv1.Event_LAUNCH || ev.GetType() == executorv1.Event_LAUNCH_GROUP {
			t.Errorf("a task of an incomplete group reached the executor: %v", ev)
		}
	}
}
