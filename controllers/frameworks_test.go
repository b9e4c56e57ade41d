package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

func getFramework(t *testing.T, ns, name string) *kmv1.Framework {
	t.Helper()
	var f kmv1.Framework
	if err := env.Client.Get(context.Background(), keyOf(ns, name), &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

func waitPhase(t *testing.T, ns, name string, p kmv1.FrameworkPhase) *kmv1.Framework {
	t.Helper()
	eventually(t, "framework "+string(p), func() (bool, error) {
		return getFramework(t, ns, name).Status.Phase == p, nil
	})
	return getFramework(t, ns, name)
}

// launch stages one task of 1 cpu on the framework's current offer.
func launch(t *testing.T, ns, fw, name string) {
	t.Helper()
	offer := waitOffer(t, ns, fw)
	if err := env.Client.Create(context.Background(), b.MakeTask(name, ns).Framework(fw).Offer(offer.Name).Resources("cpu", "1").Command("busybox").Obj()); err != nil {
		t.Fatal(err)
	}
	eventually(t, name+" staged", func() (bool, error) { return getTask(t, ns, name).Status.State == kmv1.TaskStaging, nil })
}

func TestFrameworkRegistersAndCounts(t *testing.T) {
	startMaster(t, testOptions(), false, "master")
	addAgent(t, "fwc-1", "cpu", "4", "memory", "4Gi")
	_, ns := addFramework(t, b.MakeFramework("countfw", "").Obj())
	fw := waitPhase(t, ns, "countfw", kmv1.FrameworkActive)
	if fw.Status.FrameworkID == "" || fw.Status.RegisteredTime == nil {
		t.Errorf("not registered: %+v", fw.Status)
	}
	for _, c := range []string{kmv1.FrameworkRegistered, kmv1.FrameworkSchedulerConnected, kmv1.FrameworkReady} {
		if !meta.IsStatusConditionTrue(fw.Status.Conditions, c) {
			t.Errorf("condition %s not true", c)
		}
	}
	if !containsString(fw.Finalizers, kmv1.FrameworkFinalizer) {
		t.Errorf("finalizer missing: %v", fw.Finalizers)
	}
	launch(t, ns, "countfw", "c1")
	// allocated counts the live tasks; the dominant share is what DRF
	// ranks by: the task (1 of 4 cpu) and the offer of the rest of the
	// agent, so the whole agent.
	eventually(t, "counts, allocation and the share DRF sees", func() (bool, error) {
		st := getFramework(t, ns, "countfw").Status
		cpu := st.Allocated["cpu"]
		return st.Tasks.Staging == 1 && cpu.Cmp(q("1")) == 0 && st.DominantShare == "1.0000" && st.OutstandingOffers == 1, nil
	})
}

func TestFrameworkFailoverTimeout(t *testing.T) {
	startMaster(t, testOptions(), false, "master")
	addAgent(t, "fo-1", "cpu", "4", "memory", "4Gi")
	hb, ns := addFrameworkLease(t, b.MakeFramework("fofw", "").FailoverTimeout(5).Obj(), 2*time.Second)
	waitPhase(t, ns, "fofw", kmv1.FrameworkActive)
	launch(t, ns, "fofw", "f1")

	hb.stop()
	fw := waitPhase(t, ns, "fofw", kmv1.FrameworkDisconnected)
	if meta.IsStatusConditionTrue(fw.Status.Conditions, kmv1.FrameworkSchedulerConnected) {
		t.Error("SchedulerConnected is still true")
	}
	if getTask(t, ns, "f1").Spec.Kill {
		t.Error("a task was killed before the failover timeout")
	}
	eventually(t, "no offers while disconnected", func() (bool, error) { return len(offersOf(t, ns, "fofw")) == 0, nil })

	fw = waitPhase(t, ns, "fofw", kmv1.FrameworkFailed)
	if c := meta.FindStatusCondition(fw.Status.Conditions, kmv1.FrameworkSucceeded); c == nil || c.Status != metav1.ConditionFalse || c.Reason != kmv1.ReasonFailoverTimeout {
		t.Errorf("Succeeded condition %+v, want False/%s", c, kmv1.ReasonFailoverTimeout)
	}
	eventually(t, "the task is killed", func() (bool, error) { return getTask(t, ns, "f1").Spec.Kill, nil })
}

// TestTheEndIsStoredBeforeTheTeardown: at the failover deadline the master
// stores Failed before it kills a task. While the API server refuses the
// write (a ValidatingAdmissionPolicy here, a conflict or an outage
// elsewhere) the tasks run on, so that a scheduler back meanwhile finds its
// framework as it left it; before, they were killed first.
func TestTheEndIsStoredBeforeTheTeardown(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	addAgent(t, "end-1", "cpu", "4", "memory", "4Gi")
	// The policy first: a scheduler Lease that lapses early on a slow
	// machine then meets it too.
	testenv.Refuse(t, env.Client, testenv.Refusal{Name: "refuse-failed-endfw", Group: kmv1.GroupVersion.Group, Resource: "frameworks/status",
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
		Allow:      "object.metadata.name != 'endfw' || !has(object.status.phase) || object.status.phase != 'Failed'",
		Message:    "refused by the test"})
	hb, ns := addFrameworkLease(t, b.MakeFramework("endfw", "").FailoverTimeout(1).Obj(), 5*time.Second)
	waitPhase(t, ns, "endfw", kmv1.FrameworkActive)
	eventually(t, "the policy refusing Failed", func() (bool, error) {
		fw := getFramework(t, ns, "endfw")
		fw.Status.Phase = kmv1.FrameworkFailed
		err := env.Client.Status().Update(ctx, fw, client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), "refused by the test"), nil
	})
	launch(t, ns, "endfw", "e1")

	hb.stop()
	waitPhase(t, ns, "endfw", kmv1.FrameworkDisconnected)
	// Past the deadline the master tries to store Failed, and is refused,
	// again and again.
	refused := reconcileResults(t, "framework", "error")
	eventually(t, "the master's writes of Failed refused", func() (bool, error) {
		return reconcileResults(t, "framework", "error") >= refused+3, nil
	})
	if p := getFramework(t, ns, "endfw").Status.Phase; p != kmv1.FrameworkDisconnected {
		t.Fatalf("the framework is %s while Failed is refused", p)
	}
	if getTask(t, ns, "e1").Spec.Kill {
		t.Fatal("the task was killed before the framework's end was stored")
	}

	// The refusal lifts.
	if err := env.Client.Delete(ctx, &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "refuse-failed-endfw"}}); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ns, "endfw", kmv1.FrameworkFailed)
	eventually(t, "the task is killed", func() (bool, error) { return getTask(t, ns, "e1").Spec.Kill, nil })
}

