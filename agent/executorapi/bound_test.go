package executorapi

import (
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	executorv1 "github.com/kubemesos/kubemesos/api/mesos/v1/executor"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

// allocated is how many bytes fn allocates.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestACallOfEmptyItemsIsRefusedCheaply: a call within the size limit made
// of many empty items (an executor's, buggy or hostile) is refused with a
// short 400 before it is decoded, in each form the agent takes, instead of
// decoding into hundreds of megabytes: one such call could have the agent
// killed for its memory (256 MiB in the chart).
func TestACallOfEmptyItemsIsRefusedCheaply(t *testing.T) {
	const budget = 32 << 20
	fill := func(head, item, tail string) []byte {
		n := (MaxCallBytes - len(head) - len(tail)) / len(item)
		return []byte(head + strings.TrimSuffix(strings.Repeat(item, n), ",") + tail)
	}
	kubemesos := fill(`{"type":"SUBSCRIBE","namespace":"ns","framework":"fw","executor_id":"e","subscribe":{"unacknowledged_updates":[`, `{},`, `]}}`)
	mesosJSON := fill(`{"type":"SUBSCRIBE","framework_id":{"value":"f"},"executor_id":{"value":"e"},"subscribe":{"unacknowledged_tasks":[`, `{},`, `]}}`)
	tasks := make([]*mesosv1.TaskInfo, (MaxCallBytes-64)/2)
	for i := range tasks {
		tasks[i] = &mesosv1.TaskInfo{}
	}
	mesosProto, err := proto.MarshalOptions{AllowPartial: true}.Marshal(&executorv1.Call{Type: executorv1.Call_SUBSCRIBE.Enum(),
		FrameworkId: &mesosv1.FrameworkID{Value: proto.String("f")}, ExecutorId: &mesosv1.ExecutorID{Value: proto.String("e")},
		Subscribe: &executorv1.Call_Subscribe{UnacknowledgedTasks: tasks}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		body  []byte
		parse func([]byte) (string, bool)
	}{
		{"kubemesos JSON", kubemesos, func(b []byte) (string, bool) {
			_, err := ParseCall(b)
			return errString(err), err != nil
		}},
		{"Mesos JSON", mesosJSON, func(b []byte) (string, bool) {
			_, herr := ParseMesosCall(mesoswire.JSON, b)
			return herrString(herr), herr != nil
		}},
		{"Mesos protobuf", mesosProto, func(b []byte) (string, bool) {
			_, herr := ParseMesosCall(mesoswire.Protobuf, b)
			return herrString(herr), herr != nil
		}},
	} {
		if len(tc.body) > MaxCallBytes || len(tc.body) < MaxCallBytes/2 {
			t.Fatalf("%s: the body (%d bytes) is not a full call of empty items", tc.name, len(tc.body))
		}
		var msg string
		var refused bool
		if n := allocated(func() { msg, refused = tc.parse(tc.body) }); n > budget {
			t.Errorf("%s: parsing a call of %d bytes allocated %d MiB, want at most %d", tc.name, len(tc.body), n>>20, budget>>20)
		}
		if !refused || !strings.Contains(msg, "more than") || len(msg) > 4096 {
			t.Errorf("%s: refused %v with a message of %d bytes %.200q; want a short refusal naming the limit", tc.name, refused, len(msg), msg)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func herrString(herr *mesoswire.Error) string {
	if herr == nil {
		return ""
	}
	return herr.Msg
}
