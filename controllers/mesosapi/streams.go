package mesosapi

import (
	"sync"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
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
	// info is the FrameworkInfo of the subscription.
	info *mesosv1.FrameworkInfo

	events chan *schedulerv1.Event
	done   chan struct{}
	once   sync.Once
	// last is the event written before the stream closes, if any.
	last *schedulerv1.Event
}

func newStream(id, frameworkID, namespace, name string, info *mesosv1.FrameworkInfo) *stream {
	return &stream{id: id, frameworkID: frameworkID, namespace: namespace, name: name, info: info,
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
}

func newRegistry() *registry { return &registry{byFw: map[string]*stream{}} }

// replace makes st its framework's stream and returns the one it
// replaced, if any.
func (r *registry) replace(st *stream) *stream {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.byFw[st.frameworkID]
	r.byFw[st.frameworkID] = st
	return old
}

// remove forgets st unless a newer stream replaced it.
func (r *registry) remove(st *stream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byFw[st.frameworkID] == st {
		delete(r.byFw, st.frameworkID)
	}
}

// get returns a framework's open stream, or nil.
func (r *registry) get(frameworkID string) *stream {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byFw[frameworkID]
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
