package mesosapi_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

// TestTaskGroups: LAUNCH_GROUP on the default executor launches every task
// of the group as a command task, or none (each gets TASK_ERROR with
// REASON_TASK_GROUP_INVALID); when a task of a group fails, the master
// kills the others, as Mesos's default executor does, even while the
// framework is disconnected.
func TestTaskGroups(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	addAgent(t, "group-node", "127.0.0.1:5051", "cpu", "4", "memory", "8Gi")
	url := startAPI(t, apiOptions(t, ns), false)
	mt := mesoswire.MediaJSON
	es := subscribe(t, url, mt, frameworkInfo("groups"))
	fwID := es.next(schedulerv1.Event_SUBSCRIBED).GetSubscribed().GetFrameworkId()
	offer := es.next(schedulerv1.Event_OFFERS).GetOffers().GetOffers()[0]
	task := func(id string) *mesosv1.TaskInfo {
		return &mesosv1.TaskInfo{Name: proto.String(id), TaskId: &mesosv1.TaskID{Value: proto.String(id)}, AgentId: offer.GetAgentId(),
			Resources: []*mesosv1.Resource{scalar("cpus", 0.5), scalar("mem", 32)}, Command: &mesosv1.CommandInfo{Value: proto.String("sleep 100")}}
	}
	defaultExecutor := &mesosv1.ExecutorInfo{Type: mesosv1.ExecutorInfo_DEFAULT.Enum(), ExecutorId: &mesosv1.ExecutorID{Value: proto.String("group-1")},
		Resources: []*mesosv1.Resource{scalar("cpus", 0.1), scalar("mem", 32)}}
	group := func(ei *mesosv1.ExecutorInfo, tasks ...*mesosv1.TaskInfo) *mesosv1.Offer_Operation {
		return &mesosv1.Offer_Operation{Type: mesosv1.Offer_Operation_LAUNCH_GROUP.Enum(), LaunchGroup: &mesosv1.Offer_Operation_LaunchGroup{
			Executor: ei, TaskGroup: &mesosv1.TaskGroupInfo{Tasks: tasks}}}
	}
	bad := task("bad-2")
	bad.Resources = append(bad.Resources, scalar("bandwidth", 1))
	custom := proto.Clone(defaultExecutor).(*mesosv1.ExecutorInfo)
	custom.Type = mesosv1.ExecutorInfo_CUSTOM.Enum()
	custom.ExecutorId.Value = proto.String("group-custom")
	accept := &schedulerv1.Call{FrameworkId: fwID, Type: schedulerv1.Call_ACCEPT.Enum(), Accept: &schedulerv1.Call_Accept{
		OfferIds: []*mesosv1.OfferID{offer.GetId()},
		Operations: []*mesosv1.Offer_Operation{
			group(defaultExecutor, task("web"), task("sidecar")),
			// Another group on the same executor ID: its own group.
			group(proto.Clone(defaultExecutor).(*mesosv1.ExecutorInfo), task("other")),
			// One invalid task fails its whole group.
			group(proto.Clone(defaultExecutor).(*mesosv1.ExecutorInfo), task("bad-1"), bad),
			group(custom, task("custom-1")),
		},
	}}
	if code, body := call(t, url, mt, es.id, accept); code != http.StatusAccepted {
		t.Fatalf("ACCEPT: %d %q", code, body)
	}
	refused := map[string]string{}
	for range 3 {
		st := es.next(schedulerv1.Event_UPDATE).GetUpdate().GetStatus()
		if st.GetState() != mesosv1.TaskState_TASK_ERROR || st.GetReason() != mesosv1.TaskStatus_REASON_TASK_GROUP_INVALID {
			t.Fatalf("update %v: want TASK_ERROR, REASON_TASK_GROUP_INVALID", st)
		}
		refused[st.GetTaskId().GetValue()] = st.GetMessage()
	}
	if !strings.Contains(refused["bad-1"], "bad-2") || !strings.Contains(refused["bad-2"], "bandwidth") || !strings.Contains(refused["custom-1"], "'ExecutorInfo.command' must be set for 'CUSTOM' executor") {
		t.Errorf("refusals %q: want the whole bad group refused naming bad-2, and the custom executor's group without a command refused", refused)
	}

	// The valid group: two command tasks, one group.
	get := func(id string) *kmv1.Task { return admittedTask(t, ns, fwID.GetValue(), id) }
	web, sidecar, other := get("web"), get("sidecar"), get("other")
	if web.Spec.Command == nil || web.Labels[mesoswire.LabelTaskGroup] == "" || web.Labels[mesoswire.LabelTaskGroup] != sidecar.Labels[mesoswire.LabelTaskGroup] {
		t.Fatalf("group tasks: %v %v, want command tasks labelled with one group", web.Labels, sidecar.Labels)
	}
	var all kmv1.TaskList
	if err := env.Client.List(ctx, &all, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(all.Items) != 3 {
		t.Errorf("%d Tasks, want the valid groups' 3", len(all.Items))
	}
	if other.Labels[mesoswire.LabelTaskGroup] == web.Labels[mesoswire.LabelTaskGroup] {
		t.Errorf("two groups on one executor ID share the label %s", web.Labels[mesoswire.LabelTaskGroup])
	}

	// The framework's scheduler goes away, and then the sidecar fails:
	// the master kills the web task all the same, as Mesos's default
	// executor does whether or not its framework is connected.
	_ = es.resp.Body.Close()
	eventually(t, "the framework to be Disconnected", func() bool {
		var fws kmv1.FrameworkList
		return env.Client.List(ctx, &fws, client.InNamespace(ns)) == nil && len(fws.Items) == 1 && fws.Items[0].Status.Phase == kmv1.FrameworkDisconnected
	})
	patch := client.MergeFrom(sidecar.DeepCopy())
	sidecar.Status.State, sidecar.Status.Source, sidecar.Status.AgentID = kmv1.TaskFailed, kmv1.SourceAgent, offer.GetAgentId().GetValue()
	sidecar.Status.LastUpdateTime = ptr.To(metav1.Now())
	if err := env.Client.Status().Patch(ctx, sidecar, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the group's other task to be killed", func() bool {
		return env.Client.Get(ctx, client.ObjectKeyFromObject(web), web) == nil && web.Spec.Kill
	})
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(other), other); err != nil || other.Spec.Kill {
		t.Errorf("the task of another group was killed (%v)", err)
	}
}

