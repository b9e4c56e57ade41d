package scheduler

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/messages"
	"github.com/kubemesos/kubemesos/internal/scheme"
	"github.com/kubemesos/kubemesos/internal/stopper"
)

// Config configures a Driver.
type Config struct {
	// RestConfig reaches the API server: in-cluster config in a pod, a
	// kubeconfig from a laptop.
	RestConfig *rest.Config
	// Namespace and Framework name the Framework.
	Namespace, Framework string
	// Spec creates the Framework when it does not exist; nil claims an
	// existing one only.
	Spec *kmv1.FrameworkSpec
	// Identity names this instance in the Lease; by default the hostname,
	// the pid and a random suffix, so that two drivers in one process are
	// two instances. Two drivers with one identity both hold the Lease.
	Identity string
	// Lease timings; 15s, 10s and 2s by default.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Log receives the driver's logs.
	Log logr.Logger
}

// Driver is the SchedulerDriver.
type Driver struct {
	sched Scheduler
	cfg   Config
	c     client.Client
	cache cache.Cache
	cs    kubernetes.Interface

	ctx    context.Context
	cancel context.CancelFunc
	calls  chan func()
	stop   *stopper.Stopper

	// Framework messages: those from executors, and this instance's own
	// sequence as a sender.
	inbox       *inbox
	messagesReg toolscache.ResourceEventHandlerRegistration
	deleter     *messages.Deleter
	sender      string
	sendMu      sync.Mutex
	sent        uint64

	mu          sync.Mutex
	active      bool
	registered  bool
	fw          *kmv1.Framework
	seenOffers  map[string]bool // delivered to the scheduler
	usedOffers  map[string]bool // launched on or declined
	lastState   map[string]kmv1.TaskState
	lostAgents  map[string]bool
	agentNodes  map[string]string // agentID -> node, from tasks and offers
	pendingOffs []kmv1.Offer
	aborted     atomic.Bool // Abort was called: the Lease is not written again
}

// NewDriver returns a driver for sched.
func NewDriver(sched Scheduler, cfg Config) (*Driver, error) {
	if cfg.RestConfig == nil || cfg.Namespace == "" || cfg.Framework == "" {
		return nil, errors.New("scheduler.Config needs RestConfig, Namespace and Framework")
	}
	if cfg.Identity == "" {
		host, _ := os.Hostname()
		cfg.Identity = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), messages.NewSender()[:6])
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration, cfg.RenewDeadline, cfg.RetryPeriod = 15*time.Second, 10*time.Second, 2*time.Second
	}
	if cfg.Log.GetSink() == nil {
		cfg.Log = logr.Discard()
	}
	s := scheme.New()
	c, err := client.New(cfg.RestConfig, client.Options{Scheme: s})
	if err != nil {
		return nil, fmt.Errorf("creating a client: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg.RestConfig)
	if err != nil {
		return nil, fmt.Errorf("creating a clientset: %w", err)
	}
	ca, err := cache.New(cfg.RestConfig, cache.Options{Scheme: s, ByObject: map[client.Object]cache.ByObject{
		&kmv1.Offer{}:     {Namespaces: map[string]cache.Config{cfg.Namespace: {}}, Field: fields.OneTermEqualSelector("spec.framework", cfg.Framework)},
		&kmv1.Task{}:      {Namespaces: map[string]cache.Config{cfg.Namespace: {}}, Field: fields.OneTermEqualSelector("spec.framework", cfg.Framework)},
		&kmv1.Framework{}: {Namespaces: map[string]cache.Config{cfg.Namespace: {}}, Field: fields.OneTermEqualSelector("metadata.name", cfg.Framework)},
		&eventsv1.Event{}: {Namespaces: map[string]cache.Config{cfg.Namespace: {}}, Label: messages.ToScheduler(cfg.Framework)},
	}})
	if err != nil {
		return nil, fmt.Errorf("creating the cache: %w", err)
	}
	return &Driver{sched: sched, cfg: cfg, c: c, cache: ca, cs: cs, calls: make(chan func(), 1024), stop: stopper.New(),
		inbox: newInbox(), deleter: messages.NewDeleter(c, cfg.Log.WithName("messages")), sender: messages.NewSender(),
		seenOffers: map[string]bool{}, usedOffers: map[string]bool{}, lastState: map[string]kmv1.TaskState{}, lostAgents: map[string]bool{},
		agentNodes: map[string]string{}}, nil
}

var _ SchedulerDriver = (*Driver)(nil)

func (d *Driver) log() logr.Logger { return d.cfg.Log }

// call queues a callback; callbacks run one at a time.
func (d *Driver) call(fn func()) {
	select {
	case d.calls <- fn:
	case <-d.stop.Done():
	}
}

func (d *Driver) isActive() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.active
}

