package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/util/retry"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// This file is a framework's registration and scheduler failover: the
// driver claims its Framework, campaigns for the scheduler Lease
// kubemesos-scheduler-<framework>, and is the framework's active scheduler
// while it holds it; a standby instance takes over when the active one stops
// renewing it.

// claim gets the Framework, or creates it from cfg.Spec, and makes the
// scheduler Lease its own.
func (d *Driver) claim(ctx context.Context) error {
	var fw kmv1.Framework
	key := types.NamespacedName{Namespace: d.cfg.Namespace, Name: d.cfg.Framework}
	err := d.c.Get(ctx, key, &fw)
	if apierrors.IsNotFound(err) && d.cfg.Spec != nil {
		fw = kmv1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}, Spec: *d.cfg.Spec}
		err = d.c.Create(ctx, &fw)
		if apierrors.IsAlreadyExists(err) {
			err = d.c.Get(ctx, key, &fw)
		}
		if err != nil {
			return fmt.Errorf("creating Framework %s: %w", key, err)
		}
	} else if err != nil {
		return fmt.Errorf("claiming Framework %s (create it, or give the driver a Spec): %w", key, err)
	}
	return d.ownLease(ctx, &fw)
}

// ownLease makes the scheduler Lease the Framework's own: an
// ownerReference to its UID, so that the garbage collector deletes the
// Lease with the Framework, and the master does not count a Lease owned by
// another Framework of the same name (one deleted whose scheduler crashed
// holding it) as this one's scheduler. Such a Lease is taken over at once,
// its holder cleared; a Lease with no owner (made by an older driver, or by
// hand) keeps its holder, who may be an instance of this framework.
func (d *Driver) ownLease(ctx context.Context, fw *kmv1.Framework) error {
	d.leaseOwner = kmv1.FrameworkOwner(fw.Name, fw.UID)
	leases := d.cs.CoordinationV1().Leases(d.cfg.Namespace)
	name := kmv1.SchedulerLeaseName(d.cfg.Framework)
	// A conflict is a renewal meanwhile; NotFound, a Lease that went
	// between the read and the write (the garbage collector took the old
	// Framework's): each is read again.
	again := func(err error) bool {
		return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) || apierrors.IsNotFound(err)
	}
	err := retry.OnError(retry.DefaultBackoff, again, func() error {
		lease, err := leases.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return d.createLease(ctx, coordinationv1.LeaseSpec{})
		}
		if err != nil {
			return err
		}
		switch uid, owned := kmv1.FrameworkOwnerUID(lease); {
		case owned && uid == fw.UID:
			return nil
		case owned:
			d.log().Info("taking over the scheduler Lease of a framework of the same name that is gone", "lease", name, "owner", uid)
			lease.Spec = coordinationv1.LeaseSpec{}
		}
		lease.OwnerReferences = []metav1.OwnerReference{d.leaseOwner}
		_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("making Lease %s/%s the Framework's own: %w", d.cfg.Namespace, name, err)
	}
	return nil
}

// createLease creates the scheduler Lease with spec, owned by the
// Framework: client-go's Lease lock would create it with no owner when it
// is gone later (deleted by hand, or with its namespace's Leases).
func (d *Driver) createLease(ctx context.Context, spec coordinationv1.LeaseSpec) error {
	_, err := d.cs.CoordinationV1().Leases(d.cfg.Namespace).Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: d.cfg.Namespace, Name: kmv1.SchedulerLeaseName(d.cfg.Framework),
			Labels:          kmv1.SchedulerLeaseLabels(d.cfg.Framework),
			OwnerReferences: []metav1.OwnerReference{d.leaseOwner}},
		Spec: spec,
	}, metav1.CreateOptions{})
	return err
}

// campaign holds the scheduler Lease; while held, this instance is active.
func (d *Driver) campaign() {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: d.cfg.Namespace, Name: kmv1.SchedulerLeaseName(d.cfg.Framework)},
		Client:     d.cs.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: d.cfg.Identity},
		Labels:     kmv1.SchedulerLeaseLabels(d.cfg.Framework),
	}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: abortableLock{Interface: lock, aborted: &d.aborted, create: d.createLease}, LeaseDuration: d.cfg.LeaseDuration, RenewDeadline: d.cfg.RenewDeadline, RetryPeriod: d.cfg.RetryPeriod,
		ReleaseOnCancel: true, Name: kmv1.SchedulerLeaseName(d.cfg.Framework),
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: d.lead,
			OnStoppedLeading: func() {
				d.mu.Lock()
				wasActive := d.active
				d.active = false
				d.mu.Unlock()
				var last func()
				if wasActive {
					last = func() { d.sched.Disconnected(d) }
				}
				d.stopWith(errors.New("lost the scheduler Lease"), last)
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

// abortableLock is the scheduler Lease's lock, which an aborted driver no
// longer writes: Abort is a crash, so the Lease is not released on the way
// out (the elector releases it when its context ends) and the framework is
// Disconnected until another instance takes the Lease over.
type abortableLock struct {
	resourcelock.Interface
	aborted *atomic.Bool
	// create creates the Lease with the Framework as its owner.
	create func(context.Context, coordinationv1.LeaseSpec) error
}

// errAborted refuses the Lease writes of an aborted driver.
var errAborted = errors.New("the scheduler driver was aborted: the Lease is left to expire")

// Create creates the Lease, owned by the Framework, unless the driver was
// aborted; then the lock reads it back, as its own Create would have kept
// what it made.
func (l abortableLock) Create(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	if l.aborted.Load() {
		return errAborted
	}
	if err := l.create(ctx, resourcelock.LeaderElectionRecordToLeaseSpec(&r)); err != nil {
		return err
	}
	_, _, err := l.Interface.Get(ctx)
	return err
}

// Update writes the Lease, unless the driver was aborted.
func (l abortableLock) Update(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	if l.aborted.Load() {
		return errAborted
	}
	return l.Interface.Update(ctx, r)
}

// lead runs while this instance holds the Lease.
func (d *Driver) lead(ctx context.Context) {
	if !d.cache.WaitForCacheSync(ctx) {
		return
	}
	var fw kmv1.Framework
	key := types.NamespacedName{Namespace: d.cfg.Namespace, Name: d.cfg.Framework}
	for ctx.Err() == nil {
		err := d.cache.Get(ctx, key, &fw)
		if apierrors.IsNotFound(err) {
			// The cache has synced: ask the API server before giving up.
			err = d.c.Get(ctx, key, &fw)
		}
		if gone := removed(&fw, err); gone != "" {
			msg := fmt.Sprintf("framework %s has been removed (%s): start it again under a new name, or delete it and create it anew", key, gone)
			d.log().Info("not registering", "framework", key, "reason", gone)
			d.stopWith(errors.New(msg), func() { d.sched.Error(d, msg) })
			return
		}
		if err == nil && fw.Status.FrameworkID != "" {
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

// removed says why a Framework can no longer have a scheduler, or "": it
// was deleted, is being deleted, or has ended (Completed or Failed). Mesos
// answers a framework removed so with an error, never a registration.
func removed(fw *kmv1.Framework, err error) string {
	switch {
	case apierrors.IsNotFound(err):
		return "deleted"
	case err != nil:
		return ""
	case fw.DeletionTimestamp != nil:
		return "being deleted"
	case fw.Status.Phase == kmv1.FrameworkCompleted || fw.Status.Phase == kmv1.FrameworkFailed:
		return "phase " + string(fw.Status.Phase)
	}
	return ""
}