// TestTaskGroupsOnCustomExecutor: LAUNCH_GROUP on a custom executor makes
// a Task of that executor for each task of the group, labelled with the
// group and annotated with its task IDs in order; a group that Mesos
// refuses gets TASK_ERROR, REASON_TASK_GROUP_INVALID, for every task, with
// Mesos's message, and takes nothing from the group after it; when a task of
// a custom executor's group fails, the master kills no other (the executor
// decides, as in Mesos).
func TestTaskGroupsOnCustomExecutor(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	addAgent(t, "custom-group-node", "127.0.0.1:5051", "cpu", "4", "memory", "8Gi", "ephemeral-storage", "10Gi")
	url := startAPI(t, apiOptions(t, ns), false)
	mt := mesoswire.MediaProtobuf
	es := subscribe(t, url, mt, frameworkInfo("custom-groups"))
	fwID := es.next(schedulerv1.Event_SUBSCRIBED).GetSubscribed().GetFrameworkId()
	offer := es.next(schedulerv1.Event_OFFERS).GetOffers().GetOffers()[0]
	task := func(id string, cpus float64) *mesosv1.TaskInfo {
		return &mesosv1.TaskInfo{Name: proto.String(id), TaskId: &mesosv1.TaskID{Value: proto.String(id)}, AgentId: offer.GetAgentId(),
			Resources: []*mesosv1.Resource{scalar("cpus", cpus), scalar("mem", 32)}, Data: []byte{byte(len(id))}}
	}
	executor := func(id string, change func(*mesosv1.ExecutorInfo)) *mesosv1.ExecutorInfo {
		ei := &mesosv1.ExecutorInfo{Type: mesosv1.ExecutorInfo_CUSTOM.Enum(), ExecutorId: &mesosv1.ExecutorID{Value: proto.String(id)},
			FrameworkId: fwID, Command: &mesosv1.CommandInfo{Value: proto.String("./my-executor")},
			Resources: []*mesosv1.Resource{scalar("cpus", 0.1), scalar("mem", 32), scalar("disk", 10)}}
		if change != nil {
			change(ei)
		}
		return ei
	}
	group := func(ei *mesosv1.ExecutorInfo, tasks ...*mesosv1.TaskInfo) *mesosv1.Offer_Operation {
		return &mesosv1.Offer_Operation{Type: mesosv1.Offer_Operation_LAUNCH_GROUP.Enum(), LaunchGroup: &mesosv1.Offer_Operation_LaunchGroup{
			Executor: ei, TaskGroup: &mesosv1.TaskGroupInfo{Tasks: tasks}}}
	}
	differs := task("differs-2", 0.1)
	differs.Executor = executor("pod-ex", func(ei *mesosv1.ExecutorInfo) { ei.Command.Value = proto.String("./other") })
	same := task("pod-b", 0.5)
	same.Executor = executor("pod-ex", nil) // a task may name the group's executor
	invalid := map[string]string{           // the first task of each invalid group: the message Mesos gives
		"no-fwid-1":    "'ExecutorInfo.framework_id' must be set",
		"docker-1":     "Docker ContainerInfo is not supported on the executor",
		"few-cpus-1":   "Executor 'few-cpus' uses less CPUs (0.001) than the minimum required (0.01)",
		"no-mem-1":     "Executor 'no-mem' uses less memory (None) than the minimum required (32MB)",
		"no-disk-1":    "Executor 'no-disk' uses no disk",
		"differs-1":    "The `ExecutorInfo` of task 'differs-2' is different from executor 'pod-ex'",
		"too-big-1":    "required by task group and its executor are more than available",
		"bad-task-1":   "Task 'bad-task-1' of the group is invalid: ",
		"not-mine-1":   "ExecutorInfo has an invalid FrameworkID",
		"no-command-1": "'ExecutorInfo.command' must be set for 'CUSTOM' executor",
		"reused-big-1": "required by task group and its executor are more than available",
	}
	// The executor gets a task's name and command, which a Task of an
	// executor has no field for.
	podA := task("pod-a", 1)
	podA.Name, podA.Command = proto.String("Pod A"), &mesosv1.CommandInfo{Value: proto.String("./serve --port 80")}
	badTask := task("bad-task-1", 0.1)
	badTask.AgentId = &mesosv1.AgentID{Value: proto.String("another-agent")}
	accept := &schedulerv1.Call{FrameworkId: fwID, Type: schedulerv1.Call_ACCEPT.Enum(), Accept: &schedulerv1.Call_Accept{
		OfferIds: []*mesosv1.OfferID{offer.GetId()},
		Operations: []*mesosv1.Offer_Operation{
			group(executor("no-fwid", func(ei *mesosv1.ExecutorInfo) { ei.FrameworkId = nil }), task("no-fwid-1", 0.1)),
			group(executor("docker", func(ei *mesosv1.ExecutorInfo) {
				ei.Container = &mesosv1.ContainerInfo{Type: mesosv1.ContainerInfo_DOCKER.Enum(), Docker: &mesosv1.ContainerInfo_DockerInfo{Image: proto.String("x")}}
			}), task("docker-1", 0.1)),
			group(executor("few-cpus", func(ei *mesosv1.ExecutorInfo) { ei.Resources[0] = scalar("cpus", 0.001) }), task("few-cpus-1", 0.1)),
			group(executor("no-mem", func(ei *mesosv1.ExecutorInfo) { ei.Resources = append(ei.Resources[:1], ei.Resources[2]) }), task("no-mem-1", 0.1)),
			group(executor("no-disk", func(ei *mesosv1.ExecutorInfo) { ei.Resources = ei.Resources[:2] }), task("no-disk-1", 0.1)),
			group(executor("not-mine", func(ei *mesosv1.ExecutorInfo) { ei.FrameworkId = &mesosv1.FrameworkID{Value: proto.String("x")} }), task("not-mine-1", 0.1)),
			group(executor("no-command", func(ei *mesosv1.ExecutorInfo) { ei.Command = nil }), task("no-command-1", 0.1)),
			group(executor("pod-ex", nil), task("differs-1", 0.1), differs),
			group(executor("big", nil), task("too-big-1", 2), task("too-big-2", 1.95)),
			group(executor("bad", nil), badTask, task("bad-task-2", 0.1)),
			// A group that does not launch leaves no executor behind: a
			// later group may describe its executor ID otherwise.
			group(executor("reused", nil), task("reused-big-1", 5)),
			group(executor("reused", func(ei *mesosv1.ExecutorInfo) { ei.Command.Value = proto.String("./other") }), task("reused-ok", 0.1)),
			// The valid group, after the invalid ones: they took nothing.
			group(executor("pod-ex", nil), podA, same),
			// A second group on the running executor: its resources are
			// charged once.
			group(executor("pod-ex", nil), task("pod-c", 2.2)),
		},
	}}
	if code, body := call(t, url, mt, es.id, accept); code != http.StatusAccepted {
		t.Fatalf("ACCEPT: %d %q", code, body)
	}
	refused := map[string]*mesosv1.TaskStatus{}
	for len(refused) < 2*len(invalid)-8 { // eight invalid groups have one task, three have two
		st := es.next(schedulerv1.Event_UPDATE).GetUpdate().GetStatus()
		if st.GetState() != mesosv1.TaskState_TASK_ERROR || st.GetReason() != mesosv1.TaskStatus_REASON_TASK_GROUP_INVALID || st.GetSource() != mesosv1.TaskStatus_SOURCE_MASTER {
			t.Fatalf("update %v: want TASK_ERROR, REASON_TASK_GROUP_INVALID, SOURCE_MASTER", st)
		}
		refused[st.GetTaskId().GetValue()] = st
	}
	for first, want := range invalid {
		if got := refused[first].GetMessage(); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", first, got, want)
		}
		if second := strings.TrimSuffix(first, "1") + "2"; refused[second] != nil && refused[second].GetMessage() != refused[first].GetMessage() {
			t.Errorf("the tasks of one group refused for different reasons: %q, %q", refused[first].GetMessage(), refused[second].GetMessage())
		}
	}
	for _, id := range []string{"differs-2", "too-big-2", "bad-task-2"} {
		if refused[id] == nil {
			t.Errorf("%s was not refused with its group", id)
		}
	}

	get := func(id string) *kmv1.Task { return admittedTask(t, ns, fwID.GetValue(), id) }
	a, bt, c := get("pod-a"), get("pod-b"), get("pod-c")
	if reused := get("reused-ok"); reused.Status.State != kmv1.TaskStaging || reused.Spec.Executor == nil {
		t.Errorf("reused-ok is %s (%s), want TASK_STAGING on its executor", reused.Status.State, reused.Status.Message)
	}
	for _, tk := range []*kmv1.Task{a, bt, c} {
		if tk.Status.State != kmv1.TaskStaging {
			t.Errorf("%s is %s (%s), want TASK_STAGING", tk.Name, tk.Status.State, tk.Status.Message)
		}
		if tk.Spec.Executor == nil || tk.Spec.Executor.ExecutorID != "pod-ex" || tk.Spec.Command != nil || milliCPU(tk.Spec.Executor.Resources) != 100 {
			t.Errorf("%s runs on %+v, want the custom executor pod-ex with its resources", tk.Name, tk.Spec.Executor)
		}
	}
	if a.Labels[mesoswire.LabelTaskGroup] == "" || a.Labels[mesoswire.LabelTaskGroup] != bt.Labels[mesoswire.LabelTaskGroup] || a.Labels[mesoswire.LabelTaskGroup] == c.Labels[mesoswire.LabelTaskGroup] {
		t.Errorf("group labels %q %q %q: want pod-a and pod-b in one group, pod-c in another", a.Labels[mesoswire.LabelTaskGroup], bt.Labels[mesoswire.LabelTaskGroup], c.Labels[mesoswire.LabelTaskGroup])
	}
	for tk, want := range map[*kmv1.Task][]string{a: {"pod-a", "pod-b"}, bt: {"pod-a", "pod-b"}, c: {"pod-c"}} {
		if ids, ok, err := mesoswire.TaskGroupTasks(tk); !ok || err != nil || !slices.Equal(ids, want) {
			t.Errorf("%s names its group %q (%v, %v), want %q", tk.Name, ids, ok, err, want)
		}
	}
	kept := &mesosv1.TaskInfo{}
	if err := mesoswire.AddExecutorView(a, kept); err != nil || kept.GetName() != "Pod A" || kept.GetCommand().GetValue() != "./serve --port 80" {
		t.Errorf("pod-a keeps %v (%v) for its executor, want its name and command", kept, err)
	}
	if _, ok := bt.Annotations[mesoswire.AnnotationExecutorTask]; ok {
		t.Errorf("pod-b, named by its ID and without a command, keeps %q", bt.Annotations[mesoswire.AnnotationExecutorTask])
	}
	if string(mesoswire.TaskData(bt)) != string([]byte{5}) {
		t.Errorf("pod-b data %q", bt.Spec.Data)
	}
	var all kmv1.TaskList
	if err := env.Client.List(ctx, &all, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(all.Items) != 4 {
		t.Errorf("%d Tasks, want the valid groups' 4", len(all.Items))
	}

	// pod-b fails: the executor decides about pod-a; the master kills nothing.
	patch := client.MergeFrom(bt.DeepCopy())
	bt.Status.State, bt.Status.Source = kmv1.TaskFailed, kmv1.SourceExecutor
	bt.Status.LastUpdateTime = ptr.To(metav1.Now())
	if err := env.Client.Status().Patch(ctx, bt, patch); err != nil {
		t.Fatal(err)
	}
	for {
		st := es.next(schedulerv1.Event_UPDATE).GetUpdate().GetStatus()
		if st.GetTaskId().GetValue() == "pod-b" && st.GetState() == mesosv1.TaskState_TASK_FAILED {
			break // the master has handled pod-b's end
		}
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(a), a); err != nil || a.Spec.Kill {
		t.Errorf("the master killed pod-a of a custom executor's group (%v)", err)
	}
}

// milliCPU is the cpu of rl in millicores.
func milliCPU(rl kmv1.ResourceList) int64 {
	q := rl["cpu"]
	return q.MilliValue()
}

// admittedTask waits for the Task of Mesos task id of framework fwID in ns
// to be admitted or refused by the master, and returns it.
func admittedTask(t *testing.T, ns, fwID, id string) *kmv1.Task {
	t.Helper()
	var tk kmv1.Task
	eventually(t, "the master to admit "+id, func() bool {
		return env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: mesoswire.TaskName(fwID, id)}, &tk) == nil && tk.Status.State != ""
	})
	return &tk
}