// TestALeaseOwnedByAnotherFrameworkIsNobodys: a Framework created anew
// under the name of one deleted finds the old one's scheduler Lease, held
// by a scheduler that crashed (the garbage collector has not deleted it
// yet). It stays Pending: the Lease is owned by the old Framework's UID.
// Before, the master counted it held, and the framework was Active with no
// scheduler until its failover timeout failed it. Once a scheduler makes
// the Lease the new Framework's own (the SDK does when it starts), it is
// Active.
func TestALeaseOwnedByAnotherFrameworkIsNobodys(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	ns := frameworkNamespace(t)
	now := metav1.NewMicroTime(time.Now())
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: kmv1.SchedulerLeaseName("again"),
			Labels: map[string]string{kmv1.LabelLease: kmv1.LeaseKindScheduler, kmv1.LabelFramework: "again"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: kmv1.GroupVersion.String(), Kind: "Framework", Name: "again",
				UID: "6c0ad7a1-0000-4000-8000-00000000dead"}}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("crashed"), LeaseDurationSeconds: ptr.To(int32(600)), RenewTime: &now, AcquireTime: &now},
	}
	if err := env.Client.Create(ctx, lease); err != nil {
		t.Fatal(err)
	}
	// Disconnected once the test ends, so that it takes no other test's
	// offers.
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), lease) })
	if err := env.Client.Create(ctx, b.MakeFramework("again", ns).Obj()); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ns, "again", kmv1.FrameworkPending)
	// A renewal of the crashed scheduler's Lease (the master reconciles
	// the framework on each change of its Lease).
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(lease), lease); err != nil {
		t.Fatal(err)
	}
	lease.Spec.RenewTime = ptr.To(metav1.NewMicroTime(time.Now()))
	if err := env.Client.Update(ctx, lease); err != nil {
		t.Fatal(err)
	}
	// Then a change of the Framework's spec: its observedGeneration shows
	// that the master has looked at it since.
	fw := getFramework(t, ns, "again")
	fw.Spec.FailoverTimeoutSeconds = ptr.To(int32(120))
	if err := env.Client.Update(ctx, fw); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the master has seen the new spec", func() (bool, error) {
		f := getFramework(t, ns, "again")
		return f.Status.ObservedGeneration == f.Generation, nil
	})
	if p := getFramework(t, ns, "again").Status.Phase; p != kmv1.FrameworkPending {
		t.Fatalf("the framework is %s on a Lease owned by another Framework, want Pending", p)
	}

	fw = getFramework(t, ns, "again")
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(lease), lease); err != nil {
		t.Fatal(err)
	}
	lease.OwnerReferences[0].UID = fw.UID
	lease.Spec.RenewTime = ptr.To(metav1.NewMicroTime(time.Now()))
	if err := env.Client.Update(ctx, lease); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ns, "again", kmv1.FrameworkActive)
}

