package controllers

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
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

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/resources"
	"github.com/kubemesos/kubemesos/internal/restricted"
)

// frameworkController registers frameworks, follows their scheduler Lease
// (Active, Disconnected, failover timeout), runs their scheduler pod, keeps
// their status counts, and tears them down on completion or deletion.
type frameworkController struct{ m *Master }

// statusBatch is how long task events wait before they refresh a
// Framework's counts, so a burst of task transitions costs one write.
const statusBatch = time.Second

func (m *Master) setupFrameworks(mgr ctrl.Manager) error {
	toFramework := func(ns, name string) reconcile.Request {
		return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}
	}
	// Task and Offer events refresh the counts after statusBatch.
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
	taskToFw := delayed(func(o client.Object) (reconcile.Request, bool) {
		return toFramework(o.GetNamespace(), string(o.(*kmv1.Task).Spec.Framework)), true
	})
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
		Watches(&kmv1.Task{}, taskToFw).
		Watches(&kmv1.Offer{}, offerToFw).
		Watches(&coordinationv1.Lease{}, leaseToFw).
		Complete(&frameworkController{m: m})
}

// SchedulerPodName is the name of the pod that runs a framework's scheduler.
func SchedulerPodName(framework string) string { return framework + "-scheduler" }

// Reconcile drives one Framework.
func (r *frameworkController) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	m := r.m
	var fw kmv1.Framework
	if err := m.Client.Get(ctx, req.NamespacedName, &fw); err != nil {
		if apierrors.IsNotFound(err) {
			m.renewals.Forget(types.NamespacedName{Namespace: req.Namespace, Name: kmv1.SchedulerLeaseName(req.Name)})
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if fw.DeletionTimestamp != nil {
		return requeueOnConflict(r.finalize(ctx, &fw))
	}
	if !controllerutil.ContainsFinalizer(&fw, kmv1.FrameworkFinalizer) {
		patch := client.MergeFrom(fw.DeepCopy())
		controllerutil.AddFinalizer(&fw, kmv1.FrameworkFinalizer)
		if err := m.frameworksClient.Patch(ctx, &fw, patch); err != nil {
			return requeueOnConflict(ctrl.Result{}, fmt.Errorf("adding the finalizer: %w", err))
		}
	}
	return requeueOnConflict(r.reconcile(ctx, &fw))
}

// schedulerLease reads the framework's scheduler Lease: whether it is held
// now, and when it lapses (or lapsed). Both are judged by the master's
// clock (see renewals): the scheduler may run on any machine.
func (m *Master) schedulerLease(ctx context.Context, fw *kmv1.Framework) (held bool, expiry time.Time, err error) {
	var lease coordinationv1.Lease
	key := types.NamespacedName{Namespace: fw.Namespace, Name: kmv1.SchedulerLeaseName(fw.Name)}
	if err := m.Client.Get(ctx, key, &lease); apierrors.IsNotFound(err) {
		return false, time.Time{}, nil
	} else if err != nil {
		return false, time.Time{}, fmt.Errorf("reading lease %s: %w", key, err)
	}
	if lease.Spec.RenewTime == nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		m.renewals.Forget(key)
		return false, time.Time{}, nil
	}
	d := 15 * time.Second
	if lease.Spec.LeaseDurationSeconds != nil {
		d = time.Duration(*lease.Spec.LeaseDurationSeconds) * time.Second
	}
	// A Lease seen for the first time counts as renewed then: a scheduler
	// driven by hand may take its Lease once, for its whole duration.
	renewed, _ := m.renewals.Observe(key, lease.Spec.RenewTime.Time)
	expiry = renewed.Add(d)
	return m.Clock.Now().Before(expiry), expiry, nil
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
		held, expiry, err := m.schedulerLease(ctx, fw)
		if err != nil {
			return ctrl.Result{}, err
		}
		result, done = r.followScheduler(fw, held, expiry, now)
	}

	tasks, err := m.frameworkTasks(ctx, fw)
	if err != nil {
		return ctrl.Result{}, err
	}
	if done {
		if err := m.teardown(ctx, fw, tasks, "framework "+string(st.Phase)); err != nil {
			return ctrl.Result{}, err
		}
	} else if wait, err := r.ensureSchedulerPod(ctx, fw); err != nil {
		return ctrl.Result{}, err
	} else if wait > 0 && (result.RequeueAfter == 0 || wait < result.RequeueAfter) {
		result.RequeueAfter = wait
	}
	if err := r.countTasks(ctx, fw, tasks); err != nil {
		return ctrl.Result{}, err
	}
	if err := m.collectTerminalTasks(ctx, tasks); err != nil {
		return ctrl.Result{}, err
	}
	st.ObservedGeneration = fw.Generation
	if err := r.writeStatus(ctx, fw, old); err != nil {
		return ctrl.Result{}, err
	}
	if old.Phase != st.Phase {
		r.event(fw, old.Phase)
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
	timeout := time.Duration(60) * time.Second
	if fw.Spec.FailoverTimeoutSeconds != nil {
		timeout = time.Duration(*fw.Spec.FailoverTimeoutSeconds) * time.Second
	}
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

// AnnotationSchedulerRestarts on a Framework counts the restarts of its
// scheduler pod, for the restart backoff.
const AnnotationSchedulerRestarts = "kubemesos.io/scheduler-restarts"

// podEnded is when a pod's container ended, or the best guess.
func podEnded(p *corev1.Pod) time.Time {
	for _, cs := range p.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil && !t.FinishedAt.IsZero() {
			return t.FinishedAt.Time
		}
	}
	if p.Status.StartTime != nil {
		return p.Status.StartTime.Time
	}
	return p.CreationTimestamp.Time
}

