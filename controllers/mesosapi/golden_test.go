package mesosapi

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/goldenfile"
	"github.com/kubemesos/kubemesos/internal/messages"
	"github.com/kubemesos/kubemesos/internal/scheme"
)

// TestGoldenEvents pins the JSON and protobuf encodings of every event the
// API sends, built by the functions that build them for a stream.
func TestGoldenEvents(t *testing.T) {
	agent := b.MakeAgent("node-1").Endpoint("10.0.0.1:5051").Obj()
	s := &Server{
		opts:  Options{MasterID: "master-0_1@10.0.0.9:5050", AdvertiseAddress: "10.0.0.9:5050", HeartbeatInterval: 15 * time.Second},
		c:     fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(agent).Build(),
		clock: clocktesting.NewFakeClock(testNow), log: logr.Discard(), streams: newRegistry(),
	}
	info := &mesosv1.FrameworkInfo{User: proto.String("u"), Name: proto.String("fw"), Roles: []string{"eng"},
		Id:           &mesosv1.FrameworkID{Value: proto.String("0b9e8f8e-2f6a-4c1e-9a43-5d1f4a6b7c8d")},
		Capabilities: []*mesosv1.FrameworkInfo_Capability{{Type: mesosv1.FrameworkInfo_Capability_MULTI_ROLE.Enum()}}}
	st := newStream("5f0c2a52-7b0e-4d7e-8f3a-6b9d1c2e3f40", info.GetId().GetValue(), "ns", "fw-abcde", info)
	offer := b.MakeOffer("fw-abcde-node-1-x7k2p", "ns").Framework("fw-abcde", info.GetId().GetValue()).Agent("node-1-1a2b3c4d", "node-1").
		Resources("cpu", "3500m", "memory", "7Gi", "ephemeral-storage", "100Gi", "nvidia.com/gpu", "1").Obj()
	offer.Spec.Attributes = kmv1.Attributes{"zone": "a", "rack": "r1"}
	offer.Spec.ExecutorIDs = []string{"exec-1"}
	task := b.MakeTask("web-5c1f0e2d9a3b", "ns").Framework("fw-abcde").Agent("node-1-1a2b3c4d").Obj()
	task.UID = "7d1c6a9e-0000-4000-8000-000000000001"
	task.Status = kmv1.TaskStatus{State: kmv1.TaskRunning, Source: "SOURCE_EXECUTOR", Reason: "", Message: "running", Data: "out",
		AgentID: "node-1-1a2b3c4d", ExecutorID: "web-5c1f0e2d9a3b", Healthy: ptr.To(true), LastUpdateTime: ptr.To(metav1.NewTime(testNow))}

	subscribed := &schedulerv1.Event{Type: schedulerv1.Event_SUBSCRIBED.Enum(), Subscribed: &schedulerv1.Event_Subscribed{
		FrameworkId: info.GetId(), HeartbeatIntervalSeconds: ptr.To(15.0), MasterInfo: s.masterInfo()}}
	subscribed.Subscribed.MasterInfo.Version = ptr.To("test") // not the build's
	events := map[string]*schedulerv1.Event{
		"subscribed": subscribed,
		"heartbeat":  {Type: schedulerv1.Event_HEARTBEAT.Enum()},
		"offers":     offersEvent(s.mesosOffer(context.Background(), st, offer)),
		"rescind":    {Type: schedulerv1.Event_RESCIND.Enum(), Rescind: &schedulerv1.Event_Rescind{OfferId: &mesosv1.OfferID{Value: ptr.To(offer.Name)}}},
		"update":     updateEvent(task, "web", false),
		"update_task_error": s.masterUpdate(&mesosv1.TaskInfo{TaskId: &mesosv1.TaskID{Value: ptr.To("bad")}, AgentId: &mesosv1.AgentID{Value: ptr.To("node-1-1a2b3c4d")}},
			mesosv1.TaskState_TASK_ERROR, mesosv1.TaskStatus_REASON_TASK_INVALID, "Task has duplicate ID: bad"),
		"error":            errorEvent("Framework failed over"),
		"message":          messageEvent(messages.Message{AgentID: "node-1-1a2b3c4d", ExecutorID: "exec-1", Data: "hello from web"}),
		"failure_agent":    failureEvent("node-1-1a2b3c4d", "", nil),
		"failure_executor": failureEvent("node-1-1a2b3c4d", "exec-1", ptr.To(int32(2<<8))),
	}
	for name, e := range events {
		t.Run(name, func(t *testing.T) {
			goldenfile.MesosEvent(t, filepath.Join("testdata", "golden"), name, e)
		})
	}
}
