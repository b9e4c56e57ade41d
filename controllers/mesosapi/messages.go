package mesosapi

import (
	"context"
	"fmt"
	"sync"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/lru"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/messages"
)

// ControllerMessages reports, in their Events, the framework messages that
// Mesos API frameworks send to their executors.
const ControllerMessages = "kubemesos.io/mesos-api"

// message carries out MESSAGE as the Go SDK's SendFrameworkMessage does:
// an Event to the executor, which the agent of its node relays. A message
// to an agent the master does not know, or that is not active, is dropped
// and answered 202, as Mesos drops it; one whose data cannot travel as a
// framework message is refused with 400.
func (s *Server) message(ctx context.Context, st *stream, m *schedulerv1.Call_Message) *httpError {
	data := string(m.GetData())
	if err := executorapi.ValidateMessageData(data); err != nil {
		return badRequest("kubemesos carries a framework message as UTF-8 text of at most " +
			fmt.Sprint(executorapi.MaxFrameworkMessageLength) + " bytes: " + err.Error())
	}
	executorID, agentID := m.GetExecutorId().GetValue(), m.GetAgentId().GetValue()
	log := s.log.WithValues("framework", st.namespace+"/"+st.name, "executor", executorID, "agent", agentID)
	var agents kmv1.AgentList
	if err := s.c.List(ctx, &agents); err != nil {
		return failed("Failed to carry out MESSAGE: listing agents: " + err.Error())
	}
	node := ""
	for i := range agents.Items {
		a := &agents.Items[i]
		if a.Status.AgentID != agentID || agentID == "" {
			continue
		}
		if a.Status.Phase != kmv1.AgentActive {
			log.Info("dropped a framework message: its agent is not active", "phase", a.Status.Phase)
			return nil
		}
		node = a.Spec.NodeName
		if node == "" {
			node = a.Name
		}
	}
	if node == "" {
		log.Info("dropped a framework message: its agent is not registered")
		return nil
	}
	// One message of a stream at a time: the next is stored only after
	// this one, which keeps them in order for the agent.
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	st.sent++
	msg := messages.Message{To: kmv1.MessageToExecutor, Framework: st.name, Node: node, ExecutorID: executorID,
		Sender: st.sender, Sequence: st.sent, Data: data, Time: s.clock.Now()}
	instance := s.opts.MasterID
	if instance == "" {
		instance = "kubemesos"
	}
	ev := messages.Event(st.namespace, types.UID(st.frameworkID), msg, ControllerMessages, instance)
	if err := s.schedulerClient.Create(ctx, ev); err != nil && !apierrors.IsAlreadyExists(err) {
		// The sequence number stays taken: the agent passes over a gap.
		log.Error(err, "storing a framework message")
		if code, msg := apiServerVerdict(err); code != 0 {
			// Mesos drops a message it cannot deliver: the scheduler
			// hears why, in an answer its library drops calmly.
			return failed("The API server refused the framework message, which is dropped: " + msg)
		}
		return writeFailed(err, "the framework message")
	}
	return nil
}

// MessageCacheOptions is what the scheduler API's own cache holds: only
// the Events that carry messages from executors to schedulers (the master
// does not cache the cluster's other Events), slimmed to what a message
// holds (messages.Slim: tenants create them).
func MessageCacheOptions() cache.Options {
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&eventsv1.Event{}: {Label: messagesToSchedulers(), Transform: messages.Slim},
		},
	}
}

// messagesToSchedulers selects the messages from executors to their
// schedulers, of every framework.
func messagesToSchedulers() labels.Selector {
	return labels.SelectorFromSet(labels.Set{kmv1.LabelMessage: kmv1.MessageToScheduler})
}

// watchMessages delivers the messages of executors to the open streams of
// their Mesos API frameworks (see deliverMessages).
func (s *Server) watchMessages(ctx context.Context, informers cache.Informers) error {
	inf, err := informers.GetInformer(ctx, &eventsv1.Event{})
	if err != nil {
		return fmt.Errorf("watching framework messages: %w", err)
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if e, ok := obj.(*eventsv1.Event); ok {
				if st := s.streamOfFramework(e.Namespace, e.Labels[kmv1.LabelFramework]); st != nil {
					st.messagesArrived()
				}
			}
		},
	})
	if err != nil {
		return fmt.Errorf("watching framework messages: %w", err)
	}
	return nil
}

