package mesosv1_test

import (
	"bufio"
	"encoding/hex"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	executorv1 "github.com/kubemesos/kubemesos/api/mesos/v1/executor"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
)

// TestGoldenBytes pins a few encodings worked out by hand from the field
// numbers and wire types of Mesos's definitions.
func TestGoldenBytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  proto.Message
		want string
	}{
		{"FrameworkID", &mesosv1.FrameworkID{Value: proto.String("fw")}, "0a026677"},
		// task_id (1, message) {value: "t"}, state (2, varint) TASK_RUNNING = 1.
		{"TaskStatus", &mesosv1.TaskStatus{
			TaskId: &mesosv1.TaskID{Value: proto.String("t")},
			State:  mesosv1.TaskState_TASK_RUNNING.Enum(),
		}, "0a030a01741001"},
		// framework_id (1) {value: "f"}, type (2) DECLINE = 4.
		{"scheduler.Call", &schedulerv1.Call{
			FrameworkId: &mesosv1.FrameworkID{Value: proto.String("f")},
			Type:        schedulerv1.Call_DECLINE.Enum(),
		}, "0a030a01661004"},
		// type (1) ACKNOWLEDGED = 4, acknowledged (3) {task_id (1) {value: "t"}, uuid (2) 0x01}.
		{"executor.Event", &executorv1.Event{
			Type: executorv1.Event_ACKNOWLEDGED.Enum(),
			Acknowledged: &executorv1.Event_Acknowledged{
				TaskId: &mesosv1.TaskID{Value: proto.String("t")},
				Uuid:   []byte{1},
			},
		}, "08041a080a030a0174120101"},
		// scalar (3) {value (1, fixed64) 1.5}.
		{"Resource", &mesosv1.Resource{
			Name:   proto.String("cpus"),
			Type:   mesosv1.Value_SCALAR.Enum(),
			Scalar: &mesosv1.Value_Scalar{Value: proto.Float64(1.5)},
		}, "0a046370757310001a0909000000000000f83f"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := proto.MarshalOptions{Deterministic: true}.Marshal(tc.msg)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			if got := hex.EncodeToString(b); got != tc.want {
				t.Errorf("bytes = %s, want %s", got, tc.want)
			}
		})
	}
}

func offer() *mesosv1.Offer {
	return &mesosv1.Offer{
		Id:          &mesosv1.OfferID{Value: proto.String("o1")},
		FrameworkId: &mesosv1.FrameworkID{Value: proto.String("fw")},
		AgentId:     &mesosv1.AgentID{Value: proto.String("a1")},
		Hostname:    proto.String("node-1"),
		Url: &mesosv1.URL{
			Scheme:  proto.String("http"),
			Address: &mesosv1.Address{Hostname: proto.String("node-1"), Ip: proto.String("10.0.0.1"), Port: proto.Int32(5051)},
			Path:    proto.String("/slave(1)"),
		},
		Resources: []*mesosv1.Resource{
			{Name: proto.String("cpus"), Type: mesosv1.Value_SCALAR.Enum(), Scalar: &mesosv1.Value_Scalar{Value: proto.Float64(2)},
				AllocationInfo: &mesosv1.Resource_AllocationInfo{Role: proto.String("*")}},
			{Name: proto.String("mem"), Type: mesosv1.Value_SCALAR.Enum(), Scalar: &mesosv1.Value_Scalar{Value: proto.Float64(1024)}},
			{Name: proto.String("ports"), Type: mesosv1.Value_RANGES.Enum(), Ranges: &mesosv1.Value_Ranges{
				Range: []*mesosv1.Value_Range{{Begin: proto.Uint64(31000), End: proto.Uint64(32000)}}}},
			{Name: proto.String("disk"), Type: mesosv1.Value_SCALAR.Enum(), Scalar: &mesosv1.Value_Scalar{Value: proto.Float64(100)},
				Reservations: []*mesosv1.Resource_ReservationInfo{{Type: mesosv1.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String("web")}},
				Disk: &mesosv1.Resource_DiskInfo{
					Persistence: &mesosv1.Resource_DiskInfo_Persistence{Id: proto.String("vol")},
					Volume:      &mesosv1.Volume{Mode: mesosv1.Volume_RW.Enum(), ContainerPath: proto.String("data")},
				}},
		},
		Attributes: []*mesosv1.Attribute{
			{Name: proto.String("rack"), Type: mesosv1.Value_TEXT.Enum(), Text: &mesosv1.Value_Text{Value: proto.String("r1")}},
		},
		Domain: &mesosv1.DomainInfo{FaultDomain: &mesosv1.DomainInfo_FaultDomain{
			Region: &mesosv1.DomainInfo_FaultDomain_RegionInfo{Name: proto.String("eu")},
			Zone:   &mesosv1.DomainInfo_FaultDomain_ZoneInfo{Name: proto.String("eu-1")},
		}},
	}
}