// TestAnAbandonedMesosSubscriptionFails: a Framework that the Mesos API
// made for a SUBSCRIBE whose answer was lost (so no scheduler knows its
// frameworkID) fails after its failover timeout, as Mesos removes a
// framework whose connection closed; before, it stayed Pending for ever.
// A Pending Framework of the SDK waits on: its scheduler may start later.
func TestAnAbandonedMesosSubscriptionFails(t *testing.T) {
	controllers.SetMesosSubscribeGrace(t, 2*time.Second)
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	ns := frameworkNamespace(t)
	mesos := b.MakeFramework("lost-answer", ns).FailoverTimeout(1).Obj()
	mesos.Labels = map[string]string{kmv1.LabelAPI: kmv1.APIMesosV1}
	sdk := b.MakeFramework("sdk-later", ns).FailoverTimeout(1).Obj()
	for _, fw := range []*kmv1.Framework{mesos, sdk} {
		if err := env.Client.Create(ctx, fw); err != nil {
			t.Fatal(err)
		}
	}
	waitPhase(t, ns, "lost-answer", kmv1.FrameworkPending)
	fw := waitPhase(t, ns, "lost-answer", kmv1.FrameworkFailed)
	if c := meta.FindStatusCondition(fw.Status.Conditions, kmv1.FrameworkSucceeded); c == nil || c.Reason != kmv1.ReasonFailoverTimeout ||
		!strings.Contains(c.Message, "no Mesos scheduler") {
		t.Errorf("Succeeded condition %+v, want False/%s saying no scheduler subscribed", c, kmv1.ReasonFailoverTimeout)
	}
	if p := getFramework(t, ns, "sdk-later").Status.Phase; p != kmv1.FrameworkPending {
		t.Errorf("the SDK framework is %s, want Pending until its scheduler starts", p)
	}
}

