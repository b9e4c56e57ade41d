package agent

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/kubemesos/kubemesos/agent/executorapi"
)

// goneHooks records the executors whose streams ended, and the context
// each was told under.
type goneHooks struct {
	floodHooks
	gone chan ExecutorKey
	ctxs chan context.Context
}

func (h *goneHooks) Unsubscribed(ctx context.Context, k ExecutorKey) {
	h.ctxs <- ctx
	h.gone <- k
}

// TestStreamEndTellsTheAgent: when an executor's stream ends, the agent is
// told at once (its tasks start their re-registration timeout then), and
// not when an executor replaces its own stream. It is told under the
// server's context, which outlives the stream's call and ends with the
// server.
func TestStreamEndTellsTheAgent(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hooks := &goneHooks{gone: make(chan ExecutorKey, 4), ctxs: make(chan context.Context, 4)}
	srv := &ExecutorServer{Hooks: hooks, Log: logr.Discard(), Clock: clock.RealClock{}, Limits: DefaultServerLimits()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ctx, ln) }()
	subscribe := func() (context.CancelFunc, *http.Response) {
		sctx, scancel := context.WithCancel(ctx)
		body, _ := json.Marshal(executorapi.Call{Type: executorapi.CallSubscribe, Namespace: "ns", Framework: "fw", ExecutorID: "e"})
		req, _ := http.NewRequestWithContext(sctx, http.MethodPost, "http://"+ln.Addr().String()+executorapi.Path, strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer exec-e")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("SUBSCRIBE: %v %v", err, resp)
		}
		var ev executorapi.Event
		if err := executorapi.NewRecordReader(resp.Body).Read(&ev); err != nil || ev.Type != executorapi.EventSubscribed {
			t.Fatalf("first event %+v, %v", ev, err)
		}
		return scancel, resp
	}
	first, r1 := subscribe()
	defer r1.Body.Close()
	second, r2 := subscribe() // replaces the first stream: not a departure
	defer r2.Body.Close()
	first()
	second() // the executor goes away
	var told context.Context
	select {
	case k := <-hooks.gone:
		if k.ExecutorID != "e" {
			t.Errorf("told of %v", k)
		}
		told = <-hooks.ctxs
	case <-time.After(30 * time.Second):
		t.Fatal("the agent was not told that the stream ended")
	}
	if err := told.Err(); err != nil {
		t.Errorf("told under a context that had ended (%v): the call's, not the server's", err)
	}
	select {
	case k := <-hooks.gone:
		t.Errorf("told twice (%v): a replaced stream is not a departure", k)
	case <-time.After(500 * time.Millisecond):
	}
	cancel() // the agent stops
	select {
	case <-told.Done():
	case <-time.After(30 * time.Second):
		t.Error("the context the agent was told under did not end with the server")
	}
}

// TestSubscriptionEndsAreForgotten: the agent remembers when each
// executor's subscription ended for RememberEnds, not for as long as it
// runs (one entry per executor ID ever subscribed, before).
func TestSubscriptionEndsAreForgotten(t *testing.T) {
	var e subscriptionEnds
	start := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	keep := 2 * time.Minute
	key := func(i int) ExecutorKey {
		return ExecutorKey{Namespace: "ns", Framework: "fw", ExecutorID: strconv.Itoa(i)}
	}
	// One executor's stream ends every second for an hour.
	for i := range 3600 {
		e.ended(key(i), start.Add(time.Duration(i)*time.Second), keep)
	}
	if n := e.len(); n > 2*int(keep/time.Second)+1 {
		t.Errorf("%d subscription ends remembered after an hour, want at most those of the last %v (about %d)", n, 2*keep, 2*int(keep/time.Second))
	}
	if at, ok := e.since(key(3599)); !ok || !at.Equal(start.Add(3599*time.Second)) {
		t.Errorf("the last end: %v %v, want it remembered", at, ok)
	}
	if _, ok := e.since(key(0)); ok {
		t.Error("the first end, an hour old, is remembered")
	}

	var forever subscriptionEnds
	for i := range 100 {
		forever.ended(key(i), start.Add(time.Duration(i)*time.Hour), 0)
	}
	if n := forever.len(); n != 100 {
		t.Errorf("with no period, %d of 100 ends remembered", n)
	}
}