// ensureSchedulerPod runs spec.scheduler as the pod <name>-scheduler,
// and replaces it, with a backoff, when it ended while the framework goes
// on. It returns when to look again.
func (r *frameworkController) ensureSchedulerPod(ctx context.Context, fw *kmv1.Framework) (time.Duration, error) {
	m := r.m
	if fw.Spec.Scheduler == nil {
		return 0, nil
	}
	key := types.NamespacedName{Namespace: fw.Namespace, Name: SchedulerPodName(fw.Name)}
	var pod corev1.Pod
	err := m.Client.Get(ctx, key, &pod)
	if err == nil && !metav1.IsControlledBy(&pod, fw) {
		// Somebody else's pod holds the name: never touch it.
		m.Recorder.Eventf(fw, &pod, corev1.EventTypeWarning, "SchedulerPodConflict", "RunScheduler",
			"pod %s exists and is not this framework's; rename or delete it to let the master run the scheduler", key.Name)
		return time.Minute, nil
	}
	if err == nil {
		if pod.DeletionTimestamp == nil && (pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded) {
			// Restart with a growing delay, as a kubelet backs off a
			// crashing container: 10s, 20s, 40s … up to 5m.
			restarts, _ := strconv.Atoi(fw.Annotations[AnnotationSchedulerRestarts])
			backoff := min(10*time.Second<<min(restarts, 5), 5*time.Minute)
			if wait := podEnded(&pod).Add(backoff).Sub(m.Clock.Now()); wait > 0 {
				return wait, nil
			}
			patch := client.MergeFrom(fw.DeepCopy())
			if fw.Annotations == nil {
				fw.Annotations = map[string]string{}
			}
			fw.Annotations[AnnotationSchedulerRestarts] = strconv.Itoa(restarts + 1)
			if err := m.frameworksClient.Patch(ctx, fw, patch); err != nil {
				return 0, fmt.Errorf("counting scheduler restarts: %w", err)
			}
			if _, err := m.deletes.Delete(ctx, &pod); err != nil {
				return 0, fmt.Errorf("removing the ended scheduler pod: %w", err)
			}
			// Told only once both writes are done.
			m.Recorder.Eventf(fw, &pod, corev1.EventTypeWarning, "SchedulerRestarted", "RestartScheduler",
				"scheduler pod %s ended (%s) before the framework finished; starting a new one (restart %d)", pod.Name, pod.Status.Phase, restarts+1)
		}
		return 0, nil
	}
	if !apierrors.IsNotFound(err) {
		return 0, fmt.Errorf("reading scheduler pod %s: %w", key, err)
	}
	pod = SchedulerPod(fw)
	if err := controllerutil.SetControllerReference(fw, &pod, m.Client.Scheme()); err != nil {
		return 0, fmt.Errorf("owning the scheduler pod: %w", err)
	}
	if err := m.frameworksClient.Create(ctx, &pod); err != nil && !apierrors.IsAlreadyExists(err) {
		return 0, fmt.Errorf("creating scheduler pod %s: %w", key, err)
	}
	return 0, nil
}