// TestFrameworkCountsAreWrittenInBatches: while a framework's tasks
// change state without pause, its counts are written at most about once
// per second (statusBatch), not on the event of each of the master's own
// writes nor on each renewal of the scheduler's Lease (every 150 ms here):
// 33 writes for these 60 changes before.
func TestFrameworkCountsAreWrittenInBatches(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	addAgent(t, "batch-1", "cpu", "40", "memory", "4Gi")
	_, ns := addFramework(t, b.MakeFramework("batchfw", "").Obj())
	waitPhase(t, ns, "batchfw", kmv1.FrameworkActive)
	offer := waitOffer(t, ns, "batchfw")
	const tasks = 30
	for i := range tasks {
		if err := env.Client.Create(ctx, b.MakeTask(fmt.Sprintf("b%d", i), ns).Framework("batchfw").Offer(offer.Name).Launch(tasks).Resources("cpu", "1").Command("busybox").Obj()); err != nil {
			t.Fatal(err)
		}
	}
	for i := range tasks {
		eventually(t, "the tasks staged", func() (bool, error) {
			return getTask(t, ns, fmt.Sprintf("b%d", i)).Status.State == kmv1.TaskStaging, nil
		})
	}
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wc.Watch(ctx, &kmv1.FrameworkList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var writes atomic.Int32
	go func() {
		for e := range w.ResultChan() {
			if e.Type == watch.Modified {
				writes.Add(1)
			}
		}
	}()
	// The agent's part: each task runs, then finishes, one write every
	// 50 ms.
	start := time.Now()
	for _, state := range []kmv1.TaskState{kmv1.TaskRunning, kmv1.TaskFinished} {
		for i := range tasks {
			tk := getTask(t, ns, fmt.Sprintf("b%d", i))
			tk.Status.State, tk.Status.Source = state, kmv1.SourceAgent
			if err := env.Client.Status().Update(ctx, tk); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	eventually(t, "the counts show every task finished", func() (bool, error) {
		return getFramework(t, ns, "batchfw").Status.Tasks.Finished == tasks, nil
	})
	took := time.Since(start)
	time.Sleep(time.Second) // the last write's event
	// One write per statusBatch while the tasks change, and a few
	// around the first and the last change.
	if most := int32(took/time.Second) + 3; writes.Load() > most {
		t.Errorf("the Framework was written %d times in %s of task changes, want at most %d (about one per second)", writes.Load(), took.Round(time.Millisecond), most)
	}
	t.Logf("%d Framework writes for %d task changes in %s", writes.Load(), 2*tasks, took.Round(time.Millisecond))
}

func TestFrameworkCompletedByScheduler(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	addAgent(t, "done-1", "cpu", "4", "memory", "4Gi")
	_, ns := addFramework(t, b.MakeFramework("donefw", "").Obj())
	waitPhase(t, ns, "donefw", kmv1.FrameworkActive)
	launch(t, ns, "donefw", "d1")

	// What the scheduler SDK writes when it completes the framework: a
	// patch with a resourceVersion precondition, retried on conflict with
	// the master's own status writes.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		fw := getFramework(t, ns, "donefw")
		patch := client.MergeFromWithOptions(fw.DeepCopy(), client.MergeFromWithOptimisticLock{})
		fw.Status.Result = "area=42"
		meta.SetStatusCondition(&fw.Status.Conditions, metav1.Condition{Type: kmv1.FrameworkSucceeded, Status: metav1.ConditionTrue,
			Reason: kmv1.ReasonCompletedByScheduler, Message: "all pieces done"})
		return env.Client.Status().Patch(ctx, fw, patch)
	}); err != nil {
		t.Fatal(err)
	}
	fw := waitPhase(t, ns, "donefw", kmv1.FrameworkCompleted)
	if fw.Status.Result != "area=42" || fw.Status.CompletionTime == nil {
		t.Errorf("result %q completion %v", fw.Status.Result, fw.Status.CompletionTime)
	}
	eventually(t, "the remaining task is killed", func() (bool, error) { return getTask(t, ns, "d1").Spec.Kill, nil })
	eventually(t, "no offers", func() (bool, error) { return len(offersOf(t, ns, "donefw")) == 0, nil })
}

func TestFrameworkDeletionTearsDown(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	addAgent(t, "del-1", "cpu", "4", "memory", "4Gi")
	_, ns := addFramework(t, b.MakeFramework("delfw", "").Obj())
	waitPhase(t, ns, "delfw", kmv1.FrameworkActive)
	launch(t, ns, "delfw", "x1")

	if err := env.Client.Delete(ctx, getFramework(t, ns, "delfw")); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ns, "delfw", kmv1.FrameworkTearingDown)
	eventually(t, "the task is killed", func() (bool, error) { return getTask(t, ns, "x1").Spec.Kill, nil })
	// The finalizer holds the Framework until the agent reports the kill.
	if getFramework(t, ns, "delfw").DeletionTimestamp == nil {
		t.Fatal("not deleting")
	}
	tk := getTask(t, ns, "x1")
	tk.Status.State = kmv1.TaskKilled
	tk.Status.Source = kmv1.SourceAgent
	if err := env.Client.Status().Update(ctx, tk); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Framework is gone", func() (bool, error) {
		err := env.Client.Get(ctx, keyOf(ns, "delfw"), &kmv1.Framework{})
		return apierrors.IsNotFound(err), nil
	})
}

