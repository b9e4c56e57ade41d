package mesosapi_test

import (
	"context"
	"net/http"
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
	"github.com/kubemesos/kubemesos/controllers/mesosapi"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

// TestTaskGroups: LAUNCH_GROUP on the default executor launches every task
// of the group as a command task, or none (each gets TASK_ERROR with
// REASON_TASK_GROUP_INVALID); when a task of a group fails, the master
// kills the others, as Mesos's default executor does.
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
	if !strings.Contains(refused["bad-1"], "bad-2") || !strings.Contains(refused["bad-2"], "bandwidth") || !strings.Contains(refused["custom-1"], "default executor only") {
		t.Errorf("refusals %q: want the whole bad group refused naming bad-2, and the custom executor's group refused", refused)
	}

	// The valid group: two command tasks, one group.
	get := func(id string) *kmv1.Task {
		t.Helper()
		var tk kmv1.Task
		eventually(t, "the master to admit "+id, func() bool {
			return env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: mesoswire.TaskName(fwID.GetValue(), id)}, &tk) == nil && tk.Status.State != ""
		})
		return &tk
	}
	web, sidecar, other := get("web"), get("sidecar"), get("other")
	if web.Spec.Command == nil || web.Labels[mesosapi.LabelTaskGroup] == "" || web.Labels[mesosapi.LabelTaskGroup] != sidecar.Labels[mesosapi.LabelTaskGroup] {
		t.Fatalf("group tasks: %v %v, want command tasks labelled with one group", web.Labels, sidecar.Labels)
	}
	var all kmv1.TaskList
	if err := env.Client.List(ctx, &all, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(all.Items) != 3 {
		t.Errorf("%d Tasks, want the valid groups' 3", len(all.Items))
	}
	if other.Labels[mesosapi.LabelTaskGroup] == web.Labels[mesosapi.LabelTaskGroup] {
		t.Errorf("two groups on one executor ID share the label %s", web.Labels[mesosapi.LabelTaskGroup])
	}

	// The sidecar fails: the master kills the web task.
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
