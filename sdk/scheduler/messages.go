package scheduler

import (
	"errors"
	"fmt"
	"sync"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/lru"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/messages"
)

// maxSenders bounds the senders whose last delivered message the driver
// remembers (one per executor driver that has sent to it).
const maxSenders = 4096

// sendBackoff is how a message is sent again after a failure that is not a
// refusal (the API server is busy, restarting or out of reach): about 10 s
// in all.
var sendBackoff = wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 8, Cap: 5 * time.Second}

// inbox holds the messages that have arrived for the scheduler and hands
// each out once, in its sender's order. Until it is opened it only collects:
// an informer's first list comes in no useful order. Once open, a message
// is ready as soon as it arrives, since its sender stored the one before it
// first, and a watch delivers a namespace's Events in the order they were
// stored.
type inbox struct {
	mu      sync.Mutex
	open    bool
	pending map[messageID]messages.Message
	byUID   map[types.UID]messageID
	last    *lru.Cache // sender -> the highest sequence handed out (uint64)
}

// messageID names a message by its sender and sequence.
type messageID struct {
	sender   string
	sequence uint64
}

func newInbox() *inbox {
	return &inbox{pending: map[messageID]messages.Message{}, byUID: map[types.UID]messageID{}, last: lru.New(maxSenders)}
}

// add takes m. It reports false when m repeats a message already handed
// out or pending (a send that was retried after its first try was stored):
// the caller deletes its Event.
func (b *inbox) add(m messages.Message) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if last, ok := b.last.Get(m.Sender); ok && m.Sequence <= last.(uint64) {
		return false
	}
	id := messageID{m.Sender, m.Sequence}
	if p, ok := b.pending[id]; ok {
		return p.UID == m.UID
	}
	b.pending[id] = m
	b.byUID[m.UID] = id
	return true
}

// forget drops a pending message whose Event is gone (delivered by another
// instance, or expired).
func (b *inbox) forget(uid types.UID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if id, ok := b.byUID[uid]; ok {
		delete(b.byUID, uid)
		delete(b.pending, id)
	}
}

// take hands out, under the inbox's lock, what is ready, in delivery
// order: nothing before the inbox is open. deliver runs for each message
// in turn, so that deliveries queued from two goroutines do not interleave.
func (b *inbox) take(open bool, deliver func(messages.Message)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.open = b.open || open
	if !b.open || len(b.pending) == 0 {
		return
	}
	ready := make([]messages.Message, 0, len(b.pending))
	for _, m := range b.pending {
		ready = append(ready, m)
	}
	clear(b.pending)
	clear(b.byUID)
	messages.Sort(ready)
	for _, m := range ready {
		b.last.Add(m.Sender, m.Sequence)
		deliver(m)
	}
}

// messageGone forgets a message whose Event was deleted before this
// instance delivered it: a standby's inbox holds only what is still stored.
func (d *Driver) messageGone(obj any) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if e, ok := obj.(*eventsv1.Event); ok {
		d.inbox.forget(e.UID)
	}
}

// messageArrived takes a message that an executor sent (an Event that its
// agent created) and delivers what is ready.
func (d *Driver) messageArrived(e *eventsv1.Event) {
	m, err := messages.Parse(e)
	if err != nil {
		d.log().Info("dropping a malformed framework message", "event", e.Namespace+"/"+e.Name, "error", err.Error())
		d.deleter.Delete(e.Namespace, messages.Message{EventName: e.Name, UID: e.UID})
		return
	}
	if !d.inbox.add(m) {
		d.log().V(1).Info("dropping a repeated framework message", "sender", m.Sender, "sequence", m.Sequence)
		d.deleter.Delete(e.Namespace, m)
		return
	}
	d.deliverMessages(false)
}

// deliverMessages queues a FrameworkMessage callback for each message that
// is ready, in order; open starts delivery (once this instance is active and
// has seen every message stored before). A message's Event is deleted once
// its callback has returned: a scheduler that fails over before then
// delivers it again.
func (d *Driver) deliverMessages(open bool) {
	d.inbox.take(open, func(m messages.Message) {
		d.call(func() {
			d.sched.FrameworkMessage(d, m.ExecutorID, m.AgentID, m.Data)
			d.deleter.Delete(d.cfg.Namespace, m)
		})
	})
}

// learnAgent records the node of agentID, from a task or an offer of this
// framework: where messages to that agent's executors go.
func (d *Driver) learnAgent(agentID, node string) {
	if agentID == "" || node == "" {
		return
	}
	d.mu.Lock()
	d.agentNodes[agentID] = node
	d.mu.Unlock()
}

// SendFrameworkMessage sends data to executor executorID on agent agentID.
// It returns once the message is stored in the API server, from where the
// agent of that node streams it to the executor: each message once, in the
// order this driver sent them. A message for an executor that the agent
// does not run is dropped, as in Mesos; one for an executor that is starting
// waits until it subscribes. data is UTF-8 of at most 1024 bytes (what an
// Event's note holds); a larger message is an error, and nothing is sent.
//
// The agent's node is found from this framework's own tasks and offers on
// it (no cluster-scoped read): an agent that none of them names cannot be
// reached.
func (d *Driver) SendFrameworkMessage(executorID, agentID, data string) error {
	if executorID == "" {
		return errors.New("sending a framework message: no executor named")
	}
	if !d.isActive() {
		return ErrNotActive
	}
	if err := executorapi.ValidateMessageData(data); err != nil {
		return fmt.Errorf("sending a framework message to executor %s: %w", executorID, err)
	}
	d.mu.Lock()
	node := d.agentNodes[agentID]
	d.mu.Unlock()
	if node == "" {
		return fmt.Errorf("sending a framework message to executor %s: no task or offer of framework %s is on agent %q", executorID, d.cfg.Framework, agentID)
	}
	fw := d.Framework()
	// One message at a time: the next is stored only after this one,
	// which is what keeps them in order.
	d.sendMu.Lock()
	defer d.sendMu.Unlock()
	d.sent++
	m := messages.Message{To: kmv1.MessageToExecutor, Framework: d.cfg.Framework, Node: node, ExecutorID: executorID,
		Sender: d.sender, Sequence: d.sent, Data: data, Time: time.Now()}
	ev := messages.Event(d.cfg.Namespace, fw.UID, m, messages.ControllerScheduler, d.cfg.Identity)
	err := retry.OnError(sendBackoff, func(err error) bool { return d.ctx.Err() == nil && !refused(err) }, func() error {
		err := d.c.Create(d.ctx, ev.DeepCopy())
		if apierrors.IsAlreadyExists(err) {
			return nil // an earlier try was stored
		}
		return err
	})
	if err != nil {
		// The sequence number stays taken: a try that failed may still
		// have been stored, and receivers pass over a gap.
		return fmt.Errorf("sending framework message %d to executor %s on agent %s: %w", m.Sequence, executorID, agentID, err)
	}
	return nil
}

// refused reports whether the API server refused a request for good, as
// opposed to failing it for now.
func refused(err error) bool {
	return apierrors.IsInvalid(err) || apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || apierrors.IsNotFound(err) ||
		apierrors.IsBadRequest(err) || apierrors.IsMethodNotSupported(err) || apierrors.IsRequestEntityTooLargeError(err)
}
