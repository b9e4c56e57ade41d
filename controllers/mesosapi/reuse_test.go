package mesosapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"google.golang.org/protobuf/proto"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

// TestTaskIDReusedOnceItsEndIsAcknowledged: as in Mesos, a framework may
// launch a task ID again once the task of that ID has ended and the
// framework acknowledged its end (a Mesos framework launches again, under
// the same ID, a task the master dropped because its offer was rescinded
// while the ACCEPT was on its way). Until then the ID is the running or
// unacknowledged task's, and a launch under it gets TASK_ERROR.
func TestTaskIDReusedOnceItsEndIsAcknowledged(t *testing.T) {
	for _, tc := range []reuseCase{
		{name: "finished", ended: kmv1.TaskStatus{State: kmv1.TaskFinished, Source: kmv1.SourceExecutor}, want: mesosv1.TaskState_TASK_FINISHED},
		// As admission drops a task whose offer was rescinded while the
		// ACCEPT was on its way: the framework is told TASK_LOST, and
		// launches it again under the same ID.
		{name: "dropped", ended: kmv1.TaskStatus{State: kmv1.TaskDropped, Source: kmv1.SourceMaster, Reason: kmv1.ReasonInvalidOffers,
			Message: "offer no longer exists"}, want: mesosv1.TaskState_TASK_LOST, reason: mesosv1.TaskStatus_REASON_INVALID_OFFERS},
		// A partition-aware framework is told a lost task TASK_GONE; its
		// acknowledgement frees the ID as well.
		{name: "gone", partitionAware: true, ended: kmv1.TaskStatus{State: kmv1.TaskLost, Source: kmv1.SourceAgent,
			Message: "its pod is gone"}, want: mesosv1.TaskState_TASK_GONE},
	} {
		t.Run(tc.name, func(t *testing.T) { taskIDReused(t, tc) })
	}
}

// reuseCase is how a task ends before its ID is launched again.
type reuseCase struct {
	name string
	// ended is how the first task ends; want is what the framework (not
	// partition-aware) is told of it, with reason when the end has one.
	ended  kmv1.TaskStatus
	want   mesosv1.TaskState
	reason mesosv1.TaskStatus_Reason
	// partitionAware frameworks are told TASK_GONE for TASK_LOST.
	partitionAware bool
}

// taskIDReused launches job-1, ends it as tc says, and launches it again
// before and after acknowledging that end.
func taskIDReused(t *testing.T, tc reuseCase) {
	ctx := context.Background()
	ns := newNamespace(t)
	addAgent(t, "reuse-"+tc.name, "127.0.0.1:5051", "cpu", "4", "memory", "8Gi")
	url := startAPI(t, apiOptions(t, ns), false)
	mt := mesoswire.MediaProtobuf
	info := frameworkInfo("reuse")
	if tc.partitionAware {
		info.Capabilities = []*mesosv1.FrameworkInfo_Capability{{Type: mesosv1.FrameworkInfo_Capability_PARTITION_AWARE.Enum()}}
	}
	es := subscribe(t, url, mt, info)
	fwID := es.next(schedulerv1.Event_SUBSCRIBED).GetSubscribed().GetFrameworkId()

	launch := func(offer *mesosv1.Offer) {
		t.Helper()
		c := &schedulerv1.Call{FrameworkId: fwID, Type: schedulerv1.Call_ACCEPT.Enum(), Accept: &schedulerv1.Call_Accept{
			OfferIds: []*mesosv1.OfferID{offer.GetId()},
			Operations: []*mesosv1.Offer_Operation{{Type: mesosv1.Offer_Operation_LAUNCH.Enum(), Launch: &mesosv1.Offer_Operation_Launch{
				TaskInfos: []*mesosv1.TaskInfo{{Name: proto.String("job"), TaskId: &mesosv1.TaskID{Value: proto.String("job-1")}, AgentId: offer.GetAgentId(),
					Resources: []*mesosv1.Resource{scalar("cpus", 1)}, Command: &mesosv1.CommandInfo{Value: proto.String("true")}}},
			}}},
			Filters: &mesosv1.Filters{RefuseSeconds: proto.Float64(0)},
		}}
		if code, body := call(t, url, mt, es.id, c); code != http.StatusAccepted {
			t.Fatalf("ACCEPT: %d %q", code, body)
		}
	}
	duplicate := func(when string) {
		t.Helper()
		st := es.next(schedulerv1.Event_UPDATE).GetUpdate().GetStatus()
		if st.GetTaskId().GetValue() != "job-1" || st.GetState() != mesosv1.TaskState_TASK_ERROR || !strings.Contains(st.GetMessage(), "duplicate ID") {
			t.Fatalf("job-1 launched again %s: %v, want TASK_ERROR for its duplicate ID", when, st)
		}
	}
	key := types.NamespacedName{Namespace: ns, Name: mesoswire.TaskName(fwID.GetValue(), "job-1")}
	admitted := func() *kmv1.Task {
		t.Helper()
		var task kmv1.Task
		eventually(t, "the master to admit job-1", func() bool {
			return env.Client.Get(ctx, key, &task) == nil && task.Status.State != ""
		})
		return &task
	}

	launch(es.latestOffer())
	first := admitted()
	launch(es.latestOffer())
	duplicate("while it is staging")

	// The task ends; the framework has not acknowledged that yet.
	patch := client.MergeFrom(first.DeepCopy())
	first.Status.State, first.Status.Source, first.Status.Reason, first.Status.Message = tc.ended.State, tc.ended.Source, tc.ended.Reason, tc.ended.Message
	first.Status.LastUpdateTime = ptr.To(metav1.Now())
	if err := env.Client.Status().Patch(ctx, first, patch); err != nil {
		t.Fatal(err)
	}
	finished := es.next(schedulerv1.Event_UPDATE).GetUpdate().GetStatus()
	if finished.GetState() != tc.want || len(finished.GetUuid()) != 16 || (tc.ended.Reason != "" && finished.GetReason() != tc.reason) {
		t.Fatalf("update %v, want %s (%s) with a uuid", finished, tc.want, tc.reason)
	}
	launch(es.latestOffer())
	duplicate("before its end was acknowledged")

	if code, body := call(t, url, mt, es.id, &schedulerv1.Call{FrameworkId: fwID, Type: schedulerv1.Call_ACKNOWLEDGE.Enum(),
		Acknowledge: &schedulerv1.Call_Acknowledge{AgentId: finished.GetAgentId(), TaskId: finished.GetTaskId(), Uuid: finished.GetUuid()}}); code != http.StatusAccepted {
		t.Fatalf("ACKNOWLEDGE: %d %q", code, body)
	}
	launch(es.latestOffer())
	var again kmv1.Task
	eventually(t, "a new Task of job-1 to be admitted", func() bool {
		return env.Client.Get(ctx, key, &again) == nil && again.UID != first.UID && again.Status.State == kmv1.TaskStaging
	})
	if id := again.Annotations[mesoswire.AnnotationTaskID]; id != "job-1" {
		t.Errorf("the new Task's Mesos task ID is %q, want job-1", id)
	}
	var tasks kmv1.TaskList
	if err := env.Client.List(ctx, &tasks, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(tasks.Items) != 1 {
		t.Errorf("%d Tasks, want the one of job-1: the ended one is replaced", len(tasks.Items))
	}
}