func taskInfo() *mesosv1.TaskInfo {
	return &mesosv1.TaskInfo{
		Name:      proto.String("sleep"),
		TaskId:    &mesosv1.TaskID{Value: proto.String("t1")},
		AgentId:   &mesosv1.AgentID{Value: proto.String("a1")},
		Resources: offer().GetResources()[:2],
		Command: &mesosv1.CommandInfo{
			Uris:        []*mesosv1.CommandInfo_URI{{Value: proto.String("http://example.com/x.tgz"), Extract: proto.Bool(true)}},
			Environment: &mesosv1.Environment{Variables: []*mesosv1.Environment_Variable{{Name: proto.String("A"), Value: proto.String("1")}}},
			Shell:       proto.Bool(false),
			Value:       proto.String("/bin/sleep"),
			Arguments:   []string{"sleep", "1"},
		},
		Container: &mesosv1.ContainerInfo{
			Type:  mesosv1.ContainerInfo_MESOS.Enum(),
			Mesos: &mesosv1.ContainerInfo_MesosInfo{Image: &mesosv1.Image{Type: mesosv1.Image_DOCKER.Enum(), Docker: &mesosv1.Image_Docker{Name: proto.String("busybox")}}},
		},
		KillPolicy:  &mesosv1.KillPolicy{GracePeriod: &mesosv1.DurationInfo{Nanoseconds: proto.Int64(3e9)}},
		HealthCheck: &mesosv1.HealthCheck{Type: mesosv1.HealthCheck_TCP.Enum(), Tcp: &mesosv1.HealthCheck_TCPCheckInfo{Port: proto.Uint32(80)}},
		Data:        []byte("payload"),
		Labels:      &mesosv1.Labels{Labels: []*mesosv1.Label{{Key: proto.String("k"), Value: proto.String("v")}}},
		Limits:      map[string]*mesosv1.Value_Scalar{"cpus": {Value: proto.Float64(4)}},
	}
}

func taskStatus() *mesosv1.TaskStatus {
	return &mesosv1.TaskStatus{
		TaskId:     &mesosv1.TaskID{Value: proto.String("t1")},
		State:      mesosv1.TaskState_TASK_FAILED.Enum(),
		Message:    proto.String("exit 1"),
		Source:     mesosv1.TaskStatus_SOURCE_EXECUTOR.Enum(),
		Reason:     mesosv1.TaskStatus_REASON_COMMAND_EXECUTOR_FAILED.Enum(),
		AgentId:    &mesosv1.AgentID{Value: proto.String("a1")},
		ExecutorId: &mesosv1.ExecutorID{Value: proto.String("e1")},
		Timestamp:  proto.Float64(1.7e9),
		Uuid:       []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
		Healthy:    proto.Bool(false),
		ContainerStatus: &mesosv1.ContainerStatus{
			ContainerId:  &mesosv1.ContainerID{Value: proto.String("c1")},
			NetworkInfos: []*mesosv1.NetworkInfo{{IpAddresses: []*mesosv1.NetworkInfo_IPAddress{{IpAddress: proto.String("10.1.0.5")}}}},
		},
	}
}

func frameworkInfo() *mesosv1.FrameworkInfo {
	return &mesosv1.FrameworkInfo{
		User:            proto.String("root"),
		Name:            proto.String("mc"),
		Id:              &mesosv1.FrameworkID{Value: proto.String("fw")},
		FailoverTimeout: proto.Float64(60),
		Roles:           []string{"web"},
		Capabilities: []*mesosv1.FrameworkInfo_Capability{
			{Type: mesosv1.FrameworkInfo_Capability_PARTITION_AWARE.Enum()},
			{Type: mesosv1.FrameworkInfo_Capability_MULTI_ROLE.Enum()},
		},
		OfferFilters: map[string]*mesosv1.OfferFilters{"web": {MinAllocatableResources: &mesosv1.OfferFilters_MinAllocatableResources{
			Quantities: []*mesosv1.OfferFilters_ResourceQuantities{{Quantities: map[string]*mesosv1.Value_Scalar{"cpus": {Value: proto.Float64(1)}}}},
		}}},
	}
}

