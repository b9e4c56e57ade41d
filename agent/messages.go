package agent

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/messages"
)

// messageCallTimeout bounds the API call that stores an executor's message,
// within the executor API's write timeout.
const messageCallTimeout = 8 * time.Second

// MessageSelector selects the Events that carry scheduler messages to the
// executors on node; the agent watches only those, in the namespaces where
// its executors run (messageWatches).
func MessageSelector(node string) labels.Selector { return messages.ToExecutorsOn(node) }

// outbox stores executors' messages to their schedulers: each becomes an
// Event in the framework's namespace, which the scheduler SDK watches.
type outbox struct {
	// client writes the Events as the agent.
	client client.Client
	clock  clock.PassiveClock
	node   string
	id     *identity
}

// store stores an executor's message to its scheduler as an Event in the
// framework's namespace before the call is answered: a 202 means the
// message is stored, anything else that the executor keeps it and sends it
// again (the Event's name derives from the executor, its sender and the
// sequence number, so a repeat is stored once).
func (o *outbox) store(ctx context.Context, k ExecutorKey, m executorapi.Message) error {
	ctx, cancel := context.WithTimeout(ctx, messageCallTimeout)
	defer cancel()
	var fw kmv1.Framework
	if err := o.client.Get(ctx, types.NamespacedName{Namespace: k.Namespace, Name: k.Framework}, &fw); err != nil {
		if apierrors.IsNotFound(err) {
			return &CallError{Status: http.StatusNotFound, Err: fmt.Errorf("framework %s/%s is gone: no scheduler takes the message", k.Namespace, k.Framework)}
		}
		return fmt.Errorf("reading framework %s/%s: %w", k.Namespace, k.Framework, err)
	}
	sender, seq := m.Sender, m.Sequence
	if sender == "" { // a message of its own
		sender, seq = messages.NewSender(), 1
	}
	msg := messages.Message{To: kmv1.MessageToScheduler, Framework: k.Framework, Node: o.node, AgentID: o.id.get(),
		ExecutorID: k.ExecutorID, Sender: messages.ExecutorSender(k.Namespace, k.Framework, k.ExecutorID, sender), Sequence: seq,
		Data: m.Data, Time: o.clock.Now()}
	err := o.client.Create(ctx, messages.Event(k.Namespace, fw.UID, msg, messages.ControllerAgent, o.node))
	switch {
	case err == nil || apierrors.IsAlreadyExists(err):
		return nil
	case apierrors.IsNotFound(err):
		return &CallError{Status: http.StatusNotFound, Err: fmt.Errorf("namespace %s is gone: no scheduler takes the message", k.Namespace)}
	default:
		return fmt.Errorf("storing message %d of executor %s: %w", seq, k, err)
	}
}

// runsHere returns whether executor k runs, or is starting, on this agent
// (it is subscribed, or a live task of this agentID names it), and since
// when: its pod's creation, or while it has no pod yet its first live
// task's (zero when neither is known).
func runsHere(c client.Reader, server *ExecutorServer, id *identity) func(context.Context, ExecutorKey) (time.Time, bool) {
	return func(ctx context.Context, k ExecutorKey) (time.Time, bool) {
		agentID := id.get()
		var pod corev1.Pod
		podErr := c.Get(ctx, types.NamespacedName{Namespace: k.Namespace, Name: executorPodName(k, agentID)}, &pod)
		var since time.Time
		if podErr == nil && pod.DeletionTimestamp == nil {
			since = pod.CreationTimestamp.Time
		}
		runs := server.Subscribed(k)
		var l kmv1.TaskList
		if err := c.List(ctx, &l, client.MatchingFields{indexTaskExecutor: k.String()}); err != nil {
			return since, runs
		}
		var first time.Time
		for i := range l.Items {
			if t := &l.Items[i]; t.Status.AgentID == agentID && !t.Status.State.IsTerminal() {
				runs = true
				if first.IsZero() || t.CreationTimestamp.Time.Before(first) {
					first = t.CreationTimestamp.Time
				}
			}
		}
		if since.IsZero() {
			since = first
		}
		return since, runs
	}
}

// staleMargin is how much earlier than an executor's start a message must
// have been sent to be taken for one to an earlier run of that executor:
// the start is read in whole seconds, and the sender's clock may be a
// little off the API server's.
const staleMargin = 2 * time.Second

// messageRelay carries the schedulers' messages to the executors on this
// node. It keeps each message (an Event that a watch of its namespace
// brought, see messageWatches) until its executor acknowledges it, and
// streams the messages of each sender in sequence order: on arrival when
// the executor is subscribed, and all that it has not acknowledged
// whenever it subscribes again. The executor drops what it has seen, so
// each message is delivered once.
//
// A message to an executor that neither runs nor starts here is dropped, as
// Mesos drops it, and so is one sent before the executor's present run
// started (to an earlier run of the same executor ID, held while nothing
// watched its namespace here); one to an executor that is starting waits
// for it to subscribe.
type messageRelay struct {
	server  *ExecutorServer
	deleter *messages.Deleter
	// runs tells whether an executor runs or starts here, and since when.
	runs func(context.Context, ExecutorKey) (time.Time, bool)
	log  logr.Logger

	mu sync.Mutex
	// open is set once the agent runs with its caches synced: only then
	// do they tell which executors run here.
	open bool
	// synced holds the namespaces whose watch has taken its first list:
	// only then are the messages of a sender there known to be all in, in
	// order, and sent on.
	synced map[string]bool
	// ctx is the relay's run context, from when it opens: the informers
	// call arrived without one.
	ctx    context.Context
	queues map[ExecutorKey]*messageQueue
	byUID  map[types.UID]ExecutorKey
}

