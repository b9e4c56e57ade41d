package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// floodHooks are the agent's side of the executor API in the flood test:
// the token "exec-<id>" is executor <id> of ns/fw, and updates go into a
// real status update manager (checkpointed and fsynced under a temporary
// directory) whose registry is a slow recorder.
type floodHooks struct {
	updates *StatusUpdates
}

func (h *floodHooks) AgentID() string { return "ag-1" }

func (h *floodHooks) MesosIdentity(context.Context, ExecutorKey) (MesosIdentity, error) {
	return MesosIdentity{FrameworkID: "fw-uid", FrameworkName: "fw", Hostname: "node-1"}, nil
}

func (h *floodHooks) Task(context.Context, string, string) (*kmv1.Task, error) { return nil, nil }

func (h *floodHooks) Authenticate(_ context.Context, c Credentials) (ExecutorKey, error) {
	id, ok := strings.CutPrefix(c.BearerToken(), "exec-")
	if !ok {
		return ExecutorKey{}, unauthorized("not an executor token")
	}
	return ExecutorKey{Namespace: "ns", Framework: "fw", ExecutorID: id}, nil
}

func (h *floodHooks) Subscribed(context.Context, ExecutorKey, *executorapi.Subscribe) {}
func (h *floodHooks) Unsubscribed(context.Context, ExecutorKey)                       {}

func (h *floodHooks) Update(ctx context.Context, k ExecutorKey, s executorapi.TaskStatus) error {
	return slowDown(h.updates.Enqueue(ctx, Update{UUID: s.UUID, Task: types.NamespacedName{Namespace: k.Namespace, Name: s.TaskID}, AgentID: "ag-1",
		Framework: k.Framework, ExecutorID: k.ExecutorID, State: kmv1.TaskState(s.State), Source: kmv1.SourceExecutor, Data: s.Data, Timestamp: time.Now()}))
}

func (h *floodHooks) Message(context.Context, ExecutorKey, executorapi.Message) error { return nil }

func (h *floodHooks) AcknowledgeMessages(context.Context, ExecutorKey, []executorapi.MessageID) error {
	return nil
}

// floodClient makes calls from a loopback address of its own, as a pod
// has its own address.
type floodClient struct {
	c    *http.Client
	addr string
	from string
}

func newFloodClient(addr, from string) *floodClient {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	return &floodClient{addr: addr, from: from, c: &http.Client{Timeout: 20 * time.Second,
		Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 32, DisableCompression: true}}}
}

// post sends body as executor token; it returns the status, 0 when the
// connection failed.
func (f *floodClient) post(token string, body io.Reader, length int64) int {
	req, _ := http.NewRequest(http.MethodPost, "http://"+f.addr+executorapi.Path, body)
	req.ContentLength = length
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.c.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	return resp.StatusCode
}

func updateCall(exec, task, uuid, data string) []byte {
	b, _ := json.Marshal(executorapi.Call{Type: executorapi.CallUpdate, Namespace: "ns", Framework: "fw", ExecutorID: exec,
		Update: &executorapi.UpdateCall{Status: executorapi.TaskStatus{TaskID: task, State: "TASK_RUNNING", UUID: uuid, Data: data}}})
	return b
}

// endless is an endless body of one byte.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// codes counts answers by status.
type codes struct {
	mu sync.Mutex
	n  map[int]int
}

func (c *codes) add(code int) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[int]int{}
	}
	c.n[code]++
	c.mu.Unlock()
}

func (c *codes) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprint(c.n)
}

// heapBound is how much the heap (the agent's and the attackers', in this
// process) may grow while the executor API is attacked. Unbounded queues
// could hold the whole flood: 3000 updates of 60 kB are 180 MB.
const heapBound = 96 << 20

