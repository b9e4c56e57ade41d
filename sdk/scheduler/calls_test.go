package scheduler_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/fieldowner"
	"github.com/kubemesos/kubemesos/internal/inprocess"
	"github.com/kubemesos/kubemesos/internal/testenv"
	"github.com/kubemesos/kubemesos/sdk/scheduler"
)

// TestDriverWritesAsScheduler: the fields the SDK writes name it as their
// manager (kubemesos-scheduler): a Task's spec, labels and owner as
// LaunchTasks created them and its spec.kill as KillTask set it, with no
// other writer owning a field of the Task's spec; the spec of the Framework
// the driver created; and the scheduler Lease's holder.
func TestDriverWritesAsScheduler(t *testing.T) {
	ctx := context.Background()
	inprocess.StartMaster(t, env.Config, inprocess.MasterOptions())
	inprocess.Node(t, env.Client, "owner-node", "4", "8Gi")
	inprocess.StartAgent(t, env.Config, "owner-node")
	ns := namespace(t, "owner")
	inprocess.Kubelet(t, env.Client, ns, func(*corev1.Pod) {})

	var once sync.Once
	rec := &recorder{}
	rec.onOffers = func(d scheduler.SchedulerDriver, offers []kmv1.Offer) {
		once.Do(func() {
			err := d.LaunchTasks([]string{offers[0].Name}, []scheduler.TaskInfo{{TaskID: "owned", Resources: b.Resources("cpu", "1"),
				Command: &kmv1.CommandInfo{Image: "busybox:stable", Command: []string{"sleep", "3600"}}, Labels: map[string]string{"team": "a"}}})
			if err != nil {
				rec.add("error launching: %v", err)
			}
		})
	}
	d := startDriver(t, rec, ns, "owner", &kmv1.FrameworkSpec{FailoverTimeoutSeconds: ptr.To[int32](600)})
	eventually(t, "TASK_RUNNING", func() bool { s, _ := rec.status("owned"); return s.State == kmv1.TaskRunning })
	if err := d.KillTask("owned"); err != nil {
		t.Fatal(err)
	}

	var task kmv1.Task
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "owned"}, &task); err != nil {
		t.Fatal(err)
	}
	if !task.Spec.Kill {
		t.Fatal("spec.kill not set after KillTask")
	}
	owners := managedFields(t, &task)
	for _, f := range []string{"spec.framework", "spec.offerIDs", "spec.agentID", "spec.resources", "spec.command", "spec.kill",
		"metadata.labels.team", "metadata.ownerReferences"} {
		if !owners[fieldowner.Scheduler][f] {
			t.Errorf("Task field %s is not managed by %s; managers: %v", f, fieldowner.Scheduler, owners)
		}
	}
	for manager, fields := range owners {
		for f := range fields {
			if manager != fieldowner.Scheduler && strings.HasPrefix(f, "spec.") {
				t.Errorf("Task field %s is managed by %s, want %s only", f, manager, fieldowner.Scheduler)
			}
		}
	}

	if fw := getFramework(t, ns, "owner"); !managedFields(t, fw)[fieldowner.Scheduler]["spec.failoverTimeoutSeconds"] {
		t.Errorf("the Framework's spec is not managed by %s; managers: %v", fieldowner.Scheduler, managedFields(t, fw))
	}
	var lease coordinationv1.Lease
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: kmv1.SchedulerLeaseName("owner")}, &lease); err != nil {
		t.Fatal(err)
	}
	if !managedFields(t, &lease)[fieldowner.Scheduler]["spec.holderIdentity"] {
		t.Errorf("the scheduler Lease's holder is not managed by %s; managers: %v", fieldowner.Scheduler, managedFields(t, &lease))
	}
}

// managedFields returns the managers of obj's own fields (not its
// subresources').
func managedFields(t *testing.T, obj client.Object) testenv.Managers {
	t.Helper()
	m, err := testenv.ManagedFields(obj, "")
	if err != nil {
		t.Fatal(err)
	}
	return m
}
