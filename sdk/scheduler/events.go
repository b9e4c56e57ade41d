package scheduler

import (
	"context"
	"fmt"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// This file turns informer events into Scheduler callbacks: offers
// (ResourceOffers, OfferRescinded), task states (StatusUpdate, ExecutorLost,
// AgentLost) and the Framework as last seen; callbacks run one at a time.

// watch registers the informer handlers.
func (d *Driver) watch(ctx context.Context) error {
	handlers := []struct {
		obj client.Object
		h   toolscache.ResourceEventHandlerFuncs
	}{
		{&kmv1.Offer{}, toolscache.ResourceEventHandlerFuncs{
			AddFunc: func(o any) {
				offer := o.(*kmv1.Offer)
				d.learnAgent(offer.Spec.AgentID, offer.Spec.NodeName)
				d.offerAdded(offer)
			},
			DeleteFunc: func(o any) { d.offerDeleted(o) },
		}},
		{&kmv1.Task{}, toolscache.ResourceEventHandlerFuncs{
			AddFunc: func(o any) {
				t := o.(*kmv1.Task)
				d.learnAgent(t.Status.AgentID, t.Status.NodeName)
				d.taskChanged(t, false)
			},
			UpdateFunc: func(_, o any) {
				t := o.(*kmv1.Task)
				d.learnAgent(t.Status.AgentID, t.Status.NodeName)
				d.taskChanged(t, false)
			},
		}},
		{&kmv1.Framework{}, toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { d.frameworkChanged(o.(*kmv1.Framework)) },
			UpdateFunc: func(_, o any) { d.frameworkChanged(o.(*kmv1.Framework)) },
		}},
		{&eventsv1.Event{}, toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { d.messageArrived(o.(*eventsv1.Event)) },
			DeleteFunc: func(o any) { d.messageGone(o) },
		}},
	}
	for _, h := range handlers {
		inf, err := d.cache.GetInformer(ctx, h.obj)
		if err != nil {
			return fmt.Errorf("watching %T: %w", h.obj, err)
		}
		reg, err := inf.AddEventHandler(h.h)
		if err != nil {
			return fmt.Errorf("watching %T: %w", h.obj, err)
		}
		if _, ok := h.obj.(*eventsv1.Event); ok {
			d.messagesReg = reg
		}
	}
	return nil
}

func (d *Driver) frameworkChanged(fw *kmv1.Framework) {
	d.mu.Lock()
	d.fw = fw.DeepCopy()
	d.mu.Unlock()
}

// offerAdded batches new offers into one ResourceOffers call.
func (d *Driver) offerAdded(o *kmv1.Offer) {
	if !d.isActive() || o.DeletionTimestamp != nil {
		return
	}
	d.mu.Lock()
	if d.seenOffers[o.Name] {
		d.mu.Unlock()
		return
	}
	d.seenOffers[o.Name] = true
	d.pendingOffs = append(d.pendingOffs, *o.DeepCopy())
	first := len(d.pendingOffs) == 1
	d.mu.Unlock()
	if first {
		// Offers of one allocation cycle arrive together: collect them
		// briefly and deliver them in one call.
		time.AfterFunc(50*time.Millisecond, func() {
			d.mu.Lock()
			batch := d.pendingOffs
			d.pendingOffs = nil
			d.mu.Unlock()
			if len(batch) > 0 {
				d.call(func() { d.sched.ResourceOffers(d, batch) })
			}
		})
	}
}

// offerDeleted reports a rescinded offer: one the scheduler neither used
// nor declined.
func (d *Driver) offerDeleted(obj any) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	o, ok := obj.(*kmv1.Offer)
	if !ok {
		return
	}
	d.mu.Lock()
	seen, used := d.seenOffers[o.Name], d.usedOffers[o.Name]
	delete(d.seenOffers, o.Name)
	delete(d.usedOffers, o.Name)
	active := d.active
	d.mu.Unlock()
	if active && seen && !used {
		d.call(func() { d.sched.OfferRescinded(d, o.Name) })
	}
}

// taskChanged reports a task's new state once.
func (d *Driver) taskChanged(t *kmv1.Task, force bool) {
	if !d.isActive() || t.Status.State == "" {
		return
	}
	d.mu.Lock()
	prev := d.lastState[t.Name]
	if prev == t.Status.State && !force {
		d.mu.Unlock()
		return
	}
	d.lastState[t.Name] = t.Status.State
	d.mu.Unlock()
	st := TaskStatus{TaskID: t.Name, State: t.Status.State, Reason: t.Status.Reason, Source: t.Status.Source, Message: t.Status.Message,
		Data: t.Status.Data, AgentID: t.Status.AgentID, ExecutorID: t.Status.ExecutorID, Healthy: t.Status.Healthy}
	if force {
		st.Reason = kmv1.ReasonReconciliation
	}
	d.call(func() { d.sched.StatusUpdate(d, st) })
	switch {
	case t.Status.Reason == kmv1.ReasonExecutorTerminated && t.Spec.Executor != nil && prev != t.Status.State:
		d.call(func() { d.sched.ExecutorLost(d, t.Status.ExecutorID, t.Status.AgentID, 1) })
	case t.Status.Reason == kmv1.ReasonAgentRemoved && prev != t.Status.State:
		d.mu.Lock()
		first := !d.lostAgents[t.Status.AgentID]
		d.lostAgents[t.Status.AgentID] = true
		d.mu.Unlock()
		if first {
			d.call(func() { d.sched.AgentLost(d, t.Status.AgentID) })
		}
	}
}

// call queues a callback; callbacks run one at a time.
func (d *Driver) call(fn func()) {
	select {
	case d.calls <- fn:
	case <-d.stop.Done():
	}
}

// dispatch runs the callbacks one at a time.
func (d *Driver) dispatch() {
	for {
		select {
		case fn := <-d.calls:
			fn()
		case <-d.stop.Done():
			return
		}
	}
}
