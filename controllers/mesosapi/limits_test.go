package mesosapi_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	"github.com/kubemesos/kubemesos/controllers/mesosapi"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

// TestCallsAreBounded: what one caller can make the master hold is
// bounded. A call whose body is not sent in time gets 408; while calls
// fill MaxConcurrentCalls' places to read bodies, the next waits and then
// gets 503 with Retry-After (a call being handled, or a stream, holds no
// place); and a task ID of any length that a RECONCILE names comes back
// in its TASK_LOST cut to 255 bytes.
func TestCallsAreBounded(t *testing.T) {
	ns := newNamespace(t)
	o := apiOptions(t, ns)
	o.MaxConcurrentCalls = 1
	o.BodyReadTimeout = 12 * time.Second
	url := startAPI(t, o, false)
	mt := mesoswire.MediaJSON
	es := subscribe(t, url, mt, frameworkInfo("bounded"))
	fwID := es.next(schedulerv1.Event_SUBSCRIBED).GetSubscribed().GetFrameworkId()
	reconcile := func(ids ...string) *schedulerv1.Call {
		r := &schedulerv1.Call_Reconcile{}
		for _, id := range ids {
			r.Tasks = append(r.Tasks, &schedulerv1.Call_Reconcile_Task{TaskId: &mesosv1.TaskID{Value: proto.String(id)}})
		}
		return &schedulerv1.Call{Type: schedulerv1.Call_RECONCILE.Enum(), FrameworkId: fwID, Reconcile: r}
	}
	long := strings.Repeat("a", 300)
	if code, body := call(t, url, mt, es.id, reconcile(long)); code != http.StatusAccepted {
		t.Fatalf("a RECONCILE with the one place free answered %d %q, want 202", code, body)
	}
	if id := es.next(schedulerv1.Event_UPDATE).GetUpdate().GetStatus().GetTaskId().GetValue(); id != long[:255] {
		t.Errorf("the TASK_LOST of a 300-byte task ID names %d bytes, want the first 255", len(id))
	}

	// A call that sends its headers and never its body holds the place.
	conn := stalledCall(t, o.BindAddress, mt)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp := request{contentType: mt, streamID: es.id, body: encode(t, mt, reconcile())}.do(t, url)
		retry := resp.Header.Get("Retry-After")
		code, body := answer(t, resp)
		if code == http.StatusServiceUnavailable {
			if retry != "1" || !strings.Contains(body, "Too many call bodies being read") {
				t.Errorf("503 %q with Retry-After %q, want Retry-After 1", body, retry)
			}
			break
		}
		if code != http.StatusAccepted || time.Now().After(deadline) {
			t.Fatalf("a call while the only place is held answered %d %q, want 503 after its wait", code, body)
		}
	}
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(status, "408") {
		t.Fatalf("the stalled call got %q (%v), want 408 once BodyReadTimeout passed", status, err)
	}
	testEventuallyAccepted(t, url, mt, es.id, reconcile())
}

// stalledCall sends a call's headers to the API at addr and one byte of
// its body of 1000, and no more; the connection closes when the test ends.
func stalledCall(t *testing.T, addr, mt string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write([]byte("POST " + mesosapi.Path + " HTTP/1.1\r\nHost: master\r\nContent-Type: " + mt + "\r\nContent-Length: 1000\r\n\r\n{")); err != nil {
		t.Fatal(err)
	}
	return conn
}

// testEventuallyAccepted waits until c is answered 202: the place held by
// a call that ended is free again.
func testEventuallyAccepted(t *testing.T, url, mt, streamID string, c *schedulerv1.Call) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := call(t, url, mt, streamID, c)
		if code == http.StatusAccepted {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s answered %d %q once the stalled call ended, want 202", c.GetType(), code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAnIdleConnectionStaysOpen: Mesos's scheduler library opens the
// connection for its calls when it connects and may send its first call
// long after; it takes the connection's closing for the master's loss. A
// connection quiet for longer than the header timeout still answers its
// first call; headers that start and stall are cut off.
func TestAnIdleConnectionStaysOpen(t *testing.T) {
	ns := newNamespace(t)
	o := apiOptions(t, ns)
	o.HeaderReadTimeout = time.Second
	startAPI(t, o, false)
	conn, err := net.Dial("tcp", o.BindAddress)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stalled, err := net.Dial("tcp", o.BindAddress)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	if _, err := stalled.Write([]byte("POST " + mesosapi.Path + " HTTP/1.1\r\nHost: master\r\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * o.HeaderReadTimeout)
	if _, err := conn.Write([]byte("GET " + mesosapi.Path + " HTTP/1.1\r\nHost: master\r\n\r\n")); err != nil {
		t.Fatalf("writing the first call on a connection idle for %s: %v", 3*o.HeaderReadTimeout, err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 405") {
		t.Errorf("the first call on a connection idle for %s got %q (%v), want 405 (a GET)", 3*o.HeaderReadTimeout, status, err)
	}
	_ = stalled.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := stalled.Read(make([]byte, 64)); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("headers stalled for %s, past the header timeout of %s, and the connection is still open", 3*o.HeaderReadTimeout, o.HeaderReadTimeout)
	}
}

// TestATenantsCallsAreBounded: one namespace's calls in flight are bounded
// (MaxCallsPerNamespace): past it a call waits for a place, then gets 503
// with Retry-After, which Mesos's scheduler library takes calmly (any
// other refusal is an ERROR its frameworks abort on), so that one tenant
// cannot hold every place the master has for calls. A stream holds no
// place.
func TestATenantsCallsAreBounded(t *testing.T) {
	ns := newNamespace(t)
	o := apiOptions(t, ns)
	o.MaxCallsPerNamespace = 1
	o.BodyReadTimeout = 12 * time.Second
	url := startAPI(t, o, false)
	mt := mesoswire.MediaJSON
	es := subscribe(t, url, mt, frameworkInfo("tenant-bounded"))
	fwID := es.next(schedulerv1.Event_SUBSCRIBED).GetSubscribed().GetFrameworkId()
	reconcile := &schedulerv1.Call{Type: schedulerv1.Call_RECONCILE.Enum(), FrameworkId: fwID, Reconcile: &schedulerv1.Call_Reconcile{}}
	if code, body := call(t, url, mt, es.id, reconcile); code != http.StatusAccepted {
		t.Fatalf("a call beside the open stream: %d %q, want 202", code, body)
	}
	// Two calls that send their headers and never their bodies: one holds
	// the namespace's place until it gets 408, the other waits for it and
	// gets 503 first.
	var answers []string
	for _, conn := range []net.Conn{stalledCall(t, o.BindAddress, mt), stalledCall(t, o.BindAddress, mt)} {
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("a stalled call got no answer: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable &&
			(resp.Header.Get("Retry-After") != "1" || !strings.Contains(string(body), "Too many calls in flight from namespace "+ns)) {
			t.Errorf("503 %q with Retry-After %q, want the namespace's bound and Retry-After 1", body, resp.Header.Get("Retry-After"))
		}
		answers = append(answers, strconv.Itoa(resp.StatusCode))
	}
	slices.Sort(answers)
	if got := strings.Join(answers, ","); got != "408,503" {
		t.Errorf("the two stalled calls got %s, want 408 (the one with the place) and 503 (the one waiting)", got)
	}
	testEventuallyAccepted(t, url, mt, es.id, reconcile)
}
