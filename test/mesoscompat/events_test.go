package mesoscompat

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"google.golang.org/protobuf/proto"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
)

var uuid = []byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}

// ourOffers is an OFFERS event with the fields a framework reads.
func ourOffers() *schedulerv1.Event {
	scalar := func(name string, v float64) *mesosv1.Resource {
		return &mesosv1.Resource{Name: proto.String(name), Type: mesosv1.Value_SCALAR.Enum(),
			Scalar: &mesosv1.Value_Scalar{Value: proto.Float64(v)}, Role: proto.String("*"),
			AllocationInfo: &mesosv1.Resource_AllocationInfo{Role: proto.String("web")}}
	}
	ports := &mesosv1.Resource{Name: proto.String("ports"), Type: mesosv1.Value_RANGES.Enum(), Role: proto.String("*"),
		Ranges: &mesosv1.Value_Ranges{Range: []*mesosv1.Value_Range{
			{Begin: proto.Uint64(31000), End: proto.Uint64(31099)}, {Begin: proto.Uint64(32000), End: proto.Uint64(32000)}}},
		AllocationInfo: &mesosv1.Resource_AllocationInfo{Role: proto.String("web")}}
	return &schedulerv1.Event{
		Type: schedulerv1.Event_OFFERS.Enum(),
		Offers: &schedulerv1.Event_Offers{Offers: []*mesosv1.Offer{{
			Id:          &mesosv1.OfferID{Value: proto.String("o-1")},
			FrameworkId: &mesosv1.FrameworkID{Value: proto.String("fw-1")},
			AgentId:     &mesosv1.AgentID{Value: proto.String("agent-1")},
			Hostname:    proto.String("node-1"),
			Resources:   []*mesosv1.Resource{scalar("cpus", 1.5), scalar("mem", 512), ports},
			Attributes: []*mesosv1.Attribute{{Name: proto.String("rack"), Type: mesosv1.Value_TEXT.Enum(),
				Text: &mesosv1.Value_Text{Value: proto.String("r1")}}},
			ExecutorIds:    []*mesosv1.ExecutorID{{Value: proto.String("e-1")}},
			AllocationInfo: &mesosv1.Resource_AllocationInfo{Role: proto.String("web")},
		}}},
	}
}

// ourUpdate is an UPDATE event as the master sends it for an executor's update.
func ourUpdate() *schedulerv1.Event {
	return &schedulerv1.Event{
		Type: schedulerv1.Event_UPDATE.Enum(),
		Update: &schedulerv1.Event_Update{Status: &mesosv1.TaskStatus{
			TaskId:     &mesosv1.TaskID{Value: proto.String("t-1")},
			State:      mesosv1.TaskState_TASK_KILLED.Enum(),
			Message:    proto.String("killed"),
			Source:     mesosv1.TaskStatus_SOURCE_EXECUTOR.Enum(),
			Reason:     mesosv1.TaskStatus_REASON_TASK_KILLED_DURING_LAUNCH.Enum(),
			Data:       []byte{0, 1, 0xff},
			AgentId:    &mesosv1.AgentID{Value: proto.String("agent-1")},
			ExecutorId: &mesosv1.ExecutorID{Value: proto.String("e-1")},
			Timestamp:  proto.Float64(1764147000.25),
			Uuid:       uuid,
			Healthy:    proto.Bool(true),
			Labels:     &mesosv1.Labels{Labels: []*mesosv1.Label{{Key: proto.String("k"), Value: proto.String("v")}}},
		}},
	}
}

// TestOursDecodedByMesosGo encodes events with our types, decodes them with
// mesos-go's generated code, checks what it read, and decodes its encoding
// back with ours.
func TestOursDecodedByMesosGo(t *testing.T) {
	for name, tc := range map[string]struct {
		event *schedulerv1.Event
		check func(t *testing.T, e *scheduler.Event)
	}{
		"OFFERS": {ourOffers(), func(t *testing.T, e *scheduler.Event) {
			if e.Type != scheduler.Event_OFFERS || e.Offers == nil || len(e.Offers.Offers) != 1 {
				t.Fatalf("mesos-go read %v", e)
			}
			o := e.Offers.Offers[0]
			type res struct {
				Name   string
				Scalar float64
				Ranges [][2]uint64
				Role   string
			}
			var got []res
			for _, r := range o.Resources {
				x := res{Name: r.Name, Scalar: r.GetScalar().GetValue(), Role: r.GetAllocationInfo().GetRole()}
				for _, rg := range r.GetRanges().GetRange() {
					x.Ranges = append(x.Ranges, [2]uint64{rg.Begin, rg.End})
				}
				got = append(got, x)
			}
			want := []res{{"cpus", 1.5, nil, "web"}, {"mem", 512, nil, "web"}, {"ports", 0, [][2]uint64{{31000, 31099}, {32000, 32000}}, "web"}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("resources (-want +mesos-go):\n%s", diff)
			}
			if o.ID.Value != "o-1" || o.FrameworkID.Value != "fw-1" || o.AgentID.Value != "agent-1" || o.Hostname != "node-1" {
				t.Errorf("offer IDs: %v %v %v %q", o.ID, o.FrameworkID, o.AgentID, o.Hostname)
			}
			if len(o.Attributes) != 1 || o.Attributes[0].Name != "rack" || o.Attributes[0].GetText().GetValue() != "r1" {
				t.Errorf("attributes: %v", o.Attributes)
			}
			if len(o.ExecutorIDs) != 1 || o.ExecutorIDs[0].Value != "e-1" || o.GetAllocationInfo().GetRole() != "web" {
				t.Errorf("executor IDs %v, allocation %v", o.ExecutorIDs, o.AllocationInfo)
			}
		}},
		"UPDATE": {ourUpdate(), func(t *testing.T, e *scheduler.Event) {
			if e.Type != scheduler.Event_UPDATE || e.Update == nil {
				t.Fatalf("mesos-go read %v", e)
			}
			s := e.Update.Status
			type status struct {
				Task, Agent, Executor, Message string
				State                          mesos.TaskState
				Source                         mesos.TaskStatus_Source
				Reason                         mesos.TaskStatus_Reason
				Data, UUID                     []byte
				Timestamp                      float64
				Healthy                        bool
			}
			got := status{s.TaskID.Value, s.GetAgentID().GetValue(), s.GetExecutorID().GetValue(), s.GetMessage(),
				s.GetState(), s.GetSource(), s.GetReason(), s.Data, s.UUID, s.GetTimestamp(), s.GetHealthy()}
			want := status{"t-1", "agent-1", "e-1", "killed", mesos.TASK_KILLED, mesos.SOURCE_EXECUTOR,
				mesos.REASON_TASK_KILLED_DURING_LAUNCH, []byte{0, 1, 0xff}, uuid, 1764147000.25, true}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("status (-want +mesos-go):\n%s", diff)
			}
			if l := s.GetLabels().GetLabels(); len(l) != 1 || l[0].Key != "k" || l[0].GetValue() != "v" {
				t.Errorf("labels: %v", l)
			}
		}},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := proto.Marshal(tc.event)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			var theirs scheduler.Event
			if err := theirs.Unmarshal(b); err != nil {
				t.Fatalf("mesos-go cannot decode our bytes: %v", err)
			}
			tc.check(t, &theirs)
			back, err := theirs.Marshal()
			if err != nil {
				t.Fatalf("mesos-go marshal: %v", err)
			}
			var ours schedulerv1.Event
			if err := proto.Unmarshal(back, &ours); err != nil {
				t.Fatalf("our types cannot decode mesos-go's bytes: %v", err)
			}
			if !proto.Equal(&ours, tc.event) {
				t.Errorf("through mesos-go and back:\n got %v\nwant %v", &ours, tc.event)
			}
		})
	}
}

