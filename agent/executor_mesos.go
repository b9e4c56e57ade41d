package agent

import (
	"context"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	executorv1 "github.com/kubemesos/kubemesos/api/mesos/v1/executor"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
	"github.com/kubemesos/kubemesos/internal/portrange"
	"github.com/kubemesos/kubemesos/internal/recordio"
)

// The executor API speaks two forms on one path. The Mesos v1 executor
// HTTP API, as Apache Mesos 1.x serves it (JSON or protobuf, negotiated by
// Content-Type and Accept), is what an unmodified Mesos executor speaks;
// the kubemesos form (executorapi) is what the Go SDK speaks. Both end in
// the same hooks: the Mesos form is translated at the edge, here.

// MesosIdentity is what the Mesos form of the executor API tells an
// executor of its framework and agent, and checks its calls against.
type MesosIdentity struct {
	// FrameworkID is the framework's Mesos ID: its Framework's UID.
	FrameworkID string
	// FrameworkName and Role are the Framework's name and role.
	FrameworkName, Role string
	// Hostname is the agent's node.
	Hostname string
}

// mesosCall is a call in the Mesos form, translated.
type mesosCall struct {
	// call is the call in the kubemesos form; nil for HEARTBEAT, which
	// is answered 202 and does nothing else.
	call *executorapi.Call
	// out is the codec of a SUBSCRIBE's stream.
	out mesoswire.Codec
	id  MesosIdentity
}

// parseMesosCall decodes, validates and translates a call in the Mesos form
// from executor key, with the answers Mesos gives to a call it refuses.
func (s *ExecutorServer) parseMesosCall(r *http.Request, c mesoswire.Codec, body []byte, key ExecutorKey) (*mesosCall, *mesoswire.Error) {
	in, herr := executorapi.ParseMesosCall(c, body)
	if herr != nil {
		return nil, herr
	}
	out := &mesosCall{}
	switch in.GetType() {
	case executorv1.Call_SUBSCRIBE:
		var ok bool
		if out.out, ok = mesoswire.AcceptCodec(r.Header.Values("Accept")); !ok {
			return nil, mesoswire.NotAcceptable()
		}
	case executorv1.Call_HEARTBEAT:
		return out, nil
	case executorv1.Call_UNKNOWN:
		return nil, &mesoswire.Error{Code: http.StatusNotImplemented}
	}
	id, err := s.Hooks.MesosIdentity(r.Context(), key)
	if apierrors.IsNotFound(err) {
		return nil, mesoswire.BadRequest("Framework cannot be found")
	}
	if err != nil {
		return nil, &mesoswire.Error{Code: http.StatusServiceUnavailable, Msg: "Failed to look up the framework: " + err.Error()}
	}
	if in.GetFrameworkId().GetValue() != id.FrameworkID {
		return nil, mesoswire.BadRequest("Framework cannot be found")
	}
	if in.GetExecutorId().GetValue() != key.ExecutorID {
		return nil, mesoswire.BadRequest("Executor cannot be found")
	}
	out.id = id
	status := func(st *mesosv1.TaskStatus) (executorapi.TaskStatus, string) {
		ts, msg := executorapi.FromMesosStatus(st)
		ts.TaskID = s.taskName(r.Context(), key, id, ts.TaskID)
		return ts, msg
	}
	call := &executorapi.Call{Namespace: key.Namespace, Framework: key.Framework, ExecutorID: key.ExecutorID}
	switch in.GetType() {
	case executorv1.Call_SUBSCRIBE:
		call.Type = executorapi.CallSubscribe
		call.Subscribe = &executorapi.Subscribe{}
		for _, t := range in.GetSubscribe().GetUnacknowledgedTasks() {
			call.Subscribe.UnacknowledgedTasks = append(call.Subscribe.UnacknowledgedTasks, s.taskName(r.Context(), key, id, t.GetTaskId().GetValue()))
		}
		for _, u := range in.GetSubscribe().GetUnacknowledgedUpdates() {
			st, msg := executorapi.UnacknowledgedUpdate(in, u)
			if msg != "" {
				// Refused when it was sent, it would be refused again:
				// the executor subscribes without it.
				s.Log.Info("dropping an unacknowledged update that the agent refuses", "executor", key.String(),
					"task", u.GetStatus().GetTaskId().GetValue(), "reason", msg)
				continue
			}
			st.TaskID = s.taskName(r.Context(), key, id, st.TaskID)
			call.Subscribe.UnacknowledgedUpdates = append(call.Subscribe.UnacknowledgedUpdates, st)
		}
	case executorv1.Call_UPDATE:
		st, msg := status(in.GetUpdate().GetStatus())
		if msg != "" {
			return nil, mesoswire.BadRequest("Failed to validate Executor::Call: " + msg)
		}
		call.Type = executorapi.CallUpdate
		call.Update = &executorapi.UpdateCall{Status: st}
	case executorv1.Call_MESSAGE:
		call.Type = executorapi.CallMessage
		call.Message = &executorapi.Message{Data: string(in.GetMessage().GetData())}
	}
	if err := call.Validate(); err != nil {
		return nil, mesoswire.BadRequest("Failed to validate Executor::Call: " + err.Error())
	}
	out.call = call
	return out, nil
}