// TestFrameworkDeletionWaitsOnlyForLivePods: a deleted framework waits for
// its pods whose containers may still run, not for ended ones (a finished
// command task's pod stays until its Task is collected).
func TestFrameworkDeletionWaitsOnlyForLivePods(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	_, ns := addFramework(t, b.MakeFramework("podsfw", "").Obj())
	waitPhase(t, ns, "podsfw", kmv1.FrameworkActive)
	pod := func(name string, phase corev1.PodPhase) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{kmv1.LabelFramework: "podsfw"}},
			Spec: corev1.PodSpec{AutomountServiceAccountToken: ptr.To(false), Containers: []corev1.Container{{Name: "c", Image: "busybox:stable"}}}}
		if err := env.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		p.Status.Phase = phase
		if err := env.Client.Status().Update(ctx, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pod("ended", corev1.PodSucceeded)
	running := pod("running", corev1.PodRunning)
	if err := env.Client.Delete(ctx, getFramework(t, ns, "podsfw")); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ns, "podsfw", kmv1.FrameworkTearingDown)
	afterReconciles(t, "framework", 2) // finalize passes
	if getFramework(t, ns, "podsfw").DeletionTimestamp == nil {
		t.Fatal("not deleting")
	}
	running.Status.Phase = corev1.PodFailed
	if err := env.Client.Status().Update(ctx, running); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Framework is gone though its ended pods remain", func() (bool, error) {
		err := env.Client.Get(ctx, keyOf(ns, "podsfw"), &kmv1.Framework{})
		return apierrors.IsNotFound(err), nil
	})
}

// TestASchedulerPodOnALostNodeIsReplaced: a scheduler pod whose node
// stopped (its Ready condition Unknown) stays Running as far as the API
// server knows. Once its scheduler has lost the Lease, the master removes
// the pod at once and starts a new one, well before the failover timeout;
// before, nothing replaced it and the framework failed at the timeout.
func TestASchedulerPodOnALostNodeIsReplaced(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	fw := b.MakeFramework("lostnodefw", "").FailoverTimeout(600).Obj()
	fw.Spec.Scheduler = &kmv1.SchedulerSpec{Image: "kubemesos/kubemesos:test", Command: []string{"montecarloarea", "scheduler"}}
	hb, ns := addFrameworkLease(t, fw, 2*time.Second)
	waitPhase(t, ns, "lostnodefw", kmv1.FrameworkActive)
	var pod corev1.Pod
	eventually(t, "the scheduler pod", func() (bool, error) {
		return env.Client.Get(ctx, keyOf(ns, controllers.SchedulerPodName("lostnodefw")), &pod) == nil, nil
	})
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "lost-sched-node"}}
	if err := env.Client.Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), node) })
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown",
		LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	if err := env.Client.Status().Update(ctx, node); err != nil {
		t.Fatal(err)
	}
	binding := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: ns}, Target: corev1.ObjectReference{Kind: "Node", Name: node.Name}}
	if err := env.Client.SubResource("binding").Create(ctx, &pod, binding); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(&pod), &pod); err != nil {
		t.Fatal(err)
	}
	pod.Status.Phase = corev1.PodRunning
	if err := env.Client.Status().Update(ctx, &pod); err != nil {
		t.Fatal(err)
	}
	lost := pod.UID

	hb.stop()
	waitPhase(t, ns, "lostnodefw", kmv1.FrameworkDisconnected)
	eventually(t, "a new scheduler pod", func() (bool, error) {
		err := env.Client.Get(ctx, keyOf(ns, controllers.SchedulerPodName("lostnodefw")), &pod)
		return err == nil && pod.UID != lost, nil
	})
	if p := getFramework(t, ns, "lostnodefw").Status.Phase; p != kmv1.FrameworkDisconnected {
		t.Errorf("the framework is %s, want Disconnected until its new scheduler takes the Lease", p)
	}
}

