package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/messages"
	"github.com/kubemesos/kubemesos/internal/scheme"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

// relayFixture is a message relay in front of a real executor API server,
// with its Events in a fake client.
type relayFixture struct {
	t     *testing.T
	ctx   context.Context
	addr  string
	c     client.Client
	relay *messageRelay
	known map[string]bool
	// since is when each executor's present run started (zero: unknown).
	since map[string]time.Time
}

func newRelayFixture(t *testing.T) *relayFixture {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv := &ExecutorServer{Hooks: &floodHooks{}, Log: logr.Discard(), Clock: clock.RealClock{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ctx, ln) }()
	f := &relayFixture{t: t, ctx: ctx, addr: ln.Addr().String(), c: fake.NewClientBuilder().WithScheme(scheme.New()).Build(),
		known: map[string]bool{"e": true}, since: map[string]time.Time{}}
	deleter := messages.NewDeleter(f.c, logr.Discard())
	go deleter.Run(ctx)
	f.relay = newMessageRelay(srv, deleter, func(_ context.Context, k ExecutorKey) (time.Time, bool) {
		return f.since[k.ExecutorID], f.known[k.ExecutorID]
	}, logr.Discard())
	return f
}

// send stores a scheduler's message to executor and hands it to the relay,
// as the agent's informer does.
func (f *relayFixture) send(executor, sender string, seq uint64) *eventsv1.Event {
	f.t.Helper()
	return f.sendAt(executor, sender, seq, time.Now())
}

// sendAt is send of a message sent at the time at.
func (f *relayFixture) sendAt(executor, sender string, seq uint64, at time.Time) *eventsv1.Event {
	f.t.Helper()
	m := messages.Message{To: kmv1.MessageToExecutor, Framework: "fw", Node: "n", ExecutorID: executor, Sender: sender, Sequence: seq,
		Data: fmt.Sprintf("%s%d", sender, seq), Time: at}
	e := messages.Event("ns", "fw-uid", m, messages.ControllerScheduler, "test")
	if old := (&eventsv1.Event{}); f.c.Get(f.ctx, client.ObjectKeyFromObject(e), old) == nil {
		e.Name += "-again" // a repeat, stored under another name here
	}
	e.UID = types.UID(fmt.Sprintf("%s-%d-%d", sender, seq, time.Now().UnixNano()))
	if err := f.c.Create(f.ctx, e); err != nil {
		f.t.Fatal(err)
	}
	f.relay.arrived(e)
	return e
}

// subscribe subscribes executor e and returns its stream of messages; the
// relay is told, as the executor hooks tell it.
func (f *relayFixture) subscribe() <-chan string {
	f.t.Helper()
	ctx, cancel := context.WithCancel(f.ctx)
	f.t.Cleanup(cancel)
	body, _ := json.Marshal(executorapi.Call{Type: executorapi.CallSubscribe, Namespace: "ns", Framework: "fw", ExecutorID: "e"})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+f.addr+executorapi.Path, strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer exec-e")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		f.t.Fatalf("SUBSCRIBE: %v %v", err, resp)
	}
	rr := executorapi.NewRecordReader(resp.Body)
	var ev executorapi.Event
	if err := rr.Read(&ev); err != nil || ev.Type != executorapi.EventSubscribed {
		f.t.Fatalf("first event %+v, %v", ev, err)
	}
	out := make(chan string, 64)
	go func() {
		defer resp.Body.Close()
		for {
			var ev executorapi.Event
			if err := rr.Read(&ev); err != nil {
				close(out)
				return
			}
			if ev.Message != nil {
				out <- ev.Message.Data
			}
		}
	}()
	f.relay.flush(ExecutorKey{Namespace: "ns", Framework: "fw", ExecutorID: "e"})
	return out
}

// next reads n messages from a stream.
func (f *relayFixture) next(stream <-chan string, n int) []string {
	f.t.Helper()
	var got []string
	for len(got) < n {
		select {
		case m := <-stream:
			got = append(got, m)
		case <-time.After(30 * time.Second):
			f.t.Fatalf("got %v, want %d messages", got, n)
		}
	}
	return got
}

func (f *relayFixture) stored(e *eventsv1.Event) bool {
	return f.c.Get(f.ctx, client.ObjectKeyFromObject(e), &eventsv1.Event{}) == nil
}

