package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// frameworkController registers frameworks, follows their scheduler Lease
// (Active, Disconnected, failover timeout), runs their scheduler pod, keeps
// their status counts, and tears them down on completion or deletion.
type frameworkController struct {
	m *Master
	// mu guards written: when the master last wrote each framework's
	// status, by its clock.
	mu      sync.Mutex
	written map[types.NamespacedName]time.Time
	// revived is the last kubemesos.io/revive seen on each framework.
	revived map[types.NamespacedName]string
	// pending is when this master first saw each Mesos API framework
	// Pending (by UID, so that one deleted and made again starts over).
	pending firstSight[types.NamespacedName]
}

// mesosSubscribeGrace is the least time a Framework that the Mesos API made
// for a subscription may stay Pending, its scheduler Lease not yet taken,
// before its failover timeout counts: the server takes the Lease once the
// master has given the Framework its ID, within seconds.
var mesosSubscribeGrace = time.Minute

// statusBatch is how long task events wait before they refresh a
// Framework's counts, so a burst of task transitions costs one write.
const statusBatch = time.Second

func (m *Master) setupFrameworks(mgr ctrl.Manager) error {
	toFramework := func(ns, name string) reconcile.Request {
		return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}
	}
	// Offer events refresh the counts after statusBatch, and so do
	// task events (frameworkTasksChanged).
	delayed := func(fn func(client.Object) (reconcile.Request, bool)) handler.TypedEventHandler[client.Object, reconcile.Request] {
		add := func(o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if r, ok := fn(o); ok {
				q.AddAfter(r, statusBatch)
			}
		}
		return handler.TypedFuncs[client.Object, reconcile.Request]{
			CreateFunc: func(_ context.Context, e event.TypedCreateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				add(e.Object, q)
			},
			UpdateFunc: func(_ context.Context, e event.TypedUpdateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				add(e.ObjectNew, q)
			},
			DeleteFunc: func(_ context.Context, e event.TypedDeleteEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				add(e.Object, q)
			},
			GenericFunc: func(_ context.Context, e event.TypedGenericEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				add(e.Object, q)
			},
		}
	}
	offerToFw := delayed(func(o client.Object) (reconcile.Request, bool) {
		return toFramework(o.GetNamespace(), string(o.(*kmv1.Offer).Spec.Framework)), true
	})
	leaseToFw := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		if !strings.HasPrefix(o.GetName(), kmv1.SchedulerLeasePrefix) {
			return nil
		}
		return []reconcile.Request{toFramework(o.GetNamespace(), strings.TrimPrefix(o.GetName(), kmv1.SchedulerLeasePrefix))}
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("framework").
		For(&kmv1.Framework{}).
		Owns(&corev1.Pod{}).
		// Task events come from the scheduling cache, once it has
		// counted them (frameworkTasksChanged), so that a reconcile never
		// reads counts older than the event that woke it.
		WatchesRawSource(source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
			m.frameworkQueue.Store(&q)
			return nil
		})).
		Watches(&kmv1.Offer{}, offerToFw).
		Watches(&coordinationv1.Lease{}, leaseToFw).
		Complete(&frameworkController{m: m, written: map[types.NamespacedName]time.Time{}, revived: map[types.NamespacedName]string{}})
}

// onlyCountsChanged reports whether a Framework's status changed in
// nothing but the counts that the master writes from its caches (tasks,
// allocated, dominantShare, outstandingOffers).
func onlyCountsChanged(old, now *kmv1.FrameworkStatus) bool {
	strip := func(st *kmv1.FrameworkStatus) *kmv1.FrameworkStatus {
		c := st.DeepCopy()
		c.Tasks, c.Allocated, c.DominantShare, c.OutstandingOffers = kmv1.TaskCounts{}, nil, "", 0
		return c
	}
	return equality.Semantic.DeepEqual(strip(old), strip(now))
}