func TestSchedulerPodRunsAndRestarts(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	fw := b.MakeFramework("podfw", "").Obj()
	fw.Spec.Scheduler = &kmv1.SchedulerSpec{Image: "kubemesos/kubemesos:test", Command: []string{"montecarloarea", "scheduler"},
		Env: []kmv1.EnvVar{{Name: "MODE", Value: "fast"}}, ServiceAccountName: "montecarlo",
		Resources: kmv1.SchedulerResources{Requests: kmv1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}
	_, ns := addFramework(t, fw)
	var pod corev1.Pod
	eventually(t, "the scheduler pod", func() (bool, error) {
		err := env.Client.Get(ctx, keyOf(ns, controllers.SchedulerPodName("podfw")), &pod)
		return err == nil, nil
	})
	if pod.Labels[kmv1.LabelFramework] != "podfw" || len(pod.OwnerReferences) != 1 || !strings.Contains(envOf(&pod), "MODE=fast KUBEMESOS_FRAMEWORK=podfw") {
		t.Errorf("scheduler pod not labelled, owned and configured: %+v", pod.ObjectMeta)
	}
	// The master builds the rest of the pod: restricted, no host access.
	c := pod.Spec.Containers[0]
	if psc := pod.Spec.SecurityContext; psc == nil || !ptr.Deref(psc.RunAsNonRoot, false) || psc.SeccompProfile == nil ||
		c.SecurityContext == nil || ptr.Deref(c.SecurityContext.AllowPrivilegeEscalation, true) ||
		pod.Spec.HostNetwork || pod.Spec.HostPID || pod.Spec.NodeName != "" || pod.Spec.ServiceAccountName != "montecarlo" ||
		c.Resources.Requests.Cpu().MilliValue() != 100 || c.Image != "kubemesos/kubemesos:test" {
		t.Errorf("scheduler pod not built as restricted from spec.scheduler: %+v", pod.Spec)
	}
	firstUID := pod.UID
	pod.Status.Phase = corev1.PodFailed
	if err := env.Client.Status().Update(ctx, &pod); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a new scheduler pod", func() (bool, error) {
		err := env.Client.Get(ctx, keyOf(ns, controllers.SchedulerPodName("podfw")), &pod)
		if err == nil && pod.DeletionTimestamp != nil && len(pod.Finalizers) == 0 {
			return false, nil
		}
		return err == nil && pod.UID != firstUID, nil
	})

	// Many restarts in the framework's life, the last pod after an hour of
	// running: the next starts after the shortest delay, as the kubelet's
	// backoff starts again after ten minutes, not after five minutes,
	// past the framework's failover timeout.
	current := getFramework(t, ns, "podfw")
	patch := client.MergeFrom(current.DeepCopy())
	current.Annotations[controllers.AnnotationSchedulerRestarts] = "5"
	if err := env.Client.Patch(ctx, current, patch); err != nil {
		t.Fatal(err)
	}
	secondUID, now := pod.UID, time.Now()
	pod.Status.Phase = corev1.PodFailed
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "scheduler", Image: c.Image, ImageID: "x", Ready: false,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "Evicted",
			StartedAt: metav1.NewTime(now.Add(-time.Hour)), FinishedAt: metav1.NewTime(now)}}}}
	if err := env.Client.Status().Update(ctx, &pod); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a new scheduler pod after the shortest delay", func() (bool, error) {
		var p corev1.Pod
		err := env.Client.Get(ctx, keyOf(ns, controllers.SchedulerPodName("podfw")), &p)
		return err == nil && p.UID != secondUID && p.UID != firstUID && p.DeletionTimestamp == nil, nil
	})
}

// TestForeignSchedulerPodIsLeftAlone: a pod named <framework>-scheduler
// that the framework does not own is neither replaced nor deleted, even on
// teardown.
func TestForeignSchedulerPodIsLeftAlone(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	ns := frameworkNamespace(t)
	foreign := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: controllers.SchedulerPodName("foreignfw")},
		Spec: corev1.PodSpec{AutomountServiceAccountToken: ptr.To(false), Containers: []corev1.Container{{Name: "c", Image: "busybox:stable"}}}}
	if err := env.Client.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	foreign.Status.Phase = corev1.PodSucceeded // an ended pod is what the master would replace
	if err := env.Client.Status().Update(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	fw := b.MakeFramework("foreignfw", ns).Obj()
	fw.Spec.Scheduler = &kmv1.SchedulerSpec{Image: "kubemesos/kubemesos:test"}
	if err := env.Client.Create(ctx, fw); err != nil {
		t.Fatal(err)
	}
	renewLease(t, keyOf(ns, kmv1.SchedulerLeaseName("foreignfw")), kmv1.LeaseKindScheduler, time.Second)
	waitPhase(t, ns, "foreignfw", kmv1.FrameworkActive)
	afterReconciles(t, "framework", 2) // passes that would have replaced it
	if err := env.Client.Delete(ctx, getFramework(t, ns, "foreignfw")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Framework is gone", func() (bool, error) {
		err := env.Client.Get(ctx, keyOf(ns, "foreignfw"), &kmv1.Framework{})
		return apierrors.IsNotFound(err), nil
	})
	var p corev1.Pod
	if err := env.Client.Get(ctx, keyOf(ns, foreign.Name), &p); err != nil || p.UID != foreign.UID || p.DeletionTimestamp != nil {
		t.Errorf("the foreign pod was touched: %v, %+v", err, p.ObjectMeta)
	}
}

