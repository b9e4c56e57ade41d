package messages

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

func TestEventRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 26, 1, 2, 3, 4000, time.UTC)
	cases := map[string]Message{
		"to an executor": {To: kmv1.MessageToExecutor, Framework: "mc", Node: "node-1", ExecutorID: "worker",
			Sender: "0123456789abcdef", Sequence: 7, Data: "hello", Time: at},
		"to a scheduler": {To: kmv1.MessageToScheduler, Framework: "mc", Node: "node-2", AgentID: "ag-9", ExecutorID: "worker",
			Sender: ExecutorSender("ns", "mc", "worker", "s1"), Sequence: 1, Data: strings.Repeat("é", MaxDataLength/2), Time: at},
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			e := Event("ns", types.UID("fw-uid"), m, ControllerAgent, "node-1")
			e.UID = "ev-uid"
			got, err := Parse(e)
			if err != nil {
				t.Fatal(err)
			}
			want := m
			want.UID, want.EventName = "ev-uid", e.Name
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("round trip (-want +got):\n%s", d)
			}
			if e.Regarding.UID != "fw-uid" || e.Regarding.Name != "mc" || e.Regarding.Kind != "Framework" {
				t.Errorf("regarding %+v, want the Framework mc", e.Regarding)
			}
			if m.To == kmv1.MessageToScheduler && e.Reason != kmv1.ReasonFrameworkMessage || m.To == kmv1.MessageToExecutor && e.Reason != kmv1.ReasonSchedulerMessage {
				t.Errorf("reason %q for a message %s", e.Reason, m.To)
			}
		})
	}
}

// TestName: an Event's name depends only on the framework, the direction,
// the sender and the sequence; it is a DNS subdomain within 253 characters,
// whatever the framework's name; and names sort in sequence order.
func TestName(t *testing.T) {
	m := Message{To: kmv1.MessageToExecutor, Framework: "mc", Sender: "0123456789abcdef", Sequence: 9}
	other := m
	other.Data, other.Node, other.Time = "x", "n", time.Now()
	if Name(m) != Name(other) {
		t.Errorf("the name depends on more than the sender and sequence: %q, %q", Name(m), Name(other))
	}
	next := m
	next.Sequence = 10
	if !(Name(m) < Name(next)) {
		t.Errorf("%q does not sort before %q", Name(m), Name(next))
	}
	for _, fw := range []string{"mc", strings.Repeat("a", 253), strings.Repeat("a", 179) + "-b" + strings.Repeat("c", 60), strings.Repeat("ab.", 84)} {
		m.Framework = fw
		m.Sequence = ^uint64(0)
		for _, to := range []string{kmv1.MessageToExecutor, kmv1.MessageToScheduler} {
			m.To = to
			if errs := validation.NameIsDNSSubdomain(Name(m), false); len(errs) > 0 {
				t.Errorf("name %q: %v", Name(m), errs)
			}
		}
	}
}

func TestExecutorSender(t *testing.T) {
	a := ExecutorSender("ns", "fw", "e1", "s")
	if a != ExecutorSender("ns", "fw", "e1", "s") {
		t.Error("not deterministic")
	}
	for _, other := range []string{ExecutorSender("ns", "fw", "e2", "s"), ExecutorSender("ns2", "fw", "e1", "s"), ExecutorSender("ns", "fw", "e1", "t"),
		ExecutorSender("ns", "fwe", "1", "s")} {
		if other == a {
			t.Errorf("two executors share the sender %q", a)
		}
	}
	if len(a) != 16 || len(NewSender()) != 16 || NewSender() == NewSender() {
		t.Errorf("senders are not 16 distinct hex digits: %q", a)
	}
}

func TestParseRefuses(t *testing.T) {
	ok := Event("ns", "", Message{To: kmv1.MessageToExecutor, Framework: "mc", Sender: "s", Sequence: 1}, ControllerScheduler, "me")
	cases := map[string]func(){
		"no direction":  func() { delete(ok.Labels, kmv1.LabelMessage) },
		"a sequence 0":  func() { ok.Annotations[kmv1.AnnotationMessageSequence] = "0" },
		"not a number":  func() { ok.Annotations[kmv1.AnnotationMessageSequence] = "x" },
		"another label": func() { ok.Labels[kmv1.LabelMessage] = "to-nobody" },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			saved := ok.DeepCopy()
			defer func() { ok = saved }()
			change()
			if _, err := Parse(ok); err == nil {
				t.Error("parsed, want an error")
			}
		})
	}
	// An Event made by hand, without sender or sequence, is a message of
	// its own.
	byHand := ok.DeepCopy()
	byHand.UID = "u-1"
	delete(byHand.Annotations, kmv1.AnnotationMessageSender)
	m, err := Parse(byHand)
	if err != nil || m.Sender != "u-1" || m.Sequence != 1 {
		t.Errorf("by hand: %+v, %v; want sender u-1, sequence 1", m, err)
	}
}

