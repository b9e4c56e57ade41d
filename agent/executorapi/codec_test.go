package executorapi

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseCall(t *testing.T) {
	good := `{"type":"UPDATE","namespace":"ns","framework":"mc","executor_id":"e","update":{"status":{"task_id":"t","state":"TASK_RUNNING","uuid":"u"}}}`
	cases := []struct {
		name, body, want string
	}{
		{name: "update", body: good},
		{name: "subscribe", body: `{"type":"SUBSCRIBE","namespace":"ns","framework":"mc","executor_id":"e"}`},
		{name: "message", body: `{"type":"MESSAGE","namespace":"ns","framework":"mc","executor_id":"e","message":{"data":"hi"}}`},
		{name: "not json", body: `hello`, want: "malformed call"},
		{name: "truncated", body: good[:40], want: "malformed call"},
		{name: "unknown field", body: `{"type":"SUBSCRIBE","namespace":"ns","framework":"mc","executor_id":"e","bogus":1}`, want: "unknown field"},
		{name: "trailing data", body: `{"type":"SUBSCRIBE","namespace":"ns","framework":"mc","executor_id":"e"} {}`, want: "extra data"},
		{name: "no type", body: `{"namespace":"ns","framework":"mc","executor_id":"e"}`, want: "lacks a type"},
		{name: "bad type", body: `{"type":"LAUNCH","namespace":"ns","framework":"mc","executor_id":"e"}`, want: `unknown call type "LAUNCH"`},
		{name: "no identity", body: `{"type":"SUBSCRIBE"}`, want: "lacks namespace, framework, executor_id"},
		{name: "update without status", body: `{"type":"UPDATE","namespace":"ns","framework":"mc","executor_id":"e"}`, want: "needs an update"},
		{name: "bad state", body: strings.Replace(good, "TASK_RUNNING", "RUNNING", 1), want: `state "RUNNING"`},
		{name: "staging is the master's", body: strings.Replace(good, "TASK_RUNNING", "TASK_STAGING", 1), want: `state "TASK_STAGING"`},
		{name: "no uuid", body: strings.Replace(good, `"uuid":"u"`, `"uuid":""`, 1), want: "uuid is empty"},
		{name: "too many unacknowledged updates", body: `{"type":"SUBSCRIBE","namespace":"ns","framework":"mc","executor_id":"e","subscribe":{"unacknowledged_updates":[` +
			strings.TrimSuffix(strings.Repeat(`{"task_id":"t","state":"TASK_RUNNING","uuid":"u"},`, MaxUnacknowledgedUpdates+1), ",") + `]}}`, want: "at most 128"},
		{name: "too many unacknowledged tasks", body: `{"type":"SUBSCRIBE","namespace":"ns","framework":"mc","executor_id":"e","subscribe":{"unacknowledged_tasks":[` +
			strings.TrimSuffix(strings.Repeat(`"t",`, MaxUnacknowledgedTasks+1), ",") + `]}}`, want: "at most 1024"},
		{name: "message in order", body: `{"type":"MESSAGE","namespace":"ns","framework":"mc","executor_id":"e","message":{"data":"hi","sender":"a1b2","sequence":3}}`},
		{name: "message of 1024 bytes", body: `{"type":"MESSAGE","namespace":"ns","framework":"mc","executor_id":"e","message":{"data":"` + strings.Repeat("é", MaxFrameworkMessageLength/2) + `"}}`},
		{name: "message over 1024 bytes", body: `{"type":"MESSAGE","namespace":"ns","framework":"mc","executor_id":"e","message":{"data":"` + strings.Repeat("x", MaxFrameworkMessageLength+1) + `"}}`,
			want: "data has 1025 bytes; a framework message holds at most 1024"},
		{name: "message sender without sequence", body: `{"type":"MESSAGE","namespace":"ns","framework":"mc","executor_id":"e","message":{"data":"hi","sender":"a"}}`,
			want: "sender and sequence go together"},
		{name: "message sequence without sender", body: `{"type":"MESSAGE","namespace":"ns","framework":"mc","executor_id":"e","message":{"data":"hi","sequence":1}}`,
			want: "sender and sequence go together"},
		{name: "message sender not a name", body: `{"type":"MESSAGE","namespace":"ns","framework":"mc","executor_id":"e","message":{"data":"hi","sender":"A/b","sequence":1}}`,
			want: `sender "A/b"`},
		{name: "message without a message", body: `{"type":"MESSAGE","namespace":"ns","framework":"mc","executor_id":"e"}`, want: "needs a message"},
		{name: "acknowledge messages", body: `{"type":"ACKNOWLEDGE_MESSAGES","namespace":"ns","framework":"mc","executor_id":"e","acknowledge_messages":{"messages":[{"sender":"a1","sequence":4}]}}`},
		{name: "acknowledge nothing", body: `{"type":"ACKNOWLEDGE_MESSAGES","namespace":"ns","framework":"mc","executor_id":"e","acknowledge_messages":{"messages":[]}}`,
			want: "needs acknowledge_messages.messages"},
		{name: "acknowledge no sender", body: `{"type":"ACKNOWLEDGE_MESSAGES","namespace":"ns","framework":"mc","executor_id":"e","acknowledge_messages":{"messages":[{"sequence":4}]}}`,
			want: "messages[0]"},
		{name: "acknowledge sequence 0", body: `{"type":"ACKNOWLEDGE_MESSAGES","namespace":"ns","framework":"mc","executor_id":"e","acknowledge_messages":{"messages":[{"sender":"a"}]}}`,
			want: "messages[0]"},
		{name: "acknowledge too many senders", body: `{"type":"ACKNOWLEDGE_MESSAGES","namespace":"ns","framework":"mc","executor_id":"e","acknowledge_messages":{"messages":[` +
			strings.TrimSuffix(strings.Repeat(`{"sender":"a","sequence":1},`, MaxAcknowledgedSenders+1), ",") + `]}}`, want: "at most 128"},
		{name: "too big", body: `{"type":"MESSAGE","namespace":"ns","framework":"mc","executor_id":"e","message":{"data":"` + strings.Repeat("x", MaxCallBytes) + `"}}`, want: "the limit is"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCall([]byte(tc.body))
			if tc.want == "" && err != nil {
				t.Fatalf("refused a good call: %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestValidateMessageData: what an SDK checks before it sends a message,
// since JSON would replace bytes that are not UTF-8 without a word.
func TestValidateMessageData(t *testing.T) {
	for data, want := range map[string]string{
		"":                         "",
		"hello":                    "",
		strings.Repeat("x", 1024):  "",
		strings.Repeat("x", 1025):  "1025 bytes",
		strings.Repeat("é", 513):   "1026 bytes",
		"caf\xe9":                  "not valid UTF-8",
		string([]byte{0xff, 0x00}): "not valid UTF-8",
	} {
		err := ValidateMessageData(data)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%q: got %v, want %q", data, err, want)
		}
	}
}

func TestRecordIORoundTrip(t *testing.T) {
	var buf bytes.Buffer
	events := []Event{{Type: EventSubscribed, Subscribed: &Subscribed{AgentID: "a"}}, {Type: EventAcknowledged, Acknowledged: &Acknowledged{TaskID: "t", UUID: "u"}}}
	for _, e := range events {
		if err := WriteRecord(&buf, e); err != nil {
			t.Fatal(err)
		}
	}
	rr := NewRecordReader(&buf)
	for _, want := range events {
		var got Event
		if err := rr.Read(&got); err != nil {
			t.Fatal(err)
		}
		if got.Type != want.Type {
			t.Errorf("read %s, want %s", got.Type, want.Type)
		}
	}
	if err := NewRecordReader(strings.NewReader("x\n{}")).Read(&Event{}); err == nil {
		t.Error("a bad length was accepted")
	}
}

// FuzzParseCall: no input crashes the decoder, and whatever it accepts is
// a valid call.
func FuzzParseCall(f *testing.F) {
	for _, s := range []string{
		`{"type":"SUBSCRIBE","namespace":"ns","framework":"mc","executor_id":"e"}`,
		`{"type":"UPDATE","namespace":"ns","framework":"mc","executor_id":"e","update":{"status":{"task_id":"t","state":"TASK_FINISHED","uuid":"u","data":"42"}}}`,
		`{"type":"MESSAGE","namespace":"ns","framework":"mc","executor_id":"e","message":{"data":""}}`,
		`{"type":"SUBSCRIBE","namespace":"ns","framework":"mc","executor_id":"e","subscribe":{"unacknowledged_updates":[{"task_id":"t","state":"TASK_RUNNING","uuid":"u"}]}}`,
		`{}`, `[]`, `null`, `{"type":1}`, "\x00\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := ParseCall(body)
		if err != nil {
			if c != nil {
				t.Fatal("a call and an error")
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted an invalid call: %v", err)
		}
	})
}