// messageQueue holds one executor's messages, in delivery order.
type messageQueue struct {
	msgs []messages.Message
	gen  uint64            // the subscription they were last sent on
	sent map[string]uint64 // per sender, the highest sequence sent on it
}

func newMessageRelay(server *ExecutorServer, deleter *messages.Deleter, runs func(context.Context, ExecutorKey) (time.Time, bool), log logr.Logger) *messageRelay {
	return &messageRelay{server: server, deleter: deleter, runs: runs, log: log,
		synced: map[string]bool{}, queues: map[ExecutorKey]*messageQueue{}, byUID: map[types.UID]ExecutorKey{}}
}

// handler is what the relay takes from a watch of message Events.
func (r *messageRelay) handler() toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) {
			if e, ok := o.(*eventsv1.Event); ok {
				r.arrived(e)
			}
		},
		DeleteFunc: func(o any) {
			if t, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			if e, ok := o.(*eventsv1.Event); ok {
				r.gone(e.UID)
			}
		},
	}
}

// run deletes acknowledged messages until ctx ends, and opens the relay:
// it runs with the agent, after the manager has synced its caches (which
// tell the executors that run here).
func (r *messageRelay) run(ctx context.Context) {
	go r.deleter.Run(ctx)
	r.start(ctx)
}

// start opens the relay: what it holds of the namespaces whose watch has
// synced is sent on (or dropped), and what arrives from now on, until ctx
// ends.
func (r *messageRelay) start(ctx context.Context) {
	r.mu.Lock()
	r.open, r.ctx = true, ctx
	r.mu.Unlock()
	r.release(func(string) bool { return true })
}

// namespaceSynced marks namespace ns's watch as having taken its first list, and
// sends on what waits there.
func (r *messageRelay) namespaceSynced(ns string) {
	r.mu.Lock()
	r.synced[ns] = true
	r.mu.Unlock()
	r.release(func(n string) bool { return n == ns })
}

// namespaceStopped forgets namespace ns, whose watch ended: no executor
// runs there any more, and a watch started again lists what is left.
func (r *messageRelay) namespaceStopped(ns string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.synced, ns)
	for k, q := range r.queues {
		if k.Namespace != ns {
			continue
		}
		for _, m := range q.msgs {
			delete(r.byUID, m.UID)
		}
		delete(r.queues, k)
	}
}

// release streams, in order, what the relay holds for the executors of
// the namespaces in, once the relay is open and their namespaces synced,
// and drops the messages of executors that do not run here.
func (r *messageRelay) release(in func(ns string) bool) {
	r.mu.Lock()
	if !r.open {
		r.mu.Unlock()
		return
	}
	ctx := r.ctx
	var keys []ExecutorKey
	for k := range r.queues {
		if in(k.Namespace) && r.synced[k.Namespace] {
			keys = append(keys, k)
		}
	}
	r.mu.Unlock()
	for _, k := range keys {
		since, ok := r.runs(ctx, k)
		if !ok {
			r.drop(k, "dropping the messages of an executor that does not run on this agent")
			continue
		}
		r.dropStale(k, since)
		r.flush(k)
	}
}

// stale reports whether m was sent to an earlier run of an executor that
// started at since: a Mesos agent drops a message to an executor that does
// not run, and a later executor of the same ID must not get it.
func stale(m messages.Message, since time.Time) bool {
	return !since.IsZero() && m.Time.Before(since.Add(-staleMargin))
}

// dropStale deletes the messages held for executor k that were sent
// before its run that started at since.
func (r *messageRelay) dropStale(k ExecutorKey, since time.Time) {
	for _, m := range r.take(k, func(m messages.Message) bool { return stale(m, since) }) {
		r.log.Info("dropping a message sent before its executor started on this agent", "executor", k.String(), "sender", m.Sender, "sequence", m.Sequence)
		r.deleter.Delete(k.Namespace, m)
	}
}

// take removes from executor k's queue the messages that match, and
// returns them.
func (r *messageRelay) take(k ExecutorKey, match func(messages.Message) bool) []messages.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.queues[k]
	if q == nil {
		return nil
	}
	var out []messages.Message
	kept := q.msgs[:0]
	for _, m := range q.msgs {
		if match(m) {
			out = append(out, m)
			delete(r.byUID, m.UID)
			continue
		}
		kept = append(kept, m)
	}
	q.msgs = kept
	if len(q.msgs) == 0 {
		delete(r.queues, k)
	}
	return out
}

