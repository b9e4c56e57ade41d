package executor_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/sdk/executor"
)

// fakeAgent answers SUBSCRIBE with SUBSCRIBED and holds the stream; it
// answers the first `failures` UPDATE calls with `status` (a 500 when
// zero), then takes them.
type fakeAgent struct {
	mu       sync.Mutex
	failures int
	status   int
	updates  []executorapi.TaskStatus
	calls    int
	tokens   []string // the Authorization header of each UPDATE
}

func (f *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var c executorapi.Call
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &c); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch c.Type {
	case executorapi.CallSubscribe:
		subscribed(w, r)
	case executorapi.CallUpdate:
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls++
		f.tokens = append(f.tokens, r.Header.Get("Authorization"))
		if f.calls <= f.failures {
			if f.status == http.StatusTooManyRequests {
				http.Error(w, "task ns/job has 32 status updates waiting for the registry; send this one again later", f.status)
				return
			}
			http.Error(w, "the agent could not take the update (disk full); keep it and retry", http.StatusInternalServerError)
			return
		}
		f.updates = append(f.updates, c.Update.Status)
		w.WriteHeader(http.StatusAccepted)
	}
}

// tokenFile writes a token file, as the kubelet mounts one.
func tokenFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte("t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startDriver starts a driver for e against the fake agent srv, with a
// token file. The caller stops it (defer d.Stop()) before srv closes:
// closing a server waits for the streams it still serves.
func startDriver(t *testing.T, srv *httptest.Server, e executor.Executor) *executor.Driver {
	t.Helper()
	d := executor.NewDriver(e, executor.Config{Endpoint: strings.TrimPrefix(srv.URL, "http://"), TokenFile: tokenFile(t), Namespace: "ns", Framework: "fw", ExecutorID: "e"})
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	return d
}

// registeredDriver serves h as the agent, starts a driver against it for
// a recording executor, and waits until it is registered. When the test
// ends the driver stops, then the server closes.
func registeredDriver(t *testing.T, h http.Handler) (*executor.Driver, *recorder) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	rec := &recorder{tasks: make(chan string, 1)}
	d := startDriver(t, srv, rec)
	t.Cleanup(func() { _ = d.Stop() })
	wait(t, "registration", func() bool { return rec.has("registered") })
	return d, rec
}

// subscribed answers a SUBSCRIBE and holds the stream open.
func subscribed(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusOK)
	_ = executorapi.WriteRecord(w, executorapi.Event{Type: executorapi.EventSubscribed, Subscribed: &executorapi.Subscribed{AgentID: "a1"}})
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

// TestUpdateRetriedAfterAgentFailure: an update that the agent fails to
// take (a 500) is sent again while the stream stays up, and arrives; one
// that it refuses (a 4xx) is reported and dropped.
func TestUpdateRetriedAfterAgentFailure(t *testing.T) {
	agent := &fakeAgent{failures: 2}
	d, _ := registeredDriver(t, agent)
	if err := d.SendStatusUpdate(executor.TaskStatus{TaskID: "job", State: "TASK_FINISHED", Data: "result"}); err != nil {
		t.Fatalf("an update the agent failed to take: %v; want it kept", err)
	}
	wait(t, "the update to arrive after two 500s", func() bool {
		agent.mu.Lock()
		defer agent.mu.Unlock()
		return len(agent.updates) == 1 && agent.updates[0].Data == "result" && agent.calls == 3
	})

	d2, _ := registeredDriver(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c executorapi.Call
		_ = json.NewDecoder(r.Body).Decode(&c)
		if c.Type == executorapi.CallSubscribe {
			subscribed(w, r)
			return
		}
		http.Error(w, "task job: no such task on this agent", http.StatusNotFound)
	}))
	if err := d2.SendStatusUpdate(executor.TaskStatus{TaskID: "job", State: "TASK_RUNNING"}); err == nil || !strings.Contains(err.Error(), "no such task") {
		t.Errorf("a refused update: %v; want the agent's reason", err)
	}
}

// TestUpdateRetriedAfterTooManyRequests: a 429 (the agent holds too many of
// this executor's updates) is "slow down", not "refused": the update is
// sent again until the agent takes it.
func TestUpdateRetriedAfterTooManyRequests(t *testing.T) {
	agent := &fakeAgent{failures: 2, status: http.StatusTooManyRequests}
	d, _ := registeredDriver(t, agent)
	if err := d.SendStatusUpdate(executor.TaskStatus{TaskID: "job", State: "TASK_FINISHED", Data: "result"}); err != nil {
		t.Fatalf("an update the agent asked to send later: %v; want it kept", err)
	}
	wait(t, "the update to arrive after two 429s", func() bool {
		agent.mu.Lock()
		defer agent.mu.Unlock()
		return len(agent.updates) == 1 && agent.updates[0].Data == "result" && agent.calls == 3
	})
}