// Start claims the Framework, starts the informers and campaigns for the
// scheduler Lease.
func (d *Driver) Start() error {
	d.ctx, d.cancel = context.WithCancel(context.Background())
	if err := d.claim(d.ctx); err != nil {
		d.cancel()
		return err
	}
	if err := d.watch(d.ctx); err != nil {
		d.cancel()
		return err
	}
	go func() { _ = d.cache.Start(d.ctx) }()
	go d.deleter.Run(d.ctx)
	go d.dispatch()
	go d.campaign()
	return nil
}

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

// campaign holds the scheduler Lease; while held, this instance is active.
func (d *Driver) campaign() {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: d.cfg.Namespace, Name: kmv1.SchedulerLeaseName(d.cfg.Framework)},
		Client:     d.cs.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: d.cfg.Identity},
		Labels:     map[string]string{kmv1.LabelLease: kmv1.LeaseKindScheduler, kmv1.LabelFramework: d.cfg.Framework},
	}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: abortableLock{Interface: lock, aborted: &d.aborted}, LeaseDuration: d.cfg.LeaseDuration, RenewDeadline: d.cfg.RenewDeadline, RetryPeriod: d.cfg.RetryPeriod,
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

// abortableLock is the scheduler Lease's lock, which an aborted driver no
// longer writes: Abort is a crash, so the Lease is not released on the way
// out (the elector releases it when its context ends) and the framework is
// Disconnected until another instance takes the Lease over.
type abortableLock struct {
	resourcelock.Interface
	aborted *atomic.Bool
}

// Update writes the Lease, unless the driver was aborted.
func (l abortableLock) Update(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	if l.aborted.Load() {
		return errors.New("the scheduler driver was aborted: the Lease is left to expire")
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

// finish stops the driver; the first reason given is the one Join returns.
func (d *Driver) finish(err error) {
	d.stop.Stop(err)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancel != nil {
		d.cancel()
	}
}

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

// Stop stops the driver and releases the Lease.
func (d *Driver) Stop(failover bool) error {
	if !failover {
		if err := d.Complete(d.Framework().Status.Result); err != nil {
			return err
		}
	}
	d.finish(nil)
	return nil
}

// Abort stops at once without releasing the Lease, as a crash would.
func (d *Driver) Abort() error {
	d.aborted.Store(true)
	d.mu.Lock()
	d.active = false
	d.mu.Unlock()
	d.finish(errors.New("aborted"))
	return nil
}

// Join waits for the driver to stop.
func (d *Driver) Join() error { return d.stop.Wait() }

// Run starts the driver and waits for it to stop.
func (d *Driver) Run() error {
	if err := d.Start(); err != nil {
		return err
	}
	return d.Join()
}

// Framework returns the Framework as last seen.
func (d *Driver) Framework() *kmv1.Framework {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fw == nil {
		return &kmv1.Framework{}
	}
	return d.fw.DeepCopy()
}

// LaunchTasks creates the tasks on the offers.
func (d *Driver) LaunchTasks(offerIDs []string, tasks []TaskInfo) error {
	if len(offerIDs) == 0 {
		return errors.New("LaunchTasks needs at least one offer")
	}
	var first kmv1.Offer
	if err := d.cache.Get(d.ctx, types.NamespacedName{Namespace: d.cfg.Namespace, Name: offerIDs[0]}, &first); err != nil {
		return fmt.Errorf("offer %s: %w", offerIDs[0], err)
	}
	fw := d.Framework()
	d.mu.Lock()
	for _, id := range offerIDs {
		d.usedOffers[id] = true
	}
	d.mu.Unlock()
	failed := map[string]error{}
	for _, ti := range tasks {
		labels := map[string]string{kmv1.LabelFramework: d.cfg.Framework, kmv1.LabelAgent: first.Spec.NodeName}
		for k, v := range ti.Labels {
			labels[k] = v
		}
		t := &kmv1.Task{
			ObjectMeta: metav1.ObjectMeta{Namespace: d.cfg.Namespace, Name: ti.TaskID, Labels: labels},
			Spec: kmv1.TaskSpec{Framework: kmv1.ObjectName(d.cfg.Framework), OfferIDs: offerIDs, AgentID: first.Spec.AgentID,
				Resources: ti.Resources, Command: ti.Command, Executor: ti.Executor, Data: ti.Data, KillGracePeriodSeconds: ti.KillGracePeriodSeconds},
		}
		if fw.UID != "" {
			t.OwnerReferences = []metav1.OwnerReference{{APIVersion: kmv1.GroupVersion.String(), Kind: "Framework", Name: fw.Name, UID: fw.UID}}
		}
		// Launching is idempotent: a task that exists was launched before,
		// for example by the instance this one took over from.
		if err := d.c.Create(d.ctx, t); err != nil && !apierrors.IsAlreadyExists(err) {
			failed[ti.TaskID] = err
		}
	}
	if len(failed) > 0 {
		return &LaunchError{Failed: failed}
	}
	return nil
}

// LaunchError says which tasks of a LaunchTasks call were not created.
type LaunchError struct {
	// Failed maps task IDs to why they were not created.
	Failed map[string]error
}

func (e *LaunchError) Error() string {
	parts := make([]string, 0, len(e.Failed))
	for id, err := range e.Failed {
		parts = append(parts, fmt.Sprintf("task %s: %v", id, err))
	}
	sort.Strings(parts)
	return "launching tasks: " + strings.Join(parts, "; ")
}

// DeclineOffer deletes the offer; the master filters that agent for the
// framework's refuseSeconds, or filters.RefuseSeconds.
func (d *Driver) DeclineOffer(offerID string, filters *Filters) error {
	d.mu.Lock()
	d.usedOffers[offerID] = true
	d.mu.Unlock()
	o := &kmv1.Offer{ObjectMeta: metav1.ObjectMeta{Namespace: d.cfg.Namespace, Name: offerID}}
	if filters != nil && filters.RefuseSeconds != nil {
		patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, kmv1.AnnotationRefuseSeconds, fmt.Sprint(*filters.RefuseSeconds))
		if err := d.c.Patch(d.ctx, o, client.RawPatch(types.MergePatchType, patch)); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("declining offer %s: %w", offerID, err)
		}
	}
	if err := d.c.Delete(d.ctx, o); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("declining offer %s: %w", offerID, err)
	}
	return nil
}

