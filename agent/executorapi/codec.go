package executorapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/kubemesos/kubemesos/internal/mesosjson"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
	"github.com/kubemesos/kubemesos/internal/recordio"
)

// What a Task's status can store (the CRD's limits): an update that does
// not fit is refused when it is made, never accepted and lost later. A test
// holds these to the generated CRD.
const (
	MaxTaskIDLength  = 253
	MaxUUIDLength    = 128
	MaxReasonLength  = 64
	MaxMessageLength = 32768
	MaxDataLength    = 65536
)

// Framework messages (MESSAGE calls and events). A message travels as an
// Event's note, which holds 1024 bytes (the API server's limit), so a
// larger one is refused when it is sent, never accepted and lost later.
const (
	MaxFrameworkMessageLength = 1024
	MaxMessageSenderLength    = 64
	// MaxAcknowledgedSenders bounds the senders of one
	// ACKNOWLEDGE_MESSAGES call.
	MaxAcknowledgedSenders = 128
)

// senderPattern is what a message sender may be: lower-case letters,
// digits and dashes, which fit an Event's name.
var senderPattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// reasonPattern is the CRD's pattern for a TaskReason.
var reasonPattern = regexp.MustCompile(`^REASON_[A-Z0-9_]+$`)

// validStates are the task states an executor may report.
var validStates = map[string]bool{
	"TASK_STARTING": true, "TASK_RUNNING": true, "TASK_KILLING": true, "TASK_FINISHED": true,
	"TASK_FAILED": true, "TASK_KILLED": true, "TASK_ERROR": true, "TASK_LOST": true, "TASK_DROPPED": true,
}

