package executor

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/kubemesos/kubemesos/agent/executorapi"
)

// MaxOutbox bounds the messages that SendFrameworkMessage holds before the
// agent takes them (each at most executorapi.MaxFrameworkMessageLength).
const MaxOutbox = 1024

// messageState is the driver's side of framework messages: those it sends
// (in order, each kept until the agent takes it) and those it receives (each
// delivered once, acknowledged after its callback).
type messageState struct {
	sender string // this driver's sender ID
	seq    uint64 // the last sequence number given
	outbox []executorapi.Message
	// last is, per scheduler sender, the highest sequence delivered.
	last map[string]uint64
	// acks are, per scheduler sender, the highest sequence to acknowledge.
	acks map[string]uint64
	// wakeSend and wakeAck start a send or an acknowledgement.
	wakeSend, wakeAck chan struct{}
}

func newMessageState() messageState {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return messageState{sender: hex.EncodeToString(b[:]), last: map[string]uint64{}, acks: map[string]uint64{},
		wakeSend: make(chan struct{}, 1), wakeAck: make(chan struct{}, 1)}
}

func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// SendFrameworkMessage sends data to the scheduler. It returns at once:
// the driver sends its messages one at a time, in order, each until the
// agent takes it (through agent restarts, as it does status updates), and
// the scheduler's driver delivers each once, in that order. data is UTF-8
// of at most executorapi.MaxFrameworkMessageLength (1024) bytes; a larger
// message is an error, and nothing is sent. A message that the agent
// refuses is reported through Error. Messages not yet taken when the
// driver stops are lost.
func (d *Driver) SendFrameworkMessage(data string) error {
	if err := executorapi.ValidateMessageData(data); err != nil {
		return fmt.Errorf("sending a framework message: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.msgs.outbox) >= MaxOutbox {
		return fmt.Errorf("sending a framework message: %d messages wait for the agent already", MaxOutbox)
	}
	d.msgs.seq++
	d.msgs.outbox = append(d.msgs.outbox, executorapi.Message{Data: data, Sender: d.msgs.sender, Sequence: d.msgs.seq})
	wake(d.msgs.wakeSend)
	return nil
}

// sendMessages sends the outbox in order until the driver stops. A message
// is sent again, with the same sender and sequence, after a failure that
// is not its fault, so the agent stores it once.
func (d *Driver) sendMessages() {
	backoff := 200 * time.Millisecond
	for {
		d.mu.Lock()
		pending := len(d.msgs.outbox) > 0
		var m executorapi.Message
		if pending {
			m = d.msgs.outbox[0]
		}
		d.mu.Unlock()
		if !pending {
			select {
			case <-d.ctx.Done():
				return
			case <-d.msgs.wakeSend:
				continue
			}
		}
		retry, err := d.postMessage(m)
		if err != nil {
			d.callback(func() { d.exec.Error(d, err.Error()) })
		}
		if !retry {
			d.mu.Lock()
			d.msgs.outbox = d.msgs.outbox[1:]
			d.mu.Unlock()
			backoff = 200 * time.Millisecond
			continue
		}
		select {
		case <-d.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// postMessage sends one MESSAGE call. Like sendUpdate, a 4xx other than 408
// and 429 refuses the message for good; anything else is retried.
func (d *Driver) postMessage(m executorapi.Message) (retry bool, err error) {
	retry, refusal := d.send(executorapi.Call{Type: executorapi.CallMessage, Message: &m})
	if refusal != "" {
		return false, fmt.Errorf("the agent refused framework message %d: %s", m.Sequence, refusal)
	}
	return retry, nil
}

// messageReceived delivers a scheduler's message, unless it repeats one
// delivered before (the agent sends again what it holds unacknowledged
// when the executor subscribes again), and then acknowledges it.
func (d *Driver) messageReceived(m *executorapi.Message) {
	if m.Sender == "" {
		d.callback(func() { d.exec.FrameworkMessage(d, m.Data) })
		return
	}
	d.mu.Lock()
	repeat := m.Sequence <= d.msgs.last[m.Sender]
	d.mu.Unlock()
	if !repeat {
		d.callback(func() { d.exec.FrameworkMessage(d, m.Data) })
	}
	d.mu.Lock()
	if m.Sequence > d.msgs.last[m.Sender] {
		d.msgs.last[m.Sender] = m.Sequence
	}
	if m.Sequence > d.msgs.acks[m.Sender] {
		d.msgs.acks[m.Sender] = m.Sequence
	}
	d.mu.Unlock()
	wake(d.msgs.wakeAck)
}

// acknowledgeMessages tells the agent which messages were delivered, so
// that it stops keeping them: one call for all that were delivered since
// the last one, retried until the agent takes it.
func (d *Driver) acknowledgeMessages() {
	backoff := 200 * time.Millisecond
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.msgs.wakeAck:
		}
		d.mu.Lock()
		call := &executorapi.AcknowledgeMessages{}
		for sender, seq := range d.msgs.acks {
			if len(call.Messages) == executorapi.MaxAcknowledgedSenders {
				break // the rest in the next call
			}
			call.Messages = append(call.Messages, executorapi.MessageID{Sender: sender, Sequence: seq})
			delete(d.msgs.acks, sender)
		}
		d.mu.Unlock()
		if len(call.Messages) == 0 {
			continue
		}
		retry, err := d.postAcks(call)
		if err != nil {
			d.cfg.Log.Info("the agent refused a message acknowledgement", "error", err.Error())
		}
		d.mu.Lock()
		if retry {
			for _, id := range call.Messages {
				if id.Sequence > d.msgs.acks[id.Sender] {
					d.msgs.acks[id.Sender] = id.Sequence
				}
			}
		}
		more := len(d.msgs.acks) > 0
		d.mu.Unlock()
		if retry {
			select {
			case <-d.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
		} else {
			backoff = 200 * time.Millisecond
		}
		if more {
			wake(d.msgs.wakeAck)
		}
	}
}

// postAcks sends one ACKNOWLEDGE_MESSAGES call.
func (d *Driver) postAcks(a *executorapi.AcknowledgeMessages) (retry bool, err error) {
	resp, err := d.post(d.ctx, executorapi.Call{Type: executorapi.CallAcknowledgeMessages, AcknowledgeMessages: a})
	if err != nil {
		return d.ctx.Err() == nil, nil
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusAccepted:
		return false, nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusRequestTimeout:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return false, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
	default:
		return true, nil
	}
}