// Reconcile drives one Framework.
func (r *frameworkController) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	m := r.m
	var fw kmv1.Framework
	if err := m.Client.Get(ctx, req.NamespacedName, &fw); err != nil {
		if apierrors.IsNotFound(err) {
			m.renewals.Forget(types.NamespacedName{Namespace: req.Namespace, Name: kmv1.SchedulerLeaseName(req.Name)})
			r.mu.Lock()
			delete(r.written, req.NamespacedName)
			delete(r.revived, req.NamespacedName)
			r.mu.Unlock()
			r.pending.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if fw.DeletionTimestamp != nil {
		return requeueOnConflict(r.finalize(ctx, &fw))
	}
	if !controllerutil.ContainsFinalizer(&fw, kmv1.FrameworkFinalizer) {
		// A merge patch replaces the finalizer list whole: with the
		// resourceVersion in it, a cache that has not yet seen another
		// controller's finalizer gets a conflict, not a patch that drops it.
		patch := client.MergeFromWithOptions(fw.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(&fw, kmv1.FrameworkFinalizer)
		if err := m.frameworksClient.Patch(ctx, &fw, patch); err != nil {
			return requeueOnConflict(ctrl.Result{}, fmt.Errorf("adding the finalizer: %w", err))
		}
	}
	r.revive(&fw)
	return requeueOnConflict(r.reconcile(ctx, &fw))
}

// revive drops the framework's decline filters when its
// kubemesos.io/revive annotation changed, as a Mesos REVIVE does. A leader
// that sees the annotation first drops filters it does not have yet.
func (r *frameworkController) revive(fw *kmv1.Framework) {
	v := fw.Annotations[kmv1.AnnotationRevive]
	if v == "" {
		return
	}
	key := client.ObjectKeyFromObject(fw)
	r.mu.Lock()
	seen := r.revived[key]
	r.revived[key] = v
	r.mu.Unlock()
	if seen != v {
		r.m.ClearFilters(key)
	}
}

// schedulerLease reads the framework's scheduler Lease: whether it is held
// now, when it lapses (or lapsed), and whether this master has seen it
// renewed (not only read it once). All are judged by the master's clock
// (see renewals): the scheduler may run on any machine.
func (m *Master) schedulerLease(ctx context.Context, fw *kmv1.Framework) (held bool, expiry time.Time, witnessed bool, err error) {
	var lease coordinationv1.Lease
	key := types.NamespacedName{Namespace: fw.Namespace, Name: kmv1.SchedulerLeaseName(fw.Name)}
	if err := m.Client.Get(ctx, key, &lease); apierrors.IsNotFound(err) {
		return false, time.Time{}, false, nil
	} else if err != nil {
		return false, time.Time{}, false, fmt.Errorf("reading lease %s: %w", key, err)
	}
	// A Lease owned by another Framework of this name (one deleted, whose
	// scheduler crashed holding it; the garbage collector deletes it) is
	// nobody's here.
	uid, owned := kmv1.FrameworkOwnerUID(&lease)
	if lease.Spec.RenewTime == nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" || (owned && uid != fw.UID) {
		m.renewals.Forget(key)
		return false, time.Time{}, false, nil
	}
	d := 15 * time.Second
	if lease.Spec.LeaseDurationSeconds != nil {
		d = time.Duration(*lease.Spec.LeaseDurationSeconds) * time.Second
	}
	// A Lease seen for the first time counts as renewed then: a scheduler
	// driven by hand may take its Lease once, for its whole duration.
	renewed, witnessed := m.renewals.Observe(key, lease.Spec.RenewTime.Time)
	expiry = renewed.Add(d)
	return m.Clock.Now().Before(expiry), expiry, witnessed, nil
}

// reconcile is the life of a live framework, as a list of steps, ending in
// one status write.
func (r *frameworkController) reconcile(ctx context.Context, fw *kmv1.Framework) (ctrl.Result, error) {
	m := r.m
	now := m.Clock.Now()
	old := fw.Status.DeepCopy()
	st := &fw.Status
	result := ctrl.Result{}

	if st.FrameworkID == "" {
		t := metav1.NewTime(now)
		st.FrameworkID = string(fw.UID)
		st.RegisteredTime = &t
		st.Phase = kmv1.FrameworkPending
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: kmv1.FrameworkRegistered, Status: metav1.ConditionTrue,
			Reason: kmv1.ReasonFrameworkAdded, Message: "frameworkID " + st.FrameworkID, ObservedGeneration: fw.Generation})
	}

	done := st.Phase == kmv1.FrameworkCompleted || st.Phase == kmv1.FrameworkFailed
	if !done {
		if c := meta.FindStatusCondition(st.Conditions, kmv1.FrameworkSucceeded); c != nil {
			// The scheduler completed (or failed) the framework.
			r.finish(fw, c.Status == metav1.ConditionTrue, c.Reason, c.Message, now)
			done = true
		}
	}
	if !done {
		held, expiry, witnessed, err := m.schedulerLease(ctx, fw)
		if err != nil {
			return ctrl.Result{}, err
		}
		if held && !witnessed && st.Phase == kmv1.FrameworkDisconnected {
			// A Lease this master has not seen renewed (it has just taken
			// over) does not bring a Disconnected framework back: the
			// scheduler that left it may be long gone, and its failover
			// deadline must not start over at each leader change.
			held, expiry = false, time.Time{}
		}
		result, done = r.followScheduler(fw, held, expiry, now)
	}

	began := old.Phase
	if done {
		if began != kmv1.FrameworkCompleted && began != kmv1.FrameworkFailed {
			// The end is stored before the teardown acts on it: were the
			// tasks killed first and this write then refused, a scheduler
			// back in time would find its framework Active again with
			// its tasks being killed.
			st.ObservedGeneration = fw.Generation
			if _, err := r.writeStatus(ctx, fw, old); err != nil {
				return ctrl.Result{}, err
			}
			r.event(fw, began)
			m.Trigger()
			old, began = fw.Status.DeepCopy(), st.Phase
		}
		tasks, err := m.frameworkTasks(ctx, fw)
		if err != nil {
			return ctrl.Result{}, err
		}
		if err := m.teardown(ctx, fw, tasks, "framework "+string(st.Phase)); err != nil {
			return ctrl.Result{}, err
		}
	} else if wait, err := r.ensureSchedulerPod(ctx, fw); err != nil {
		return ctrl.Result{}, err
	} else if wait > 0 && (result.RequeueAfter == 0 || wait < result.RequeueAfter) {
		result.RequeueAfter = wait
	}
	counted := m.sched.FrameworkTasks(nsName(fw))
	if err := r.countTasks(ctx, fw, counted); err != nil {
		return ctrl.Result{}, err
	}
	if limit := m.Options.TerminalTaskLimit; limit > 0 && counted.Terminal > limit {
		tasks, err := m.frameworkTasks(ctx, fw)
		if err != nil {
			return ctrl.Result{}, err
		}
		if err := m.collectTerminalTasks(ctx, tasks); err != nil {
			return ctrl.Result{}, err
		}
	}
	st.ObservedGeneration = fw.Generation
	wait, err := r.writeStatus(ctx, fw, old)
	if err != nil {
		return ctrl.Result{}, err
	}
	if wait > 0 && (result.RequeueAfter == 0 || wait < result.RequeueAfter) {
		result.RequeueAfter = wait
	}
	if began != st.Phase {
		r.event(fw, began)
		m.Trigger()
	}
	return result, nil
}