// ParseCall decodes and validates one call. Every error says what is wrong,
// for a 400 response.
func ParseCall(body []byte) (*Call, error) {
	if len(body) > MaxCallBytes {
		return nil, fmt.Errorf("the call is %d bytes; the limit is %d", len(body), MaxCallBytes)
	}
	if err := mesosjson.CheckStructure(body, 0, mesoswire.MaxCallElements); err != nil {
		return nil, fmt.Errorf("malformed call: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var c Call
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("malformed call: %w", err)
	}
	if dec.More() {
		return nil, errors.New("malformed call: extra data after the JSON object")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// NamesNamespace reports whether body is a JSON object with a "namespace"
// member: a call in the kubemesos form (a Mesos call has no such field),
// which SDK executors built before MediaType existed send as
// application/json.
func NamesNamespace(body []byte) bool {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return false
	}
	_, ok := top["namespace"]
	return ok
}

// Validate checks that the call names its executor and carries the body
// its type needs.
func (c *Call) Validate() error {
	var missing []string
	if c.Namespace == "" {
		missing = append(missing, "namespace")
	}
	if c.Framework == "" {
		missing = append(missing, "framework")
	}
	if c.ExecutorID == "" {
		missing = append(missing, "executor_id")
	}
	if len(missing) > 0 {
		return fmt.Errorf("the call lacks %s", strings.Join(missing, ", "))
	}
	switch c.Type {
	case CallSubscribe:
		if c.Subscribe != nil {
			if n := len(c.Subscribe.UnacknowledgedTasks); n > MaxUnacknowledgedTasks {
				return fmt.Errorf("subscribe carries %d unacknowledged tasks; at most %d", n, MaxUnacknowledgedTasks)
			}
			if n := len(c.Subscribe.UnacknowledgedUpdates); n > MaxUnacknowledgedUpdates {
				return fmt.Errorf("subscribe carries %d unacknowledged updates; at most %d (send the others as UPDATE calls once subscribed)", n, MaxUnacknowledgedUpdates)
			}
			for i := range c.Subscribe.UnacknowledgedUpdates {
				if err := c.Subscribe.UnacknowledgedUpdates[i].Validate(); err != nil {
					return fmt.Errorf("subscribe.unacknowledged_updates[%d]: %w", i, err)
				}
			}
		}
	case CallUpdate:
		if c.Update == nil {
			return errors.New("an UPDATE call needs an update")
		}
		if err := c.Update.Status.Validate(); err != nil {
			return fmt.Errorf("update.status: %w", err)
		}
	case CallMessage:
		if c.Message == nil {
			return errors.New("a MESSAGE call needs a message")
		}
		if err := c.Message.Validate(); err != nil {
			return fmt.Errorf("message: %w", err)
		}
	case CallAcknowledgeMessages:
		if c.AcknowledgeMessages == nil || len(c.AcknowledgeMessages.Messages) == 0 {
			return errors.New("an ACKNOWLEDGE_MESSAGES call needs acknowledge_messages.messages")
		}
		if n := len(c.AcknowledgeMessages.Messages); n > MaxAcknowledgedSenders {
			return fmt.Errorf("acknowledge_messages names %d senders; at most %d", n, MaxAcknowledgedSenders)
		}
		for i, id := range c.AcknowledgeMessages.Messages {
			if err := validateSender(id.Sender, id.Sequence); err != nil || id.Sender == "" {
				if err == nil {
					err = errors.New("sender is empty")
				}
				return fmt.Errorf("acknowledge_messages.messages[%d]: %w", i, err)
			}
		}
	case "":
		return errors.New("the call lacks a type (SUBSCRIBE, UPDATE, MESSAGE or ACKNOWLEDGE_MESSAGES)")
	default:
		return fmt.Errorf("unknown call type %q; want SUBSCRIBE, UPDATE, MESSAGE or ACKNOWLEDGE_MESSAGES", c.Type)
	}
	return nil
}

// Validate checks a task status from an executor.
func (s *TaskStatus) Validate() error {
	switch {
	case s.TaskID == "":
		return errors.New("task_id is empty")
	case s.UUID == "":
		return errors.New("uuid is empty")
	case !validStates[s.State]:
		return fmt.Errorf("state %q is not a task state an executor reports (TASK_STARTING, TASK_RUNNING, TASK_FINISHED, ...)", s.State)
	case s.Reason != "" && (!reasonPattern.MatchString(s.Reason) || len(s.Reason) > MaxReasonLength):
		return fmt.Errorf("reason %q is not REASON_ followed by capitals, digits and underscores (at most %d characters)", s.Reason, MaxReasonLength)
	case len(s.TaskID) > MaxTaskIDLength:
		return fmt.Errorf("task_id has %d characters; a task name has at most %d", len(s.TaskID), MaxTaskIDLength)
	case len(s.UUID) > MaxUUIDLength:
		return fmt.Errorf("uuid has %d characters; at most %d", len(s.UUID), MaxUUIDLength)
	case len(s.Message) > MaxMessageLength:
		return fmt.Errorf("message has %d bytes; a task status holds at most %d", len(s.Message), MaxMessageLength)
	case len(s.Data) > MaxDataLength:
		return fmt.Errorf("data has %d bytes; a task status holds at most %d", len(s.Data), MaxDataLength)
	}
	return nil
}

// Validate checks a framework message: its data fits an Event's note, and
// it has both a sender and a sequence number or neither.
func (m *Message) Validate() error {
	if err := ValidateMessageData(m.Data); err != nil {
		return err
	}
	return validateSender(m.Sender, m.Sequence)
}

// ValidateMessageData checks that data can travel as a framework message:
// valid UTF-8 of at most MaxFrameworkMessageLength bytes.
func ValidateMessageData(data string) error {
	if len(data) > MaxFrameworkMessageLength {
		return fmt.Errorf("data has %d bytes; a framework message holds at most %d (an Event's note)", len(data), MaxFrameworkMessageLength)
	}
	if !utf8.ValidString(data) {
		return errors.New("data is not valid UTF-8")
	}
	return nil
}

func validateSender(sender string, seq uint64) error {
	switch {
	case sender == "" && seq == 0:
		return nil
	case sender == "" || seq == 0:
		return errors.New("sender and sequence go together: give both (sequence from 1) or neither")
	case len(sender) > MaxMessageSenderLength || !senderPattern.MatchString(sender):
		return fmt.Errorf("sender %q is not lower-case letters, digits and dashes (at most %d characters)", sender, MaxMessageSenderLength)
	}
	return nil
}

// MaxEventBytes bounds one event that a RecordReader accepts.
const MaxEventBytes = 4 * MaxCallBytes

// WriteRecord writes v's JSON as one RecordIO record, in one write, and
// flushes it (see recordio.Writer), so that an HTTP stream carries each
// event as one chunk as soon as it is written.
func WriteRecord(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding a record: %w", err)
	}
	return recordio.NewWriter(w).WriteRecord(b)
}

// RecordReader reads JSON records from a RecordIO stream.
type RecordReader struct {
	r *recordio.Reader
}

// NewRecordReader reads records from r, each of at most MaxEventBytes.
func NewRecordReader(r io.Reader) *RecordReader {
	return &RecordReader{r: recordio.NewReader(r, MaxEventBytes)}
}

// Read reads the next record into v. At the clean end of the stream it
// returns io.EOF.
func (rr *RecordReader) Read(v any) error {
	b, err := rr.r.ReadRecord()
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decoding a record: %w", err)
	}
	return nil
}
