package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// renewals judges heartbeat Leases by the master's own clock. A Lease's
// renewTime is stamped by its holder's clock, which may run ahead or behind
// the master's; comparing the two would remove a healthy agent whose clock
// lags and keep a dead one whose clock leads. So the master uses renewTime
// only to see that a renewal happened, and times it itself: a Lease counts
// as renewed when the master saw its renewTime change, at the moment the
// master saw it (as kube-controller-manager judges node Leases).
type renewals struct {
	mu    sync.Mutex
	clock clock.PassiveClock
	seen  map[types.NamespacedName]renewal
}

type renewal struct {
	stamp   time.Time // the holder's renewTime, compared only for change
	at      time.Time // when the master first saw this stamp
	changed bool      // whether this master saw the stamp change
}

func newRenewals(clk clock.PassiveClock) *renewals {
	return &renewals{clock: clk, seen: map[types.NamespacedName]renewal{}}
}

// Observe records a Lease's renewTime (zero for no Lease) and returns when,
// by the master's clock, the Lease was last seen renewed, and whether this
// master has seen it renewed at all. A Lease seen for the first time (a new
// leader, a new agent) counts as renewed at that moment, so a failover
// gives every agent a full timeout, but it is not yet a renewal witnessed:
// admission waits for one. A missing Lease (deleted by hand, say) is no
// renewal, and no reason either to stop counting from the last one: the
// timeout runs from the last renewal seen, or from when the master first
// saw the Lease missing.
func (r *renewals) Observe(key types.NamespacedName, stamp time.Time) (last time.Time, witnessed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Now()
	cur, ok := r.seen[key]
	if stamp.IsZero() {
		if !ok {
			cur = renewal{at: now}
			r.seen[key] = cur
		}
		return cur.at, false
	}
	switch {
	case !ok:
		cur = renewal{stamp: stamp, at: now}
	case !cur.stamp.Equal(stamp):
		cur = renewal{stamp: stamp, at: now, changed: true}
	}
	r.seen[key] = cur
	return cur.at, cur.changed
}

// Forget drops what is known of a Lease, for an Agent that was deleted.
func (r *renewals) Forget(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.seen, key)
}