// TestExecutorAPIUnderAbuse attacks the executor API from loopback, each
// attacker (an executor, or a pod with no token) from an address of its
// own, with a bounded number of calls:
// connections that never send a request, headers sent a byte at a time,
// bodies of 8 MiB with and without a token, bodies sent a byte at a time,
// event streams that are never read, and a flood of 3000 updates of 60 kB
// from one executor. Meanwhile a well-behaved executor sends updates one
// at a time, each after the last was acknowledged on its event stream
// (which outlives the read timeout). The heap stays within heapBound,
// every update of the well-behaved executor is taken (202) and
// acknowledged, every update that got a 202 is written or coalesced into
// one that is (acknowledged), every slow or idle connection is cut off,
// and the server's goroutines are gone after.
func TestExecutorAPIUnderAbuse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var written atomic.Int64
	su := NewStatusUpdates(t.TempDir(), func(ctx context.Context, u Update) error {
		written.Add(1)
		select { // an API server write
		case <-time.After(2 * time.Millisecond):
		case <-ctx.Done():
		}
		return nil
	}, nil, clock.RealClock{}, logr.Discard())
	srv := &ExecutorServer{Hooks: &floodHooks{updates: su}, Log: logr.Discard(), Clock: clock.RealClock{}, Limits: ServerLimits{
		ReadHeaderTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
		MaxHeaderBytes: 16 << 10, MaxConnections: 128, MaxConnectionsPerIP: 16,
		MaxConcurrentCalls: 8, CallQueueTimeout: 5 * time.Second, MaxCallsPerExecutor: 4, MessageRate: 10, MessageBurst: 10,
	}}
	var ackMu sync.Mutex
	acked := map[string]bool{}
	su.ack = func(_ context.Context, u Update) {
		ackMu.Lock()
		acked[u.UUID] = true
		ackMu.Unlock()
		srv.Send(ExecutorKey{Namespace: u.Task.Namespace, Framework: u.Framework, ExecutorID: u.ExecutorID},
			executorapi.Event{Type: executorapi.EventAcknowledged, Acknowledged: &executorapi.Acknowledged{TaskID: u.Task.Name, UUID: u.UUID}})
	}
	go su.Run(ctx)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	serveCtx, stopServing := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx, ln) }()

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()
	var peak atomic.Uint64
	sampling := make(chan struct{})
	go func() {
		defer close(sampling)
		var m runtime.MemStats
		for ctx.Err() == nil {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-time.After(10 * time.Millisecond):
			case <-serveCtx.Done():
				return
			}
		}
	}()

	// The well-behaved executor subscribes from 127.0.0.1 and reads its
	// events.
	good := newFloodClient(addr, "127.0.0.1")
	sub, _ := json.Marshal(executorapi.Call{Type: executorapi.CallSubscribe, Namespace: "ns", Framework: "fw", ExecutorID: "good"})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+executorapi.Path, strings.NewReader(string(sub)))
	req.Header.Set("Authorization", "Bearer exec-good")
	stream, err := good.c.Do(req)
	if err != nil || stream.StatusCode != http.StatusOK {
		t.Fatalf("SUBSCRIBE of the well-behaved executor: %v %v", err, stream)
	}
	defer stream.Body.Close()
	acks := make(chan string, 16)
	go func() {
		rr := executorapi.NewRecordReader(stream.Body)
		for {
			var ev executorapi.Event
			if err := rr.Read(&ev); err != nil {
				close(acks)
				return
			}
			if ev.Type == executorapi.EventAcknowledged {
				acks <- ev.Acknowledged.UUID
			}
		}
	}()

	var attack sync.WaitGroup
	var accepted sync.Map // uuids of the flood answered 202
	floodCodes, junkCodes, slowCodes := &codes{}, &codes{}, &codes{}
	var slowlorisClosed, idleOpen atomic.Int32
	// Connections that never send a request (the agent keeps them, as
	// Mesos's executor library expects, within the limit per address), and
	// headers a byte at a time (cut off).
	for i := range 200 {
		attack.Add(1)
		go func() {
			defer attack.Done()
			from := "127.0.0.2"
			if i%2 == 1 {
				from = "127.0.0.3"
			}
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				slowlorisClosed.Add(1)
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			if from == "127.0.0.3" {
				_, _ = io.WriteString(c, "POST "+executorapi.Path+" HTTP/1.1\r\nHost: agent\r\n")
				for range 100 {
					if _, err := c.Write([]byte("X")); err != nil {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
			_, err = bufio.NewReader(c).ReadByte()
			switch {
			case err == nil || !isTimeout(err):
				slowlorisClosed.Add(1) // the server answered or closed it
			case from == "127.0.0.2":
				idleOpen.Add(1)
			}
		}()
	}
	// Bodies of 8 MiB: without a token, with one (and a length), with one
	// and chunked.
	for i := range 64 {
		attack.Add(1)
		go func() {
			defer attack.Done()
			c := newFloodClient(addr, "127.0.0.4")
			switch i % 3 {
			case 0:
				junkCodes.add(c.post("junk", io.LimitReader(endless{}, 8<<20), 8<<20))
			case 1:
				junkCodes.add(c.post("exec-big", io.LimitReader(endless{}, 8<<20), 8<<20))
			default:
				junkCodes.add(c.post("exec-big", io.LimitReader(endless{}, 8<<20), -1))
			}
		}()
	}
	// Bodies a byte at a time, from an executor.
	for range 8 {
		attack.Add(1)
		go func() {
			defer attack.Done()
			pr, pw := io.Pipe()
			go func() {
				for range 100 {
					if _, err := pw.Write([]byte("{")); err != nil {
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
				pw.Close()
			}()
			slowCodes.add(newFloodClient(addr, "127.0.0.5").post("exec-slow", pr, 1000))
			pr.Close()
		}()
	}
	// Event streams that are never read, with many updates behind them.
	for range 4 {
		attack.Add(1)
		go func() {
			defer attack.Done()
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.6")}}
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return
			}
			defer c.Close()
			body := `{"type":"SUBSCRIBE","namespace":"ns","framework":"fw","executor_id":"flood"}`
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: agent\r\nAuthorization: Bearer exec-flood\r\nContent-Length: %d\r\n\r\n%s", executorapi.Path, len(body), body)
			select {
			case <-time.After(10 * time.Second):
			case <-ctx.Done():
			}
		}()
	}
	// The flood: 3000 updates of 60 kB to 4 tasks, 16 at a time.
	data := strings.Repeat("d", 60_000)
	work := make(chan int)
	for range 16 {
		attack.Add(1)
		go func() {
			defer attack.Done()
			c := newFloodClient(addr, "127.0.0.7")
			for i := range work {
				uuid := fmt.Sprint("flood-", i)
				code := c.post("exec-flood", strings.NewReader(string(updateCall("flood", fmt.Sprint("f", i%4), uuid, data))), -1)
				floodCodes.add(code)
				if code == http.StatusAccepted {
					accepted.Store(uuid, true)
				}
			}
		}()
	}
	go func() {
		defer close(work)
		for i := range 3000 {
			select {
			case work <- i:
			case <-ctx.Done():
				return
			}
		}
	}()

	// The well-behaved executor: 100 updates, each once the last was
	// acknowledged.
	goodCodes := &codes{}
	for i := range 100 {
		uuid := fmt.Sprint("good-", i)
		code := good.post("exec-good", strings.NewReader(string(updateCall("good", "g", uuid, "ok"))), -1)
		goodCodes.add(code)
		if code != http.StatusAccepted {
			t.Errorf("update %d of the well-behaved executor: %d, want 202", i, code)
			continue
		}
		select {
		case got, ok := <-acks:
			if !ok || got != uuid {
				t.Fatalf("the well-behaved executor's stream: acknowledged %q (open %v), want %s", got, ok, uuid)
			}
		case <-ctx.Done():
			t.Fatalf("update %d of the well-behaved executor never acknowledged", i)
		}
	}
	attack.Wait()

	// Nothing that got a 202 is lost.
	var want []string
	accepted.Range(func(k, _ any) bool { want = append(want, k.(string)); return true })
	deadline := time.Now().Add(time.Minute)
	for {
		ackMu.Lock()
		missing := 0
		for _, u := range want {
			if !acked[u] {
				missing++
			}
		}
		ackMu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d updates answered 202 were never written", missing, len(want))
		}
		time.Sleep(50 * time.Millisecond)
	}
	growth := int64(peak.Load()) - int64(before.HeapAlloc)
	t.Logf("heap: %d MiB before, peak growth %d MiB (bound %d MiB); flood answers %s (%d taken, %d registry writes); "+
		"8 MiB bodies %s; byte-a-time bodies %s; %d of 200 idle or slow-header connections closed by the agent, %d idle ones kept; well-behaved executor %s",
		before.HeapAlloc>>20, growth>>20, heapBound>>20, floodCodes, len(want), written.Load(), junkCodes, slowCodes, slowlorisClosed.Load(), idleOpen.Load(), goodCodes)
	if growth > heapBound {
		t.Errorf("the heap grew by %d MiB under attack, more than %d MiB", growth>>20, heapBound>>20)
	}
	if len(want) == 0 || floodCodes.n[http.StatusTooManyRequests] == 0 {
		t.Errorf("the flood was neither taken nor slowed down: %s", floodCodes)
	}
	if junkCodes.n[http.StatusUnauthorized]+junkCodes.n[http.StatusRequestEntityTooLarge]+junkCodes.n[http.StatusTooManyRequests]+junkCodes.n[0] != 64 ||
		junkCodes.n[http.StatusRequestEntityTooLarge] == 0 {
		t.Errorf("8 MiB bodies: %s, want each refused (401, 413, 429) or cut off", junkCodes)
	}
	if slowCodes.n[http.StatusRequestTimeout]+slowCodes.n[http.StatusTooManyRequests]+slowCodes.n[0] != 8 {
		t.Errorf("bodies sent a byte at a time: %s, want each cut off (408, or the connection) or refused (429)", slowCodes)
	}
	if idle := idleOpen.Load(); idle > int32(srv.Limits.MaxConnectionsPerIP) || slowlorisClosed.Load()+idle != 200 {
		t.Errorf("of 100 idle connections from one address, the agent kept %d (at most %d); of 100 sending headers a byte at a time, it kept %d (want none)",
			idle, srv.Limits.MaxConnectionsPerIP, 200-slowlorisClosed.Load()-idle)
	}

	stream.Body.Close()
	stopServing()
	<-sampling
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for runtime.NumGoroutine() > goroutines+10 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines left after the attack, %d before:\n%s", runtime.NumGoroutine(), goroutines, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// serveExecutorAPI serves an ExecutorServer of limits, whose hooks are
// floodHooks', on a loopback port until the test ends, and returns it and
// its address.
func serveExecutorAPI(t *testing.T, limits ServerLimits) (*ExecutorServer, string) {
	t.Helper()
	return serveExecutorAPIWith(t, limits, &floodHooks{})
}

// serveExecutorAPIWith is serveExecutorAPI with hooks.
func serveExecutorAPIWith(t *testing.T, limits ServerLimits, hooks ExecutorHooks) (*ExecutorServer, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv := &ExecutorServer{Hooks: hooks, Log: logr.Discard(), Clock: clock.RealClock{}, Limits: limits}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	return srv, ln.Addr().String()
}

// TestEventStreamOutlivesReadTimeout: the read timeout bounds how long a
// call takes to arrive, not how long its event stream lasts.
func TestEventStreamOutlivesReadTimeout(t *testing.T) {
	limits := DefaultServerLimits()
	limits.ReadHeaderTimeout, limits.ReadTimeout = 100*time.Millisecond, 200*time.Millisecond
	srv, addr := serveExecutorAPI(t, limits)
	sub, _ := json.Marshal(executorapi.Call{Type: executorapi.CallSubscribe, Namespace: "ns", Framework: "fw", ExecutorID: "e"})
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+addr+executorapi.Path, strings.NewReader(string(sub)))
	req.Header.Set("Authorization", "Bearer exec-e")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("SUBSCRIBE: %v %v", err, resp)
	}
	defer resp.Body.Close()
	rr := executorapi.NewRecordReader(resp.Body)
	var ev executorapi.Event
	if err := rr.Read(&ev); err != nil || ev.Type != executorapi.EventSubscribed {
		t.Fatalf("first event %+v, %v", ev, err)
	}
	time.Sleep(5 * limits.ReadTimeout)
	k := ExecutorKey{Namespace: "ns", Framework: "fw", ExecutorID: "e"}
	if !srv.Send(k, executorapi.Event{Type: executorapi.EventMessage, Message: &executorapi.Message{Data: "still here"}}) {
		t.Fatal("the stream ended after the read timeout")
	}
	if err := rr.Read(&ev); err != nil || ev.Message == nil || ev.Message.Data != "still here" {
		t.Fatalf("event after the read timeout: %+v, %v", ev, err)
	}
}

// TestAnIdleConnectionStaysOpen: Mesos's executor library opens the
// connection for its calls when it connects, may send its first call long
// after, keeps the connection between calls, and takes its closing for the
// agent's loss (an executor of a framework without checkpointing then shuts
// down). A connection quiet for many times the header and read timeouts,
// new or kept alive, still answers; headers that start and stall are still
// cut off.
func TestAnIdleConnectionStaysOpen(t *testing.T) {
	limits := DefaultServerLimits()
	limits.ReadHeaderTimeout, limits.ReadTimeout = 100*time.Millisecond, 200*time.Millisecond
	_, addr := serveExecutorAPI(t, limits)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	for _, quiet := range []string{"new", "kept alive"} {
		time.Sleep(5 * limits.ReadTimeout)
		if _, err := io.WriteString(conn, "GET "+executorapi.Path+" HTTP/1.1\r\nHost: agent\r\n\r\n"); err != nil {
			t.Fatalf("writing a call on a connection %s and quiet for %s: %v", quiet, 5*limits.ReadTimeout, err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("a call on a connection %s and quiet for %s got no answer: %v", quiet, 5*limits.ReadTimeout, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("a GET on a connection %s and quiet: %s, want 405", quiet, resp.Status)
		}
	}
	stalled, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	_, _ = io.WriteString(stalled, "POST "+executorapi.Path+" HTTP/1.1\r\nHost: agent\r\n")
	_ = stalled.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := stalled.Read(make([]byte, 64)); isTimeout(err) {
		t.Errorf("headers that stall stayed open for 5 s, past the header timeout of %s", limits.ReadHeaderTimeout)
	}
}

// TestQuietConnectionsLockNoExecutorOut: with every place the agent has
// for connections taken by connections kept alive and quiet, an executor
// with a call gets in, in the place of the longest quiet one of the
// address holding the most (the server tells connlimit which are quiet).
func TestQuietConnectionsLockNoExecutorOut(t *testing.T) {
	limits := DefaultServerLimits()
	limits.MaxConnections, limits.MaxConnectionsPerIP = 4, 2
	_, addr := serveExecutorAPI(t, limits)
	getFrom := func(from string, conn net.Conn) (net.Conn, string) {
		if conn == nil {
			var err error
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
			if conn, err = d.Dial("tcp", addr); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(conn, "GET "+executorapi.Path+" HTTP/1.1\r\nHost: agent\r\n\r\n"); err != nil {
			return conn, err.Error()
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			return conn, err.Error()
		}
		resp.Body.Close()
		return conn, resp.Status
	}
	var kept []net.Conn
	for _, from := range []string{"127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"} {
		c, status := getFrom(from, nil)
		if !strings.HasPrefix(status, "405") {
			t.Fatalf("a GET from %s: %s, want 405", from, status)
		}
		kept = append(kept, c)
	}
	if _, status := getFrom("127.0.0.4", nil); !strings.HasPrefix(status, "405") {
		t.Fatalf("a call with every place taken by quiet connections: %s, want 405", status)
	}
	if _, status := getFrom("", kept[0]); strings.HasPrefix(status, "405") {
		t.Error("the longest quiet connection still answers; want it closed to make room")
	}
}

// TestUnreadStreamEnds: an executor that stops reading its event stream
// loses the stream once an event cannot be written within the write
// timeout; the agent does not keep a goroutine and its events for it.
func TestUnreadStreamEnds(t *testing.T) {
	limits := DefaultServerLimits()
	limits.WriteTimeout = 200 * time.Millisecond
	srv, addr := serveExecutorAPI(t, limits)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := `{"type":"SUBSCRIBE","namespace":"ns","framework":"fw","executor_id":"e"}`
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: agent\r\nAuthorization: Bearer exec-e\r\nContent-Length: %d\r\n\r\n%s", executorapi.Path, len(body), body)
	k := ExecutorKey{Namespace: "ns", Framework: "fw", ExecutorID: "e"}
	deadline := time.Now().Add(10 * time.Second)
	for !srv.Subscribed(k) {
		if time.Now().After(deadline) {
			t.Fatal("never subscribed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// 512 events of 64 kB (32 MiB): more than the socket buffers hold,
	// fewer than the subscription's queue, which never fills.
	data := strings.Repeat("m", 64<<10)
	for i := range 512 {
		if !srv.Send(k, executorapi.Event{Type: executorapi.EventMessage, Message: &executorapi.Message{Data: data}}) {
			t.Logf("the stream ended after %d events", i)
			break
		}
	}
	for srv.Subscribed(k) {
		if time.Now().After(deadline) {
			t.Fatal("an executor that reads nothing keeps its stream")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSubscribeTakesUnacknowledgedUpdates: a SUBSCRIBE whose
// unacknowledged updates the agent cannot all queue now is answered 429,
// without a stream, so that the executor subscribes again later with all
// of them; once there is room, it subscribes and their acknowledgements
// come on its stream.
func TestSubscribeTakesUnacknowledgedUpdates(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var down atomic.Bool
	down.Store(true)
	su := NewStatusUpdates(t.TempDir(), func(context.Context, Update) error {
		if down.Load() {
			return fmt.Errorf("the API server is down")
		}
		return nil
	}, nil, clock.RealClock{}, logr.Discard())
	su.perTask = 2
	srv := &ExecutorServer{Hooks: &floodHooks{updates: su}, Log: logr.Discard(), Clock: clock.RealClock{}}
	su.ack = func(_ context.Context, u Update) {
		srv.Send(ExecutorKey{Namespace: "ns", Framework: u.Framework, ExecutorID: u.ExecutorID},
			executorapi.Event{Type: executorapi.EventAcknowledged, Acknowledged: &executorapi.Acknowledged{TaskID: u.Task.Name, UUID: u.UUID}})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ctx, ln) }()
	call, _ := json.Marshal(executorapi.Call{Type: executorapi.CallSubscribe, Namespace: "ns", Framework: "fw", ExecutorID: "e",
		Subscribe: &executorapi.Subscribe{UnacknowledgedUpdates: []executorapi.TaskStatus{
			{TaskID: "t", State: "TASK_STARTING", UUID: "u1"}, {TaskID: "t", State: "TASK_RUNNING", UUID: "u2"}, {TaskID: "t", State: "TASK_RUNNING", UUID: "u3"}}}})
	subscribe := func() *http.Response {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+ln.Addr().String()+executorapi.Path, strings.NewReader(string(call)))
		req.Header.Set("Authorization", "Bearer exec-e")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := subscribe()
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	k := ExecutorKey{Namespace: "ns", Framework: "fw", ExecutorID: "e"}
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(msg), "send this one again later") || srv.Subscribed(k) {
		t.Fatalf("a SUBSCRIBE with more updates than fit: %d %q (subscribed %v), want 429 and no stream", resp.StatusCode, msg, srv.Subscribed(k))
	}
	down.Store(false)
	go su.Run(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for len(su.Pending(types.NamespacedName{Namespace: "ns", Name: "t"})) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the queue never drained")
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp = subscribe()
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("SUBSCRIBE once there is room: %d", resp.StatusCode)
	}
	rr := executorapi.NewRecordReader(resp.Body)
	acked := map[string]bool{}
	for len(acked) < 3 {
		var ev executorapi.Event
		if err := rr.Read(&ev); err != nil {
			t.Fatalf("the stream ended with %v acknowledged: %v", acked, err)
		}
		if ev.Type == executorapi.EventAcknowledged {
			acked[ev.Acknowledged.UUID] = true
		}
	}
}

// TestServerLimitsDefaults: a limit left unset (or negative) takes the
// default; none is "no bound", and none makes every call time out at once.
func TestServerLimitsDefaults(t *testing.T) {
	d := DefaultServerLimits()
	got := withDefaults(ServerLimits{WriteTimeout: time.Second, MaxConnections: -1}, d)
	want := d
	want.WriteTimeout = time.Second
	if got != want {
		t.Errorf("withDefaults = %+v, want %+v", got, want)
	}
}

// slowAuth authenticates as floodHooks does, after a delay.
type slowAuth struct {
	floodHooks
	delay time.Duration
}

func (h *slowAuth) Authenticate(ctx context.Context, c Credentials) (ExecutorKey, error) {
	time.Sleep(h.delay)
	return h.floodHooks.Authenticate(ctx, c)
}

// TestAnAnswerGetsTheWholeWriteTimeout: a call whose authentication takes
// longer than the write timeout (a slow TokenReview) still gets its answer:
// the timeout runs from when the answer is written, not from when the call
// came, so that a caller never sees a dropped connection where the agent
// answered.
func TestAnAnswerGetsTheWholeWriteTimeout(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	limits := DefaultServerLimits()
	limits.WriteTimeout = 300 * time.Millisecond
	srv := &ExecutorServer{Hooks: &slowAuth{delay: 600 * time.Millisecond}, Log: logr.Discard(), Clock: clock.RealClock{}, Limits: limits}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ctx, ln) }()
	body := `{"type":"MESSAGE","namespace":"ns","framework":"fw","executor_id":"e","message":{"data":"hi"}}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+ln.Addr().String()+executorapi.Path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer exec-e")
	req.Header.Set("Content-Type", executorapi.MediaType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("a call authenticated slowly got no answer: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(resp.Body)
		t.Errorf("answered %d %q, want 202", resp.StatusCode, b)
	}
}

// TestMesosRetry: a caller of the Mesos form gets 503 where the kubemesos
// form gets 429 or the agent's own 500, since Mesos's executor library
// aborts on anything but 200, 202, 404 and 503; other refusals stay.
func TestMesosRetry(t *testing.T) {
	s := &ExecutorServer{Log: logr.Discard()}
	internal := errors.New("the checkpoint cannot be written")
	for _, tc := range []struct {
		name  string
		mesos bool
		err   error
		want  int
	}{
		{"the agent's failure, Mesos form", true, internal, http.StatusServiceUnavailable},
		{"the agent's failure, kubemesos form", false, internal, http.StatusInternalServerError},
		{"a full queue, Mesos form", true, &CallError{Status: http.StatusTooManyRequests, Err: errors.New("full")}, http.StatusServiceUnavailable},
		{"a full queue, kubemesos form", false, &CallError{Status: http.StatusTooManyRequests, Err: errors.New("full")}, http.StatusTooManyRequests},
		{"a bad call, Mesos form", true, &CallError{Status: http.StatusBadRequest, Err: errors.New("bad")}, http.StatusBadRequest},
	} {
		w := httptest.NewRecorder()
		code := s.callFailed(w, tc.mesos, tc.err, "taking a status update", "ns/fw/e")
		if code != tc.want || w.Code != tc.want {
			t.Errorf("%s: returned %d, answered %d; want %d", tc.name, code, w.Code, tc.want)
		}
	}
}

// failingUpdates are floodHooks whose agent cannot checkpoint an update.
type failingUpdates struct{ floodHooks }

func (h *failingUpdates) Update(context.Context, ExecutorKey, executorapi.TaskStatus) error {
	return errors.New("the checkpoint cannot be written")
}

// TestAMesosExecutorWhoseUpdateFailsSubscribesAgain: Mesos's executor
// library drops an update answered 503 and sends it again only with its
// next SUBSCRIBE, which follows a lost connection. The agent answers 503
// and ends the executor's stream, so that the executor connects again and
// resubscribes with the update, rather than wait for an acknowledgement
// that cannot come (a Mesos command executor gives up after a minute).
func TestAMesosExecutorWhoseUpdateFailsSubscribesAgain(t *testing.T) {
	_, addr := serveExecutorAPIWith(t, DefaultServerLimits(), &failingUpdates{})
	post := func(body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+executorapi.Path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer exec-e")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	ids := `"framework_id":{"value":"fw-uid"},"executor_id":{"value":"e"}`
	stream := post(`{"type":"SUBSCRIBE",` + ids + `,"subscribe":{}}`)
	defer stream.Body.Close()
	if stream.StatusCode != http.StatusOK {
		t.Fatalf("SUBSCRIBE: %s", stream.Status)
	}
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, stream.Body)
		ended <- err
	}()
	resp := post(`{"type":"UPDATE",` + ids + `,"update":{"status":{"task_id":{"value":"t1"},"state":"TASK_RUNNING","source":"SOURCE_EXECUTOR","uuid":"AAAAAAAAAAAAAAAAAAAAAA=="}}}`)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("an UPDATE the agent cannot checkpoint: %s %q, want 503", resp.Status, body)
	}
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the executor's stream goes on after its update was answered 503; want it ended, so that it subscribes again")
	}
}