// taskName is the name of the Task of key's framework whose Mesos task ID
// is taskID: the name derived from it for a task launched through the
// master's scheduler API, else the ID itself (a kubemesos framework's task).
func (s *ExecutorServer) taskName(ctx context.Context, key ExecutorKey, id MesosIdentity, taskID string) string {
	name := mesoswire.TaskName(id.FrameworkID, taskID)
	if t, err := s.Hooks.Task(ctx, key.Namespace, name); err == nil && t != nil && mesoswire.TaskID(t) == taskID {
		return name
	}
	return taskID
}

// mesosStream writes a subscribed executor's events in the Mesos form.
type mesosStream struct {
	server  *ExecutorServer
	key     ExecutorKey
	agentID string
	id      MesosIdentity
	codec   mesoswire.Codec
}

// write sends one event as one RecordIO record, and takes a scheduler
// message as delivered once written: a Mesos executor does not acknowledge
// messages (Mesos delivers them at most once).
func (m *mesosStream) write(ctx context.Context, w http.ResponseWriter, e executorapi.Event) error {
	b, err := m.codec.Encode(m.event(ctx, e))
	if err != nil {
		return err
	}
	if err := recordio.NewWriter(w).WriteRecord(b); err != nil {
		return err
	}
	if e.Type == executorapi.EventMessage && e.Message.Sender != "" {
		if err := m.server.Hooks.AcknowledgeMessages(ctx, m.key, []executorapi.MessageID{{Sender: e.Message.Sender, Sequence: e.Message.Sequence}}); err != nil {
			m.server.Log.Error(err, "taking a message written to a Mesos executor as delivered", "executor", m.key.String())
		}
	}
	return nil
}

// event translates an event into the Mesos form.
func (m *mesosStream) event(ctx context.Context, e executorapi.Event) *executorv1.Event {
	switch e.Type {
	case executorapi.EventSubscribed:
		return &executorv1.Event{Type: executorv1.Event_SUBSCRIBED.Enum(), Subscribed: &executorv1.Event_Subscribed{
			ExecutorInfo: m.executorInfo(),
			FrameworkInfo: &mesosv1.FrameworkInfo{User: ptr.To(""), Name: ptr.To(m.id.FrameworkName), Id: m.frameworkID(), Roles: []string{m.id.Role},
				Checkpoint: ptr.To(true)}, // the agent checkpoints every update (MESOS_CHECKPOINT)
			AgentInfo: &mesosv1.AgentInfo{Hostname: ptr.To(m.id.Hostname), Id: m.agent()},
		}}
	case executorapi.EventLaunch:
		return &executorv1.Event{Type: executorv1.Event_LAUNCH.Enum(), Launch: &executorv1.Event_Launch{Task: m.taskInfo(ctx, e.Launch.Task)}}
	case executorapi.EventLaunchGroup:
		group := &mesosv1.TaskGroupInfo{}
		for _, ti := range e.LaunchGroup.Tasks {
			group.Tasks = append(group.Tasks, m.taskInfo(ctx, ti))
		}
		return &executorv1.Event{Type: executorv1.Event_LAUNCH_GROUP.Enum(), LaunchGroup: &executorv1.Event_LaunchGroup{TaskGroup: group}}
	case executorapi.EventKill:
		k := &executorv1.Event_Kill{TaskId: m.taskID(ctx, e.Kill.TaskID)}
		if gp := e.Kill.GracePeriodSeconds; gp != nil {
			k.KillPolicy = &mesosv1.KillPolicy{GracePeriod: &mesosv1.DurationInfo{Nanoseconds: ptr.To(*gp * 1e9)}}
		}
		return &executorv1.Event{Type: executorv1.Event_KILL.Enum(), Kill: k}
	case executorapi.EventAcknowledged:
		return &executorv1.Event{Type: executorv1.Event_ACKNOWLEDGED.Enum(), Acknowledged: &executorv1.Event_Acknowledged{
			TaskId: m.taskID(ctx, e.Acknowledged.TaskID), Uuid: executorapi.MesosUUID(e.Acknowledged.UUID)}}
	case executorapi.EventMessage:
		return &executorv1.Event{Type: executorv1.Event_MESSAGE.Enum(), Message: &executorv1.Event_Message{Data: []byte(e.Message.Data)}}
	case executorapi.EventShutdown:
		return &executorv1.Event{Type: executorv1.Event_SHUTDOWN.Enum()}
	case executorapi.EventHeartbeat:
		return &executorv1.Event{Type: executorv1.Event_HEARTBEAT.Enum()}
	default:
		msg := string(e.Type)
		if e.Error != nil {
			msg = e.Error.Message
		}
		return &executorv1.Event{Type: executorv1.Event_ERROR.Enum(), Error: &executorv1.Event_Error{Message: ptr.To(msg)}}
	}
}