// wireMessages are examples of every scheduler and executor call and event
// that carries a payload, filled with the fields kubemesos reads and writes.
func wireMessages() map[string]proto.Message {
	fw := &mesosv1.FrameworkID{Value: proto.String("fw")}
	agent := &mesosv1.AgentID{Value: proto.String("a1")}
	task := &mesosv1.TaskID{Value: proto.String("t1")}
	exec := &mesosv1.ExecutorID{Value: proto.String("e1")}
	offerID := &mesosv1.OfferID{Value: proto.String("o1")}
	executorInfo := &mesosv1.ExecutorInfo{
		Type:       mesosv1.ExecutorInfo_DEFAULT.Enum(),
		ExecutorId: exec, FrameworkId: fw,
		Resources: offer().GetResources()[:1],
	}
	return map[string]proto.Message{
		"scheduler.Call SUBSCRIBE": &schedulerv1.Call{Type: schedulerv1.Call_SUBSCRIBE.Enum(), Subscribe: &schedulerv1.Call_Subscribe{
			FrameworkInfo: frameworkInfo(), SuppressedRoles: []string{"batch"}}},
		"scheduler.Call TEARDOWN": &schedulerv1.Call{FrameworkId: fw, Type: schedulerv1.Call_TEARDOWN.Enum()},
		"scheduler.Call ACCEPT": &schedulerv1.Call{FrameworkId: fw, Type: schedulerv1.Call_ACCEPT.Enum(), Accept: &schedulerv1.Call_Accept{
			OfferIds: []*mesosv1.OfferID{offerID},
			Operations: []*mesosv1.Offer_Operation{
				{Type: mesosv1.Offer_Operation_LAUNCH.Enum(), Launch: &mesosv1.Offer_Operation_Launch{TaskInfos: []*mesosv1.TaskInfo{taskInfo()}}},
				{Type: mesosv1.Offer_Operation_LAUNCH_GROUP.Enum(), LaunchGroup: &mesosv1.Offer_Operation_LaunchGroup{
					Executor: executorInfo, TaskGroup: &mesosv1.TaskGroupInfo{Tasks: []*mesosv1.TaskInfo{taskInfo()}}}},
				{Type: mesosv1.Offer_Operation_RESERVE.Enum(), Id: &mesosv1.OperationID{Value: proto.String("op")},
					Reserve: &mesosv1.Offer_Operation_Reserve{Resources: offer().GetResources()[3:]}},
			},
			Filters: &mesosv1.Filters{RefuseSeconds: proto.Float64(30)},
		}},
		"scheduler.Call DECLINE": &schedulerv1.Call{FrameworkId: fw, Type: schedulerv1.Call_DECLINE.Enum(), Decline: &schedulerv1.Call_Decline{
			OfferIds: []*mesosv1.OfferID{offerID}, Filters: &mesosv1.Filters{RefuseSeconds: proto.Float64(5)}}},
		"scheduler.Call REVIVE":   &schedulerv1.Call{FrameworkId: fw, Type: schedulerv1.Call_REVIVE.Enum(), Revive: &schedulerv1.Call_Revive{Roles: []string{"web"}}},
		"scheduler.Call SUPPRESS": &schedulerv1.Call{FrameworkId: fw, Type: schedulerv1.Call_SUPPRESS.Enum(), Suppress: &schedulerv1.Call_Suppress{Roles: []string{"web"}}},
		"scheduler.Call KILL": &schedulerv1.Call{FrameworkId: fw, Type: schedulerv1.Call_KILL.Enum(), Kill: &schedulerv1.Call_Kill{
			TaskId: task, AgentId: agent, KillPolicy: &mesosv1.KillPolicy{GracePeriod: &mesosv1.DurationInfo{Nanoseconds: proto.Int64(1)}}}},
		"scheduler.Call SHUTDOWN": &schedulerv1.Call{FrameworkId: fw, Type: schedulerv1.Call_SHUTDOWN.Enum(), Shutdown: &schedulerv1.Call_Shutdown{ExecutorId: exec, AgentId: agent}},
		"scheduler.Call ACKNOWLEDGE": &schedulerv1.Call{FrameworkId: fw, Type: schedulerv1.Call_ACKNOWLEDGE.Enum(), Acknowledge: &schedulerv1.Call_Acknowledge{
			AgentId: agent, TaskId: task, Uuid: taskStatus().GetUuid()}},
		"scheduler.Call RECONCILE": &schedulerv1.Call{FrameworkId: fw, Type: schedulerv1.Call_RECONCILE.Enum(), Reconcile: &schedulerv1.Call_Reconcile{
			Tasks: []*schedulerv1.Call_Reconcile_Task{{TaskId: task, AgentId: agent}}}},
		"scheduler.Call MESSAGE": &schedulerv1.Call{FrameworkId: fw, Type: schedulerv1.Call_MESSAGE.Enum(), Message: &schedulerv1.Call_Message{
			AgentId: agent, ExecutorId: exec, Data: []byte("hi")}},
		"scheduler.Call REQUEST": &schedulerv1.Call{FrameworkId: fw, Type: schedulerv1.Call_REQUEST.Enum(), Request: &schedulerv1.Call_Request{
			Requests: []*mesosv1.Request{{AgentId: agent, Resources: offer().GetResources()}}}},
		"scheduler.Call UPDATE_FRAMEWORK": &schedulerv1.Call{FrameworkId: fw, Type: schedulerv1.Call_UPDATE_FRAMEWORK.Enum(), UpdateFramework: &schedulerv1.Call_UpdateFramework{
			FrameworkInfo: frameworkInfo()}},
		"scheduler.Event SUBSCRIBED": &schedulerv1.Event{Type: schedulerv1.Event_SUBSCRIBED.Enum(), Subscribed: &schedulerv1.Event_Subscribed{
			FrameworkId: fw, HeartbeatIntervalSeconds: proto.Float64(15),
			MasterInfo: &mesosv1.MasterInfo{Id: proto.String("m"), Ip: proto.Uint32(0x0100007f), Port: proto.Uint32(5050),
				Address:      &mesosv1.Address{Ip: proto.String("127.0.0.1"), Port: proto.Int32(5050)},
				Capabilities: []*mesosv1.MasterInfo_Capability{{Type: mesosv1.MasterInfo_Capability_AGENT_UPDATE.Enum()}}},
		}},
		"scheduler.Event OFFERS": &schedulerv1.Event{Type: schedulerv1.Event_OFFERS.Enum(), Offers: &schedulerv1.Event_Offers{
			Offers: []*mesosv1.Offer{offer()}}},
		"scheduler.Event INVERSE_OFFERS": &schedulerv1.Event{Type: schedulerv1.Event_INVERSE_OFFERS.Enum(), InverseOffers: &schedulerv1.Event_InverseOffers{
			InverseOffers: []*mesosv1.InverseOffer{{Id: offerID, FrameworkId: fw, AgentId: agent,
				Unavailability: &mesosv1.Unavailability{Start: &mesosv1.TimeInfo{Nanoseconds: proto.Int64(5)}}}}}},
		"scheduler.Event RESCIND": &schedulerv1.Event{Type: schedulerv1.Event_RESCIND.Enum(), Rescind: &schedulerv1.Event_Rescind{OfferId: offerID}},
		"scheduler.Event UPDATE":  &schedulerv1.Event{Type: schedulerv1.Event_UPDATE.Enum(), Update: &schedulerv1.Event_Update{Status: taskStatus()}},
		"scheduler.Event MESSAGE": &schedulerv1.Event{Type: schedulerv1.Event_MESSAGE.Enum(), Message: &schedulerv1.Event_Message{
			AgentId: agent, ExecutorId: exec, Data: []byte{0xff, 0}}},
		"scheduler.Event FAILURE": &schedulerv1.Event{Type: schedulerv1.Event_FAILURE.Enum(), Failure: &schedulerv1.Event_Failure{
			AgentId: agent, ExecutorId: exec, Status: proto.Int32(137)}},
		"scheduler.Event ERROR":     &schedulerv1.Event{Type: schedulerv1.Event_ERROR.Enum(), Error: &schedulerv1.Event_Error{Message: proto.String("framework removed")}},
		"scheduler.Event HEARTBEAT": &schedulerv1.Event{Type: schedulerv1.Event_HEARTBEAT.Enum()},
		"executor.Call SUBSCRIBE": &executorv1.Call{ExecutorId: exec, FrameworkId: fw, Type: executorv1.Call_SUBSCRIBE.Enum(), Subscribe: &executorv1.Call_Subscribe{
			UnacknowledgedTasks:   []*mesosv1.TaskInfo{taskInfo()},
			UnacknowledgedUpdates: []*executorv1.Call_Update{{Status: taskStatus()}}}},
		"executor.Call UPDATE":  &executorv1.Call{ExecutorId: exec, FrameworkId: fw, Type: executorv1.Call_UPDATE.Enum(), Update: &executorv1.Call_Update{Status: taskStatus()}},
		"executor.Call MESSAGE": &executorv1.Call{ExecutorId: exec, FrameworkId: fw, Type: executorv1.Call_MESSAGE.Enum(), Message: &executorv1.Call_Message{Data: []byte("x")}},
		"executor.Event SUBSCRIBED": &executorv1.Event{Type: executorv1.Event_SUBSCRIBED.Enum(), Subscribed: &executorv1.Event_Subscribed{
			ExecutorInfo: executorInfo, FrameworkInfo: frameworkInfo(),
			AgentInfo:   &mesosv1.AgentInfo{Hostname: proto.String("node-1"), Port: proto.Int32(5051), Id: agent},
			ContainerId: &mesosv1.ContainerID{Value: proto.String("c1"), Parent: &mesosv1.ContainerID{Value: proto.String("c0")}}}},
		"executor.Event LAUNCH": &executorv1.Event{Type: executorv1.Event_LAUNCH.Enum(), Launch: &executorv1.Event_Launch{Task: taskInfo()}},
		"executor.Event LAUNCH_GROUP": &executorv1.Event{Type: executorv1.Event_LAUNCH_GROUP.Enum(), LaunchGroup: &executorv1.Event_LaunchGroup{
			TaskGroup: &mesosv1.TaskGroupInfo{Tasks: []*mesosv1.TaskInfo{taskInfo(), taskInfo()}}}},
		"executor.Event KILL": &executorv1.Event{Type: executorv1.Event_KILL.Enum(), Kill: &executorv1.Event_Kill{TaskId: task}},
		"executor.Event ACKNOWLEDGED": &executorv1.Event{Type: executorv1.Event_ACKNOWLEDGED.Enum(), Acknowledged: &executorv1.Event_Acknowledged{
			TaskId: task, Uuid: taskStatus().GetUuid()}},
		"executor.Event MESSAGE":  &executorv1.Event{Type: executorv1.Event_MESSAGE.Enum(), Message: &executorv1.Event_Message{Data: []byte("m")}},
		"executor.Event ERROR":    &executorv1.Event{Type: executorv1.Event_ERROR.Enum(), Error: &executorv1.Event_Error{Message: proto.String("bad")}},
		"executor.Event SHUTDOWN": &executorv1.Event{Type: executorv1.Event_SHUTDOWN.Enum()},
	}
}

