package leader

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	clocktesting "k8s.io/utils/clock/testing"
)

const hold = 3 * time.Second

// fakeLock is a Lease lock whose writes take latency on the fake clock and
// fail with err.
type fakeLock struct {
	resourcelock.Interface // nil: only the methods below are called
	clock                  *clocktesting.FakeClock
	latency                time.Duration
	err                    error
	writes                 int
}

func (l *fakeLock) Create(_ context.Context, _ resourcelock.LeaderElectionRecord) error {
	return l.write()
}

func (l *fakeLock) Update(_ context.Context, _ resourcelock.LeaderElectionRecord) error {
	return l.write()
}

func (l *fakeLock) write() error {
	l.writes++
	l.clock.Step(l.latency)
	return l.err
}

func (l *fakeLock) Identity() string { return "me" }

func mine() resourcelock.LeaderElectionRecord {
	return resourcelock.LeaderElectionRecord{HolderIdentity: "me", LeaseDurationSeconds: 4}
}

// newTestGuard returns a guard on a fake clock, its lock, and a count of
// onLost calls.
func newTestGuard() (*Guard, *fakeLock, *clocktesting.FakeClock, *atomic.Int32) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var lost atomic.Int32
	g := NewGuard(clk, hold, func() { lost.Add(1) }, logr.Discard())
	return g, &fakeLock{clock: clk}, clk, &lost
}

func isLost(g *Guard) bool {
	select {
	case <-g.Lost():
		return true
	default:
		return false
	}
}

// waitLost waits for the Guard to trip; the bound only keeps a broken
// test from hanging.
func waitLost(t *testing.T, g *Guard) {
	t.Helper()
	select {
	case <-g.Lost():
	case <-time.After(30 * time.Second):
		t.Fatal("the guard did not trip")
	}
}

func TestGuardAllowsWritesOnlyWhileTheLeaseIsSure(t *testing.T) {
	cases := []struct {
		name    string
		latency time.Duration // of each Lease write
		fail    bool          // the renewal fails
		steps   []time.Duration
		allowed []bool // Allow after each step
	}{
		{name: "held until the deadline, not at it", steps: []time.Duration{0, hold - time.Nanosecond, time.Nanosecond}, allowed: []bool{true, true, false}},
		{name: "the deadline counts from before the request was sent", latency: time.Second,
			// The acquisition was sent at 0 and returned at 1s: the
			// deadline is 3s, not 4s.
			steps: []time.Duration{hold - time.Second - time.Nanosecond, time.Nanosecond}, allowed: []bool{true, false}},
		{name: "a failed acquisition holds nothing", fail: true, steps: []time.Duration{0}, allowed: []bool{false}},
		{name: "a pause past the deadline is seen on the first look", steps: []time.Duration{time.Second, time.Hour}, allowed: []bool{true, false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, lock, clk, _ := newTestGuard()
			l := g.Lock(lock)
			lock.latency = tc.latency
			if tc.fail {
				lock.err = errors.New("conflict")
			}
			_ = l.Create(context.Background(), mine())
			for i, step := range tc.steps {
				clk.Step(step)
				err := g.Allow()
				if (err == nil) != tc.allowed[i] {
					t.Fatalf("after step %d (%s): Allow() = %v, want allowed=%v", i, step, err, tc.allowed[i])
				}
				if err != nil && !errors.Is(err, ErrNotLeading) {
					t.Fatalf("the refusal %v does not wrap ErrNotLeading", err)
				}
			}
		})
	}
}

func TestGuardBeforeTheFirstAcquisitionRefusesWithoutTripping(t *testing.T) {
	g, _, _, lost := newTestGuard()
	if err := g.Allow(); !errors.Is(err, ErrNotLeading) {
		t.Fatalf("a master that never held the Lease may write: %v", err)
	}
	if isLost(g) || lost.Load() != 0 {
		t.Fatal("a standby's guard tripped: it has nothing to lose")
	}
	if g.Refused() != 1 {
		t.Errorf("Refused() = %d, want 1", g.Refused())
	}
}

func TestGuardRenewalsExtendTheDeadline(t *testing.T) {
	g, lock, clk, _ := newTestGuard()
	l := g.Lock(lock)
	if err := l.Create(context.Background(), mine()); err != nil {
		t.Fatal(err)
	}
	// Renew every 2s for 20s: always within the deadline.
	for range 10 {
		clk.Step(2 * time.Second)
		if err := g.Allow(); err != nil {
			t.Fatalf("refused between renewals: %v", err)
		}
		if err := l.Update(context.Background(), mine()); err != nil {
			t.Fatal(err)
		}
	}
	// A failed renewal does not extend it.
	lock.err = errors.New("timeout")
	_ = l.Update(context.Background(), mine())
	clk.Step(hold)
	if err := g.Allow(); err == nil {
		t.Fatal("a failed renewal extended the deadline")
	}
}

