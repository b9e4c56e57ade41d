package executor_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	"github.com/kubemesos/kubemesos/sdk/executor"
)

// boundedAgent takes every UPDATE (202) but acknowledges none, checks each
// call as the agent does, and ends the first event stream when told.
type boundedAgent struct {
	mu         sync.Mutex
	subscribes []int    // body size of each SUBSCRIBE
	carried    []int    // unacknowledged updates in each SUBSCRIBE
	seen       []string // update UUIDs since the last SUBSCRIBE, in the order received
	invalid    []string
	drop       chan struct{}
}

func (a *boundedAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4*executorapi.MaxCallBytes))
	c, err := executorapi.ParseCall(body)
	if err != nil {
		a.mu.Lock()
		a.invalid = append(a.invalid, err.Error())
		a.mu.Unlock()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	if c.Type == executorapi.CallUpdate {
		a.seen = append(a.seen, c.Update.Status.UUID)
		a.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		return
	}
	first := len(a.subscribes) == 0
	a.subscribes = append(a.subscribes, len(body))
	a.carried = append(a.carried, len(c.Subscribe.UnacknowledgedUpdates))
	a.seen = nil
	for _, u := range c.Subscribe.UnacknowledgedUpdates {
		a.seen = append(a.seen, u.UUID)
	}
	a.mu.Unlock()
	w.WriteHeader(http.StatusOK)
	_ = executorapi.WriteRecord(w, executorapi.Event{Type: executorapi.EventSubscribed, Subscribed: &executorapi.Subscribed{AgentID: "a1"}})
	w.(http.Flusher).Flush()
	if first {
		select {
		case <-a.drop:
			return
		case <-r.Context().Done():
			return
		}
	}
	<-r.Context().Done()
}

// TestSubscribeCarriesWhatFits: an executor holding more unacknowledged
// updates than one SUBSCRIBE may carry (in number and bytes) subscribes
// with the oldest that fit, and sends the others as UPDATE calls, in the
// order it first sent them: the agent refuses none and none is lost.
func TestSubscribeCarriesWhatFits(t *testing.T) {
	agent := &boundedAgent{drop: make(chan struct{})}
	d, _ := registeredDriver(t, agent)
	const n = 300
	data := strings.Repeat("d", 10_000) // 300 × 10 kB: three times what a call holds
	for i := range n {
		if err := d.SendStatusUpdate(executor.TaskStatus{TaskID: fmt.Sprint("t", i), State: "TASK_RUNNING", Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	agent.mu.Lock()
	sent := append([]string(nil), agent.seen...)
	agent.mu.Unlock()
	if len(sent) != n {
		t.Fatalf("%d updates reached the agent, want %d", len(sent), n)
	}
	close(agent.drop) // the stream breaks; nothing was acknowledged
	wait(t, "every update again after the new SUBSCRIBE", func() bool {
		agent.mu.Lock()
		defer agent.mu.Unlock()
		return len(agent.subscribes) >= 2 && len(agent.seen) >= n
	})
	agent.mu.Lock()
	defer agent.mu.Unlock()
	if len(agent.invalid) > 0 {
		t.Errorf("the agent refused calls: %q", agent.invalid)
	}
	if size, carried := agent.subscribes[1], agent.carried[1]; size > executorapi.MaxCallBytes || carried == 0 || carried > executorapi.MaxUnacknowledgedUpdates {
		t.Errorf("the second SUBSCRIBE: %d bytes, %d updates", size, carried)
	}
	for i := range sent {
		if agent.seen[i] != sent[i] {
			t.Fatalf("update %d resent out of order: %s, want %s", i, agent.seen[i], sent[i])
		}
	}
}
