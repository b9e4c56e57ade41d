package mesosapi

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	"github.com/kubemesos/kubemesos/internal/messages"
)

// streamQueue is how many events may wait for a slow subscriber; a
// subscriber that falls further behind is disconnected, and finds its
// state again when it subscribes anew.
const streamQueue = 1024

// stream is one open subscription: a framework's event stream.
type stream struct {
	// id is the Mesos-Stream-Id.
	id string
	// frameworkID is the Framework's UID; namespace and name its object.
	frameworkID     string
	namespace, name string
	// info is the FrameworkInfo of the subscription (UPDATE_FRAMEWORK
	// replaces it); read it through frameworkInfo.
	info *mesosv1.FrameworkInfo

	// mu guards info, pending, lastUpdate and offers: the Offers sent on this stream, true once the
	// stream declined or accepted one (its deletion is then no rescind).
	mu     sync.Mutex
	offers map[string]bool
	// pending are the updates sent and not acknowledged, by uuid.
	pending map[string]*pending
	// lastUpdate is the uuid of the latest update sent of each task,
	// acknowledged or not, so that an acknowledged update is not sent
	// again when its Task is read again before the acknowledgement is on
	// it (an event of the same status queued meanwhile, another change).
	lastUpdate map[types.NamespacedName]string

	// sender names the framework messages sent on this stream, sent
	// their count; sendMu keeps them in order.
	sendMu sync.Mutex
	sender string
	sent   uint64
	// arrived is signalled when messages from executors may wait for
	// this stream.
	arrived chan struct{}

	events chan *schedulerv1.Event
	done   chan struct{}
	once   sync.Once
	// last is the event written before the stream closes, if any.
	last *schedulerv1.Event
}

func newStream(id, frameworkID, namespace, name string, info *mesosv1.FrameworkInfo) *stream {
	return &stream{id: id, frameworkID: frameworkID, namespace: namespace, name: name, info: info, offers: map[string]bool{}, pending: map[string]*pending{}, lastUpdate: map[types.NamespacedName]string{},
		sender: messages.NewSender(), arrived: make(chan struct{}, 1),
		events: make(chan *schedulerv1.Event, streamQueue), done: make(chan struct{})}
}

// send queues an event. A stream whose queue is full is closed with an
// ERROR event; it reports false then, and once closed.
func (st *stream) send(e *schedulerv1.Event) bool {
	select {
	case <-st.done:
		return false
	default:
	}
	select {
	case st.events <- e:
		return true
	default:
		st.close(errorEvent("The event stream fell too far behind; subscribe again"))
		return false
	}
}

// sendWait queues an event, waiting for room while the stream is open and
// ctx lasts, for a call that answers with many events at once (an
// implicit RECONCILE of many tasks): it reports whether the event was
// queued.
func (st *stream) sendWait(ctx context.Context, e *schedulerv1.Event) bool {
	select {
	case st.events <- e:
		return true
	case <-st.done:
		return false
	case <-ctx.Done():
		return false
	}
}

// messagesArrived tells the stream that messages from executors may wait
// for it.
func (st *stream) messagesArrived() {
	select {
	case st.arrived <- struct{}{}:
	default:
	}
}

// frameworkInfo returns the stream's current FrameworkInfo, which must
// not be changed.
func (st *stream) frameworkInfo() *mesosv1.FrameworkInfo {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.info
}

// offerSent records that an Offer is sent, reporting false when it
// already was.
func (st *stream) offerSent(name string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.offers[name]; ok {
		return false
	}
	st.offers[name] = false
	return true
}

// settle records that the stream declined or accepted an Offer it was
// sent; names it was not sent are not kept.
func (st *stream) settle(name string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, sent := st.offers[name]; sent {
		st.offers[name] = true
	}
}

// offerGone forgets a deleted Offer and reports whether it was sent on
// this stream and not settled by it: then it was rescinded.
func (st *stream) offerGone(name string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	settled, sent := st.offers[name]
	delete(st.offers, name)
	return sent && !settled
}

// addPending keeps an update until it is acknowledged, reporting false
// when it is kept already.
func (st *stream) addPending(u string, p *pending) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.pending[u]; ok {
		return false
	}
	st.pending[u] = p
	return true
}