// TestTokenFileReadForEveryCall: the kubelet renews the executor's token in
// its file; the driver sends the current one with every call.
func TestTokenFileReadForEveryCall(t *testing.T) {
	agent := &fakeAgent{}
	srv := httptest.NewServer(agent)
	defer srv.Close()
	file := tokenFile(t)
	rec := &recorder{tasks: make(chan string, 1)}
	d := executor.NewDriver(rec, executor.Config{Endpoint: strings.TrimPrefix(srv.URL, "http://"), TokenFile: file, Namespace: "ns", Framework: "fw", ExecutorID: "e"})
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	wait(t, "registration", func() bool { return rec.has("registered") })
	if err := d.SendStatusUpdate(executor.TaskStatus{TaskID: "job", State: "TASK_RUNNING"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("renewed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.SendStatusUpdate(executor.TaskStatus{TaskID: "job", State: "TASK_FINISHED"}); err != nil {
		t.Fatal(err)
	}
	agent.mu.Lock()
	defer agent.mu.Unlock()
	if len(agent.tokens) != 2 || agent.tokens[0] != "Bearer t" || agent.tokens[1] != "Bearer renewed" {
		t.Errorf("tokens sent %q, want the file's token at each call", agent.tokens)
	}
}

// TestUpdatesKeepTheirOrderWhileOneIsRetried: an update that the agent
// asks to send later (a 429) holds back the ones sent after it, so that
// the agent takes a task's TASK_RUNNING before its TASK_FINISHED; a terminal
// update sent while the running one waits does not overtake it.
func TestUpdatesKeepTheirOrderWhileOneIsRetried(t *testing.T) {
	agent := &fakeAgent{failures: 1, status: http.StatusTooManyRequests}
	d, _ := registeredDriver(t, agent)
	for _, s := range []string{"TASK_RUNNING", "TASK_FINISHED"} {
		if err := d.SendStatusUpdate(executor.TaskStatus{TaskID: "job", State: kmv1.TaskState(s)}); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	wait(t, "both updates taken", func() bool {
		agent.mu.Lock()
		defer agent.mu.Unlock()
		return len(agent.updates) == 2
	})
	agent.mu.Lock()
	defer agent.mu.Unlock()
	if agent.updates[0].State != "TASK_RUNNING" || agent.updates[1].State != "TASK_FINISHED" {
		t.Errorf("the agent took %s then %s, want TASK_RUNNING then TASK_FINISHED", agent.updates[0].State, agent.updates[1].State)
	}
}

// overlapper records whether Error ran while another callback did.
type overlapper struct {
	recorder
	inFlight, overlaps atomic.Int32
	launched           chan struct{}
}

func (o *overlapper) Registered(d executor.ExecutorDriver, _ executor.Info) {
	// The agent asks for this update later, then refuses it: an Error
	// from the goroutine that sends it again.
	_ = d.SendStatusUpdate(executor.TaskStatus{TaskID: "job", State: kmv1.TaskRunning})
	o.add("registered")
}

func (o *overlapper) LaunchTask(_ executor.ExecutorDriver, task executorapi.TaskInfo) {
	o.inFlight.Add(1)
	defer o.inFlight.Add(-1)
	close(o.launched)
	time.Sleep(time.Second)
}

func (o *overlapper) Error(_ executor.ExecutorDriver, m string) {
	if o.inFlight.Load() != 0 {
		o.overlaps.Add(1)
	}
	o.add("error " + m)
}

// TestErrorWaitsForTheCallbackRunning: an update refused while it was being
// sent again in the background is reported through Error once the callback
// running (a LaunchTask) has returned, never beside it.
func TestErrorWaitsForTheCallbackRunning(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c executorapi.Call
		_ = json.NewDecoder(r.Body).Decode(&c)
		switch c.Type {
		case executorapi.CallSubscribe:
			w.WriteHeader(http.StatusOK)
			_ = executorapi.WriteRecord(w, executorapi.Event{Type: executorapi.EventSubscribed, Subscribed: &executorapi.Subscribed{AgentID: "a1"}})
			_ = executorapi.WriteRecord(w, executorapi.Event{Type: executorapi.EventLaunch, Launch: &executorapi.Launch{Task: executorapi.TaskInfo{TaskID: "slow"}}})
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		case executorapi.CallUpdate:
			if calls.Add(1) == 1 {
				http.Error(w, "slow down", http.StatusTooManyRequests)
				return
			}
			http.Error(w, "task job: no such task on this agent", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	o := &overlapper{recorder: recorder{tasks: make(chan string, 1)}, launched: make(chan struct{})}
	d := startDriver(t, srv, o)
	defer d.Stop()
	<-o.launched
	wait(t, "the refusal reported", func() bool { return o.hasPrefix("error ") })
	if n := o.overlaps.Load(); n != 0 {
		t.Errorf("Error ran %d times while LaunchTask ran", n)
	}
}
