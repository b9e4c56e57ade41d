package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/sdk/scheduler"
)

// The driver's calls and callbacks where they meet each other and the
// Lease: reconciliation from inside a callback, calls from an instance
// that is not active, the loss of the Lease while a callback runs, a
// framework that was removed, and launches that reuse a task ID. These
// tests need no master: they give the Framework its frameworkID (and the
// Tasks their states) by hand.

// registeredFramework creates Framework name with the frameworkID that the
// master would have given it, and phase.
func registeredFramework(t *testing.T, ns, name string, phase kmv1.FrameworkPhase) {
	t.Helper()
	ctx := context.Background()
	fw := b.MakeFramework(name, ns).RefuseSeconds(0).Obj()
	if err := env.Client.Create(ctx, fw); err != nil {
		t.Fatal(err)
	}
	fw.Status.FrameworkID = name + "-id"
	fw.Status.Phase = phase
	if err := env.Client.Status().Update(ctx, fw); err != nil {
		t.Fatal(err)
	}
}

// runningTasks creates n Tasks of framework fw, each TASK_RUNNING, and
// returns their names in order.
func runningTasks(t *testing.T, ns, fw string, n int) []string {
	t.Helper()
	names := make([]string, n)
	errs := make([]error, n)
	workqueue.ParallelizeUntil(context.Background(), 16, n, func(i int) {
		names[i] = fmt.Sprintf("t-%04d", i)
		_, errs[i] = runningTask(ns, fw, names[i])
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return names
}

// runningTask creates Task name of framework fw, TASK_RUNNING on agent a1.
func runningTask(ns, fw, name string) (*kmv1.Task, error) {
	task := b.MakeTask(name, ns).Framework(fw).Offer("o-"+name).Agent("a1").Resources("cpu", "100m").
		Command("busybox:stable", "true").Obj()
	if err := env.Client.Create(context.Background(), task); err != nil {
		return nil, err
	}
	task.Status.State, task.Status.AgentID = kmv1.TaskRunning, "a1"
	return task, env.Client.Status().Update(context.Background(), task)
}

// setTaskStatus changes a Task's status with change.
func setTaskStatus(t *testing.T, ns, name string, change func(*kmv1.TaskStatus)) {
	t.Helper()
	var task kmv1.Task
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &task); err != nil {
		t.Fatal(err)
	}
	change(&task.Status)
	if err := env.Client.Status().Update(context.Background(), &task); err != nil {
		t.Fatal(err)
	}
}

// stopped waits for d to stop and returns what Join returned; the test
// fails with what when it has not stopped within a minute.
func stopped(t *testing.T, d *scheduler.Driver, what string) error {
	t.Helper()
	joined := make(chan error, 1)
	go func() { joined <- d.Join() }()
	select {
	case err := <-joined:
		return err
	case <-time.After(60 * time.Second):
		t.Fatal(what)
		return nil
	}
}

// reconciler reconciles every task from inside Registered, and takes a
// moment over each status update, as a scheduler that records them does.
type reconciler struct {
	*recorder
	reconciled chan error
}

func (r *reconciler) Registered(d scheduler.SchedulerDriver, id string) {
	r.recorder.Registered(d, id)
	r.reconciled <- d.ReconcileTasks(nil)
}

func (r *reconciler) StatusUpdate(d scheduler.SchedulerDriver, s scheduler.TaskStatus) {
	time.Sleep(500 * time.Microsecond)
	r.recorder.StatusUpdate(d, s)
}

// TestReconcileFromACallback: a scheduler that reconciles its tasks from
// inside Registered, while the driver reconciles them too (a new instance
// learns every task's state), gets an answer for each, however many tasks
// there are; a task that ends while the answers are being delivered is
// never reported running again after its end; an update that changes a
// running task's health, not its state, is delivered; and a task named
// that does not exist is TASK_LOST.
func TestReconcileFromACallback(t *testing.T) {
	ns := namespace(t, "reconcile")
	registeredFramework(t, ns, "rec", kmv1.FrameworkActive)
	// More than the driver once held queued: a callback that reconciled
	// then waited for room that only its own return could make.
	const n = 1100
	names := runningTasks(t, ns, "rec", n)
	ended, sick := names[n-1], names[1]
	r := &reconciler{recorder: &recorder{}, reconciled: make(chan error, 1)}
	d := startDriver(t, r, ns, "rec", nil)
	select {
	case err := <-r.reconciled:
		if err != nil {
			t.Fatalf("ReconcileTasks from Registered: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Registered did not return: ReconcileTasks blocked inside the callback")
	}
	// While the answers are being delivered, one task ends and another
	// falls ill.
	setTaskStatus(t, ns, ended, func(s *kmv1.TaskStatus) { s.State = kmv1.TaskFinished })
	setTaskStatus(t, ns, sick, func(s *kmv1.TaskStatus) { s.Healthy = ptr.To(false) })
	eventually(t, "two answers for every task, the end and the illness", func() bool {
		for _, name := range names {
			if len(r.states(name)) < 2 {
				return false
			}
		}
		s, _ := r.status(ended)
		h, _ := r.status(sick)
		return s.State == kmv1.TaskFinished && h.Healthy != nil && !*h.Healthy
	})
	states := r.states(ended)
	for i, s := range states {
		if s.IsTerminal() {
			for _, later := range states[i+1:] {
				if !later.IsTerminal() {
					t.Fatalf("task %s was reported %s after %s: %v", ended, later, s, states)
				}
			}
			break
		}
	}

	if err := d.ReconcileTasks([]string{"nope", names[0]}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "an answer for a task that does not exist", func() bool { _, ok := r.status("nope"); return ok })
	if s, _ := r.status("nope"); s.State != kmv1.TaskLost || s.Reason != kmv1.ReasonReconciliation {
		t.Errorf("a task that does not exist was reconciled as %s (%s), want TASK_LOST (REASON_RECONCILIATION)", s.State, s.Reason)
	}
}

// TestAStandbyDoesNotAct: an instance that does not hold the scheduler
// Lease makes no call for the framework, and stopping it without failover
// leaves the framework to the active instance rather than completing it.
func TestAStandbyDoesNotAct(t *testing.T) {
	ns := namespace(t, "standby")
	registeredFramework(t, ns, "two", kmv1.FrameworkActive)
	active := &recorder{}
	startDriver(t, active, ns, "two", nil)
	eventually(t, "the first instance registered", func() bool { return active.has("registered ") })
	standby := &recorder{}
	d2 := startDriver(t, standby, ns, "two", nil)

	calls := map[string]error{
		"LaunchTasks":          d2.LaunchTasks([]string{"o1"}, []scheduler.TaskInfo{{TaskID: "x"}}),
		"DeclineOffer":         d2.DeclineOffer("o1", nil),
		"KillTask":             d2.KillTask("x"),
		"ReviveOffers":         d2.ReviveOffers(),
		"SuppressOffers":       d2.SuppressOffers(),
		"ReconcileTasks":       d2.ReconcileTasks(nil),
		"SendFrameworkMessage": d2.SendFrameworkMessage("e", "a1", "hello"),
		"Complete":             d2.Complete("from the standby"),
		"Fail":                 d2.Fail("from the standby"),
	}
	for call, err := range calls {
		if !errors.Is(err, scheduler.ErrNotActive) {
			t.Errorf("%s from the standby: %v, want ErrNotActive", call, err)
		}
	}
	if err := d2.Stop(false); err != nil {
		t.Fatalf("stopping the standby: %v", err)
	}
	if err := d2.Join(); err != nil {
		t.Errorf("the standby's Join: %v", err)
	}
	fw := getFramework(t, ns, "two")
	if c := meta.FindStatusCondition(fw.Status.Conditions, kmv1.FrameworkSucceeded); c != nil || fw.Status.Result != "" {
		t.Errorf("the standby's Stop(false) ended the framework: %+v, result %q", c, fw.Status.Result)
	}
	if standby.has("registered ") || active.has("disconnected") {
		t.Errorf("the standby registered or the active instance was disconnected: %v / %v", standby.calls, active.calls)
	}
}

// blocker holds the first status update of a task until released, then
// tries to kill the task, and records what that call returned.
type blocker struct {
	*recorder
	blocked, release chan struct{}
	killed           chan error
}

func (r *blocker) StatusUpdate(d scheduler.SchedulerDriver, s scheduler.TaskStatus) {
	r.recorder.StatusUpdate(d, s)
	if s.TaskID == "held" && r.blocked != nil {
		close(r.blocked)
		r.blocked = nil
		<-r.release
		r.killed <- d.KillTask("held")
	}
}

// TestLosingTheLeaseMidCallback: an instance that loses the scheduler
// Lease while a callback runs stops at once: the callback's later calls
// are refused and write nothing, and Disconnected comes once that callback
// has returned, whatever else was queued.
func TestLosingTheLeaseMidCallback(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, "lost")
	registeredFramework(t, ns, "lost", kmv1.FrameworkActive)
	task, err := runningTask(ns, "lost", "held")
	if err != nil {
		t.Fatal(err)
	}
	r := &blocker{recorder: &recorder{}, blocked: make(chan struct{}), release: make(chan struct{}), killed: make(chan error, 1)}
	blocked := r.blocked
	d := startDriver(t, r, ns, "lost", nil)
	select {
	case <-blocked:
	case <-time.After(60 * time.Second):
		t.Fatal("no status update for the task")
	}
	// More is queued behind the callback: updates of the task.
	setTaskStatus(t, ns, "held", func(s *kmv1.TaskStatus) { s.Message = "queued behind the callback" })

	// Another holder takes the Lease.
	var lease coordinationv1.Lease
	key := client.ObjectKey{Namespace: ns, Name: kmv1.SchedulerLeaseName("lost")}
	if err := env.Client.Get(ctx, key, &lease); err != nil {
		t.Fatal(err)
	}
	lease.Spec.HolderIdentity = ptr.To("another instance")
	lease.Spec.LeaseDurationSeconds = ptr.To[int32](600)
	lease.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
	if err := env.Client.Update(ctx, &lease); err != nil {
		t.Fatal(err)
	}
	if err := stopped(t, d, "the driver did not stop after losing its Lease"); err == nil || !strings.Contains(err.Error(), "Lease") {
		t.Errorf("Join after the Lease was lost: %v", err)
	}
	close(r.release)
	if err := <-r.killed; !errors.Is(err, scheduler.ErrNotActive) {
		t.Errorf("KillTask from the callback after the Lease was lost: %v, want ErrNotActive", err)
	}
	eventually(t, "Disconnected", func() bool { return r.has("disconnected") })
	var got kmv1.Task
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(task), &got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.Kill {
		t.Error("the instance that lost the Lease killed the task")
	}
	time.Sleep(200 * time.Millisecond)
	if n := r.count("disconnected"); n != 1 {
		t.Errorf("Disconnected %d times, want once", n)
	}
	if n := r.count("status held TASK_RUNNING"); n != 1 {
		t.Errorf("%d status updates after the Lease was lost were delivered; want none but the one in progress: %v", n-1, r.calls)
	}
}

// TestARemovedFrameworkIsAnError: a scheduler started for a framework that
// has ended is told so through Error and its driver stops, as Mesos
// refuses to register a removed framework; it is never Registered.
func TestARemovedFrameworkIsAnError(t *testing.T) {
	ns := namespace(t, "removed")
	registeredFramework(t, ns, "over", kmv1.FrameworkCompleted)
	r := &recorder{}
	d := startDriver(t, r, ns, "over", nil)
	if err := stopped(t, d, "the driver of a completed framework did not stop"); err == nil || !strings.Contains(err.Error(), "removed") {
		t.Errorf("Join: %v, want the framework's removal", err)
	}
	eventually(t, "Error", func() bool { return r.has("error ") })
	if r.has("registered ") {
		t.Errorf("the scheduler of a completed framework was registered: %v", r.calls)
	}
}

// TestLaunchesThatReuseOrLackTasks: LaunchTasks with no tasks declines its
// offers; launching a task again on the same offers is the same launch (a
// create that timed out but was stored); a task ID that a Task on other
// offers has is refused for that task, and the offers it named go back.
func TestLaunchesThatReuseOrLackTasks(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, "relaunch")
	registeredFramework(t, ns, "re", kmv1.FrameworkActive)
	for _, o := range []string{"o1", "o2", "o3"} {
		if err := env.Client.Create(ctx, b.MakeOffer(o, ns).Framework("re", "re-id").Agent("a1", "n1").Resources("cpu", "1").Obj()); err != nil {
			t.Fatal(err)
		}
	}
	r := &recorder{}
	d := startDriver(t, r, ns, "re", nil)
	eventually(t, "the offers", func() bool { return r.count("offer ") == 3 })
	gone := func(offer string) bool {
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: offer}, &kmv1.Offer{})
		return apierrors.IsNotFound(err)
	}

	if err := d.LaunchTasks([]string{"o1"}, nil); err != nil {
		t.Fatalf("LaunchTasks with no tasks: %v", err)
	}
	eventually(t, "the offer launched on with no tasks declined", func() bool { return gone("o1") })

	x := []scheduler.TaskInfo{{TaskID: "x", Resources: b.Resources("cpu", "100m"), Command: &kmv1.CommandInfo{Image: "busybox:stable", Command: []string{"true"}}}}
	if err := d.LaunchTasks([]string{"o2"}, x); err != nil {
		t.Fatal(err)
	}
	if err := d.LaunchTasks([]string{"o2"}, x); err != nil {
		t.Errorf("launching x again on the same offer: %v, want the same launch", err)
	}
	err := d.LaunchTasks([]string{"o3"}, x)
	var le *scheduler.LaunchError
	if !errors.As(err, &le) || le.Failed["x"] == nil || !strings.Contains(le.Failed["x"].Error(), "exists") {
		t.Errorf("launching x on another offer: %v, want x refused as existing", err)
	}
	eventually(t, "the offer of a launch that created nothing declined", func() bool { return gone("o3") })
	if gone("o2") {
		t.Error("the offer x was launched on was declined")
	}
}