// writeMessages writes on a stream, as Event MESSAGE, the messages from
// its framework's executors that wait in the cache, each sender's in
// order, and has each one's Event deleted once written, as the Go SDK
// deletes a message once delivered. It runs on the stream's goroutine,
// when the stream opens and whenever a message arrives. A message repeated
// (a send retried after its first try was stored) or already written is
// passed over and deleted.
func (s *Server) writeMessages(ctx context.Context, st *stream, write func(*schedulerv1.Event) error) error {
	if s.messageCache == nil {
		return nil
	}
	var l eventsv1.EventList
	sel := messages.ToScheduler(st.name)
	if err := s.messageCache.List(ctx, &l, client.InNamespace(st.namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		s.log.Error(err, "listing the messages to a subscribed framework", "framework", st.namespace+"/"+st.name)
		return nil
	}
	var ms []messages.Message
	for i := range l.Items {
		e := &l.Items[i]
		if e.Regarding.UID != "" && string(e.Regarding.UID) != st.frameworkID {
			continue // a message to an earlier framework of the same name
		}
		m, err := messages.Parse(e)
		if err != nil {
			s.log.Info("dropping a malformed framework message", "event", e.Namespace+"/"+e.Name, "error", err.Error())
			s.deleter.Delete(e.Namespace, messages.Message{EventName: e.Name, UID: e.UID})
			continue
		}
		ms = append(ms, m)
	}
	messages.Sort(ms)
	for _, m := range ms {
		switch s.delivered.take(st.frameworkID, m, s.clock.Now()) {
		case messageWritten:
			continue
		case messageRepeated:
			s.deleter.Delete(st.namespace, m)
			continue
		}
		if err := write(messageEvent(m)); err != nil {
			s.delivered.undo(st.frameworkID, m)
			return err
		}
		s.deleter.Delete(st.namespace, m)
	}
	return nil
}

// messageWait is how long a written message is remembered after it was
// written, so that the cache's copy, still there until its deletion is
// seen, is not written again.
const messageWait = 10 * time.Minute

// maxSenders bounds the senders whose last written message is remembered.
const maxSenders = 4096

// What deliveredLog.take finds a message to be.
const (
	messageNew = iota
	messageWritten
	messageRepeated
)

// deliveredLog remembers the messages written to streams: the highest
// sequence written per framework and sender, and the Events written a
// moment ago, whose deletion the cache has yet to see.
type deliveredLog struct {
	mu      sync.Mutex
	last    *lru.Cache // frameworkID/sender -> uint64
	written map[types.UID]time.Time
}

func newDeliveredLog() *deliveredLog {
	return &deliveredLog{last: lru.New(maxSenders), written: map[types.UID]time.Time{}}
}

// take reports whether m is new (it is then recorded as written), was
// written already, or repeats a message written already under another
// Event (a send retried after its first try was stored).
func (d *deliveredLog) take(frameworkID string, m messages.Message, now time.Time) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.written[m.UID]; ok {
		return messageWritten
	}
	key := frameworkID + "/" + m.Sender
	if last, ok := d.last.Get(key); ok && m.Sequence <= last.(uint64) {
		return messageRepeated
	}
	for uid, at := range d.written {
		if now.Sub(at) > messageWait {
			delete(d.written, uid)
		}
	}
	d.last.Add(key, m.Sequence)
	d.written[m.UID] = now
	return messageNew
}

// undo forgets m, which could not be written after all.
func (d *deliveredLog) undo(frameworkID string, m messages.Message) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.written, m.UID)
	key := frameworkID + "/" + m.Sender
	if last, ok := d.last.Get(key); ok && last.(uint64) == m.Sequence {
		d.last.Add(key, m.Sequence-1)
	}
}

// startMessages runs the cache of messages and the deleter of those
// written, and watches for new ones.
func (s *Server) startMessages(ctx context.Context) error {
	if s.messageCache == nil {
		return nil
	}
	go func() {
		if err := s.messageCache.Start(ctx); err != nil {
			s.log.Error(err, "running the cache of framework messages")
		}
	}()
	go s.deleter.Run(ctx)
	if err := s.watchMessages(ctx, s.messageCache); err != nil {
		return err
	}
	if !s.messageCache.WaitForCacheSync(ctx) {
		return fmt.Errorf("waiting for the cache of framework messages: %w", ctx.Err())
	}
	return nil
}

// messageEvent is the MESSAGE event of an executor's message.
func messageEvent(m messages.Message) *schedulerv1.Event {
	return &schedulerv1.Event{Type: schedulerv1.Event_MESSAGE.Enum(), Message: &schedulerv1.Event_Message{
		AgentId:    &mesosv1.AgentID{Value: ptr.To(m.AgentID)},
		ExecutorId: &mesosv1.ExecutorID{Value: ptr.To(m.ExecutorID)},
		Data:       []byte(m.Data),
	}}
}