// followScheduler sets the phase from the scheduler Lease: Active while it
// is held, Disconnected when it lapses, Failed once failoverTimeoutSeconds
// have passed since. It returns when to look again, and whether the
// framework is done.
func (r *frameworkController) followScheduler(fw *kmv1.Framework, held bool, expiry, now time.Time) (ctrl.Result, bool) {
	st := &fw.Status
	if held || st.Phase != kmv1.FrameworkPending {
		r.pending.forget(nsName(fw))
	}
	if held {
		st.Phase = kmv1.FrameworkActive
		st.Message = ""
		setCond(fw, kmv1.FrameworkSchedulerConnected, true, kmv1.ReasonSchedulerLeaseHeld, "the scheduler holds lease "+kmv1.SchedulerLeaseName(fw.Name))
		setCond(fw, kmv1.FrameworkReady, true, kmv1.ReasonSchedulerLeaseHeld, "receiving offers")
		return ctrl.Result{RequeueAfter: expiry.Sub(now)}, false
	}
	if st.Phase == kmv1.FrameworkPending || st.Phase == "" {
		st.Phase = kmv1.FrameworkPending
		st.Message = "waiting for a scheduler to take lease " + kmv1.SchedulerLeaseName(fw.Name)
		setCond(fw, kmv1.FrameworkSchedulerConnected, false, kmv1.ReasonSchedulerNeverConnected, st.Message)
		setCond(fw, kmv1.FrameworkReady, false, kmv1.ReasonSchedulerNeverConnected, st.Message)
		if fw.Labels[kmv1.LabelAPI] == kmv1.APIMesosV1 {
			return r.abandonedSubscription(fw, now)
		}
		return ctrl.Result{}, false
	}
	// Lost after having been connected: measure from the Lease's lapse,
	// or, without a Lease, from when the master saw the scheduler go.
	since := expiry
	if since.IsZero() {
		since = now
		if c := meta.FindStatusCondition(st.Conditions, kmv1.FrameworkSchedulerConnected); c != nil && c.Status == metav1.ConditionFalse {
			since = c.LastTransitionTime.Time
		}
	}
	timeout := failoverTimeout(fw)
	deadline := since.Add(timeout)
	if !now.Before(deadline) {
		r.finish(fw, false, kmv1.ReasonFailoverTimeout,
			fmt.Sprintf("the scheduler did not come back within failoverTimeoutSeconds (%s); the framework was torn down", timeout), now)
		return ctrl.Result{}, true
	}
	st.Phase = kmv1.FrameworkDisconnected
	st.Message = fmt.Sprintf("the scheduler lease lapsed at %s; tasks keep running until %s", since.UTC().Format(time.RFC3339), deadline.UTC().Format(time.RFC3339))
	setCond(fw, kmv1.FrameworkSchedulerConnected, false, kmv1.ReasonSchedulerLeaseExpired, st.Message)
	setCond(fw, kmv1.FrameworkReady, false, kmv1.ReasonSchedulerLeaseExpired, st.Message)
	return ctrl.Result{RequeueAfter: deadline.Sub(now)}, false
}

