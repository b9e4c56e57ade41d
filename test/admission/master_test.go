package admission

import (
	"context"
	"fmt"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers"
	b "github.com/kubemesos/kubemesos/internal/builders"
)

const (
	// masterUser is the master's ServiceAccount.
	masterUser = "system:serviceaccount:" + systemNS + ":kubemesos-master"
	// podExtra names the pod a bound ServiceAccount token belongs to.
	podExtra = "authentication.kubernetes.io/pod-name"
	// notLeading is what kubemesos-master-leader says to a master pod
	// the Lease does not name.
	notLeading = "does not lead"
)

// masterPod is the master's ServiceAccount as the bound token of pod (none:
// a token that names no pod) authenticates it.
func masterPod(t *testing.T, pod string) client.Client {
	var extra map[string][]string
	if pod != "" {
		extra = map[string][]string{podExtra: {pod}}
	}
	return as(t, masterUser, []string{"system:serviceaccounts", "system:serviceaccounts:" + systemNS}, extra)
}

// lead makes pod the holder of the Lease kubemesos-master, as its election
// would (identity: the pod's name, "_" and a suffix), and waits until the
// API server's admission sees it: until probe, a write by pod, passes.
func lead(t *testing.T, pod string, probe func() error) {
	t.Helper()
	ctx := context.Background()
	holder := pod + "_" + metav1.Now().Format("150405.000")
	var l coordinationv1.Lease
	err := env.Client.Get(ctx, client.ObjectKey{Namespace: systemNS, Name: kmv1.MasterLeaseName}, &l)
	switch {
	case apierrors.IsNotFound(err):
		l = coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: systemNS, Name: kmv1.MasterLeaseName},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(holder), LeaseDurationSeconds: ptr.To(int32(4))}}
		err = env.Client.Create(ctx, &l)
	case err == nil:
		l.Spec.HolderIdentity = ptr.To(holder)
		err = env.Client.Update(ctx, &l)
	}
	if err != nil {
		t.Fatalf("making %s the leader: %v", pod, err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return probe() == nil, nil
	}); err != nil {
		t.Fatalf("%s leads, but its writes are still refused: %v", pod, probe())
	}
}

// TestMasterMayCollectTerminalTasks: the chart's master role lets the
// master delete a framework's oldest terminal Tasks beyond
// --terminal-task-limit (found by the fault campaign: without delete on
// tasks the collection failed for ever once a framework passed the limit),
// and still may not delete Frameworks.
func TestMasterMayCollectTerminalTasks(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	master := masterPod(t, "kubemesos-master-collector")
	probe := 0
	lead(t, "kubemesos-master-collector", func() error {
		probe++
		return master.Create(ctx, b.MakeTask(fmt.Sprintf("probe-%d", probe), ns).Framework("fw").Offer("o1").Command("busybox:stable", "true").Obj())
	})
	task := b.MakeTask("done", ns).Framework("fw").Offer("o1").Command("busybox:stable", "true").Obj()
	if err := env.Client.Create(ctx, task); err != nil {
		t.Fatal(err)
	}
	allowed(t, "the master deletes a Task", master.Delete(ctx, task))
	refused(t, "the master deletes a Framework", master.Delete(ctx, b.MakeFramework("fw", ns).Obj()), "forbidden")
}