// TestMesosGoDecodedByOurs encodes events with mesos-go's generated code and
// decodes them with ours.
func TestMesosGoDecodedByOurs(t *testing.T) {
	cpus := mesos.Resource{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 0.5}}
	ports := mesos.Resource{Name: "ports", Type: mesos.RANGES.Enum(),
		Ranges: &mesos.Value_Ranges{Range: []mesos.Value_Range{{Begin: 8000, End: 8080}}}}
	state := mesos.TASK_FINISHED
	source := mesos.SOURCE_AGENT
	reason := mesos.REASON_RECONCILIATION
	offers := &scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: []mesos.Offer{{
		ID: mesos.OfferID{Value: "o-2"}, FrameworkID: mesos.FrameworkID{Value: "fw-2"}, AgentID: mesos.AgentID{Value: "agent-2"},
		Hostname: "node-2", Resources: []mesos.Resource{cpus, ports},
	}}}}
	update := &scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: mesos.TaskStatus{
		TaskID: mesos.TaskID{Value: "t-2"}, State: &state, Source: &source, Reason: &reason,
		AgentID: &mesos.AgentID{Value: "agent-2"}, UUID: uuid, Data: []byte("done"),
	}}}
	want := map[string]*schedulerv1.Event{
		"OFFERS": {Type: schedulerv1.Event_OFFERS.Enum(), Offers: &schedulerv1.Event_Offers{Offers: []*mesosv1.Offer{{
			Id: &mesosv1.OfferID{Value: proto.String("o-2")}, FrameworkId: &mesosv1.FrameworkID{Value: proto.String("fw-2")},
			AgentId: &mesosv1.AgentID{Value: proto.String("agent-2")}, Hostname: proto.String("node-2"),
			Resources: []*mesosv1.Resource{
				{Name: proto.String("cpus"), Type: mesosv1.Value_SCALAR.Enum(), Scalar: &mesosv1.Value_Scalar{Value: proto.Float64(0.5)}},
				{Name: proto.String("ports"), Type: mesosv1.Value_RANGES.Enum(), Ranges: &mesosv1.Value_Ranges{
					Range: []*mesosv1.Value_Range{{Begin: proto.Uint64(8000), End: proto.Uint64(8080)}}}},
			},
		}}}},
		"UPDATE": {Type: schedulerv1.Event_UPDATE.Enum(), Update: &schedulerv1.Event_Update{Status: &mesosv1.TaskStatus{
			TaskId: &mesosv1.TaskID{Value: proto.String("t-2")}, State: mesosv1.TaskState_TASK_FINISHED.Enum(),
			Source: mesosv1.TaskStatus_SOURCE_AGENT.Enum(), Reason: mesosv1.TaskStatus_REASON_RECONCILIATION.Enum(),
			AgentId: &mesosv1.AgentID{Value: proto.String("agent-2")}, Uuid: uuid, Data: []byte("done"),
		}}},
	}
	for name, theirs := range map[string]*scheduler.Event{"OFFERS": offers, "UPDATE": update} {
		t.Run(name, func(t *testing.T) {
			b, err := theirs.Marshal()
			if err != nil {
				t.Fatalf("mesos-go marshal: %v", err)
			}
			var got schedulerv1.Event
			if err := proto.Unmarshal(b, &got); err != nil {
				t.Fatalf("our types cannot decode mesos-go's bytes: %v", err)
			}
			if !proto.Equal(&got, want[name]) {
				t.Errorf("decoded\n got %v\nwant %v", &got, want[name])
			}
			if u := got.ProtoReflect().GetUnknown(); len(u) != 0 {
				t.Errorf("fields we do not know: %x", u)
			}
		})
	}
}
