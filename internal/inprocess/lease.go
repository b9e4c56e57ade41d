package inprocess

import (
	"context"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// LeaseHold is how HoldLease holds a Lease.
type LeaseHold struct {
	// Kind is the Lease's kubemesos.io/lease label (kmv1.LeaseKindAgent,
	// kmv1.LeaseKindScheduler).
	Kind string
	// Duration is its leaseDurationSeconds (whole seconds, at least 1).
	Duration time.Duration
	// Every is how often it is renewed; 150 ms when zero.
	Every time.Duration
	// Skew is added to the renewal times, as a holder whose clock is off.
	Skew time.Duration
	// Release clears the holder when the test ends, as a scheduler that
	// exits releases its Lease: a framework still connected would take
	// the offers of the next test's master for the Lease's duration.
	Release bool
}

// HeldLease is a Lease that HoldLease renews.
type HeldLease struct {
	stop func()
}

// Stop stops renewing the Lease (and leaves its holder), so that it
// expires; it waits for the renewals to stop and may be called again.
func (h *HeldLease) Stop() { h.stop() }

// HoldLease creates (or takes) the Lease key as the holder "test" and
// renews it until Stop or the test's end, as an agent's heartbeat or a
// scheduler holds its own.
func HoldLease(t testing.TB, c client.Client, key types.NamespacedName, o LeaseHold) *HeldLease {
	t.Helper()
	if o.Every == 0 {
		o.Every = 150 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	renew := func() error {
		now := metav1.NewMicroTime(time.Now().Add(o.Skew))
		var l coordinationv1.Lease
		err := c.Get(ctx, key, &l)
		if apierrors.IsNotFound(err) {
			l = coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: map[string]string{kmv1.LabelLease: o.Kind}},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("test"),
					LeaseDurationSeconds: ptr.To(int32(max(1, o.Duration/time.Second))), RenewTime: &now}}
			return c.Create(ctx, &l)
		}
		if err != nil {
			return err
		}
		l.Spec.RenewTime = &now
		l.Spec.HolderIdentity = ptr.To("test")
		return c.Update(ctx, &l)
	}
	if err := renew(); err != nil {
		cancel()
		t.Fatalf("creating lease %s: %v", key, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(o.Every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				_ = renew()
			}
		}
	}()
	var once sync.Once
	h := &HeldLease{stop: func() { once.Do(func() { cancel(); <-done }) }}
	t.Cleanup(func() {
		h.stop()
		if !o.Release {
			return
		}
		var l coordinationv1.Lease
		if c.Get(context.Background(), key, &l) == nil && l.Spec.HolderIdentity != nil {
			l.Spec.HolderIdentity = nil
			_ = c.Update(context.Background(), &l)
		}
	})
	return h
}
