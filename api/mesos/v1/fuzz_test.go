package mesosv1_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	executorv1 "github.com/kubemesos/kubemesos/api/mesos/v1/executor"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
)

// FuzzSchedulerCall feeds arbitrary bytes to the decoder of the scheduler
// API's request body: it must never panic, and whatever it accepts must
// encode and decode to the same call. The seeds are under testdata/fuzz.
func FuzzSchedulerCall(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		roundTrip(t, body, &schedulerv1.Call{}, &schedulerv1.Call{})
	})
}

// FuzzExecutorCall does the same for the executor API's request body.
func FuzzExecutorCall(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		roundTrip(t, body, &executorv1.Call{}, &executorv1.Call{})
	})
}

// roundTrip decodes body into first; if that succeeds, it encodes first,
// decodes the result into second and requires the two to be equal.
func roundTrip(t *testing.T, body []byte, first, second proto.Message) {
	if err := proto.Unmarshal(body, first); err != nil {
		return
	}
	b, err := proto.Marshal(first)
	if err != nil {
		t.Fatalf("a decoded call does not encode: %v", err)
	}
	if err := proto.Unmarshal(b, second); err != nil {
		t.Fatalf("an encoded call does not decode: %v", err)
	}
	if !proto.Equal(first, second) {
		t.Fatalf("encode and decode changed the call:\n%v\n%v", first, second)
	}
}
