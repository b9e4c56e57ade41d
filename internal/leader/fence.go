package leader

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Transport wraps rt so that every write (any method but GET, HEAD and
// OPTIONS) asks the Guard first, as late as it can: after client-go's rate
// limiter and retries, just before the request is sent. A refused write
// never leaves the process; its error wraps ErrNotLeading.
func (g *Guard) Transport(rt http.RoundTripper) http.RoundTripper {
	return &fencedTransport{g: g, rt: rt}
}

type fencedTransport struct {
	g  *Guard
	rt http.RoundTripper
}

// RoundTrip sends req unless it is a write that the Guard refuses.
func (t *fencedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if isWrite(req.Method) {
		if err := t.g.Allow(); err != nil {
			if req.Body != nil {
				_ = req.Body.Close() // a RoundTripper closes the body, even on errors
			}
			return nil, fmt.Errorf("%w: %s %s", err, req.Method, req.URL.Path)
		}
	}
	return t.rt.RoundTrip(req)
}

// DialFunc is how client-go dials the API server (rest.Config.Dial).
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Dial wraps dial so that every write to the API server's socket asks the
// Guard again: once the Guard finds the deadline passed, nothing more leaves
// the process on that connection, and the connection is closed. The
// Transport's check comes before client-go's HTTP/2 connection queues the
// request (behind flow control, behind other streams); a process paused in
// between, or in the middle of sending, would otherwise send a write that
// the Transport allowed well after its deadline, when a standby may have
// taken over (the fault campaign's leader pauses found such writes). A
// connection of a master that never held the Lease (a standby) is not
// refused: it reads, and the Transport refuses its writes.
func (g *Guard) Dial(dial DialFunc) DialFunc {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		conn, err := dial(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return &fencedConn{Conn: conn, g: g}, nil
	}
}

// fencedConn is a connection whose writes the Guard may refuse.
type fencedConn struct {
	net.Conn
	g *Guard
}

// Write sends p unless the Guard held the Lease and its deadline passed.
func (c *fencedConn) Write(p []byte) (int, error) {
	if err := c.g.sending(); err != nil {
		_ = c.Conn.Close()
		return 0, err
	}
	return c.Conn.Write(p)
}

// WrappedRoundTripper lets client-go reach the transport below, as its own
// wrappers do.
func (t *fencedTransport) WrappedRoundTripper() http.RoundTripper { return t.rt }

func isWrite(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// Lock wraps the leader election lock so that the Guard learns of every
// successful write of the Lease: it notes the clock before the request is
// sent, and extends the deadline from there once the write succeeds. The
// Lease is written with its resourceVersion, so a success means no other
// master took it in between; a standby that sees this renewal waits the
// Lease's duration from when it reads it, which is later than when the
// renewal was sent.
func (g *Guard) Lock(l resourcelock.Interface) resourcelock.Interface {
	return &fencedLock{Interface: l, g: g}
}

type fencedLock struct {
	resourcelock.Interface
	g *Guard
}

// Create creates the Lease and records the renewal.
func (l *fencedLock) Create(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	return l.write(ctx, r, l.Interface.Create)
}

// Update updates the Lease and records the renewal.
func (l *fencedLock) Update(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	return l.write(ctx, r, l.Interface.Update)
}

func (l *fencedLock) write(ctx context.Context, r resourcelock.LeaderElectionRecord, do func(context.Context, resourcelock.LeaderElectionRecord) error) error {
	start := l.g.clock.Now()
	if err := do(ctx, r); err != nil {
		return err
	}
	if r.HolderIdentity != l.Identity() {
		l.g.released()
		return nil
	}
	l.g.renewedAt(start)
	return nil
}