// abandonedSubscription fails a Framework that the Mesos API made for a
// subscription whose scheduler never took its Lease: the SUBSCRIBE's
// answer was lost, or its stream closed first, so no scheduler knows its
// frameworkID and none will claim it. As Mesos removes a framework whose
// connection closed, it goes after its failover timeout (at least
// mesosSubscribeGrace), timed from when this master first saw it Pending.
func (r *frameworkController) abandonedSubscription(fw *kmv1.Framework, now time.Time) (ctrl.Result, bool) {
	wait := max(failoverTimeout(fw), mesosSubscribeGrace)
	deadline := r.pending.since(nsName(fw), string(fw.UID), now).Add(wait)
	if now.Before(deadline) {
		return ctrl.Result{RequeueAfter: deadline.Sub(now)}, false
	}
	r.finish(fw, false, kmv1.ReasonFailoverTimeout,
		fmt.Sprintf("no Mesos scheduler took this framework's lease within %s of its subscription (the SUBSCRIBE's answer was lost, or its stream closed first); the framework was torn down", wait), now)
	return ctrl.Result{}, true
}

// failoverTimeout is the framework's failoverTimeoutSeconds, 60 s if unset.
func failoverTimeout(fw *kmv1.Framework) time.Duration {
	if s := fw.Spec.FailoverTimeoutSeconds; s != nil {
		return time.Duration(*s) * time.Second
	}
	return 60 * time.Second
}