// TestSchedulerSpecRefusesPodFields: a Framework cannot describe its
// scheduler with pod fields that could escalate (a privileged container, a
// hostPath volume, the host's network, a node): the API server refuses
// them as unknown fields, as kubectl asks by default.
func TestSchedulerSpecRefusesPodFields(t *testing.T) {
	ctx := context.Background()
	for name, scheduler := range map[string]map[string]any{
		"a pod template": {"template": map[string]any{"spec": map[string]any{
			"containers": []any{map[string]any{"name": "s", "image": "busybox:stable", "securityContext": map[string]any{"privileged": true}}},
			"volumes":    []any{map[string]any{"name": "root", "hostPath": map[string]any{"path": "/"}}}}}},
		"privileged":   {"image": "busybox:stable", "securityContext": map[string]any{"privileged": true}},
		"hostNetwork":  {"image": "busybox:stable", "hostNetwork": true},
		"a node":       {"image": "busybox:stable", "nodeName": "node-1"},
		"a volume":     {"image": "busybox:stable", "volumes": []any{map[string]any{"name": "root", "hostPath": map[string]any{"path": "/"}}}},
		"no image":     {"command": []any{"sh"}},
		"a bad SA":     {"image": "busybox:stable", "serviceAccountName": "Not_A_Name"},
		"a bad policy": {"image": "busybox:stable", "imagePullPolicy": "Sometimes"},
	} {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": kmv1.GroupVersion.String(), "kind": "Framework",
			"metadata": map[string]any{"name": "escape", "namespace": "default"},
			"spec":     map[string]any{"scheduler": scheduler},
		}}
		err := env.Client.Create(ctx, u, client.FieldValidation("Strict"))
		if err == nil {
			_ = env.Client.Delete(ctx, u)
			t.Errorf("%s: a Framework with spec.scheduler %v was accepted", name, scheduler)
			continue
		}
		if !apierrors.IsBadRequest(err) && !apierrors.IsInvalid(err) {
			t.Errorf("%s: want a 400 or 422 from the API server, got %v", name, err)
		}
	}
}

func envOf(p *corev1.Pod) string {
	var parts []string
	for _, e := range p.Spec.Containers[0].Env {
		parts = append(parts, e.Name+"="+e.Value)
	}
	return strings.Join(parts, " ")
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestSchedulerClockSkew: a scheduler whose machine's clock runs an hour
// behind connects and stays Active while it renews its Lease; the master
// times renewals by its own clock.
func TestSchedulerClockSkew(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	ns := frameworkNamespace(t)
	if err := env.Client.Create(ctx, b.MakeFramework("skewfw", ns).Obj()); err != nil {
		t.Fatal(err)
	}
	renewLeaseSkewed(t, keyOf(ns, kmv1.SchedulerLeaseName("skewfw")), kmv1.LeaseKindScheduler, 2*time.Second, -time.Hour)
	waitPhase(t, ns, "skewfw", kmv1.FrameworkActive)
	// Several Lease durations pass: still Active.
	for end := time.Now().Add(6 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if p := getFramework(t, ns, "skewfw").Status.Phase; p != kmv1.FrameworkActive {
			t.Fatalf("a renewing scheduler with a lagging clock became %s", p)
		}
	}
}

// TestSchedulerLeaseTakenOnce: a scheduler driven by hand (the README's
// example) takes its Lease once for an hour and never renews it; the
// framework becomes Active, even when that machine's clock is off.
func TestSchedulerLeaseTakenOnce(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	ns := frameworkNamespace(t)
	if err := env.Client.Create(ctx, b.MakeFramework("oncefw", ns).Obj()); err != nil {
		t.Fatal(err)
	}
	stamp := metav1.NewMicroTime(time.Now().Add(-10 * time.Minute))
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: kmv1.SchedulerLeaseName("oncefw"),
		Labels: map[string]string{kmv1.LabelLease: kmv1.LeaseKindScheduler}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("me"), LeaseDurationSeconds: ptr.To[int32](3600), RenewTime: &stamp}}
	if err := env.Client.Create(ctx, lease); err != nil {
		t.Fatal(err)
	}
	// An Active framework takes offers from the agents other tests share.
	t.Cleanup(func() { _ = env.Client.Delete(ctx, getFramework(t, ns, "oncefw")) })
	waitPhase(t, ns, "oncefw", kmv1.FrameworkActive)
}