func TestGuardTripsForGoodAndCallsOnLostOnce(t *testing.T) {
	g, lock, clk, lost := newTestGuard()
	l := g.Lock(lock)
	_ = l.Create(context.Background(), mine())
	clk.Step(hold)
	for range 3 {
		if err := g.Allow(); err == nil {
			t.Fatal("allowed after the deadline")
		}
	}
	waitLost(t, g)
	// A renewal that succeeds afterwards does not bring writes back: the
	// master has stopped, and stays stopped.
	if err := l.Update(context.Background(), mine()); err != nil {
		t.Fatal(err)
	}
	if err := g.Allow(); err == nil {
		t.Fatal("a renewal after the trip allowed writes again")
	}
	deadline := time.Now().Add(30 * time.Second)
	for lost.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := lost.Load(); n != 1 {
		t.Errorf("onLost called %d times, want 1", n)
	}
	if g.Refused() != 4 {
		t.Errorf("Refused() = %d, want 4", g.Refused())
	}
}

func TestGuardARenewalThatReturnsAfterTheDeadlineTrips(t *testing.T) {
	g, lock, clk, _ := newTestGuard()
	l := g.Lock(lock)
	_ = l.Create(context.Background(), mine())
	clk.Step(2 * time.Second)
	// Sent at 2s, inside the deadline; returned at 3.5s, after it.
	lock.latency = 1500 * time.Millisecond
	if err := l.Update(context.Background(), mine()); err != nil {
		t.Fatal(err)
	}
	if !isLost(g) {
		t.Fatal("a renewal that returned after the deadline extended it")
	}
}

func TestGuardAReleaseTrips(t *testing.T) {
	g, lock, _, _ := newTestGuard()
	l := g.Lock(lock)
	_ = l.Create(context.Background(), mine())
	if err := l.Update(context.Background(), resourcelock.LeaderElectionRecord{LeaseDurationSeconds: 1}); err != nil {
		t.Fatal(err)
	}
	if !isLost(g) || g.Allow() == nil {
		t.Fatal("a master that released the Lease may still write")
	}
}

func TestGuardWatchdogTripsWithoutAWrite(t *testing.T) {
	g, lock, clk, lost := newTestGuard()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- g.Start(ctx) }()
	l := g.Lock(lock)
	_ = l.Create(context.Background(), mine())
	waitTimer(t, clk)
	// Renewed at 2s: the first timer (for 3s) fires, finds the deadline
	// moved to 5s, and waits again.
	clk.Step(2 * time.Second)
	_ = l.Update(context.Background(), mine())
	clk.Step(1500 * time.Millisecond)
	waitTimer(t, clk)
	if isLost(g) {
		t.Fatal("the watchdog tripped inside the deadline")
	}
	clk.Step(1500 * time.Millisecond)
	waitLost(t, g)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the watchdog did not return after tripping")
	}
	for lost.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
}

// waitTimer waits until the watchdog has set its timer.
func waitTimer(t *testing.T, clk *clocktesting.FakeClock) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !clk.HasWaiters() {
		if time.Now().After(deadline) {
			t.Fatal("the watchdog set no timer")
		}
		time.Sleep(time.Millisecond)
	}
}

// recordingTransport records the requests that reach it.
type recordingTransport struct {
	mu   sync.Mutex
	sent []string
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, req.Method)
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("{}")), Request: req}, nil
}

// closeRecorder is a request body that records whether it was closed.
type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestTransportRefusedWritesNeverLeave(t *testing.T) {
	g, lock, clk, _ := newTestGuard()
	inner := &recordingTransport{}
	rt := g.Transport(inner)
	_ = g.Lock(lock).Create(context.Background(), mine())
	send := func(method string) (*closeRecorder, error) {
		body := &closeRecorder{Reader: strings.NewReader("{}")}
		req, _ := http.NewRequest(method, "https://apiserver/api/v1/namespaces/ns/pods", body)
		resp, err := rt.RoundTrip(req)
		if resp != nil {
			_ = resp.Body.Close()
		}
		return body, err
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodGet} {
		if _, err := send(m); err != nil {
			t.Fatalf("%s while holding: %v", m, err)
		}
	}
	clk.Step(hold)
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		body, err := send(m)
		if !errors.Is(err, ErrNotLeading) || !strings.Contains(err.Error(), m+" /api/v1/namespaces/ns/pods") {
			t.Errorf("%s after the deadline: %v, want ErrNotLeading naming the request", m, err)
		}
		if !body.closed {
			t.Errorf("the body of the refused %s was not closed", m)
		}
	}
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		if _, err := send(m); err != nil {
			t.Errorf("a read (%s) was refused: %v", m, err)
		}
	}
	want := "POST PUT PATCH DELETE GET GET HEAD"
	if got := strings.Join(inner.sent, " "); got != want {
		t.Errorf("sent %q, want %q: a refused write left the process", got, want)
	}
}