// TestOnlyTheLeadingMasterWrites: kubemesos-master-leader lets the master's
// ServiceAccount write only from the pod that the Lease kubemesos-master
// names. A standby, or a deposed leader whose writes were on their way, is
// refused with a message that names the holder; the standby may still take
// the Lease, and then it alone writes. A token that names no pod writes
// nothing.
func TestOnlyTheLeadingMasterWrites(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	a, bb := masterPod(t, "kubemesos-master-a"), masterPod(t, "kubemesos-master-b")
	n := 0
	taskBy := func(c client.Client) func() error {
		return func() error {
			n++
			return c.Create(ctx, b.MakeTask(fmt.Sprintf("t-%d", n), ns).Framework("fw").Offer("o1").Command("busybox:stable", "true").Obj())
		}
	}
	lead(t, "kubemesos-master-a", taskBy(a))

	refused(t, "a standby creates a Task", taskBy(bb)(), notLeading)
	refused(t, "a standby creates a Task (the holder named)", taskBy(bb)(), "held by kubemesos-master-a_")
	refused(t, "a token without a pod creates a Task", taskBy(masterPod(t, ""))(), "name no pod")
	// Its status, an Offer, another Lease: all fenced.
	var tk kmv1.Task
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: fmt.Sprintf("t-%d", 1)}, &tk); err != nil {
		t.Fatal(err)
	}
	tk.Status.State = kmv1.TaskStaging
	refused(t, "a standby writes a Task's status", bb.Status().Update(ctx, &tk), notLeading)
	other := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: kmv1.SchedulerLeaseName("fw")}}
	refused(t, "a standby creates another Lease", bb.Create(ctx, other), notLeading)

	// The standby takes the Lease (exempt), then it writes and the old
	// leader does not: a write sent before the takeover and received
	// after it is refused.
	var l coordinationv1.Lease
	if err := bb.Get(ctx, client.ObjectKey{Namespace: systemNS, Name: kmv1.MasterLeaseName}, &l); err != nil {
		t.Fatal(err)
	}
	l.Spec.HolderIdentity = ptr.To("kubemesos-master-b_taken")
	allowed(t, "a standby takes the Lease", bb.Update(ctx, &l))
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return taskBy(bb)() == nil, nil
	}); err != nil {
		t.Fatalf("the new leader's writes are refused: %v", taskBy(bb)())
	}
	refused(t, "the deposed leader creates a Task", taskBy(a)(), "held by kubemesos-master-b_taken")
	allowed(t, "the new leader creates another Lease", bb.Create(ctx, other))
}

// TestTheMasterMakesOnlySchedulerPodsAndLeases: the master's role may
// create pods and write Leases in every namespace; kubemesos-master-writes
// holds it to a framework's restricted scheduler pod, outside the
// cluster's and kubemesos's own namespaces, and to scheduler Leases, so
// that its credentials are not a cluster admin's.
func TestTheMasterMakesOnlySchedulerPodsAndLeases(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	master := masterPod(t, "kubemesos-master-w")
	fw := b.MakeFramework("writes", ns).Obj()
	fw.Spec.Scheduler = &kmv1.SchedulerSpec{Image: "kubemesos/kubemesos:test"}
	if err := env.Client.Create(ctx, fw); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "default"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	schedulerPod := func(namespace string, change func(*corev1.Pod)) *corev1.Pod {
		f := fw.DeepCopy()
		f.Namespace = namespace
		p := controllers.SchedulerPod(f)
		if err := controllerutil.SetControllerReference(f, &p, env.Client.Scheme()); err != nil {
			t.Fatal(err)
		}
		if change != nil {
			change(&p)
		}
		return &p
	}
	lead(t, "kubemesos-master-w", func() error {
		l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: kmv1.SchedulerLeasePrefix}}
		return master.Create(ctx, l)
	})
	eventuallyRefused(t, func() error {
		l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-node-lease", GenerateName: "probe-"}}
		err := master.Create(ctx, l)
		if err == nil {
			_ = env.Client.Delete(ctx, l)
		}
		return err
	})

	allowed(t, "a framework's scheduler pod", master.Create(ctx, schedulerPod(ns, nil)))
	allowed(t, "its scheduler Lease", master.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: kmv1.SchedulerLeaseName("writes")}}))
	refused(t, "a node's heartbeat Lease", master.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-node-lease", Name: "node-x"}}),
		"the master writes only the Leases kubemesos-scheduler-<framework> and its own")
	refused(t, "a scheduler pod in kube-system", master.Create(ctx, schedulerPod("kube-system", nil)), "the master runs no pod in namespace kube-system")
	refused(t, "a pod no Framework controls", master.Create(ctx, schedulerPod(ns, func(p *corev1.Pod) {
		p.Name, p.OwnerReferences = "loose", nil
	})), "the master creates only a framework's scheduler pod")
	restrictedMsg := "the master's scheduler pods are restricted"
	for what, change := range map[string]func(*corev1.Pod){
		"on the host's network": func(p *corev1.Pod) { p.Spec.HostNetwork = true },
		"on a node of its own":  func(p *corev1.Pod) { p.Spec.NodeName = "node-1" },
		"with a hostPath": func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}})
		},
		"privileged": func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext.Privileged = ptr.To(true)
			p.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil
		},
		"as root": func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsUser = ptr.To[int64](0) },
		"with a capability": func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"SYS_ADMIN"}
		},
	} {
		refused(t, "a scheduler pod "+what, master.Create(ctx, schedulerPod(ns, func(p *corev1.Pod) {
			p.Name = "writes-scheduler"
			change(p)
		})), restrictedMsg)
	}
}
