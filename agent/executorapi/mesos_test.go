package executorapi

import (
	"net/http"
	"testing"

	"google.golang.org/protobuf/proto"

	executorv1 "github.com/kubemesos/kubemesos/api/mesos/v1/executor"
	"github.com/kubemesos/kubemesos/internal/mesosjson"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

// TestIsMesosCall: the form of a call comes from its media type; JSON that
// names its namespace is an SDK executor's of before MediaType.
func TestIsMesosCall(t *testing.T) {
	for _, tc := range []struct {
		contentType, body string
		mesos             bool
		code              int
	}{
		{"application/json", `{"type":"SUBSCRIBE","framework_id":{"value":"f"},"executor_id":{"value":"e"}}`, true, 0},
		{"application/json; charset=utf-8", `{"type":"HEARTBEAT"}`, true, 0},
		{"application/x-protobuf", "\x18\x01", true, 0},
		{MediaType, `{"type":"SUBSCRIBE","namespace":"ns"}`, false, 0},
		{"application/json", `{"type":"SUBSCRIBE","namespace":"ns","framework":"fw","executor_id":"e"}`, false, 0},
		{"", `{"type":"SUBSCRIBE","namespace":"ns"}`, false, 0},
		{"text/plain", `hello`, false, http.StatusUnsupportedMediaType},
	} {
		mesos, _, herr := IsMesosCall(tc.contentType, []byte(tc.body))
		code := 0
		if herr != nil {
			code = herr.Code
		}
		if mesos != tc.mesos || code != tc.code {
			t.Errorf("%q %s: Mesos form %v, refused %d; want %v, %d", tc.contentType, tc.body, mesos, code, tc.mesos, tc.code)
		}
	}
}

func TestMesosUUID(t *testing.T) {
	const s = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
	if b := MesosUUID(s); len(b) != 16 || b[0] != 0x6b || b[15] != 0xc8 {
		t.Errorf("MesosUUID(%s) = %x", s, b)
	}
	if b := MesosUUID("agent/x/TASK_LOST/gone"); string(b) != "agent/x/TASK_LOST/gone" {
		t.Errorf("a uuid that is not a UUID travels as its text, got %q", b)
	}
}

// FuzzParseMesosCall feeds the Mesos form arbitrary bodies in both
// encodings: a call is refused with a 400 and a message, or taken; each
// status it carries translates or is refused with a message; never a panic.
func FuzzParseMesosCall(f *testing.F) {
	for _, seed := range []string{
		`{"type":"SUBSCRIBE","framework_id":{"value":"fw"},"executor_id":{"value":"e1"},"subscribe":{"unacknowledged_tasks":[{"name":"t","task_id":{"value":"t"},"agent_id":{"value":"a"}}]}}`,
		`{"type":"UPDATE","framework_id":{"value":"fw"},"executor_id":{"value":"e1"},"update":{"status":{"task_id":{"value":"t"},"state":"TASK_RUNNING","source":"SOURCE_EXECUTOR","uuid":"AAAAAAAAQAAAAAAAAAAAAA=="}}}`,
		`{"type":"UPDATE","framework_id":{"value":"fw"},"executor_id":{"value":"e1"},"update":{"status":{"task_id":{"value":"t"},"state":"TASK_FAILED","source":"SOURCE_EXECUTOR","reason":"REASON_COMMAND_EXECUTOR_FAILED","healthy":false,"data":"/w==","uuid":"AAAAAAAAQAAAAAAAAAAAAA=="}}}`,
		`{"type":"MESSAGE","framework_id":{"value":"fw"},"executor_id":{"value":"e1"},"message":{"data":"aGk="}}`,
		`{"type":"HEARTBEAT","framework_id":{"value":"x"},"executor_id":{"value":"y"}}`,
		`{`, `[]`, `{"type":9}`,
	} {
		f.Add(false, []byte(seed))
		var c executorv1.Call
		if err := mesosjson.Unmarshal([]byte(seed), &c); err == nil {
			b, _ := proto.MarshalOptions{AllowPartial: true}.Marshal(&c)
			f.Add(true, b)
		}
	}
	f.Fuzz(func(t *testing.T, protobuf bool, body []byte) {
		c := mesoswire.JSON
		if protobuf {
			c = mesoswire.Protobuf
		}
		call, herr := ParseMesosCall(c, body)
		if herr != nil {
			if herr.Code != http.StatusBadRequest || herr.Msg == "" {
				t.Fatalf("refused with %d %q", herr.Code, herr.Msg)
			}
			return
		}
		statuses := []*executorv1.Call_Update{call.GetUpdate()}
		statuses = append(statuses, call.GetSubscribe().GetUnacknowledgedUpdates()...)
		for _, u := range statuses {
			if u == nil {
				continue
			}
			st, msg := FromMesosStatus(u.GetStatus())
			if msg == "" && (st.UUID == "" || st.State == "") {
				t.Fatalf("a status taken without a uuid or a state: %+v", st)
			}
		}
		if _, err := proto.Marshal(call); err != nil {
			t.Fatalf("a decoded call does not encode: %v", err)
		}
	})
}

// TestParseMesosCallChecks: what the Mesos form refuses, with Mesos's
// messages, and the one call it takes that Mesos refuses: a SUBSCRIBE
// without 'subscribe' (the npm library mesos-framework sends one).
func TestParseMesosCallChecks(t *testing.T) {
	ids := `"framework_id":{"value":"fw"},"executor_id":{"value":"e1"}`
	for body, want := range map[string]string{
		`{"type":"SUBSCRIBE",` + ids + `}`:                   "",
		`{"type":"SUBSCRIBE",` + ids + `,"subscribe":{}}`:    "",
		`{"type":"SUBSCRIBE","framework_id":{"value":"fw"}}`: "Failed to convert JSON into Call protobuf: Missing required fields: executor_id",
		`{"type":"UPDATE",` + ids + `}`:                      "Failed to validate Executor::Call: Expecting 'update' to be present",
		`{"type":"MESSAGE",` + ids + `}`:                     "Failed to validate Executor::Call: Expecting 'message' to be present",
	} {
		_, herr := ParseMesosCall(mesoswire.JSON, []byte(body))
		got := ""
		if herr != nil {
			got = herr.Msg
		}
		if got != want {
			t.Errorf("%s: refused with %q, want %q", body, got, want)
		}
	}
}