func (m *mesosStream) frameworkID() *mesosv1.FrameworkID {
	return &mesosv1.FrameworkID{Value: ptr.To(m.id.FrameworkID)}
}

func (m *mesosStream) agent() *mesosv1.AgentID { return &mesosv1.AgentID{Value: ptr.To(m.agentID)} }

// executorInfo is the executor as SUBSCRIBED and each launched task
// describe it: its ID, its framework, CUSTOM.
func (m *mesosStream) executorInfo() *mesosv1.ExecutorInfo {
	return &mesosv1.ExecutorInfo{
		ExecutorId: &mesosv1.ExecutorID{Value: ptr.To(m.key.ExecutorID)}, FrameworkId: m.frameworkID(), Type: mesosv1.ExecutorInfo_CUSTOM.Enum(),
	}
}

// task reads the Task named name of the executor's namespace.
func (m *mesosStream) task(ctx context.Context, name string) *kmv1.Task {
	t, err := m.server.Hooks.Task(ctx, m.key.Namespace, name)
	if err != nil {
		return nil
	}
	return t
}

// taskID is the Mesos task ID of the Task named name (see mesoswire.TaskID);
// a Task that is gone already keeps its name.
func (m *mesosStream) taskID(ctx context.Context, name string) *mesosv1.TaskID {
	id := name
	if t := m.task(ctx, name); t != nil {
		id = mesoswire.TaskID(t)
	}
	return &mesosv1.TaskID{Value: ptr.To(id)}
}

// taskInfo is the TaskInfo of a task to launch: its Mesos ID (also its
// name: kubemesos keeps no other), its data as the framework gave it, and
// its resources in Mesos units, with the ports it holds.
func (m *mesosStream) taskInfo(ctx context.Context, ti executorapi.TaskInfo) *mesosv1.TaskInfo {
	id, data := ti.TaskID, []byte(ti.Data)
	resources := mesoswire.MesosResources(kmv1.ResourceList(ti.Resources), m.id.Role)
	t := m.task(ctx, ti.TaskID)
	if t != nil {
		id, data = mesoswire.TaskID(t), mesoswire.TaskData(t)
		if ports := mesoswire.PortsResource(portrange.FromAPI(t.Spec.Ports), m.id.Role); ports != nil {
			resources = append(resources, ports)
		}
	}
	if len(data) == 0 {
		data = nil
	}
	out := &mesosv1.TaskInfo{
		Name: ptr.To(id), TaskId: &mesosv1.TaskID{Value: ptr.To(id)}, AgentId: m.agent(),
		Resources: resources, Data: data, Executor: m.executorInfo(),
	}
	if t != nil {
		// Its name, labels and a group task's command, as launched.
		if err := mesoswire.AddExecutorView(t, out); err != nil {
			m.server.Log.Error(err, "A task's kept TaskInfo does not parse; its executor gets the task without it", "task", t.Namespace+"/"+t.Name)
		}
	}
	return out
}