// markSent records u as the latest update sent of task and keeps p until
// it is acknowledged; false when u was sent already on this stream. An
// earlier update of the task that was not acknowledged is sent no more:
// the later one says where the task is now, and sending the earlier again
// after it would take the task back in the scheduler's eyes.
func (st *stream) markSent(task types.NamespacedName, u string, p *pending) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	prev, ok := st.lastUpdate[task]
	if ok && prev == u {
		return false
	}
	if ok {
		delete(st.pending, prev)
	}
	st.lastUpdate[task] = u
	st.pending[u] = p
	return true
}

// forgetSent drops the record of task's update u once its acknowledgement
// is on the Task, which then keeps it from being sent again; with u empty,
// whatever update of the task it holds (the Task is gone).
func (st *stream) forgetSent(task types.NamespacedName, u string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if u == "" || st.lastUpdate[task] == u {
		delete(st.lastUpdate, task)
	}
}

// takePending forgets an acknowledged update and returns it.
func (st *stream) takePending(u string) *pending {
	st.mu.Lock()
	defer st.mu.Unlock()
	p := st.pending[u]
	delete(st.pending, u)
	return p
}

// duePending returns the updates due for a resend at now, and sets
// their next time.
func (st *stream) duePending(now time.Time) []*pending {
	st.mu.Lock()
	defer st.mu.Unlock()
	var due []*pending
	for _, p := range st.pending {
		if now.Before(p.due) {
			continue
		}
		p.backoff = min(2*p.backoff, resendMax)
		p.due = now.Add(p.backoff)
		due = append(due, p)
	}
	return due
}

// close ends the stream, with last as its final event when not nil.
func (st *stream) close(last *schedulerv1.Event) {
	st.once.Do(func() {
		st.last = last
		close(st.done)
	})
}

// closed reports whether the stream has ended.
func (st *stream) closed() bool {
	select {
	case <-st.done:
		return true
	default:
		return false
	}
}

// registry holds the open streams, one per framework: the newest.
type registry struct {
	mu   sync.Mutex
	byFw map[string]*stream
	// byObject is the same streams by their Framework object, for the
	// events of every Task and Offer, which name the object.
	byObject map[types.NamespacedName]*stream
}

func newRegistry() *registry {
	return &registry{byFw: map[string]*stream{}, byObject: map[types.NamespacedName]*stream{}}
}

// replace makes st its framework's stream and returns the one it
// replaced, if any.
func (r *registry) replace(st *stream) *stream {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.byFw[st.frameworkID]
	r.byFw[st.frameworkID] = st
	r.byObject[types.NamespacedName{Namespace: st.namespace, Name: st.name}] = st
	return old
}

// remove forgets st unless a newer stream replaced it.
func (r *registry) remove(st *stream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byFw[st.frameworkID] == st {
		delete(r.byFw, st.frameworkID)
	}
	key := types.NamespacedName{Namespace: st.namespace, Name: st.name}
	if r.byObject[key] == st {
		delete(r.byObject, key)
	}
}

// get returns the open stream of the framework frameworkID in namespace,
// or nil.
func (r *registry) get(frameworkID, namespace string) *stream {
	r.mu.Lock()
	st := r.byFw[frameworkID]
	r.mu.Unlock()
	if st == nil || st.namespace != namespace || st.closed() {
		return nil
	}
	return st
}

// ofObject returns the open stream of the Framework object namespace/name,
// or nil.
func (r *registry) ofObject(namespace, name string) *stream {
	r.mu.Lock()
	st := r.byObject[types.NamespacedName{Namespace: namespace, Name: name}]
	r.mu.Unlock()
	if st == nil || st.closed() {
		return nil
	}
	return st
}

// all returns the open streams.
func (r *registry) all() []*stream {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*stream, 0, len(r.byFw))
	for _, st := range r.byFw {
		out = append(out, st)
	}
	return out
}

// unacknowledged counts the updates sent on the open streams and not
// acknowledged yet.
func (r *registry) unacknowledged() int {
	n := 0
	for _, st := range r.all() {
		if st.closed() {
			continue
		}
		st.mu.Lock()
		n += len(st.pending)
		st.mu.Unlock()
	}
	return n
}

// closeAll closes every stream, as a master that stops closes its
// connections.
func (r *registry) closeAll() {
	for _, st := range r.all() {
		st.close(nil)
	}
}

// errorEvent is an ERROR event with message.
func errorEvent(message string) *schedulerv1.Event {
	return &schedulerv1.Event{Type: schedulerv1.Event_ERROR.Enum(), Error: &schedulerv1.Event_Error{Message: &message}}
}