// TestFrameworkDeletionCompletesWhateverItsPods: a task that no agent ever
// kills and a pod that no kubelet ever finishes (a container stuck in
// StartError) hold a deleted framework for --teardown-timeout only; then
// the pod is removed at once and the Framework goes, with a Warning.
func TestFrameworkDeletionCompletesWhateverItsPods(t *testing.T) {
	ctx := context.Background()
	o := testOptions()
	o.TeardownTimeout = 3 * time.Second
	startMaster(t, o, false, "master")
	addAgent(t, "stuck-1", "cpu", "4", "memory", "4Gi")
	_, ns := addFramework(t, b.MakeFramework("stuckfw", "").Obj())
	waitPhase(t, ns, "stuckfw", kmv1.FrameworkActive)
	launch(t, ns, "stuckfw", "stuck-task")
	stuck := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "stuck", Labels: map[string]string{kmv1.LabelFramework: "stuckfw", kmv1.LabelComponent: "executor"}},
		Spec: corev1.PodSpec{NodeName: "stuck-1", AutomountServiceAccountToken: ptr.To(false), Containers: []corev1.Container{{Name: "c", Image: "busybox:stable"}}}}
	if err := env.Client.Create(ctx, stuck); err != nil {
		t.Fatal(err)
	}
	stuck.Status.Phase = corev1.PodRunning
	if err := env.Client.Status().Update(ctx, stuck); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(ctx, getFramework(t, ns, "stuckfw")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Framework is gone", func() (bool, error) {
		err := env.Client.Get(ctx, keyOf(ns, "stuckfw"), &kmv1.Framework{})
		return apierrors.IsNotFound(err), nil
	})
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(stuck), &corev1.Pod{}); !apierrors.IsNotFound(err) {
		t.Errorf("the stuck pod is still there: %v", err)
	}
	eventually(t, "a TeardownTimedOut event", func() (bool, error) {
		var evs eventsv1.EventList
		if err := env.Client.List(ctx, &evs, client.InNamespace(ns)); err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Reason == "TeardownTimedOut" && strings.Contains(e.Note, "1 tasks and 1 pods") {
				return true, nil
			}
		}
		return false, nil
	})
}

// TestANewLeaderKeepsADisconnectedFrameworkDisconnected: a framework whose
// scheduler crashed (its Lease left to lapse, not released) stays
// Disconnected under a master that takes over, and fails at the deadline
// the first master set: the new leader's first read of the stale Lease is
// no renewal, which made the framework Active again and started its
// failover timeout over at each leader change.
func TestANewLeaderKeepsADisconnectedFrameworkDisconnected(t *testing.T) {
	first := startMaster(t, testOptions(), false, "master-a")
	fw := b.MakeFramework("crashedfw", "").FailoverTimeout(6).Obj()
	hb, ns := addFrameworkLease(t, fw, 2*time.Second)
	waitPhase(t, ns, "crashedfw", kmv1.FrameworkActive)
	hb.stop() // a crash: the Lease still names its holder
	disconnected := time.Now()
	waitPhase(t, ns, "crashedfw", kmv1.FrameworkDisconnected)
	first.stop()
	startMaster(t, testOptions(), false, "master-b")
	for time.Since(disconnected) < 4*time.Second {
		if p := getFramework(t, ns, "crashedfw").Status.Phase; p == kmv1.FrameworkActive {
			t.Fatalf("the new leader made the framework of a crashed scheduler %s", p)
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitPhase(t, ns, "crashedfw", kmv1.FrameworkFailed)
	if took := time.Since(disconnected); took > 15*time.Second {
		t.Errorf("the framework failed %v after its scheduler crashed, want about its 6 s failover timeout", took)
	}
}