// SchedulerPod builds the pod that runs a framework's scheduler from
// spec.scheduler, which must be set. Only the image, command, arguments,
// environment, resources and ServiceAccount come from the framework; the
// rest is fixed here: Pod Security's "restricted" settings, no host
// namespaces or volumes beyond the ServiceAccount token, no node, and no
// restart by the kubelet (the master restarts it with a backoff).
func SchedulerPod(fw *kmv1.Framework) corev1.Pod {
	s := fw.Spec.Scheduler
	env := append(kmv1.EnvVars(s.Env),
		corev1.EnvVar{Name: "KUBEMESOS_FRAMEWORK", Value: fw.Name},
		corev1.EnvVar{Name: "KUBEMESOS_NAMESPACE", Value: fw.Namespace})
	c := corev1.Container{
		Name: "scheduler", Image: s.Image, ImagePullPolicy: s.ImagePullPolicy,
		Command: s.Command, Args: s.Args, Env: env,
		Resources:       corev1.ResourceRequirements{Requests: s.Resources.Requests.Core(), Limits: s.Resources.Limits.Core()},
		SecurityContext: restricted.ContainerSecurityContext(),
	}
	sa := s.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: SchedulerPodName(fw.Name), Namespace: fw.Namespace,
			Labels: map[string]string{kmv1.LabelFramework: fw.Name, kmv1.LabelComponent: "scheduler"},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:      corev1.RestartPolicyNever,
			ServiceAccountName: sa,
			SecurityContext:    restricted.PodSecurityContext(),
			Containers:         []corev1.Container{c},
		},
	}
}

// countTasks fills the task counts, allocated resources, dominant share and
// outstanding offers.
func (r *frameworkController) countTasks(ctx context.Context, fw *kmv1.Framework, tasks []kmv1.Task) error {
	m := r.m
	var counts kmv1.TaskCounts
	alloc := corev1.ResourceList{}
	for i := range tasks {
		t := &tasks[i]
		if p := countFor(&counts, t.Status.State); p != nil {
			*p++
		}
		if liveTask(t) {
			alloc = resources.Add(alloc, t.Spec.Resources.Core())
		}
	}
	var offers kmv1.OfferList
	if err := m.Client.List(ctx, &offers, client.InNamespace(fw.Namespace), client.MatchingFields{IndexOfferFramework: fw.Name}); err != nil {
		return fmt.Errorf("listing the offers of %s: %w", fw.Name, err)
	}
	st := &fw.Status
	st.Tasks = counts
	st.Allocated = kmv1.ResourceList(alloc)
	if len(alloc) == 0 {
		st.Allocated = nil
	}
	st.OutstandingOffers = int32(len(offers.Items))
	// The share DRF ranks by, from the last allocation cycle: live tasks,
	// their executors and outstanding offers.
	st.DominantShare = strconv.FormatFloat(m.shares.get(nsName(fw)), 'f', 4, 64)
	return nil
}

func countFor(c *kmv1.TaskCounts, s kmv1.TaskState) *int32 {
	switch s {
	case kmv1.TaskStaging:
		return &c.Staging
	case kmv1.TaskStarting:
		return &c.Starting
	case kmv1.TaskRunning:
		return &c.Running
	case kmv1.TaskKilling:
		return &c.Killing
	case kmv1.TaskFinished:
		return &c.Finished
	case kmv1.TaskFailed:
		return &c.Failed
	case kmv1.TaskKilled:
		return &c.Killed
	case kmv1.TaskError:
		return &c.Error
	case kmv1.TaskLost:
		return &c.Lost
	case kmv1.TaskDropped:
		return &c.Dropped
	}
	return nil
}

// writeStatus patches the master's part of the status if it changed. The
// optimistic lock keeps it from overwriting what the scheduler SDK wrote.
func (r *frameworkController) writeStatus(ctx context.Context, fw *kmv1.Framework, old *kmv1.FrameworkStatus) error {
	if equality.Semantic.DeepEqual(*old, fw.Status) {
		return nil
	}
	before := fw.DeepCopy()
	before.Status = *old
	if err := r.m.frameworksClient.Status().Patch(ctx, fw, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("writing the status of framework %s: %w", fw.Name, err)
	}
	return nil
}