// TestTheDriverOwnsItsLease: the driver makes the scheduler Lease its
// Framework's own (deleted with it; the master counts a Lease owned by
// another Framework as nobody's). A Lease left held by a crashed
// scheduler of a Framework of the same name, since deleted, is taken over
// at once, not after its 10 minutes. A Lease with no owner keeps its
// holder, who may be an instance of this framework.
func TestTheDriverOwnsItsLease(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, "own")
	now := metav1.NewMicroTime(time.Now())
	held := coordinationv1.LeaseSpec{HolderIdentity: ptr.To("crashed"), LeaseDurationSeconds: ptr.To(int32(600)), RenewTime: &now, AcquireTime: &now}
	stale := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: kmv1.SchedulerLeaseName("own"),
		OwnerReferences: []metav1.OwnerReference{{APIVersion: kmv1.GroupVersion.String(), Kind: "Framework", Name: "own",
			UID: "6c0ad7a1-0000-4000-8000-00000000dead"}}}, Spec: held}
	unowned := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: kmv1.SchedulerLeaseName("kept")}, Spec: held}
	for _, l := range []*coordinationv1.Lease{stale, unowned} {
		if err := env.Client.Create(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	registeredFramework(t, ns, "own", kmv1.FrameworkActive)
	registeredFramework(t, ns, "kept", kmv1.FrameworkActive)
	owned := func(name string) (*coordinationv1.Lease, *kmv1.Framework) {
		var l coordinationv1.Lease
		var fw kmv1.Framework
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: kmv1.SchedulerLeaseName(name)}, &l); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &fw); err != nil {
			t.Fatal(err)
		}
		if uid, ok := kmv1.FrameworkOwnerUID(&l); !ok || uid != fw.UID {
			t.Errorf("Lease %s is owned by %v, want Framework %s (%s)", l.Name, l.OwnerReferences, name, fw.UID)
		}
		return &l, &fw
	}

	r := &recorder{}
	startDriver(t, r, ns, "own", nil)
	eventually(t, "the driver registered on the Lease of a Framework that is gone", func() bool { return r.has("registered ") })
	owned("own")
	// A Lease deleted under the active driver (by hand, or with its
	// namespace's Leases) is made again at its next renewal, owned again.
	if err := env.Client.Delete(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: kmv1.SchedulerLeaseName("own")}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted Lease made again", func() bool {
		var l coordinationv1.Lease
		return env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: kmv1.SchedulerLeaseName("own")}, &l) == nil && l.Spec.HolderIdentity != nil
	})
	owned("own")

	k := &recorder{}
	startDriver(t, k, ns, "kept", nil)
	owned("kept")
	// Its campaign reads the Lease every 500 ms: a second is enough for a
	// driver that took a Lease it should not.
	time.Sleep(time.Second)
	if l, _ := owned("kept"); ptr.Deref(l.Spec.HolderIdentity, "") != "crashed" {
		t.Errorf("the Lease with no owner is held by %q, want its holder kept", ptr.Deref(l.Spec.HolderIdentity, ""))
	}
	if k.has("registered ") {
		t.Error("a driver registered while another instance holds its Lease")
	}
}