// finish moves the framework to Completed or Failed.
func (r *frameworkController) finish(fw *kmv1.Framework, succeeded bool, reason, msg string, now time.Time) {
	st := &fw.Status
	st.Phase = kmv1.FrameworkFailed
	if succeeded {
		st.Phase = kmv1.FrameworkCompleted
	}
	st.Message = msg
	if st.CompletionTime == nil {
		t := metav1.NewTime(now)
		st.CompletionTime = &t
	}
	setCond(fw, kmv1.FrameworkSucceeded, succeeded, reason, msg)
	setCond(fw, kmv1.FrameworkReady, false, reason, "the framework is "+string(st.Phase))
}

func setCond(fw *kmv1.Framework, t string, ok bool, reason, msg string) {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&fw.Status.Conditions, metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: fw.Generation})
}

func (r *frameworkController) event(fw *kmv1.Framework, from kmv1.FrameworkPhase) {
	kind := corev1.EventTypeNormal
	if fw.Status.Phase == kmv1.FrameworkFailed || fw.Status.Phase == kmv1.FrameworkDisconnected {
		kind = corev1.EventTypeWarning
	}
	note := fmt.Sprintf("phase %s -> %s", from, fw.Status.Phase)
	if fw.Status.Message != "" {
		note += ": " + fw.Status.Message
	}
	r.m.Recorder.Eventf(fw, nil, kind, string(fw.Status.Phase), "Phase", note)
}

// writeStatus patches the master's part of the status if it changed. The
// optimistic lock keeps it from overwriting what the scheduler SDK wrote.
// A change of the counts alone waits until statusBatch after the last
// write: writeStatus then writes nothing and returns how long is left.
// Without that rule each write's own event, and each renewal of the
// scheduler's Lease, would write whatever changed meanwhile, once per
// round trip while tasks come and go.
func (r *frameworkController) writeStatus(ctx context.Context, fw *kmv1.Framework, old *kmv1.FrameworkStatus) (time.Duration, error) {
	if equality.Semantic.DeepEqual(*old, fw.Status) {
		return 0, nil
	}
	key, now := nsName(fw), r.m.Clock.Now()
	r.mu.Lock()
	last, ok := r.written[key]
	r.mu.Unlock()
	if wait := statusBatch - now.Sub(last); ok && wait > 0 && onlyCountsChanged(old, &fw.Status) {
		return wait, nil
	}
	before := fw.DeepCopy()
	before.Status = *old
	if err := r.m.frameworksClient.Status().Patch(ctx, fw, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return 0, fmt.Errorf("writing the status of framework %s: %w", fw.Name, err)
	}
	r.mu.Lock()
	r.written[key] = now
	r.mu.Unlock()
	return 0, nil
}

// frameworkTasksChanged asks for a reconcile of framework key after
// statusBatch, once the scheduling cache has counted one of its tasks'
// events. Before the framework controller runs (a standby) there is no
// queue, and nothing to do: it reconciles every framework when it starts.
func (m *Master) frameworkTasksChanged(key types.NamespacedName) {
	if q := m.frameworkQueue.Load(); q != nil {
		(*q).AddAfter(reconcile.Request{NamespacedName: key}, statusBatch)
	}
}

// frameworkTasks lists the framework's tasks from the cache, for teardown
// and the collection of terminal tasks (the counts come from the
// scheduling cache). The list is not deep-copied (copying every Task of a
// framework on each reconcile was once most of what the master
// allocated): each item is a shallow copy of
// the cached Task, whose maps, slices and pointers are the cache's own.
// Readers may change an item's plain fields, but must deep-copy it before
// anything that writes into it, such as a client call that decodes the
// API server's answer into the object.
func (m *Master) frameworkTasks(ctx context.Context, fw *kmv1.Framework) ([]kmv1.Task, error) {
	var tasks kmv1.TaskList
	if err := m.Client.List(ctx, &tasks, client.InNamespace(fw.Namespace), client.MatchingFields{IndexTaskFramework: fw.Name},
		client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing the tasks of %s: %w", fw.Name, err)
	}
	return tasks.Items, nil
}
