package controllers_test

import (
	"context"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/fieldowner"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

// TestEachMasterConcernWritesAsItself: the API server's own record
// (managedFields) names, for each field the master writes, the one concern
// that wrote it: the registry an Agent's admission, the allocator its usage
// and the Offers, admission a Task's staging, the framework controller a
// Framework's registration and phase.
func TestEachMasterConcernWritesAsItself(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	addAgent(t, "owners-1", "cpu", "4", "memory", "8Gi")
	_, ns := addFramework(t, b.MakeFramework("ownersfw", "").Obj())
	offer := waitOffer(t, ns, "ownersfw")
	task := b.MakeTask("t1", ns).Framework("ownersfw").Offer(offer.Name).Resources("cpu", "1").Command("busybox").Obj()
	if err := env.Client.Create(ctx, task); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the task is staged and the agent shows it", func() (bool, error) {
		cpu := getAgent(t, "owners-1").Status.Allocated["cpu"]
		return getTask(t, ns, "t1").Status.State == kmv1.TaskStaging && cpu.Cmp(q("1")) == 0, nil
	})

	// owned checks obj as it was read.
	owned := func(obj client.Object, subresource, writer string, paths ...string) {
		t.Helper()
		m, err := testenv.ManagedFields(obj, subresource)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			if owners := m.Owners(p); len(owners) != 1 || owners[0] != writer {
				t.Errorf("%T %s: %s is owned by %v, want %s alone; managers: %s", obj, obj.GetName(), p, owners, writer, m)
			}
		}
	}
	// check reads obj and checks it.
	check := func(obj client.Object, subresource, writer string, paths ...string) {
		t.Helper()
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Fatal(err)
		}
		owned(obj, subresource, writer, paths...)
	}
	check(withName(&kmv1.Agent{}, "", "owners-1"), "status", fieldowner.Registry, "status.agentID", "status.phase")
	check(withName(&kmv1.Agent{}, "", "owners-1"), "status", fieldowner.Allocator, "status.allocated")
	check(withName(&kmv1.Task{}, ns, "t1"), "status", fieldowner.Admission, "status.state", "status.agentID", "status.stagingTime", "status.source")
	check(withName(&kmv1.Framework{}, ns, "ownersfw"), "status", fieldowner.Frameworks, "status.frameworkID", "status.phase", "status.conditions")
	// As listed: an offer used up goes at any moment.
	for _, o := range offersOf(t, ns, "ownersfw") {
		owned(&o, "", fieldowner.Allocator, "spec.resources", "spec.agentID", "metadata.ownerReferences")
	}
}

func withName[T client.Object](obj T, ns, name string) T {
	obj.SetNamespace(ns)
	obj.SetName(name)
	return obj
}

// TestAgentUsageIsWrittenAtMostOncePerInterval: an Agent's usage is
// written when it first changes (its first offer), and then not again
// within --agent-usage-interval however often it changes.
func TestAgentUsageIsWrittenAtMostOncePerInterval(t *testing.T) {
	ctx := context.Background()
	o := testOptions()
	o.UsageWriteInterval = time.Hour
	startMaster(t, o, false, "master")
	addAgent(t, "usage-1", "cpu", "4", "memory", "8Gi")
	_, ns := addFramework(t, b.MakeFramework("usagefw", "").Obj())
	eventually(t, "the first usage written: the offer", func() (bool, error) {
		cpu := getAgent(t, "usage-1").Status.Offered["cpu"]
		return cpu.Cmp(q("4")) == 0, nil
	})
	offer := waitOffer(t, ns, "usagefw")
	task := b.MakeTask("first", ns).Framework("usagefw").Offer(offer.Name).Resources("cpu", "1").Command("busybox").Obj()
	if err := env.Client.Create(ctx, task); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the task staged", func() (bool, error) { return getTask(t, ns, "first").Status.State == kmv1.TaskStaging, nil })
	afterCycles(t, 5)
	if a := getAgent(t, "usage-1"); len(a.Status.Allocated) != 0 {
		t.Errorf("allocated %v written within the interval, want nothing until it ends", a.Status.Allocated)
	}
}

// TestAgentUsageWritesShareTheirRate: with --agent-usage-writes-per-second
// the agents' usage writes take turns, and every agent's usage is written
// in its turn.
func TestAgentUsageWritesShareTheirRate(t *testing.T) {
	o := testOptions()
	o.UsageWriteRate = 1
	startMaster(t, o, false, "master")
	names := []string{"turns-1", "turns-2", "turns-3"}
	for _, n := range names {
		addAgent(t, n, "cpu", "4", "memory", "8Gi")
	}
	addFramework(t, b.MakeFramework("turnsfw", "").Obj())
	for _, n := range names {
		eventually(t, "the usage of "+n+" written: its offer", func() (bool, error) {
			cpu := getAgent(t, n).Status.Offered["cpu"]
			return cpu.Cmp(q("4")) == 0, nil
		})
	}
}