func TestBinaryRoundTrip(t *testing.T) {
	for name, msg := range wireMessages() {
		t.Run(name, func(t *testing.T) {
			b, err := proto.Marshal(msg)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			got := msg.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(b, got); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if !proto.Equal(got, msg) {
				t.Errorf("round trip changed the message:\n got %v\nwant %v", got, msg)
			}
			if err := proto.CheckInitialized(got); err != nil {
				t.Errorf("a required field is missing: %v", err)
			}
		})
	}
}

// TestRequiredFieldsRefused checks that a message without a field Mesos
// declares required does not decode, as in Mesos.
func TestRequiredFieldsRefused(t *testing.T) {
	b, err := proto.MarshalOptions{AllowPartial: true}.Marshal(&schedulerv1.Call{
		Type: schedulerv1.Call_KILL.Enum(),
		Kill: &schedulerv1.Call_Kill{AgentId: &mesosv1.AgentID{Value: proto.String("a")}}, // no task_id
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(b, &schedulerv1.Call{}); err == nil {
		t.Error("a KILL call without task_id decoded")
	}
}

// TestDefaults checks the explicit defaults that Mesos declares, which a
// reader sees when the field is absent.
func TestDefaults(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"FrameworkInfo.role", (&mesosv1.FrameworkInfo{}).GetRole(), "*"},
		{"FrameworkInfo.failover_timeout", (&mesosv1.FrameworkInfo{}).GetFailoverTimeout(), 0.0},
		{"Resource.role", (&mesosv1.Resource{}).GetRole(), "*"},
		{"Filters.refuse_seconds", (&mesosv1.Filters{}).GetRefuseSeconds(), 5.0},
		{"CommandInfo.shell", (&mesosv1.CommandInfo{}).GetShell(), true},
		{"CommandInfo.URI.extract", (&mesosv1.CommandInfo_URI{}).GetExtract(), true},
		{"MasterInfo.port", (&mesosv1.MasterInfo{}).GetPort(), uint32(5050)},
		{"AgentInfo.port", (&mesosv1.AgentInfo{}).GetPort(), int32(5051)},
		{"HealthCheck.delay_seconds", (&mesosv1.HealthCheck{}).GetDelaySeconds(), 15.0},
		{"HealthCheck.consecutive_failures", (&mesosv1.HealthCheck{}).GetConsecutiveFailures(), uint32(3)},
		{"HealthCheck.grace_period_seconds", (&mesosv1.HealthCheck{}).GetGracePeriodSeconds(), 10.0},
		{"CheckInfo.timeout_seconds", (&mesosv1.CheckInfo{}).GetTimeoutSeconds(), 20.0},
		{"Environment.Variable.type", (&mesosv1.Environment_Variable{}).GetType(), mesosv1.Environment_Variable_VALUE},
		{"Image.cached", (&mesosv1.Image{}).GetCached(), true},
		{"DockerInfo.network", (&mesosv1.ContainerInfo_DockerInfo{}).GetNetwork(), mesosv1.ContainerInfo_DockerInfo_HOST},
		{"NetworkInfo.IPAddress.protocol", (&mesosv1.NetworkInfo_IPAddress{}).GetProtocol(), mesosv1.NetworkInfo_IPv4},
		// Without an explicit default a proto2 enum reads as its first value.
		{"TaskStatus.state", (&mesosv1.TaskStatus{}).GetState(), mesosv1.TaskState_TASK_STAGING},
		{"Volume.mode", (&mesosv1.Volume{}).GetMode(), mesosv1.Volume_RW},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

// TestUnknownFieldsKept checks that a left-out field sent by a peer survives
// decoding and encoding.
func TestUnknownFieldsKept(t *testing.T) {
	b, err := proto.Marshal(&mesosv1.ContainerInfo{Type: mesosv1.ContainerInfo_MESOS.Enum()})
	if err != nil {
		t.Fatal(err)
	}
	// linux_info (8) {share_pid_namespace (6) true}, as Mesos would send it.
	var linux []byte
	linux = protowire.AppendTag(linux, 6, protowire.VarintType)
	linux = protowire.AppendVarint(linux, 1)
	var extra []byte
	extra = protowire.AppendTag(extra, 8, protowire.BytesType)
	extra = protowire.AppendBytes(extra, linux)
	var got mesosv1.ContainerInfo
	if err := proto.Unmarshal(append(b, extra...), &got); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if diff := cmp.Diff(extra, []byte(got.ProtoReflect().GetUnknown())); diff != "" {
		t.Errorf("unknown bytes (-sent +kept):\n%s", diff)
	}
	again, err := proto.Marshal(&got)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(again), string(extra)) {
		t.Errorf("re-encoding dropped the unknown field: %x", again)
	}
}

// payloadless lists the call and event types that carry no payload field.
var payloadless = map[protoreflect.FullName][]string{
	"mesos.v1.scheduler.Call":  {"UNKNOWN", "TEARDOWN"},
	"mesos.v1.scheduler.Event": {"UNKNOWN", "HEARTBEAT"},
	"mesos.v1.executor.Call":   {"UNKNOWN", "HEARTBEAT"},
	"mesos.v1.executor.Event":  {"UNKNOWN", "SHUTDOWN", "HEARTBEAT"},
}

// TestAPIComplete checks that every call and event type of the scheduler and
// executor APIs exists with its Mesos number, and that each one that carries
// a payload has the field of that name.
func TestAPIComplete(t *testing.T) {
	want := map[protoreflect.FullName]map[string]int32{
		"mesos.v1.scheduler.Call.Type": {"UNKNOWN": 0, "SUBSCRIBE": 1, "TEARDOWN": 2, "ACCEPT": 3, "DECLINE": 4,
			"ACCEPT_INVERSE_OFFERS": 13, "DECLINE_INVERSE_OFFERS": 14, "REVIVE": 5, "KILL": 6, "SHUTDOWN": 7,
			"ACKNOWLEDGE": 8, "ACKNOWLEDGE_OPERATION_STATUS": 15, "RECONCILE": 9, "RECONCILE_OPERATIONS": 16,
			"MESSAGE": 10, "REQUEST": 11, "SUPPRESS": 12, "UPDATE_FRAMEWORK": 17},
		"mesos.v1.scheduler.Event.Type": {"UNKNOWN": 0, "SUBSCRIBED": 1, "OFFERS": 2, "INVERSE_OFFERS": 9,
			"RESCIND": 3, "RESCIND_INVERSE_OFFER": 10, "UPDATE": 4, "UPDATE_OPERATION_STATUS": 11, "MESSAGE": 5,
			"FAILURE": 6, "ERROR": 7, "HEARTBEAT": 8},
		"mesos.v1.executor.Call.Type": {"UNKNOWN": 0, "SUBSCRIBE": 1, "UPDATE": 2, "MESSAGE": 3, "HEARTBEAT": 4},
		"mesos.v1.executor.Event.Type": {"UNKNOWN": 0, "SUBSCRIBED": 1, "LAUNCH": 2, "LAUNCH_GROUP": 8, "KILL": 3,
			"ACKNOWLEDGED": 4, "MESSAGE": 5, "ERROR": 6, "SHUTDOWN": 7, "HEARTBEAT": 9},
		"mesos.v1.TaskState": {"TASK_STAGING": 6, "TASK_STARTING": 0, "TASK_RUNNING": 1, "TASK_KILLING": 8,
			"TASK_FINISHED": 2, "TASK_FAILED": 3, "TASK_KILLED": 4, "TASK_ERROR": 7, "TASK_LOST": 5, "TASK_DROPPED": 9,
			"TASK_UNREACHABLE": 10, "TASK_GONE": 11, "TASK_GONE_BY_OPERATOR": 12, "TASK_UNKNOWN": 13},
		"mesos.v1.TaskStatus.Source": {"SOURCE_MASTER": 0, "SOURCE_AGENT": 1, "SOURCE_EXECUTOR": 2},
		"mesos.v1.Offer.Operation.Type": {"UNKNOWN": 0, "LAUNCH": 1, "LAUNCH_GROUP": 6, "RESERVE": 2, "UNRESERVE": 3,
			"CREATE": 4, "DESTROY": 5, "GROW_VOLUME": 11, "SHRINK_VOLUME": 12, "CREATE_DISK": 13, "DESTROY_DISK": 14},
		"mesos.v1.FrameworkInfo.Capability.Type": {"UNKNOWN": 0, "REVOCABLE_RESOURCES": 1, "TASK_KILLING_STATE": 2,
			"GPU_RESOURCES": 3, "SHARED_RESOURCES": 4, "PARTITION_AWARE": 5, "MULTI_ROLE": 6, "RESERVATION_REFINEMENT": 7,
			"REGION_AWARE": 8},
		"mesos.v1.ContainerInfo.Type": {"DOCKER": 1, "MESOS": 2},
		"mesos.v1.Image.Type":         {"APPC": 1, "DOCKER": 2},
		// The reasons kubemesos sets.
		"mesos.v1.TaskStatus.Reason": {"REASON_COMMAND_EXECUTOR_FAILED": 0, "REASON_EXECUTOR_TERMINATED": 1,
			"REASON_FRAMEWORK_REMOVED": 3, "REASON_INVALID_OFFERS": 6, "REASON_RECONCILIATION": 9,
			"REASON_AGENT_REMOVED": 11, "REASON_AGENT_UNKNOWN": 13, "REASON_TASK_INVALID": 14,
			"REASON_TASK_UNAUTHORIZED": 15, "REASON_TASK_UNKNOWN": 16, "REASON_CONTAINER_LAUNCH_FAILED": 21,
			"REASON_TASK_KILLED_DURING_LAUNCH": 30, "REASON_EXECUTOR_REGISTRATION_TIMEOUT": 23,
			"REASON_CONTAINER_LIMITATION_MEMORY": 8, "REASON_TASK_GROUP_INVALID": 25},
	}
	for name, values := range want {
		et, err := protoregistry.GlobalTypes.FindEnumByName(name)
		if err != nil {
			t.Errorf("enum %s: %v", name, err)
			continue
		}
		for v, n := range values {
			ev := et.Descriptor().Values().ByName(protoreflect.Name(v))
			if ev == nil {
				t.Errorf("%s has no value %s", name, v)
			} else if int32(ev.Number()) != n {
				t.Errorf("%s.%s = %d, want %d", name, v, ev.Number(), n)
			}
		}
	}
	for msg, none := range payloadless {
		mt, err := protoregistry.GlobalTypes.FindMessageByName(msg)
		if err != nil {
			t.Errorf("message %s: %v", msg, err)
			continue
		}
		md := mt.Descriptor()
		values := md.Enums().ByName("Type").Values()
		for i := 0; i < values.Len(); i++ {
			v := string(values.Get(i).Name())
			f := md.Fields().ByName(protoreflect.Name(strings.ToLower(v)))
			if slices.Contains(none, v) {
				if f != nil {
					t.Errorf("%s: %s is listed without a payload but has field %s", msg, v, f.Name())
				}
				continue
			}
			if f == nil || f.Message() == nil {
				t.Errorf("%s: type %s has no payload field %s", msg, v, strings.ToLower(v))
			}
		}
	}
	for _, name := range []protoreflect.FullName{
		"mesos.v1.FrameworkID", "mesos.v1.OfferID", "mesos.v1.AgentID", "mesos.v1.TaskID", "mesos.v1.ExecutorID",
		"mesos.v1.ContainerID", "mesos.v1.FrameworkInfo", "mesos.v1.MasterInfo", "mesos.v1.AgentInfo",
		"mesos.v1.Address", "mesos.v1.URL", "mesos.v1.Resource", "mesos.v1.Resource.AllocationInfo",
		"mesos.v1.Resource.ReservationInfo", "mesos.v1.Resource.DiskInfo", "mesos.v1.Value", "mesos.v1.Value.Scalar",
		"mesos.v1.Value.Ranges", "mesos.v1.Value.Set", "mesos.v1.Value.Text", "mesos.v1.Attribute", "mesos.v1.Offer",
		"mesos.v1.Offer.Operation", "mesos.v1.Filters", "mesos.v1.OfferFilters", "mesos.v1.TaskInfo",
		"mesos.v1.TaskGroupInfo", "mesos.v1.ExecutorInfo", "mesos.v1.CommandInfo", "mesos.v1.CommandInfo.URI",
		"mesos.v1.ContainerInfo", "mesos.v1.ContainerInfo.DockerInfo", "mesos.v1.Image", "mesos.v1.Volume",
		"mesos.v1.Environment", "mesos.v1.Labels", "mesos.v1.Label", "mesos.v1.KillPolicy", "mesos.v1.DurationInfo",
		"mesos.v1.TimeInfo", "mesos.v1.TaskStatus", "mesos.v1.HealthCheck", "mesos.v1.CheckInfo",
		"mesos.v1.CheckStatusInfo", "mesos.v1.Request", "mesos.v1.InverseOffer", "mesos.v1.DomainInfo",
		"mesos.v1.OperationStatus",
	} {
		if _, err := protoregistry.GlobalTypes.FindMessageByName(name); err != nil {
			t.Errorf("message %s: %v", name, err)
		}
	}
}

// TestLeftOutFieldsListed checks that mesosv1.LeftOutFields, the comments at
// the top of the .proto files and README.md name the same fields, and that
// none of them is defined.
func TestLeftOutFieldsListed(t *testing.T) {
	var want []string
	for _, f := range mesosv1.LeftOutFields {
		want = append(want, f.Message+"."+f.Name+" = "+strconv.Itoa(int(f.Number)))
		mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(f.Message))
		if err != nil {
			t.Errorf("%s: %v", f.Message, err)
			continue
		}
		fields := mt.Descriptor().Fields()
		if fields.ByName(protoreflect.Name(f.Name)) != nil || fields.ByNumber(protoreflect.FieldNumber(f.Number)) != nil {
			t.Errorf("%s.%s (%d) is listed as left out but defined", f.Message, f.Name, f.Number)
		}
	}
	slices.Sort(want)
	line := regexp.MustCompile(`(mesos\.v1\.[\w.]+ = \d+)`)
	var inProto []string
	for _, path := range []string{"mesos.proto", "scheduler/scheduler.proto", "executor/executor.proto"} {
		inProto = append(inProto, matchLines(t, path, regexp.MustCompile(`^//\s+`+line.String()+`$`))...)
	}
	slices.Sort(inProto)
	if diff := cmp.Diff(want, inProto); diff != "" {
		t.Errorf("LeftOutFields and the .proto headers differ (-Go +proto):\n%s", diff)
	}
	inReadme := matchLines(t, "README.md", regexp.MustCompile("^- `"+line.String()+"`"))
	slices.Sort(inReadme)
	if diff := cmp.Diff(want, inReadme); diff != "" {
		t.Errorf("LeftOutFields and README.md differ (-Go +README):\n%s", diff)
	}
}

// matchLines returns the first group of re in each matching line of path.
func matchLines(t *testing.T, path string, re *regexp.Regexp) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if m := re.FindStringSubmatch(s.Text()); m != nil {
			out = append(out, m[1])
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