func TestSort(t *testing.T) {
	t0 := time.Now()
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	in := []Message{
		{Sender: "b", Sequence: 2, Time: at(5)},
		{Sender: "a", Sequence: 10, Time: at(3)},
		{Sender: "b", Sequence: 1, Time: at(1)},
		{Sender: "a", Sequence: 9, Time: at(2)},
		{Sender: "c", Sequence: 1, Time: at(2)},
	}
	Sort(in)
	var got []string
	for _, m := range in {
		got = append(got, m.Sender+string(rune('0'+m.Sequence%10)))
	}
	// b first sent at 1, then a and c at 2 (a before c by name); each
	// sender's own in sequence order, whatever their times.
	want := []string{"b1", "b2", "a9", "a0", "c1"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("order (-want +got):\n%s", d)
	}
}

// FuzzParse: whatever labels, annotations and note an Event has (anyone
// who may create Events in a framework's namespace can make one), Parse
// does not panic; it takes only a message to an executor or a scheduler,
// with a sequence number from 1, its sender's or else one of its own; and
// the Event of what it took reads back the same.
func FuzzParse(f *testing.F) {
	f.Add(kmv1.MessageToExecutor, "mc", "node-1", "", "worker", "0123456789abcdef", "7", "hello", "ev-uid", int64(1_800_000_000_000_000_000))
	f.Add(kmv1.MessageToScheduler, "mc", "node-2", "ag-9", "worker", "s", "18446744073709551615", "", "u", int64(0))
	f.Add(kmv1.MessageToExecutor, "mc", "", "", "", "", "", "by hand", "u-1", int64(-1))
	f.Add(kmv1.MessageToExecutor, "mc", "n", "", "e", "s", "0", "", "u", int64(1))
	f.Add(kmv1.MessageToExecutor, "mc", "n", "", "e", "s", "+1", "", "u", int64(1))
	f.Add(kmv1.MessageToExecutor, "mc", "n", "", "e", "s", "18446744073709551616", "", "u", int64(1))
	f.Add("to-nobody", "mc", "n", "", "e", "s", "1", "", "u", int64(1))
	f.Fuzz(func(t *testing.T, to, framework, node, agentID, executorID, sender, seq, note, uid string, at int64) {
		e := &eventsv1.Event{Note: note}
		e.Namespace, e.Name, e.UID = "ns", "ev", types.UID(uid)
		e.EventTime = metav1.NewMicroTime(time.Unix(0, at))
		e.Labels = map[string]string{kmv1.LabelMessage: to, kmv1.LabelFramework: framework, kmv1.LabelAgent: node}
		e.Annotations = map[string]string{}
		for k, v := range map[string]string{kmv1.AnnotationAgentID: agentID, kmv1.AnnotationExecutorID: executorID,
			kmv1.AnnotationMessageSender: sender, kmv1.AnnotationMessageSequence: seq} {
			if v != "" {
				e.Annotations[k] = v
			}
		}
		m, err := Parse(e)
		valid := to == kmv1.MessageToExecutor || to == kmv1.MessageToScheduler
		if err != nil {
			if valid && sender != "" && seq != "" {
				if n, perr := strconv.ParseUint(seq, 10, 64); perr == nil && n > 0 {
					t.Fatalf("Parse refused sequence %q of sender %q: %v", seq, sender, err)
				}
			}
			if valid && (sender == "" || seq == "") {
				t.Fatalf("Parse refused a message made by hand: %v", err)
			}
			return
		}
		if !valid || m.Sequence == 0 {
			t.Fatalf("Parse took %+v from an Event to %q", m, to)
		}
		if sender == "" || seq == "" {
			if m.Sender != uid || m.Sequence != 1 {
				t.Fatalf("a message made by hand: sender %q, sequence %d; want its UID %q and 1", m.Sender, m.Sequence, uid)
			}
		} else if n, _ := strconv.ParseUint(seq, 10, 64); m.Sender != sender || m.Sequence != n {
			t.Fatalf("sender %q, sequence %d; want %q and %s", m.Sender, m.Sequence, sender, seq)
		}
		if m.To != to || m.Framework != framework || m.Node != node || m.AgentID != agentID || m.ExecutorID != executorID || m.Data != note {
			t.Fatalf("Parse gave %+v, not what the Event holds", m)
		}
		again := Event("ns", "fw-uid", m, ControllerAgent, "node")
		again.UID = types.UID(uid)
		back, err := Parse(again)
		want := m
		want.EventName = again.Name
		if m.To == kmv1.MessageToExecutor {
			want.AgentID = "" // a message to an executor carries no agentID
		}
		if err != nil || !cmp.Equal(back, want) {
			t.Fatalf("the Event of %+v reads back as %+v, %v", want, back, err)
		}
	})
}
