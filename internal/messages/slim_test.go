package messages

import (
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// TestSlim: a message reads the same from its slim copy, which keeps none
// of what a tenant can add to its Event; an Event that carries more than a
// message holds is refused by Parse once slimmed.
func TestSlim(t *testing.T) {
	m := Message{To: kmv1.MessageToScheduler, Framework: "mc", Node: "n1", AgentID: "ag-1", ExecutorID: "e1",
		Sender: ExecutorSender("ns", "mc", "e1", "s"), Sequence: 7, Data: strings.Repeat("d", MaxDataLength), Time: time.Unix(1700000000, 0)}
	e := Event("ns", "fw-uid", m, ControllerAgent, "n1")
	e.UID, e.ResourceVersion = "ev-uid", "42"
	e.Annotations["padding"] = strings.Repeat("p", 200<<10)
	e.Labels["team"] = "a"
	e.Series = &eventsv1.EventSeries{Count: 3}
	want, err := Parse(e.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	obj, err := Slim(e.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	slim := obj.(*eventsv1.Event)
	got, err := Parse(slim)
	if err != nil || got != want {
		t.Fatalf("the slim copy reads %+v, %v; want %+v", got, err, want)
	}
	if again, _ := Slim(slim.DeepCopy()); !equality.Semantic.DeepEqual(again, slim) {
		t.Errorf("slimmed twice: %+v, want the same as once: %+v", again, slim)
	}
	if _, ok := slim.Annotations["padding"]; ok || slim.Labels["team"] != "" || slim.Series != nil ||
		slim.Regarding.UID != "fw-uid" || slim.ResourceVersion != "42" || slim.Name != e.Name || slim.Namespace != "ns" {
		t.Errorf("slim copy %+v: want only the message's fields, the regarded UID and the object's identity", slim)
	}

	for name, change := range map[string]func(*eventsv1.Event){
		"a note over 1 KiB":         func(e *eventsv1.Event) { e.Note += "x" },
		"an executor ID over 1 KiB": func(e *eventsv1.Event) { e.Annotations[kmv1.AnnotationExecutorID] = strings.Repeat("e", 1025) },
		"a sender over 1 KiB":       func(e *eventsv1.Event) { e.Annotations[kmv1.AnnotationMessageSender] = strings.Repeat("s", 1025) },
	} {
		t.Run(name, func(t *testing.T) {
			big := e.DeepCopy()
			change(big)
			obj, _ := Slim(big)
			slim := obj.(*eventsv1.Event)
			if _, err := Parse(slim); err == nil || !strings.Contains(err.Error(), "more than a framework message holds") {
				t.Errorf("Parse of the slim copy: %v, want a refusal", err)
			}
			twice, _ := Slim(slim.DeepCopy())
			if _, err := Parse(twice.(*eventsv1.Event)); err == nil {
				t.Error("Parse of the copy slimmed twice: accepted, want a refusal")
			}
			if slim.Note != "" || len(slim.Annotations) != 1 || slim.Labels[kmv1.LabelMessage] != kmv1.MessageToScheduler {
				t.Errorf("slim copy %+v: want no note, only the mark, and the message's labels", slim)
			}
		})
	}
	if obj, _ := Slim("not an event"); obj != "not an event" {
		t.Errorf("Slim of another object: %v, want it unchanged", obj)
	}
}
