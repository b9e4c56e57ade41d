package agent

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
)

// stream is one subscription of executor ns/fw/e to a real executor API
// server, as the executor reads it.
type stream struct {
	events chan executorapi.Event
	cancel context.CancelFunc
}

func subscribeE(t *testing.T, ctx context.Context, addr string) *stream {
	t.Helper()
	sctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	body, _ := json.Marshal(executorapi.Call{Type: executorapi.CallSubscribe, Namespace: "ns", Framework: "fw", ExecutorID: "e"})
	req, _ := http.NewRequestWithContext(sctx, http.MethodPost, "http://"+addr+executorapi.Path, strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer exec-e")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("SUBSCRIBE: %v %v", err, resp)
	}
	s := &stream{events: make(chan executorapi.Event, 64), cancel: cancel}
	rr := executorapi.NewRecordReader(resp.Body)
	var ev executorapi.Event
	if err := rr.Read(&ev); err != nil || ev.Type != executorapi.EventSubscribed {
		t.Fatalf("first event %+v, %v", ev, err)
	}
	go func() {
		defer resp.Body.Close()
		defer close(s.events)
		for {
			var ev executorapi.Event
			if err := rr.Read(&ev); err != nil {
				return
			}
			s.events <- ev
		}
	}()
	return s
}

// next reads the next event, which must come.
func (s *stream) next(t *testing.T) string {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatal("the stream ended")
		}
		switch {
		case ev.Launch != nil:
			return string(ev.Type) + " " + ev.Launch.Task.TaskID
		case ev.Kill != nil:
			return string(ev.Type) + " " + ev.Kill.TaskID
		}
		return string(ev.Type)
	case <-time.After(30 * time.Second):
		t.Fatal("no event")
	}
	return ""
}

// TestDispatcherOncePerSubscription: LAUNCH and KILL go to an executor once
// per subscription; a new subscription starts afresh, except for the tasks
// the executor says it holds; what the latest subscription was sent is
// remembered after its stream ends, until the executor subscribes again.
func TestDispatcherOncePerSubscription(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := &ExecutorServer{Hooks: &floodHooks{}, Log: logr.Discard(), Clock: clock.RealClock{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ctx, ln) }()
	d := newDispatcher(srv)
	task := func(name string) *kmv1.Task {
		tk := b.MakeTask(name, "ns").Framework("fw").Executor("e", "img").Obj()
		tk.UID = types.UID("uid-" + name)
		return tk
	}
	t1, t2 := task("t1"), task("t2")
	k := executorOf(t1)

	if d.launch(t1); d.launched(t1) {
		t.Fatal("launched before the executor subscribed")
	}
	first := subscribeE(t, ctx, ln.Addr().String())
	gen, ok := srv.Subscription(k)
	if !ok {
		t.Fatal("not subscribed")
	}
	if d.launch(t1); d.launched(t1) {
		t.Fatal("launched on a subscription that has not begun (what the executor holds is not known yet)")
	}
	d.begin(k, gen, nil)
	d.launch(t1)
	d.launch(t1)
	d.kill(t1)
	d.kill(t1)
	d.launch(t2)
	// Each once, in order: the second LAUNCH t1 would come before KILL t1.
	for _, want := range []string{"LAUNCH t1", "KILL t1", "LAUNCH t2"} {
		if got := first.next(t); got != want {
			t.Fatalf("event %q, want %q", got, want)
		}
	}
	if !d.launched(t1) || !d.launched(t2) {
		t.Error("the tasks sent are not recorded as launched")
	}
	first.cancel()
	eventually(t, "the stream ended", func() bool { return !srv.Subscribed(k) })
	if !d.launched(t1) {
		t.Error("the stream's end forgot what it was sent")
	}

	// A new subscription, on which the executor says it holds t2.
	second := subscribeE(t, ctx, ln.Addr().String())
	gen, ok = srv.Subscription(k)
	if !ok {
		t.Fatal("not subscribed")
	}
	d.begin(k, gen, []types.UID{t2.UID})
	if d.launched(t1) || !d.launched(t2) {
		t.Errorf("after a new subscription: t1 launched %v (want false), t2 %v (want true)", d.launched(t1), d.launched(t2))
	}
	d.launch(t2) // held: not sent
	d.launch(t1) // sent again, on the new stream
	d.kill(t1)
	for _, want := range []string{"LAUNCH t1", "KILL t1"} {
		if got := second.next(t); got != want {
			t.Fatalf("on the new stream: event %q, want %q", got, want)
		}
	}

	// An executor that is shut down is forgotten.
	d.shutdown(k)
	if got := second.next(t); got != string(executorapi.EventShutdown) {
		t.Errorf("event %q, want SHUTDOWN", got)
	}
	if d.launched(t1) {
		t.Error("a shut down executor's record is kept")
	}
}