// KillTask sets the task's spec.kill.
func (d *Driver) KillTask(taskID string) error {
	t := &kmv1.Task{ObjectMeta: metav1.ObjectMeta{Namespace: d.cfg.Namespace, Name: taskID}}
	if err := d.c.Patch(d.ctx, t, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"kill":true}}`))); err != nil {
		return fmt.Errorf("killing task %s: %w", taskID, err)
	}
	return nil
}

func (d *Driver) setSuppress(v bool) error {
	fw := &kmv1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: d.cfg.Namespace, Name: d.cfg.Framework}}
	patch := fmt.Appendf(nil, `{"spec":{"suppressOffers":%t}}`, v)
	if err := d.c.Patch(d.ctx, fw, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("setting suppressOffers=%t: %w", v, err)
	}
	return nil
}

// ReviveOffers clears spec.suppressOffers.
func (d *Driver) ReviveOffers() error { return d.setSuppress(false) }

// SuppressOffers sets spec.suppressOffers.
func (d *Driver) SuppressOffers() error { return d.setSuppress(true) }

// ReconcileTasks re-delivers the current state of tasks.
func (d *Driver) ReconcileTasks(taskIDs []string) error {
	var tasks kmv1.TaskList
	if err := d.cache.List(d.ctx, &tasks); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, id := range taskIDs {
		want[id] = true
	}
	sort.Slice(tasks.Items, func(i, j int) bool { return tasks.Items[i].Name < tasks.Items[j].Name })
	for i := range tasks.Items {
		if len(want) == 0 || want[tasks.Items[i].Name] {
			d.taskChanged(&tasks.Items[i], true)
		}
	}
	return nil
}

// finishFramework writes the scheduler's verdict: result and the
// Succeeded condition, which the master turns into Completed or Failed.
func (d *Driver) finishFramework(succeeded bool, result, message string) error {
	key := types.NamespacedName{Namespace: d.cfg.Namespace, Name: d.cfg.Framework}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var fw kmv1.Framework
		if err := d.c.Get(d.ctx, key, &fw); err != nil {
			return err
		}
		patch := client.MergeFromWithOptions(fw.DeepCopy(), client.MergeFromWithOptimisticLock{})
		cond := metav1.Condition{Type: kmv1.FrameworkSucceeded, Status: metav1.ConditionTrue, Reason: kmv1.ReasonCompletedByScheduler, Message: message}
		if !succeeded {
			cond.Status, cond.Reason = metav1.ConditionFalse, kmv1.ReasonFailedByScheduler
		}
		if cond.Message == "" {
			cond.Message = "completed by the scheduler"
		}
		if result != "" {
			fw.Status.Result = result
		}
		meta.SetStatusCondition(&fw.Status.Conditions, cond)
		return d.c.Status().Patch(d.ctx, &fw, patch)
	})
}

// Complete completes the framework with result.
func (d *Driver) Complete(result string) error {
	if err := d.finishFramework(true, result, "completed by the scheduler: "+result); err != nil {
		return fmt.Errorf("completing the framework: %w", err)
	}
	return nil
}

// Fail ends the framework as Failed with message.
func (d *Driver) Fail(message string) error {
	if err := d.finishFramework(false, "", message); err != nil {
		return fmt.Errorf("failing the framework: %w", err)
	}
	return nil
}
