// Package executorapi is the kubemesos form of the agent's executor API,
// modelled on the Mesos v1 executor HTTP API, which the agent serves on the
// same path for Mesos executors. An executor POSTs JSON calls of MediaType
// to /api/v1/executor on its agent; the response to SUBSCRIBE is a stream
// of events, each framed as RecordIO ("<length>\n<json>").
//
// Calls: SUBSCRIBE, UPDATE, MESSAGE, ACKNOWLEDGE_MESSAGES. Events:
// SUBSCRIBED, LAUNCH, KILL, ACKNOWLEDGED, MESSAGE, SHUTDOWN, ERROR.
package executorapi

import (
	corev1 "k8s.io/api/core/v1"
)

// Path is the HTTP path of the executor API. It serves two forms: the
// Mesos v1 executor HTTP API (application/json or application/x-protobuf,
// as Apache Mesos 1.x; what Mesos executors speak) and this package's
// kubemesos form (MediaType; what the Go SDK speaks).
const Path = "/api/v1/executor"

// MesosAgentProcess is the agent's process ID, as Apache Mesos's own
// executor library (libmesos's v1 executor) reads it from MESOS_SLAVE_PID
// (slave(1)@ip:port) to make the API's address.
const MesosAgentProcess = "slave(1)"

// MesosAgentPath serves the same API under the path that library calls.
const MesosAgentPath = "/" + MesosAgentProcess + Path

// MediaType is the media type of calls and events in the kubemesos form.
// Its streams are RecordIO of JSON records.
const MediaType = "application/vnd.kubemesos.executor.v1+json"

// MaxCallBytes bounds the size of one call's body.
const MaxCallBytes = 1 << 20

// What one SUBSCRIBE may carry of what the executor already knows. An
// executor that holds more sends the rest of its unacknowledged updates as
// UPDATE calls once subscribed; a task left out is at worst launched again,
// which an executor ignores for a task it runs.
const (
	MaxUnacknowledgedTasks   = 1024
	MaxUnacknowledgedUpdates = 128
)

// Environment variables that the agent sets on every executor pod.
const (
	EnvAgentEndpoint = "KUBEMESOS_AGENT_ENDPOINT"
	EnvNamespace     = "KUBEMESOS_NAMESPACE"
	EnvFramework     = "KUBEMESOS_FRAMEWORK"
	EnvExecutorID    = "KUBEMESOS_EXECUTOR_ID"
	// EnvTokenFile names the file that holds the executor's credential:
	// a service account token bound to its pod, for TokenAudience, that
	// the kubelet mounts and renews. Read it again for every call.
	EnvTokenFile = "KUBEMESOS_EXECUTOR_TOKEN_FILE"
	EnvAgentID   = "KUBEMESOS_AGENT_ID"
	// EnvTaskID and EnvTaskData are set for command tasks only.
	EnvTaskID   = "KUBEMESOS_TASK_ID"
	EnvTaskData = "KUBEMESOS_TASK_DATA"
)

// The executor's credential. The agent gives every executor pod a projected
// service account token for TokenAudience, bound to the pod (the API server
// refuses it once the pod is gone or replaced) and renewed by the kubelet
// before it expires, mounted read-only as TokenDir/TokenFile. No token value
// is ever written into the pod spec, and the pod gets no API token.
const (
	// TokenAudience is the audience of executor tokens; the agent
	// accepts no other, and the token is good for nothing else.
	TokenAudience = "kubemesos.io/executor"
	// TokenExpirationSeconds is the token's lifetime; the kubelet renews
	// it at 80% of that.
	TokenExpirationSeconds = 3600
	// MesosTokenExpirationSeconds is the lifetime of the token of a task
	// launched through the master's Mesos API. Its executor reads the
	// token once, into MESOS_EXECUTOR_AUTHENTICATION_TOKEN, and cannot
	// take a renewed one; bound to its pod, the token is refused once the
	// pod is gone, so that in effect it lives as long as the executor (as
	// a Mesos executor's token does), up to 30 days, or less where the API
	// server's --service-account-max-token-expiration says so.
	MesosTokenExpirationSeconds = 30 * 24 * 3600
	// TokenDir is where the token's volume is mounted in executor pods.
	TokenDir = "/var/run/secrets/kubemesos.io/executor"
	// TokenFile is the token's file name under TokenDir.
	TokenFile = "token"
)

// CallType names a call.
type CallType string

// Call types.
const (
	CallSubscribe CallType = "SUBSCRIBE"
	CallUpdate    CallType = "UPDATE"
	CallMessage   CallType = "MESSAGE"
	// CallAcknowledgeMessages tells the agent which of the scheduler's
	// messages the executor has taken, so that the agent stops keeping
	// them. It is kubemesos's own: Mesos has no such call.
	CallAcknowledgeMessages CallType = "ACKNOWLEDGE_MESSAGES"
)