// arrived takes a message Event from the cache.
func (r *messageRelay) arrived(e *eventsv1.Event) {
	m, err := messages.Parse(e)
	if err != nil || m.To != kmv1.MessageToExecutor || m.ExecutorID == "" {
		r.log.Info("dropping a malformed scheduler message", "event", e.Namespace+"/"+e.Name, "error", fmt.Sprint(err))
		r.deleter.Delete(e.Namespace, messages.Message{EventName: e.Name, UID: e.UID})
		return
	}
	k := ExecutorKey{Namespace: e.Namespace, Framework: m.Framework, ExecutorID: m.ExecutorID}
	r.mu.Lock()
	open, ctx := r.open && r.synced[k.Namespace], r.ctx
	r.mu.Unlock()
	if open {
		since, ok := r.runs(ctx, k)
		if !ok || stale(m, since) {
			r.log.Info("dropping a message for an executor that does not run on this agent (or ran before)", "executor", k.String(), "sender", m.Sender, "sequence", m.Sequence)
			r.deleter.Delete(e.Namespace, m)
			return
		}
	}
	r.mu.Lock()
	q := r.queues[k]
	if q == nil {
		q = &messageQueue{sent: map[string]uint64{}}
		r.queues[k] = q
	}
	for _, p := range q.msgs {
		if p.Sender == m.Sender && p.Sequence == m.Sequence {
			r.mu.Unlock()
			if p.UID != m.UID { // a send retried after it was stored
				r.deleter.Delete(e.Namespace, m)
			}
			return
		}
	}
	q.msgs = append(q.msgs, m)
	messages.Sort(q.msgs)
	r.byUID[m.UID] = k
	openedSince := !open && r.open && r.synced[k.Namespace]
	r.mu.Unlock()
	if openedSince {
		// Its namespace's first list (or the agent's start) was released
		// between the check above and the queueing, without it: release
		// again, so that it is checked and sent on. While still closed, it
		// waits for that release.
		r.release(func(ns string) bool { return ns == k.Namespace })
		return
	}
	r.flush(k)
}

// gone forgets a message whose Event was deleted (acknowledged, expired or
// removed by hand).
func (r *messageRelay) gone(uid types.UID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, ok := r.byUID[uid]
	if !ok {
		return
	}
	delete(r.byUID, uid)
	q := r.queues[k]
	if q == nil {
		return
	}
	for i, m := range q.msgs {
		if m.UID == uid {
			q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
			break
		}
	}
	if len(q.msgs) == 0 {
		delete(r.queues, k)
	}
}

// maxMessagesInFlight bounds the messages sent on a stream and not yet
// acknowledged; the others wait for acknowledgements. A backlog (a
// scheduler that sent many while its executor was away) would otherwise
// fill the stream's queue the moment the executor subscribed, which drops
// the stream, again at each subscription.
const maxMessagesInFlight = 256

// flush streams to executor k, in order, the messages that its current
// subscription has not been sent, as many as maxMessagesInFlight allows.
func (r *messageRelay) flush(k ExecutorKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.queues[k]
	if !r.open || !r.synced[k.Namespace] || q == nil {
		return
	}
	gen, ok := r.server.Subscription(k)
	if !ok {
		return
	}
	if q.gen != gen { // a new stream: what went on the old one may be lost
		q.gen, q.sent = gen, map[string]uint64{}
	}
	inFlight := 0
	for _, m := range q.msgs {
		if m.Sequence <= q.sent[m.Sender] {
			inFlight++
		}
	}
	for _, m := range q.msgs {
		if m.Sequence <= q.sent[m.Sender] {
			continue
		}
		if inFlight >= maxMessagesInFlight {
			return // more once the executor acknowledges some
		}
		ev := executorapi.Event{Type: executorapi.EventMessage, Message: &executorapi.Message{Data: m.Data, Sender: m.Sender, Sequence: m.Sequence}}
		if !r.server.SendOn(k, gen, ev) {
			return // the executor catches up when it subscribes again
		}
		q.sent[m.Sender] = m.Sequence
		inFlight++
	}
}

// acknowledge drops the messages that executor k has taken and deletes
// their Events.
func (r *messageRelay) acknowledge(k ExecutorKey, ids []executorapi.MessageID) {
	upTo := map[string]uint64{}
	for _, id := range ids {
		upTo[id.Sender] = max(upTo[id.Sender], id.Sequence)
	}
	for _, m := range r.take(k, func(m messages.Message) bool { return m.Sequence <= upTo[m.Sender] }) {
		r.deleter.Delete(k.Namespace, m)
	}
	r.flush(k) // the next ones, which waited for room
}

// drop deletes the messages that wait for executor k, which has ended or
// never ran here, and logs why.
func (r *messageRelay) drop(k ExecutorKey, why string) {
	msgs := r.take(k, func(messages.Message) bool { return true })
	if len(msgs) == 0 {
		return
	}
	r.log.Info(why, "executor", k.String(), "messages", len(msgs))
	for _, m := range msgs {
		r.deleter.Delete(k.Namespace, m)
	}
}
