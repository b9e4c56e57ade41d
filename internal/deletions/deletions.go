// Package deletions deletes each object once. A controller that acts on a
// cache sees an object it deleted until the informer catches up, and a pod
// stays (terminating) for its grace period: deleting it again on every
// pass costs an API write each time, answered 200 or 404 for nothing.
// Deleter skips an object that is already terminating and one that it
// deleted recently, by UID, as controller expectations do.
package deletions

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Memory is how long a deletion is remembered: long enough for any cache
// to show it, short enough that a failed deletion is retried.
const Memory = time.Minute

// Deleter deletes objects through a client, each once.
type Deleter struct {
	client client.Client
	clock  clock.PassiveClock

	mu   sync.Mutex
	done map[types.UID]time.Time
}

// New returns a Deleter that writes through c and remembers by clk.
func New(c client.Client, clk clock.PassiveClock) *Deleter {
	return &Deleter{client: c, clock: clk, done: map[types.UID]time.Time{}}
}

// Delete deletes obj, as read from a cache, unless it is already
// terminating or was deleted through d within Memory. The deletion is
// preconditioned on obj's UID, so an object that was replaced under the
// same name is never deleted by mistake; a missing object counts as
// deleted. It reports whether it sent a request.
func (d *Deleter) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) (bool, error) {
	if obj.GetDeletionTimestamp() != nil {
		return false, nil
	}
	uid := obj.GetUID()
	now := d.clock.Now()
	d.mu.Lock()
	for u, at := range d.done {
		if now.Sub(at) >= Memory {
			delete(d.done, u)
		}
	}
	_, recent := d.done[uid]
	if !recent && uid != "" {
		// Claimed before the call, so that a concurrent caller (another
		// controller deleting the same object) does not send it again.
		d.done[uid] = now
	}
	d.mu.Unlock()
	if recent && uid != "" {
		return false, nil
	}
	if uid != "" {
		opts = append(opts, client.Preconditions{UID: &uid})
	}
	err := d.client.Delete(ctx, obj, opts...)
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		if uid != "" { // not deleted: a later call tries again
			d.mu.Lock()
			delete(d.done, uid)
			d.mu.Unlock()
		}
		return true, fmt.Errorf("deleting %T %s: %w", obj, client.ObjectKeyFromObject(obj), err)
	}
	return true, nil
}
