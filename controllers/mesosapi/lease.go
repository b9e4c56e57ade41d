package mesosapi

import (
	"context"
	"fmt"
	"maps"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// LeaseHolderPrefix starts the holder identity of a scheduler Lease that
// the master holds for a Mesos API stream; the stream ID follows.
const LeaseHolderPrefix = "mesos-api/"

// holdLease holds the framework's scheduler Lease for the stream until
// ctx ends or the stream closes, so that the framework is Active while
// its subscriber is connected, and Disconnected (then, past its failover
// timeout, torn down) once it is not. The Lease is simply no longer
// renewed when the stream ends, as when an SDK scheduler crashes.
func (s *Server) holdLease(ctx context.Context, st *stream) {
	d := s.opts.SchedulerLeaseDuration
	if d < time.Second {
		d = DefaultSchedulerLeaseDuration
	}
	tick := s.clock.NewTicker(d / 3)
	defer tick.Stop()
	log := s.log.WithValues("stream", st.id, "framework", st.namespace+"/"+st.name)
	for {
		if why := s.frameworkRemoved(ctx, st); why != "" {
			// As Mesos ends the stream of a framework it removed. The
			// Lease is no longer renewed; the Framework owns it, so it
			// goes with it.
			log.Info("closing the stream of a removed framework", "reason", why)
			st.close(errorEvent("Framework has been removed"))
			return
		}
		if err := s.renewLease(ctx, st, d); err != nil && ctx.Err() == nil {
			log.Error(err, "renewing the scheduler Lease of a Mesos API stream")
		}
		select {
		case <-ctx.Done():
			return
		case <-st.done:
			return
		case <-tick.C():
		}
	}
}

// renewLease takes or renews the scheduler Lease in the stream's name.
func (s *Server) renewLease(ctx context.Context, st *stream, d time.Duration) error {
	key := types.NamespacedName{Namespace: st.namespace, Name: kmv1.SchedulerLeaseName(st.name)}
	now := metav1.NewMicroTime(s.clock.Now())
	holder := LeaseHolderPrefix + st.id
	spec := coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: ptr.To(int32(d / time.Second)), RenewTime: &now}
	var lease coordinationv1.Lease
	err := s.reader.Get(ctx, key, &lease)
	if apierrors.IsNotFound(err) {
		spec.AcquireTime = &now
		lease = coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name,
				Labels: kmv1.SchedulerLeaseLabels(st.name),
				// Deleted with its Framework by the garbage collector.
				OwnerReferences: []metav1.OwnerReference{kmv1.FrameworkOwner(st.name, types.UID(st.frameworkID))}},
			Spec: spec,
		}
		if err := s.schedulerClient.Create(ctx, &lease); err != nil {
			return fmt.Errorf("creating Lease %s: %w", key, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading Lease %s: %w", key, err)
	}
	if uid, owned := kmv1.FrameworkOwnerUID(&lease); !owned || uid != types.UID(st.frameworkID) {
		// Left by another Framework of this name (one deleted), or made
		// by hand: the master counts it only once it is this one's.
		lease.OwnerReferences = []metav1.OwnerReference{kmv1.FrameworkOwner(st.name, types.UID(st.frameworkID))}
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != holder {
		spec.AcquireTime = &now
		spec.LeaseTransitions = ptr.To(ptr.Deref(lease.Spec.LeaseTransitions, 0) + 1)
	} else {
		spec.AcquireTime = lease.Spec.AcquireTime
		spec.LeaseTransitions = lease.Spec.LeaseTransitions
	}
	lease.Spec = spec
	if lease.Labels == nil {
		lease.Labels = map[string]string{}
	}
	maps.Copy(lease.Labels, kmv1.SchedulerLeaseLabels(st.name))
	if err := s.schedulerClient.Update(ctx, &lease); err != nil {
		return fmt.Errorf("renewing Lease %s: %w", key, err)
	}
	return nil
}

// frameworkRemoved says why the stream's Framework can have no scheduler
// any more, or "": it was deleted (or replaced by another of its name), is
// being deleted, has its scheduler's verdict, or has ended.
func (s *Server) frameworkRemoved(ctx context.Context, st *stream) string {
	var fw kmv1.Framework
	key := types.NamespacedName{Namespace: st.namespace, Name: st.name}
	err := s.c.Get(ctx, key, &fw)
	if apierrors.IsNotFound(err) {
		// The cache may not show a Framework created a moment ago.
		err = s.reader.Get(ctx, key, &fw)
	}
	switch {
	case apierrors.IsNotFound(err):
		return "deleted"
	case err != nil:
		return ""
	case string(fw.UID) != st.frameworkID:
		return "deleted, and another Framework took its name"
	}
	return removedWhy(&fw)
}

// removedWhy says why a Framework can have no scheduler any more, or "".
func removedWhy(fw *kmv1.Framework) string {
	switch {
	case fw.DeletionTimestamp != nil:
		return "being deleted"
	case fw.LaunchesNoMore():
		return "phase " + string(fw.Status.Phase)
	case meta.FindStatusCondition(fw.Status.Conditions, kmv1.FrameworkSucceeded) != nil:
		return "its scheduler ended it"
	}
	return ""
}
