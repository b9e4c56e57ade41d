package executor_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	"github.com/kubemesos/kubemesos/sdk/executor"
)

// messageAgent streams the events it is given to a subscribed executor,
// answers MESSAGE calls with the statuses in answers (202 once they run
// out), and records what it takes.
type messageAgent struct {
	events chan executorapi.Event

	mu      sync.Mutex
	answers []int
	tries   int
	taken   []executorapi.Message
	acks    map[string]uint64
}

func (a *messageAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var c executorapi.Call
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &c); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if c.Type == executorapi.CallSubscribe {
		w.WriteHeader(http.StatusOK)
		_ = executorapi.WriteRecord(w, executorapi.Event{Type: executorapi.EventSubscribed, Subscribed: &executorapi.Subscribed{AgentID: "a1"}})
		w.(http.Flusher).Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case e := <-a.events:
				_ = executorapi.WriteRecord(w, e)
				w.(http.Flusher).Flush()
			}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch c.Type {
	case executorapi.CallMessage:
		a.tries++
		if len(a.answers) > 0 {
			code := a.answers[0]
			a.answers = a.answers[1:]
			if code != http.StatusAccepted {
				http.Error(w, http.StatusText(code), code)
				return
			}
		}
		a.taken = append(a.taken, *c.Message)
		w.WriteHeader(http.StatusAccepted)
	case executorapi.CallAcknowledgeMessages:
		for _, id := range c.AcknowledgeMessages.Messages {
			a.acks[id.Sender] = max(a.acks[id.Sender], id.Sequence)
		}
		w.WriteHeader(http.StatusAccepted)
	}
}

func (a *messageAgent) ack(sender string) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.acks[sender]
}

func messageEvent(data, sender string, seq uint64) executorapi.Event {
	return executorapi.Event{Type: executorapi.EventMessage, Message: &executorapi.Message{Data: data, Sender: sender, Sequence: seq}}
}

// TestMessagesFromTheScheduler: each message is delivered once, in order,
// though the agent sends some again (as it does to an executor that
// subscribes again before acknowledging them); the driver acknowledges
// what it delivered. A message without a sender is delivered as it comes.
func TestMessagesFromTheScheduler(t *testing.T) {
	agent := &messageAgent{events: make(chan executorapi.Event, 16), acks: map[string]uint64{}}
	_, rec := registeredDriver(t, agent)
	for _, e := range []executorapi.Event{
		messageEvent("one", "s", 1), messageEvent("two", "s", 2), messageEvent("one", "s", 1), messageEvent("two", "s", 2),
		messageEvent("other", "t", 5), messageEvent("by hand", "", 0), messageEvent("three", "s", 3), messageEvent("other", "t", 5),
	} {
		agent.events <- e
	}
	wait(t, "the acknowledgements", func() bool { return agent.ack("s") == 3 && agent.ack("t") == 5 })
	var got []string
	rec.mu.Lock()
	for _, e := range rec.events {
		if m, ok := strings.CutPrefix(e, "message "); ok {
			got = append(got, m)
		}
	}
	rec.mu.Unlock()
	if d := cmp.Diff([]string{"one", "two", "other", "by hand", "three"}, got); d != "" {
		t.Errorf("delivered (-want +got):\n%s", d)
	}
}

// TestMessagesToTheScheduler: SendFrameworkMessage returns at once; the
// driver sends each message until the agent takes it (after a 429 and a
// 500), with one sender and sequence numbers 1, 2, 3 in the order they
// were given; a message that the agent refuses (a 4xx) is reported through
// Error and the next one still goes. One over 1024 bytes is an error, and
// nothing is sent.
func TestMessagesToTheScheduler(t *testing.T) {
	agent := &messageAgent{events: make(chan executorapi.Event), acks: map[string]uint64{},
		answers: []int{http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusAccepted, http.StatusNotFound}}
	srv := httptest.NewServer(agent)
	defer srv.Close()
	rec := &recorder{tasks: make(chan string, 1)}
	d := executor.NewDriver(rec, executor.Config{Endpoint: strings.TrimPrefix(srv.URL, "http://"), TokenFile: tokenFile(t), Namespace: "ns", Framework: "fw", ExecutorID: "e"})
	if err := d.SendFrameworkMessage(strings.Repeat("x", executorapi.MaxFrameworkMessageLength+1)); err == nil || !strings.Contains(err.Error(), "at most 1024") {
		t.Errorf("a message of 1025 bytes: %v", err)
	}
	for _, m := range []string{"a", "b", "c", strings.Repeat("é", 512)} {
		if err := d.SendFrameworkMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	wait(t, "the messages taken", func() bool {
		agent.mu.Lock()
		defer agent.mu.Unlock()
		return len(agent.taken) == 3
	})
	agent.mu.Lock()
	taken, tries := agent.taken, agent.tries
	agent.mu.Unlock()
	if tries != 6 {
		t.Errorf("%d MESSAGE calls, want 6 (a twice more, b refused)", tries)
	}
	var got []string
	for i, m := range taken {
		if m.Sender != taken[0].Sender || m.Sender == "" {
			t.Errorf("message %d from sender %q, want one sender throughout", i, m.Sender)
		}
		got = append(got, fmt.Sprintf("%s:%d", m.Data, m.Sequence))
	}
	if d := cmp.Diff([]string{"a:1", "c:3", strings.Repeat("é", 512) + ":4"}, got); d != "" {
		t.Errorf("taken (-want +got):\n%s", d)
	}
	if !rec.hasPrefix("error the agent refused framework message 2: 404") {
		t.Errorf("the refused message was not reported: %v", rec.events)
	}
}
