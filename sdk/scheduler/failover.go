package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// This file is a framework's registration and scheduler failover: the
// driver claims its Framework, campaigns for the scheduler Lease
// kubemesos-scheduler-<framework>, and is the framework's active scheduler
// while it holds it; a standby instance takes over when the active one stops
// renewing it.

// claim gets the Framework, or creates it from cfg.Spec.
func (d *Driver) claim(ctx context.Context) error {
	var fw kmv1.Framework
	key := types.NamespacedName{Namespace: d.cfg.Namespace, Name: d.cfg.Framework}
	err := d.c.Get(ctx, key, &fw)
	if apierrors.IsNotFound(err) && d.cfg.Spec != nil {
		fw = kmv1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}, Spec: *d.cfg.Spec}
		if err := d.c.Create(ctx, &fw); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating Framework %s: %w", key, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("claiming Framework %s (create it, or give the driver a Spec): %w", key, err)
	}
	return nil
}

// campaign holds the scheduler Lease; while held, this instance is active.
func (d *Driver) campaign() {
	lock := &leaseLock{c: d.c, identity: d.cfg.Identity, aborted: &d.aborted,
		key:    types.NamespacedName{Namespace: d.cfg.Namespace, Name: kmv1.SchedulerLeaseName(d.cfg.Framework)},
		labels: map[string]string{kmv1.LabelLease: kmv1.LeaseKindScheduler, kmv1.LabelFramework: d.cfg.Framework}}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, LeaseDuration: d.cfg.LeaseDuration, RenewDeadline: d.cfg.RenewDeadline, RetryPeriod: d.cfg.RetryPeriod,
		ReleaseOnCancel: true, Name: kmv1.SchedulerLeaseName(d.cfg.Framework),
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: d.lead,
			OnStoppedLeading: func() {
				d.mu.Lock()
				wasActive := d.active
				d.active = false
				d.mu.Unlock()
				if wasActive {
					d.call(func() { d.sched.Disconnected(d) })
				}
				d.finish(errors.New("lost the scheduler Lease"))
			},
		},
	})
	if err != nil {
		d.finish(fmt.Errorf("leader election: %w", err))
		return
	}
	le.Run(d.ctx)
	d.finish(nil)
}

// leaseLock is the scheduler Lease as the elector's lock (what client-go's
// resourcelock.LeaseLock does), written through the driver's client so that
// the Lease, like every object the driver writes, names the SDK as its
// field manager. An aborted driver no longer writes it: Abort is a crash, so
// the Lease is not released on the way out (the elector releases it when
// its context ends) and the framework is Disconnected until another
// instance takes the Lease over. The elector calls it from one goroutine.
type leaseLock struct {
	c        client.Client
	key      types.NamespacedName
	identity string
	labels   map[string]string
	aborted  *atomic.Bool
	lease    *coordinationv1.Lease // as last read or written
}

var _ resourcelock.Interface = (*leaseLock)(nil)

// errAborted refuses the Lease writes of an aborted driver.
var errAborted = errors.New("the scheduler driver was aborted: the Lease is left to expire")

// Get reads the Lease and its election record.
func (l *leaseLock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	var lease coordinationv1.Lease
	if err := l.c.Get(ctx, l.key, &lease); err != nil {
		return nil, nil, fmt.Errorf("reading Lease %s: %w", l.key, err)
	}
	l.lease = &lease
	record := resourcelock.LeaseSpecToLeaderElectionRecord(&lease.Spec)
	raw, err := json.Marshal(*record)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the record of Lease %s: %w", l.key, err)
	}
	return record, raw, nil
}

// Create creates the Lease with record, unless the driver was aborted.
func (l *leaseLock) Create(ctx context.Context, record resourcelock.LeaderElectionRecord) error {
	if l.aborted.Load() {
		return errAborted
	}
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: l.key.Namespace, Name: l.key.Name, Labels: l.labels},
		Spec: resourcelock.LeaderElectionRecordToLeaseSpec(&record)}
	if err := l.c.Create(ctx, lease); err != nil {
		return fmt.Errorf("creating Lease %s: %w", l.key, err)
	}
	l.lease = lease
	return nil
}

// Update writes record to the Lease as last read, so that a write that
// raced another instance's fails on its resourceVersion, unless the driver
// was aborted.
func (l *leaseLock) Update(ctx context.Context, record resourcelock.LeaderElectionRecord) error {
	if l.aborted.Load() {
		return errAborted
	}
	if l.lease == nil {
		return fmt.Errorf("updating Lease %s: not read or created yet", l.key)
	}
	lease := l.lease.DeepCopy()
	lease.Spec = resourcelock.LeaderElectionRecordToLeaseSpec(&record)
	if lease.Labels == nil {
		lease.Labels = map[string]string{}
	}
	maps.Copy(lease.Labels, l.labels)
	if err := l.c.Update(ctx, lease); err != nil {
		return fmt.Errorf("updating Lease %s: %w", l.key, err)
	}
	l.lease = lease
	return nil
}

// RecordEvent records nothing: the Lease's holder is the record.
func (l *leaseLock) RecordEvent(string) {}

// Identity is this instance's name in the Lease.
func (l *leaseLock) Identity() string { return l.identity }

// Describe names the Lease.
func (l *leaseLock) Describe() string { return l.key.String() }

// lead runs while this instance holds the Lease.
func (d *Driver) lead(ctx context.Context) {
	if !d.cache.WaitForCacheSync(ctx) {
		return
	}
	var fw kmv1.Framework
	key := types.NamespacedName{Namespace: d.cfg.Namespace, Name: d.cfg.Framework}
	for ctx.Err() == nil {
		if err := d.cache.Get(ctx, key, &fw); err == nil && fw.Status.FrameworkID != "" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ctx.Err() != nil {
		return
	}
	d.mu.Lock()
	again := d.registered
	d.registered, d.active, d.fw = true, true, fw.DeepCopy()
	d.mu.Unlock()
	d.log().Info("scheduler active", "framework", key, "frameworkID", fw.Status.FrameworkID, "identity", d.cfg.Identity)
	d.call(func() {
		if again {
			d.sched.Reregistered(d)
		} else {
			d.sched.Registered(d, fw.Status.FrameworkID)
		}
	})
	// A new instance learns the state of every task.
	_ = d.ReconcileTasks(nil)
	var offers kmv1.OfferList
	if err := d.cache.List(ctx, &offers); err == nil {
		for i := range offers.Items {
			d.offerAdded(&offers.Items[i])
		}
	}
	// Then the messages that executors sent while no instance was active,
	// once the handler has seen all that were stored.
	if toolscache.WaitForCacheSync(ctx.Done(), d.messagesReg.HasSynced) {
		d.deliverMessages(true)
	}
	<-ctx.Done()
}
