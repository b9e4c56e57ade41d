package leader

import (
	"context"
	"fmt"
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
