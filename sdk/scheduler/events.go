package scheduler

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
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
				d.taskChanged(t)
			},
			UpdateFunc: func(_, o any) {
				t := o.(*kmv1.Task)
				d.learnAgent(t.Status.AgentID, t.Status.NodeName)
				d.taskChanged(t)
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

// seenStatus is what a task's StatusUpdate says, for telling a new update
// from a write that changed nothing the scheduler sees.
type seenStatus struct {
	state                  kmv1.TaskState
	reason                 kmv1.TaskReason
	message, data, healthy string
}

func seenOf(t *kmv1.Task) seenStatus {
	s := seenStatus{state: t.Status.State, reason: t.Status.Reason, message: t.Status.Message, data: t.Status.Data}
	if t.Status.Healthy != nil {
		s.healthy = strconv.FormatBool(*t.Status.Healthy)
	}
	return s
}

func statusOf(t *kmv1.Task) TaskStatus {
	return TaskStatus{TaskID: t.Name, State: t.Status.State, Reason: t.Status.Reason, Source: t.Status.Source, Message: t.Status.Message,
		Data: t.Status.Data, AgentID: t.Status.AgentID, ExecutorID: t.Status.ExecutorID, Healthy: t.Status.Healthy}
}

// taskChanged reports each new status of a task once: a new state, or the
// same state with a new reason, message, data or health (an executor's
// health checks and progress), as Mesos delivers every update.
func (d *Driver) taskChanged(t *kmv1.Task) {
	if !d.isActive() || t.Status.State == "" {
		return
	}
	seen := seenOf(t)
	d.mu.Lock()
	prev := d.lastState[t.Name]
	if prev == seen {
		d.mu.Unlock()
		return
	}
	d.lastState[t.Name] = seen
	d.mu.Unlock()
	st := statusOf(t)
	d.call(func() { d.deliver(st) })
	switch {
	case t.Status.Reason == kmv1.ReasonExecutorTerminated && t.Spec.Executor != nil && prev.state != t.Status.State:
		d.call(func() { d.sched.ExecutorLost(d, t.Status.ExecutorID, t.Status.AgentID, 1) })
	case t.Status.Reason == kmv1.ReasonAgentRemoved && prev.state != t.Status.State:
		d.mu.Lock()
		first := !d.lostAgents[t.Status.AgentID]
		d.lostAgents[t.Status.AgentID] = true
		d.mu.Unlock()
		if first {
			d.call(func() { d.sched.AgentLost(d, t.Status.AgentID) })
		}
	}
}

// deliver calls StatusUpdate, on the dispatcher, unless the scheduler was
// already given a later state of the task: an update queued before a
// reconciliation that answered with a newer state, say, never takes the
// task back.
func (d *Driver) deliver(st TaskStatus) {
	r := st.State.Rank() + 1 // 0 for a task not yet delivered
	if r < d.delivered[st.TaskID] {
		return
	}
	d.delivered[st.TaskID] = r
	d.sched.StatusUpdate(d, st)
}

// reconcile answers a reconciliation of one task on the dispatcher, with
// its state as the cache holds it at that moment. A task named explicitly
// that the API server does not hold either is TASK_LOST, as Mesos answers
// for a task it does not know.
func (d *Driver) reconcile(taskID string, explicit bool) {
	var t kmv1.Task
	key := types.NamespacedName{Namespace: d.cfg.Namespace, Name: taskID}
	err := d.cache.Get(d.ctx, key, &t)
	if apierrors.IsNotFound(err) && explicit {
		// The cache may lag a task just created: ask the API server.
		err = d.c.Get(d.ctx, key, &t)
		if apierrors.IsNotFound(err) {
			d.deliver(TaskStatus{TaskID: taskID, State: kmv1.TaskLost, Reason: kmv1.ReasonReconciliation, Source: kmv1.SourceMaster,
				Message: "the framework has no task " + taskID + " (never created, or deleted once it ended)"})
			return
		}
	}
	if err != nil || t.Status.State == "" || t.Spec.Framework != kmv1.ObjectName(d.cfg.Framework) {
		return
	}
	st := statusOf(&t)
	st.Reason = kmv1.ReasonReconciliation
	d.deliver(st)
}

// callQueue holds the callbacks to run, in order. Adding one never blocks,
// so that neither an informer handler nor a callback that calls the driver
// (ReconcileTasks inside Registered, say) waits on the callback running,
// and the Lease's loss stops the driver at once.
type callQueue struct {
	mu    sync.Mutex
	fns   []func()
	ready chan struct{} // holds a token while fns may be non-empty
}

func newCallQueue() *callQueue { return &callQueue{ready: make(chan struct{}, 1)} }

func (q *callQueue) push(fn func()) {
	q.mu.Lock()
	q.fns = append(q.fns, fn)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *callQueue) pop() func() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.fns) == 0 {
		return nil
	}
	fn := q.fns[0]
	q.fns[0] = nil
	q.fns = q.fns[1:]
	return fn
}

// call queues a callback; callbacks run one at a time, in the order queued.
func (d *Driver) call(fn func()) { d.calls.push(fn) }

// dispatch runs the callbacks one at a time. Once the driver stops it runs
// the final callback, if any, and no other.
func (d *Driver) dispatch() {
	for {
		select {
		case <-d.stop.Done():
			d.mu.Lock()
			last := d.final
			d.mu.Unlock()
			if last != nil {
				last()
			}
			return
		default:
		}
		if fn := d.calls.pop(); fn != nil {
			fn()
			continue
		}
		select {
		case <-d.calls.ready:
		case <-d.stop.Done():
		}
	}
}
