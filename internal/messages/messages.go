// Package messages carries framework messages between a scheduler and its
// executors as Events in the framework's namespace: the Event that holds a
// message, its name, its labels and how to read it back, and a Deleter that
// removes delivered messages.
//
// A message travels once each way through the API server:
//
//   - scheduler → executor: the scheduler SDK creates an Event labelled
//     kubemesos.io/message=to-executor and kubemesos.io/agent=<node>; the agent
//     of that node streams it to the executor as a MESSAGE event and deletes
//     it when the executor acknowledges it.
//   - executor → scheduler: the executor SDK sends a MESSAGE call to its
//     agent, which creates an Event labelled kubemesos.io/message=to-scheduler
//     before it answers 202; the scheduler SDK delivers it to FrameworkMessage
//     and deletes it.
//
// Every message has a sender and a sequence number. A sender sends its next
// message only once the last one is stored, and the Event's name derives
// from both, so a send that is retried finds the Event it created (no
// duplicate) and a receiver that sees the messages of one sender in
// sequence order delivers them in the order they were sent. A receiver
// remembers the last sequence number it delivered per sender and drops a
// message at or below it, so nothing is delivered twice.
package messages

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// MaxDataLength is the most data one message carries: what an Event's note
// holds (the API server refuses a longer one).
const MaxDataLength = executorapi.MaxFrameworkMessageLength

// The Event fields that name who reported a message.
const (
	// ControllerAgent reports the messages that executors send.
	ControllerAgent = "kubemesos.io/agent"
	// ControllerScheduler reports the messages that schedulers send.
	ControllerScheduler = "kubemesos.io/scheduler-sdk"
	// Action is every message Event's action.
	Action = "Message"
	// maxReportingInstance is the API server's bound on reportingInstance.
	maxReportingInstance = 128
	// maxNamePrefix keeps an Event's name within 253 characters.
	maxNamePrefix = 180
)

// Message is one framework message.
type Message struct {
	// To is kmv1.MessageToExecutor or kmv1.MessageToScheduler.
	To string
	// Framework is the framework's name; its Event is in its namespace.
	Framework string
	// Node is the node of the executor's agent: where a message to an
	// executor goes, where a message to a scheduler comes from.
	Node string
	// AgentID is the agentID of that agent, on a message to a scheduler.
	AgentID string
	// ExecutorID is the executor it goes to or comes from.
	ExecutorID string
	// Sender and Sequence place it in its sender's order.
	Sender   string
	Sequence uint64
	// Data is what the sender sent.
	Data string
	// Time is when it was sent.
	Time time.Time
	// UID is the UID of the Event that holds it, once stored.
	UID types.UID
	// EventName is the name of that Event.
	EventName string
}

// NewSender returns a fresh sender ID: 16 random hex digits.
func NewSender() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ExecutorSender is the sender, in Events, of the messages that executor
// (namespace, framework, executorID) sends as sender: a digest of all four,
// so that no executor can send as another.
func ExecutorSender(namespace, framework, executorID, sender string) string {
	h := sha256.New()
	for _, p := range []string{namespace, framework, executorID, sender} {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Name is the name of the Event that holds m: <framework>.<direction>.
// <sender>.<sequence, 20 digits>. It depends on nothing else, so that a
// send that is retried finds the Event it created.
func Name(m Message) string {
	prefix := m.Framework
	if len(prefix) > maxNamePrefix {
		prefix = prefix[:maxNamePrefix]
	}
	for len(prefix) > 0 && (prefix[len(prefix)-1] == '-' || prefix[len(prefix)-1] == '.') {
		prefix = prefix[:len(prefix)-1]
	}
	return fmt.Sprintf("%s.%s.%s.%020d", prefix, m.To, m.Sender, m.Sequence)
}

// ReportingInstance is name as an Event's reportingInstance: cut to the
// API server's bound. The agent of a node reports as the node's name, and
// the chart's kubemesos-agent-node policy compares the two cut alike.
func ReportingInstance(name string) string {
	if len(name) > maxReportingInstance {
		return name[:maxReportingInstance]
	}
	return name
}

// Event is the Event that carries m, in namespace, regarding the Framework
// fw, reported by controller (ControllerAgent or ControllerScheduler) as
// instance.
func Event(namespace string, fw types.UID, m Message, controller, instance string) *eventsv1.Event {
	instance = ReportingInstance(instance)
	annotations := map[string]string{
		kmv1.AnnotationMessageSender:   m.Sender,
		kmv1.AnnotationMessageSequence: strconv.FormatUint(m.Sequence, 10),
		kmv1.AnnotationExecutorID:      m.ExecutorID,
	}
	reason := kmv1.ReasonSchedulerMessage
	if m.To == kmv1.MessageToScheduler {
		annotations[kmv1.AnnotationAgentID] = m.AgentID
		reason = kmv1.ReasonFrameworkMessage
	}
	t := m.Time
	if t.IsZero() {
		t = time.Now()
	}
	return &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: Name(m), Annotations: annotations,
			Labels: map[string]string{kmv1.LabelMessage: m.To, kmv1.LabelFramework: m.Framework, kmv1.LabelAgent: m.Node}},
		EventTime:           metav1.NewMicroTime(t),
		ReportingController: controller,
		ReportingInstance:   instance,
		Action:              Action,
		Reason:              reason,
		Type:                corev1.EventTypeNormal,
		Note:                m.Data,
		Regarding:           corev1.ObjectReference{APIVersion: kmv1.GroupVersion.String(), Kind: "Framework", Namespace: namespace, Name: m.Framework, UID: fw},
	}
}