// teardown kills the framework's live tasks (of tasks, its task list),
// rescinds its offers and removes its scheduler pod. It is idempotent.
func (m *Master) teardown(ctx context.Context, fw *kmv1.Framework, tasks []kmv1.Task, why string) error {
	for i := range tasks {
		t := &tasks[i]
		if t.Status.State.IsTerminal() || t.Spec.Kill {
			continue
		}
		patch := client.MergeFrom(t.DeepCopy())
		t.Spec.Kill = true
		if err := m.frameworksClient.Patch(ctx, t, patch); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("killing task %s (%s): %w", t.Name, why, err)
		}
	}
	var offers kmv1.OfferList
	if err := m.Client.List(ctx, &offers, client.InNamespace(fw.Namespace), client.MatchingFields{IndexOfferFramework: fw.Name}); err != nil {
		return fmt.Errorf("listing the offers of %s: %w", fw.Name, err)
	}
	if err := m.rescindOffers(ctx, offers.Items, why); err != nil {
		return err
	}
	var pod corev1.Pod
	err := m.Client.Get(ctx, types.NamespacedName{Namespace: fw.Namespace, Name: SchedulerPodName(fw.Name)}, &pod)
	if apierrors.IsNotFound(err) || (err == nil && !metav1.IsControlledBy(&pod, fw)) {
		return nil // no scheduler pod of this framework's
	}
	if err != nil {
		return fmt.Errorf("reading the scheduler pod: %w", err)
	}
	if _, err := m.deletes.Delete(ctx, &pod); err != nil {
		return fmt.Errorf("removing the scheduler pod: %w", err)
	}
	return nil
}

// finalize tears a deleted framework down and releases it once no live task
// and no pod of it is left.
func (r *frameworkController) finalize(ctx context.Context, fw *kmv1.Framework) (ctrl.Result, error) {
	m := r.m
	if !controllerutil.ContainsFinalizer(fw, kmv1.FrameworkFinalizer) {
		return ctrl.Result{}, nil
	}
	if fw.Status.Phase != kmv1.FrameworkTearingDown {
		old := fw.Status.DeepCopy()
		fw.Status.Phase = kmv1.FrameworkTearingDown
		fw.Status.Message = "the Framework is being deleted; its tasks are being killed"
		setCond(fw, kmv1.FrameworkReady, false, kmv1.ReasonDeleted, fw.Status.Message)
		if err := r.writeStatus(ctx, fw, old); err != nil {
			return ctrl.Result{}, err
		}
		r.event(fw, old.Phase)
	}
	tasks, err := m.frameworkTasks(ctx, fw)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := m.teardown(ctx, fw, tasks, "framework deleted"); err != nil {
		return ctrl.Result{}, err
	}
	live := 0
	for i := range tasks {
		if liveTask(&tasks[i]) {
			live++
		}
	}
	pods, err := m.frameworkPods(ctx, fw)
	if err != nil {
		return ctrl.Result{}, err
	}
	if live > 0 || pods > 0 {
		left := m.Options.TeardownTimeout - m.Clock.Since(fw.DeletionTimestamp.Time)
		if left > 0 {
			ctrl.LoggerFrom(ctx).V(2).Info("waiting for the framework's tasks and pods to end", "liveTasks", live, "pods", pods)
			return ctrl.Result{RequeueAfter: min(2*time.Second, left)}, nil
		}
		// Past the bound: whatever kubelet or agent should have finished
		// did not. Remove the pods at once and let the Framework go; its
		// Tasks go with it (owner references).
		removed, err := m.forceRemovePods(ctx, fw)
		if err != nil {
			return ctrl.Result{}, err
		}
		m.Recorder.Eventf(fw, nil, corev1.EventTypeWarning, "TeardownTimedOut", "Teardown",
			"%d tasks and %d pods had not ended after --teardown-timeout %s; removed %d pods at once and released the framework",
			live, pods, m.Options.TeardownTimeout, removed)
	}
	patch := client.MergeFrom(fw.DeepCopy())
	controllerutil.RemoveFinalizer(fw, kmv1.FrameworkFinalizer)
	if err := m.frameworksClient.Patch(ctx, fw, patch); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return ctrl.Result{}, nil
}

