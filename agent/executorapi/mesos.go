package executorapi

import (
	"fmt"
	"mime"
	"unicode/utf8"

	"github.com/google/uuid"
	"k8s.io/utils/ptr"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	executorv1 "github.com/kubemesos/kubemesos/api/mesos/v1/executor"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

// The Mesos form of the executor API: what an unmodified Mesos executor
// sends, decoded and checked as Apache Mesos 1.x does, and its statuses in
// the kubemesos form. The agent resolves task IDs and answers the calls.

// IsMesosCall reports whether a call is in the Mesos form, and its codec.
// The kubemesos form has its own media type (MediaType); a call without a
// Content-Type, or a JSON object that names its namespace (what SDK
// executors built before MediaType existed send), is in the kubemesos form
// too. Any other media type is refused with a 415.
func IsMesosCall(contentType string, body []byte) (bool, mesoswire.Codec, *mesoswire.Error) {
	if contentType == "" {
		return false, mesoswire.Codec{}, nil
	}
	if mt, _, err := mime.ParseMediaType(contentType); err == nil && mt == MediaType {
		return false, mesoswire.Codec{}, nil
	}
	c, herr := mesoswire.RequestCodec(contentType)
	if herr != nil {
		herr.Msg += " (or " + MediaType + " for the kubemesos form)"
		return false, c, herr
	}
	if c == mesoswire.JSON && NamesNamespace(body) {
		return false, mesoswire.Codec{}, nil
	}
	return true, c, nil
}

// ParseMesosCall decodes a call in the Mesos form and checks it as Mesos
// does before it looks up the framework and executor: a 400 with Mesos's
// message when it does not pass.
func ParseMesosCall(c mesoswire.Codec, body []byte) (*executorv1.Call, *mesoswire.Error) {
	if len(body) > MaxCallBytes {
		return nil, mesoswire.BadRequest(fmt.Sprintf("the call is %d bytes; the limit is %d", len(body), MaxCallBytes))
	}
	call := &executorv1.Call{}
	if herr := c.DecodeCall(body, call); herr != nil {
		return nil, herr
	}
	if msg := validateMesosCall(call); msg != "" {
		return nil, mesoswire.BadRequest("Failed to validate Executor::Call: " + msg)
	}
	return call, nil
}

// validateMesosCall is "" for a call that Mesos takes.
func validateMesosCall(c *executorv1.Call) string {
	switch {
	case c.Type == nil:
		return "Expecting 'type' to be present"
	case c.ExecutorId == nil:
		return "Expecting 'executor_id' to be present"
	case c.FrameworkId == nil:
		return "Expecting 'framework_id' to be present"
	}
	switch c.GetType() {
	case executorv1.Call_SUBSCRIBE:
		// As Mesos, the unacknowledged updates are not checked here: one
		// that the agent cannot take is left out (UnacknowledgedUpdate),
		// so that it cannot keep its executor from subscribing. Unlike
		// Mesos, a SUBSCRIBE without 'subscribe' is taken as one with
		// nothing unacknowledged, which is all it could say: executor
		// libraries that leave it out (the npm mesos-framework's) work.
	case executorv1.Call_UPDATE:
		if c.Update == nil {
			return "Expecting 'update' to be present"
		}
		return validateMesosStatus(c, c.GetUpdate().GetStatus())
	case executorv1.Call_MESSAGE:
		if c.Message == nil {
			return "Expecting 'message' to be present"
		}
	}
	return ""
}

// validateMesosStatus is "" for a status that Mesos takes from an executor.
func validateMesosStatus(c *executorv1.Call, st *mesosv1.TaskStatus) string {
	switch {
	case st.Uuid == nil:
		return "Expecting 'uuid' to be present"
	case len(st.GetUuid()) != 16:
		return fmt.Sprintf("Invalid UUID: 'uuid' has %d bytes, a UUID 16", len(st.GetUuid()))
	case st.ExecutorId != nil && st.GetExecutorId().GetValue() != c.GetExecutorId().GetValue():
		return "ExecutorID in Call: " + c.GetExecutorId().GetValue() + " does not match ExecutorID in TaskStatus: " + st.GetExecutorId().GetValue()
	case st.GetSource() != mesosv1.TaskStatus_SOURCE_EXECUTOR:
		return "Received Call from executor " + c.GetExecutorId().GetValue() + " of framework " + c.GetFrameworkId().GetValue() +
			" with invalid source, expecting 'SOURCE_EXECUTOR'"
	case st.GetState() == mesosv1.TaskState_TASK_STAGING:
		return "Received TASK_STAGING from executor " + c.GetExecutorId().GetValue() + " of framework " + c.GetFrameworkId().GetValue() +
			" which is not allowed"
	}
	return ""
}

// UnacknowledgedUpdate is one of the unacknowledged updates of a SUBSCRIBE
// in the kubemesos form, its TaskID still the Mesos task ID; a message when
// the agent cannot take it, as an UPDATE of it would be refused.
func UnacknowledgedUpdate(c *executorv1.Call, u *executorv1.Call_Update) (TaskStatus, string) {
	if msg := validateMesosStatus(c, u.GetStatus()); msg != "" {
		return TaskStatus{}, msg
	}
	st, msg := FromMesosStatus(u.GetStatus())
	if msg != "" {
		return TaskStatus{}, msg
	}
	if err := st.Validate(); err != nil {
		return TaskStatus{}, err.Error()
	}
	return st, ""
}

// FromMesosStatus is a status in the kubemesos form, its TaskID still the
// Mesos task ID; a message when kubemesos cannot keep it (data that is not
// text).
func FromMesosStatus(st *mesosv1.TaskStatus) (TaskStatus, string) {
	if !utf8.Valid(st.GetData()) {
		return TaskStatus{}, "status.data is not UTF-8: kubemesos keeps it as text in the Task's status"
	}
	u, err := uuid.FromBytes(st.GetUuid())
	if err != nil {
		return TaskStatus{}, "Invalid UUID: " + err.Error()
	}
	out := TaskStatus{
		TaskID:  st.GetTaskId().GetValue(),
		State:   st.GetState().String(),
		Message: st.GetMessage(),
		Data:    string(st.GetData()),
		UUID:    u.String(),
	}
	if st.Reason != nil {
		out.Reason = st.GetReason().String()
	}
	if st.Healthy != nil {
		out.Healthy = ptr.To(st.GetHealthy())
	}
	return out, ""
}

// MesosUUID is the wire form of an update's uuid: the 16 bytes of a UUID
// in its text form (what FromMesosStatus makes), else the text's own bytes.
func MesosUUID(s string) []byte {
	if u, err := uuid.Parse(s); err == nil {
		return u[:]
	}
	return []byte(s)
}