// Parse reads the message that e carries. An Event made by hand without a
// sender or sequence is a message of its own: its sender is its UID.
func Parse(e *eventsv1.Event) (Message, error) {
	if e.Annotations[annotationOversized] != "" {
		return Message{UID: e.UID, EventName: e.Name}, oversizedError(e)
	}
	m := Message{
		To: e.Labels[kmv1.LabelMessage], Framework: e.Labels[kmv1.LabelFramework], Node: e.Labels[kmv1.LabelAgent],
		AgentID: e.Annotations[kmv1.AnnotationAgentID], ExecutorID: e.Annotations[kmv1.AnnotationExecutorID],
		Sender: e.Annotations[kmv1.AnnotationMessageSender], Data: e.Note, Time: e.EventTime.Time,
		UID: e.UID, EventName: e.Name,
	}
	if m.To != kmv1.MessageToExecutor && m.To != kmv1.MessageToScheduler {
		return m, fmt.Errorf("event %s/%s is not a framework message (label %s=%q)", e.Namespace, e.Name, kmv1.LabelMessage, m.To)
	}
	if m.Time.IsZero() {
		m.Time = e.CreationTimestamp.Time
	}
	seq := e.Annotations[kmv1.AnnotationMessageSequence]
	if m.Sender == "" || seq == "" {
		m.Sender, m.Sequence = string(e.UID), 1
		return m, nil
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil || n == 0 {
		return m, fmt.Errorf("event %s/%s: %s=%q is not a sequence number from 1", e.Namespace, e.Name, kmv1.AnnotationMessageSequence, seq)
	}
	m.Sequence = n
	return m, nil
}

// ToScheduler selects the messages to the scheduler of framework.
func ToScheduler(framework string) labels.Selector {
	return labels.SelectorFromSet(labels.Set{kmv1.LabelMessage: kmv1.MessageToScheduler, kmv1.LabelFramework: framework})
}

// ToExecutorsOn selects the messages to the executors on node.
func ToExecutorsOn(node string) labels.Selector {
	return labels.SelectorFromSet(labels.Set{kmv1.LabelMessage: kmv1.MessageToExecutor, kmv1.LabelAgent: node})
}

// Sort puts messages in delivery order: each sender's by sequence, and the
// senders by when their first message here was sent.
func Sort(ms []Message) {
	first := map[string]time.Time{}
	for _, m := range ms {
		if t, ok := first[m.Sender]; !ok || m.Time.Before(t) {
			first[m.Sender] = m.Time
		}
	}
	sort.Slice(ms, func(i, j int) bool {
		a, b := ms[i], ms[j]
		if a.Sender != b.Sender {
			if ta, tb := first[a.Sender], first[b.Sender]; !ta.Equal(tb) {
				return ta.Before(tb)
			}
			return a.Sender < b.Sender
		}
		return a.Sequence < b.Sequence
	})
}
