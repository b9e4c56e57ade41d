package mesosapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
	"github.com/kubemesos/kubemesos/internal/messages"
)

// TestFrameworkMessages sends framework messages both ways: a MESSAGE
// call becomes the Event the agent relays (or is refused, or dropped for
// an unknown agent, as Mesos drops it), and a message an executor stored
// reaches the framework's stream as Event MESSAGE and its Event goes; one
// that arrives while the framework is not subscribed waits for it.
func TestFrameworkMessages(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	const node = "msg-node"
	addAgent(t, node, "127.0.0.1:5051", "cpu", "2", "memory", "1Gi")
	url := startAPI(t, apiOptions(t, ns), false)
	mt := mesoswire.MediaJSON
	es := subscribe(t, url, mt, frameworkInfo("messages"))
	fwID := es.next(schedulerv1.Event_SUBSCRIBED).GetSubscribed().GetFrameworkId()
	agentID := es.next(schedulerv1.Event_OFFERS).GetOffers().GetOffers()[0].GetAgentId()
	var fws kmv1.FrameworkList
	if err := env.Client.List(ctx, &fws, client.InNamespace(ns)); err != nil || len(fws.Items) != 1 {
		t.Fatalf("frameworks %v, %v: want one", fws.Items, err)
	}
	fw := fws.Items[0]
	msgCall := func(agent *mesosv1.AgentID, data []byte) (int, string) {
		return call(t, url, mt, es.id, &schedulerv1.Call{FrameworkId: fwID, Type: schedulerv1.Call_MESSAGE.Enum(), Message: &schedulerv1.Call_Message{
			AgentId: agent, ExecutorId: &mesosv1.ExecutorID{Value: proto.String("exec-1")}, Data: data}})
	}
	toExecutors := func() []eventsv1.Event {
		t.Helper()
		var l eventsv1.EventList
		if err := env.Client.List(ctx, &l, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: messages.ToExecutorsOn(node)}); err != nil {
			t.Fatal(err)
		}
		return l.Items
	}

	// Scheduler to executor: two messages, in order, as the agent reads
	// them; the refused and the dropped ones leave no Event.
	for _, data := range []string{"hello", "wörld"} {
		if code, body := msgCall(agentID, []byte(data)); code != http.StatusAccepted {
			t.Fatalf("MESSAGE answered %d %q, want 202", code, body)
		}
	}
	for _, tc := range []struct {
		data []byte
		want string
	}{
		{[]byte(strings.Repeat("x", 1025)), "at most 1024 bytes"},
		{[]byte{0xff, 0xfe}, "not valid UTF-8"},
	} {
		if code, body := msgCall(agentID, tc.data); code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("MESSAGE of %d bytes answered %d %q, want 400 saying %q", len(tc.data), code, body, tc.want)
		}
	}
	if code, body := msgCall(&mesosv1.AgentID{Value: proto.String("no-such-agent")}, []byte("lost")); code != http.StatusAccepted {
		t.Errorf("MESSAGE to an unknown agent answered %d %q, want 202 (dropped, as in Mesos)", code, body)
	}
	evs := toExecutors()
	if len(evs) != 2 {
		t.Fatalf("%d messages to the executors of %s, want 2: %v", len(evs), node, evs)
	}
	var got []messages.Message
	for i := range evs {
		m, err := messages.Parse(&evs[i])
		if err != nil {
			t.Fatal(err)
		}
		if m.Framework != fw.Name || m.ExecutorID != "exec-1" || m.Node != node || evs[i].Regarding.UID != fw.UID {
			t.Errorf("message %+v regarding %v: want one to exec-1 of %s on %s", m, evs[i].Regarding, fw.Name, node)
		}
		got = append(got, m)
	}
	messages.Sort(got)
	if got[0].Data != "hello" || got[1].Data != "wörld" || got[0].Sender != got[1].Sender || got[1].Sequence != got[0].Sequence+1 {
		t.Errorf("messages %+v: want hello then wörld from one sender in sequence", got)
	}

	// Executor to scheduler: delivered on the stream, then deleted.
	fromExecutor := func(seq uint64, data string) *eventsv1.Event {
		t.Helper()
		m := messages.Message{To: kmv1.MessageToScheduler, Framework: fw.Name, Node: node, AgentID: agentID.GetValue(), ExecutorID: "exec-1",
			Sender: "0123456789abcdef", Sequence: seq, Data: data, Time: time.Now()}
		e := messages.Event(ns, fw.UID, m, messages.ControllerAgent, node)
		if err := env.Client.Create(ctx, e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	gone := func(e *eventsv1.Event) {
		t.Helper()
		eventually(t, "message "+e.Name+" to be deleted", func() bool {
			return apierrors.IsNotFound(env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: e.Name}, &eventsv1.Event{}))
		})
	}
	want := func(es *eventStream, data string) {
		t.Helper()
		m := es.next(schedulerv1.Event_MESSAGE).GetMessage()
		if !proto.Equal(m.GetAgentId(), agentID) || m.GetExecutorId().GetValue() != "exec-1" || string(m.GetData()) != data {
			t.Fatalf("MESSAGE %v: want %q from exec-1 on %s", m, data, agentID.GetValue())
		}
	}
	e1 := fromExecutor(1, "pong")
	want(es, "pong")
	gone(e1)

	// While no stream is open a message waits, and comes on the next.
	_ = es.resp.Body.Close()
	eventually(t, "the stream to close", func() bool {
		code, _ := msgCall(agentID, []byte("x"))
		return code == http.StatusForbidden
	})
	e2 := fromExecutor(2, "waiting")
	time.Sleep(time.Second)
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(e2), &eventsv1.Event{}); err != nil {
		t.Fatalf("the message for a framework without a stream: %v; want it kept", err)
	}
	info := frameworkInfo("messages")
	info.Id = fwID
	es = subscribe(t, url, mt, info)
	es.next(schedulerv1.Event_SUBSCRIBED)
	want(es, "waiting")
	gone(e2)
	e3 := fromExecutor(3, "again")
	want(es, "again")
	gone(e3)

	// An Event that carries more than a message holds (anyone who may
	// create Events in the namespace can label one a message) is neither
	// delivered nor kept whole in the master's cache (messages.Slim): the
	// master deletes it, and the next message comes.
	big := messages.Event(ns, fw.UID, messages.Message{To: kmv1.MessageToScheduler, Framework: fw.Name, Node: node, AgentID: agentID.GetValue(),
		ExecutorID: "exec-1", Sender: strings.Repeat("s", 2048), Sequence: 1, Data: "too big", Time: time.Now()}, messages.ControllerAgent, node)
	big.Name = fw.Name + ".oversized"
	if err := env.Client.Create(ctx, big); err != nil {
		t.Fatal(err)
	}
	e4 := fromExecutor(4, "after")
	want(es, "after")
	gone(big)
	gone(e4)
}