// Call is what an executor sends, with its token in the Authorization
// header ("Bearer <token>"). Namespace, Framework and ExecutorID name the
// executor; they must be those of the pod that the token is bound to.
type Call struct {
	Type       CallType    `json:"type"`
	Namespace  string      `json:"namespace"`
	Framework  string      `json:"framework"`
	ExecutorID string      `json:"executor_id"`
	Subscribe  *Subscribe  `json:"subscribe,omitempty"`
	Update     *UpdateCall `json:"update,omitempty"`
	Message    *Message    `json:"message,omitempty"`
	// AcknowledgeMessages is the body of ACKNOWLEDGE_MESSAGES.
	AcknowledgeMessages *AcknowledgeMessages `json:"acknowledge_messages,omitempty"`
}

// Subscribe carries what a (re)subscribing executor already knows, so an
// agent restart loses nothing: the tasks it runs and its updates that were
// not acknowledged yet.
type Subscribe struct {
	UnacknowledgedTasks   []string     `json:"unacknowledged_tasks,omitempty"`
	UnacknowledgedUpdates []TaskStatus `json:"unacknowledged_updates,omitempty"`
}

// UpdateCall sends one task status.
type UpdateCall struct {
	Status TaskStatus `json:"status"`
}

// TaskStatus is a task's status as an executor reports it.
type TaskStatus struct {
	TaskID  string `json:"task_id"`
	State   string `json:"state"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	Data    string `json:"data,omitempty"`
	Healthy *bool  `json:"healthy,omitempty"`
	// UUID identifies the update; ACKNOWLEDGED carries it back.
	UUID string `json:"uuid"`
}

// Message is opaque data between a framework's scheduler and its executor:
// UTF-8 text of at most MaxFrameworkMessageLength bytes.
//
// Sender and Sequence make delivery exactly once and in order: a sender
// numbers its messages 1, 2, 3 ... and sends each until it is taken; the
// receiver delivers each sender's messages in that order and drops one it
// has seen. In a MESSAGE call they are the executor's (the SDK picks a
// random sender per driver); a call without them is a message of its own,
// delivered once but in no order with the others. In a MESSAGE event they
// are the scheduler's, for ACKNOWLEDGE_MESSAGES.
type Message struct {
	Data     string `json:"data"`
	Sender   string `json:"sender,omitempty"`
	Sequence uint64 `json:"sequence,omitempty"`
}

// AcknowledgeMessages says which scheduler messages the executor has taken:
// for each sender, every message up to and including Sequence. The agent
// sends the others again when the executor subscribes again.
type AcknowledgeMessages struct {
	Messages []MessageID `json:"messages"`
}

// MessageID names one message of one sender.
type MessageID struct {
	Sender   string `json:"sender"`
	Sequence uint64 `json:"sequence"`
}

// EventType names an event.
type EventType string

// Event types.
const (
	EventSubscribed   EventType = "SUBSCRIBED"
	EventLaunch       EventType = "LAUNCH"
	EventKill         EventType = "KILL"
	EventAcknowledged EventType = "ACKNOWLEDGED"
	EventMessage      EventType = "MESSAGE"
	EventShutdown     EventType = "SHUTDOWN"
	EventError        EventType = "ERROR"
	// EventHeartbeat is sent only in the Mesos form of the API.
	EventHeartbeat EventType = "HEARTBEAT"
	// EventLaunchGroup is sent only in the Mesos form of the API: the
	// tasks of a task group on a custom executor, all at once. An
	// executor of the kubemesos form gets one LAUNCH per task.
	EventLaunchGroup EventType = "LAUNCH_GROUP"
)

// Event is what the agent streams to a subscribed executor.
type Event struct {
	Type         EventType     `json:"type"`
	Subscribed   *Subscribed   `json:"subscribed,omitempty"`
	Launch       *Launch       `json:"launch,omitempty"`
	LaunchGroup  *LaunchGroup  `json:"launch_group,omitempty"`
	Kill         *Kill         `json:"kill,omitempty"`
	Acknowledged *Acknowledged `json:"acknowledged,omitempty"`
	Message      *Message      `json:"message,omitempty"`
	Error        *Error        `json:"error,omitempty"`
}

// Subscribed confirms a subscription.
type Subscribed struct {
	AgentID    string `json:"agent_id"`
	NodeName   string `json:"node_name"`
	ExecutorID string `json:"executor_id"`
	Framework  string `json:"framework"`
}

// TaskInfo describes a task to launch.
type TaskInfo struct {
	TaskID    string              `json:"task_id"`
	Data      string              `json:"data,omitempty"`
	Resources corev1.ResourceList `json:"resources,omitempty"`
}

// Launch asks the executor to run a task.
type Launch struct {
	Task TaskInfo `json:"task"`
}

// LaunchGroup asks the executor to run a task group: its tasks, in the
// group's order.
type LaunchGroup struct {
	Tasks []TaskInfo `json:"tasks"`
}

// Kill asks the executor to kill a task within the grace period.
type Kill struct {
	TaskID             string `json:"task_id"`
	GracePeriodSeconds *int64 `json:"grace_period_seconds,omitempty"`
}

// Acknowledged says the registry holds the update UUID of TaskID.
type Acknowledged struct {
	TaskID string `json:"task_id"`
	UUID   string `json:"uuid"`
}

// Error reports a problem to the executor.
type Error struct {
	Message string `json:"message"`
}