// collectTerminalTasks deletes the oldest terminal tasks beyond the
// per-framework limit, so etcd does not grow without bound.
func (m *Master) collectTerminalTasks(ctx context.Context, tasks []kmv1.Task) error {
	limit := m.Options.TerminalTaskLimit
	if limit <= 0 {
		return nil
	}
	var terminal []*kmv1.Task
	for i := range tasks {
		if tasks[i].Status.State.IsTerminal() {
			terminal = append(terminal, &tasks[i])
		}
	}
	if len(terminal) <= limit {
		return nil
	}
	sort.Slice(terminal, func(i, j int) bool { return completedAt(terminal[i]).Before(completedAt(terminal[j])) })
	for _, t := range terminal[:len(terminal)-limit] {
		if _, err := m.deletes.Delete(ctx, t); err != nil {
			return fmt.Errorf("collecting terminal tasks: %w", err)
		}
	}
	return nil
}

func completedAt(t *kmv1.Task) time.Time {
	if t.Status.CompletionTime != nil {
		return t.Status.CompletionTime.Time
	}
	return t.CreationTimestamp.Time
}

// runningPods returns the framework's pods that have not ended (Succeeded
// or Failed): those whose containers may still run.
func (m *Master) runningPods(ctx context.Context, fw *kmv1.Framework) ([]*corev1.Pod, error) {
	var pods corev1.PodList
	if err := m.Client.List(ctx, &pods, client.InNamespace(fw.Namespace), client.MatchingLabels{kmv1.LabelFramework: fw.Name}); err != nil {
		return nil, fmt.Errorf("listing the pods of %s: %w", fw.Name, err)
	}
	var out []*corev1.Pod
	for i := range pods.Items {
		if p := &pods.Items[i]; p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, p)
		}
	}
	return out, nil
}

// forceRemovePods deletes, with a grace period of 0, every pod of the
// framework that has not ended, and returns how many it deleted.
func (m *Master) forceRemovePods(ctx context.Context, fw *kmv1.Framework) (int, error) {
	pods, err := m.runningPods(ctx, fw)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range pods {
		// Terminating pods included: this is the deletion that does not
		// wait for a kubelet.
		if err := m.frameworksClient.Delete(ctx, p, client.GracePeriodSeconds(0), client.Preconditions{UID: &p.UID}); err != nil &&
			!apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return n, fmt.Errorf("removing pod %s of framework %s: %w", p.Name, fw.Name, err)
		}
		n++
	}
	return n, nil
}

// frameworkPods counts the framework's pods that are still to go: those
// whose containers may still run. A pod that has ended (Succeeded or
// Failed, such as a finished command task's) runs nothing and is left to
// its owner's garbage collection. Executor pods on an agent that is no
// longer Active have no kubelet to finish their deletion: they are removed
// at once and not waited for.
func (m *Master) frameworkPods(ctx context.Context, fw *kmv1.Framework) (int, error) {
	pods, err := m.runningPods(ctx, fw)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range pods {
		if p.Labels[kmv1.LabelComponent] == "executor" && p.Spec.NodeName != "" {
			var a kmv1.Agent
			err := m.Client.Get(ctx, types.NamespacedName{Name: p.Spec.NodeName}, &a)
			if apierrors.IsNotFound(err) || (err == nil && a.Status.Phase != kmv1.AgentActive && a.Status.Phase != kmv1.AgentDraining) {
				if _, err := m.deletes.Delete(ctx, p, client.GracePeriodSeconds(0)); err != nil {
					return 0, fmt.Errorf("removing a pod on lost node %s: %w", p.Spec.NodeName, err)
				}
				continue
			}
		}
		n++
	}
	return n, nil
}

// frameworkTasks lists the framework's tasks from the cache, once per
// reconcile; teardown, the counts and the collection of terminal tasks
// share the list.
func (m *Master) frameworkTasks(ctx context.Context, fw *kmv1.Framework) ([]kmv1.Task, error) {
	var tasks kmv1.TaskList
	if err := m.Client.List(ctx, &tasks, client.InNamespace(fw.Namespace), client.MatchingFields{IndexTaskFramework: fw.Name}); err != nil {
		return nil, fmt.Errorf("listing the tasks of %s: %w", fw.Name, err)
	}
	return tasks.Items, nil
}