// TestMessageRelay: the agent holds the scheduler messages for an executor
// until it acknowledges them. It streams each sender's messages in
// sequence order, those of its namespace watch's first list (which come in
// no useful order) once it has them all and the agent runs; it sends again to a new subscription
// what the executor has not acknowledged, and deletes what it has. It drops
// messages for executors that do not run here, and repeats.
func TestMessageRelay(t *testing.T) {
	f := newRelayFixture(t)
	k := ExecutorKey{Namespace: "ns", Framework: "fw", ExecutorID: "e"}
	stream := f.subscribe()
	// The first list, before the relay has it all: held.
	three := f.send("e", "s", 3)
	one := f.send("e", "s", 1)
	two := f.send("e", "s", 2)
	f.send("e", "t", 1)
	f.relay.start(f.ctx)
	select {
	case m := <-stream:
		t.Fatalf("message %s sent before its namespace's watch had its first list", m)
	case <-time.After(200 * time.Millisecond):
	}
	f.relay.namespaceSynced("ns")
	if d := cmp.Diff([]string{"s1", "s2", "s3", "t1"}, f.next(stream, 4)); d != "" {
		t.Errorf("first list (-want +got):\n%s", d)
	}
	// Then each as it comes.
	f.send("e", "s", 4)
	if d := cmp.Diff([]string{"s4"}, f.next(stream, 1)); d != "" {
		t.Errorf("on arrival (-want +got):\n%s", d)
	}
	// A repeat of s4 (a send retried after it was stored) is dropped.
	repeat := f.send("e", "s", 4)
	eventually(t, "the repeat deleted", func() bool { return !f.stored(repeat) })

	// The executor acknowledges s1 and s2; their Events go. A new
	// subscription gets the rest again, in order.
	f.relay.acknowledge(k, []executorapi.MessageID{{Sender: "s", Sequence: 2}})
	eventually(t, "the acknowledged deleted", func() bool { return !f.stored(one) && !f.stored(two) })
	if !f.stored(three) {
		t.Error("an unacknowledged message was deleted")
	}
	again := f.subscribe()
	if d := cmp.Diff([]string{"s3", "s4", "t1"}, f.next(again, 3)); d != "" {
		t.Errorf("sent again to a new subscription (-want +got):\n%s", d)
	}

	// An executor that does not run here gets nothing; its message goes.
	gone := f.send("x", "s", 5)
	eventually(t, "the message to an unknown executor deleted", func() bool { return !f.stored(gone) })
	// A retired executor's messages go too.
	f.relay.drop(k, "test")
	eventually(t, "the retired executor's messages deleted", func() bool { return !f.stored(three) })

	// A namespace whose watch stops is forgotten, its messages held
	// again until a new watch has its first list.
	five := f.send("e", "s", 5)
	if d := cmp.Diff([]string{"s5"}, f.next(again, 1)); d != "" {
		t.Errorf("on arrival (-want +got):\n%s", d)
	}
	f.relay.namespaceStopped("ns")
	f.relay.mu.Lock()
	held := len(f.relay.queues)
	f.relay.mu.Unlock()
	if held != 0 || !f.stored(five) {
		t.Errorf("after its namespace's watch stopped: %d queues held, message stored %v; want none held and the message kept for the next watch", held, f.stored(five))
	}
}

// TestMessageRelayDropsMessagesToAnEarlierRun: a message sent before the
// executor's present run started on this agent (to an earlier run of the
// same executor ID, kept while nothing here watched its namespace) is
// dropped and its Event deleted, whether the namespace's first list brings
// it or it arrives later; one sent since is delivered.
func TestMessageRelayDropsMessagesToAnEarlierRun(t *testing.T) {
	f := newRelayFixture(t)
	started := time.Now()
	f.since["e"] = started
	stream := f.subscribe()
	old := f.sendAt("e", "s", 1, started.Add(-time.Minute))
	f.sendAt("e", "s", 2, started.Add(time.Second))
	f.relay.start(f.ctx)
	f.relay.namespaceSynced("ns")
	if d := cmp.Diff([]string{"s2"}, f.next(stream, 1)); d != "" {
		t.Errorf("first list (-want +got):\n%s", d)
	}
	eventually(t, "the message to the earlier run deleted", func() bool { return !f.stored(old) })
	older := f.sendAt("e", "t", 1, started.Add(-time.Hour))
	eventually(t, "a message to the earlier run, on arrival, deleted", func() bool { return !f.stored(older) })
	f.sendAt("e", "t", 2, time.Now())
	if d := cmp.Diff([]string{"t2"}, f.next(stream, 1)); d != "" {
		t.Errorf("on arrival (-want +got):\n%s", d)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, what, 30*time.Second, cond)
}

// TestABacklogOfMessagesKeepsTheStream: an executor that subscribes to
// more scheduler messages than its stream's queue holds (its scheduler sent
// them while it was away) gets them all, in order, as it acknowledges them,
// on the one stream: sent all at once, they filled the queue and the
// stream was dropped, at each new subscription again.
func TestABacklogOfMessagesKeepsTheStream(t *testing.T) {
	f := newRelayFixture(t)
	k := ExecutorKey{Namespace: "ns", Framework: "fw", ExecutorID: "e"}
	f.relay.start(f.ctx)
	f.relay.namespaceSynced("ns")
	const n = 1500
	for i := 1; i <= n; i++ {
		f.send("e", "s", uint64(i))
	}
	stream := f.subscribe()
	for got := 0; got < n; {
		select {
		case m, ok := <-stream:
			if !ok {
				t.Fatalf("the stream ended after %d of %d messages", got, n)
			}
			got++
			if want := fmt.Sprintf("s%d", got); m != want {
				t.Fatalf("message %d is %s, want %s", got, m, want)
			}
			// The executor acknowledges what it has, as the SDK does.
			f.relay.acknowledge(k, []executorapi.MessageID{{Sender: "s", Sequence: uint64(got)}})
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d messages, then nothing", got, n)
		}
	}
}
