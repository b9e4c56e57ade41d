package console

import (
	"strings"
	"testing"
	"time"
)

// TestHubDropsWhoDoesNotKeepUp checks that publishing never waits: a
// subscriber still holding a model is dropped, the others get the new
// one; and that the hub takes at most MaxEventClients.
func TestHubDropsWhoDoesNotKeepUp(t *testing.T) {
	var h hub
	slow, _ := h.subscribe()
	fast, _ := h.subscribe()
	m1, m2 := &model{seq: 1}, &model{seq: 2}
	h.publish(m1)
	if got := <-fast.models; got != m1 {
		t.Fatalf("fast got %v", got)
	}
	done := make(chan struct{})
	go func() { h.publish(m2); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("publish waited for a slow subscriber")
	}
	select {
	case <-slow.dropped:
	default:
		t.Error("the slow subscriber was not dropped")
	}
	if got := <-fast.models; got != m2 {
		t.Errorf("fast got %v, want the second model", got)
	}
	h.unsubscribe(slow) // after a drop: nothing to do, no panic
	if h.len() != 1 {
		t.Errorf("%d subscribers, want 1", h.len())
	}
	for h.len() < MaxEventClients {
		if _, ok := h.subscribe(); !ok {
			t.Fatalf("refused at %d", h.len())
		}
	}
	if _, ok := h.subscribe(); ok {
		t.Errorf("took more than %d", MaxEventClients)
	}
}

// TestOverviewEvent checks the event's form and that the key ignores the
// cycle, the time and the history only.
func TestOverviewEvent(t *testing.T) {
	o := Overview{Cycle: 7, At: time.Unix(1, 0), TasksByState: map[string]int{"TASK_RUNNING": 1}}
	ev, k1, err := overviewEvent(o)
	if err != nil || !strings.HasPrefix(string(ev), "event: overview\nid: 7\ndata: {") || !strings.HasSuffix(string(ev), "}\n\n") || strings.Count(string(ev), "\n") != 4 {
		t.Fatalf("event %q, %v", ev, err)
	}
	o.Cycle, o.At = 8, time.Unix(2, 0)
	o.History = []Sample{{At: time.Unix(2, 0), Allocated: map[string]float64{"cpu": 1}}}
	ev2, k2, _ := overviewEvent(o)
	if !strings.Contains(string(ev2), `"history":[{`) {
		t.Errorf("the event lacks the history: %s", ev2)
	}
	o.TasksByState["TASK_RUNNING"] = 2
	_, k3, _ := overviewEvent(o)
	if string(k1) != string(k2) || string(k2) == string(k3) {
		t.Errorf("keys %s %s %s", k1, k2, k3)
	}
}
