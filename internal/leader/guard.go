package leader

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"
)

// ErrNotLeading is the error of a write that the Guard refused: this master
// has no Lease it can be sure of, because it never took it or because its
// renewals stopped (a pause, a partition) for longer than the renew deadline.
var ErrNotLeading = errors.New("refused: this master cannot be sure it holds the leader Lease")

// LostLeaseExitCode is the exit code of a master whose Guard tripped, so
// that an operator (and the e2e tests) can tell it from other failures.
const LostLeaseExitCode = 3

// Guard fences the writes of a leader. Writes are allowed only until hold
// after the start of the last successful write of the Lease, by a monotonic
// clock: a process resumed after a pause finds the deadline passed on its
// first look at the clock, before any write leaves it.
//
// Once the Guard finds the deadline passed (on a write, on a renewal that
// returns after it, or when its watchdog wakes) it trips, for good: it
// refuses every later write, even if a renewal succeeds afterwards, and calls
// onLost once. Reads are never refused.
type Guard struct {
	clock  clock.Clock
	hold   time.Duration
	onLost func()
	log    logr.Logger

	mu sync.Mutex
	// renewed is when the last successful Lease write was sent; zero
	// before the first one.
	renewed time.Time
	until   time.Time
	tripped bool
	refused int
	wake    chan struct{}
	lost    chan struct{}
	once    sync.Once
}

// NewGuard returns a Guard that allows writes until hold after the start
// of each successful Lease write, by clk, and calls onLost once when it
// trips. hold must be shorter than what standbys wait after a renewal they
// see (the Lease's duration in whole seconds); the difference is the time a
// write sent just before the deadline has to reach the API server.
func NewGuard(clk clock.Clock, hold time.Duration, onLost func(), log logr.Logger) *Guard {
	if onLost == nil {
		onLost = func() {}
	}
	return &Guard{clock: clk, hold: hold, onLost: onLost, log: log,
		wake: make(chan struct{}, 1), lost: make(chan struct{})}
}

// Allow returns nil when a write may be sent now, else an error that wraps
// ErrNotLeading. It trips the Guard when it finds the deadline passed.
func (g *Guard) Allow() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.holdingLocked(g.clock.Now()) {
		return nil
	}
	g.refused++
	return ErrNotLeading
}

// holdingLocked reports whether writes are allowed at now, tripping the
// Guard when the deadline has passed. g.mu is held.
func (g *Guard) holdingLocked(now time.Time) bool {
	switch {
	case g.tripped:
		return false
	case g.until.IsZero():
		return false // never held: a standby writes nothing
	case now.Before(g.until):
		return true
	}
	g.tripLocked(now, "the renew deadline passed since the last successful renewal")
	return false
}

// tripLocked marks the Guard lost and calls onLost in its own goroutine,
// once. g.mu is held.
func (g *Guard) tripLocked(now time.Time, why string) {
	if g.tripped {
		return
	}
	g.tripped = true
	g.log.Error(ErrNotLeading, "the leader can no longer be sure it holds its Lease: it writes nothing more and exits",
		"reason", why, "sinceRenewal", now.Sub(g.renewed).String(), "renewDeadline", g.hold.String())
	close(g.lost)
	g.once.Do(func() { go g.onLost() })
}

// renewedAt records a successful write of the Lease that holder sent at
// start. A renewal that returns after the deadline has passed does not
// extend it: the Guard trips instead, because writes may already have been
// refused, and a master that stopped writing stays stopped.
func (g *Guard) renewedAt(start time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.tripped || (!g.until.IsZero() && !g.holdingLocked(g.clock.Now())) {
		return
	}
	if until := start.Add(g.hold); until.After(g.until) {
		g.renewed, g.until = start, until
	}
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// released records that this master wrote a Lease record that names
// another holder (a release): it trips the Guard.
func (g *Guard) released() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tripLocked(g.clock.Now(), "the Lease was released")
}

// Lost is closed when the Guard trips.
func (g *Guard) Lost() <-chan struct{} { return g.lost }

// Refused returns how many writes the Guard has refused.
func (g *Guard) Refused() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refused
}

// Start is the Guard's watchdog, a manager.Runnable: it trips the Guard when
// the deadline passes without a renewal, so that a master that has nothing
// to write exits too. It returns when ctx ends or the Guard trips.
func (g *Guard) Start(ctx context.Context) error {
	for {
		g.mu.Lock()
		until, tripped := g.until, g.tripped
		g.mu.Unlock()
		if tripped {
			return nil
		}
		var fire <-chan time.Time
		var timer clock.Timer
		if !until.IsZero() {
			wait := until.Sub(g.clock.Now())
			if wait <= 0 {
				g.mu.Lock()
				g.holdingLocked(g.clock.Now())
				g.mu.Unlock()
				continue
			}
			timer = g.clock.NewTimer(wait)
			fire = timer.C()
		}
		select {
		case <-ctx.Done():
		case <-g.wake:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// NeedLeaderElection is false: the watchdog runs from the start, so that it
// is already watching when this master is elected.
func (g *Guard) NeedLeaderElection() bool { return false }
