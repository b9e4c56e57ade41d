package admission

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
)

// TestASchedulerWritesOnlyItsVerdict: of a Framework's status, a scheduler
// (or a tenant by hand) writes only the result and the Succeeded
// condition; the phase, frameworkID, counts, message and other conditions
// are the master's (kubemesos-framework-status).
func TestASchedulerWritesOnlyItsVerdict(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	bind(t, ns, "alice", "kubemesos-scheduler")
	alice := as(t, "alice", nil, nil)
	for _, name := range []string{"fw", "fresh"} {
		allowed(t, "creating Framework "+name, alice.Create(ctx, b.MakeFramework(name, ns).Obj()))
	}
	get := func(name string) *kmv1.Framework {
		t.Helper()
		var fw kmv1.Framework
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &fw); err != nil {
			t.Fatal(err)
		}
		return &fw
	}
	// The master, leading, registers fw.
	master := masterPod(t, "kubemesos-master-status")
	lead(t, "kubemesos-master-status", func() error {
		fw := get("fw")
		fw.Status.FrameworkID, fw.Status.Phase, fw.Status.Message = string(fw.UID), kmv1.FrameworkActive, "registered"
		fw.Status.Tasks.Running = 2
		meta.SetStatusCondition(&fw.Status.Conditions, metav1.Condition{Type: kmv1.FrameworkRegistered, Status: metav1.ConditionTrue, Reason: "Registered", Message: "registered"})
		return master.Status().Update(ctx, fw)
	})
	if get("fw").Status.Phase != kmv1.FrameworkActive {
		t.Fatal("the master could not register the framework")
	}

	const msg = "a scheduler writes only a Framework's status.result and its Succeeded condition"
	write := func(name string, change func(*kmv1.FrameworkStatus)) error {
		fw := get(name)
		change(&fw.Status)
		return alice.Status().Update(ctx, fw)
	}
	eventuallyRefused(t, func() error { return write("fw", func(s *kmv1.FrameworkStatus) { s.Phase = kmv1.FrameworkCompleted }) })
	for _, c := range []struct {
		what   string
		name   string
		change func(*kmv1.FrameworkStatus)
	}{
		{"the phase", "fw", func(s *kmv1.FrameworkStatus) { s.Phase = kmv1.FrameworkCompleted }},
		{"the task counts", "fw", func(s *kmv1.FrameworkStatus) { s.Tasks.Running = 0 }},
		{"the message", "fw", func(s *kmv1.FrameworkStatus) { s.Message = "all is well" }},
		{"the Registered condition", "fw", func(s *kmv1.FrameworkStatus) {
			meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: kmv1.FrameworkRegistered, Status: metav1.ConditionFalse, Reason: "Forged", Message: "forged"})
		}},
		{"a frameworkID before the master assigns one", "fresh", func(s *kmv1.FrameworkStatus) { s.FrameworkID = "forged" }},
		{"the dominant share", "fresh", func(s *kmv1.FrameworkStatus) { s.DominantShare = "0" }},
	} {
		refused(t, "a scheduler writing "+c.what, write(c.name, c.change), msg)
	}

	// The verdict is the scheduler's, as the SDK's Complete writes it.
	allowed(t, "a scheduler writing its result and Succeeded", write("fw", func(s *kmv1.FrameworkStatus) {
		s.Result = "area=816.7"
		meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: kmv1.FrameworkSucceeded, Status: metav1.ConditionTrue,
			Reason: kmv1.ReasonCompletedByScheduler, Message: "completed by the scheduler"})
	}))
	// The master's own writes pass.
	fw := get("fw")
	fw.Status.Phase, fw.Status.Tasks.Running = kmv1.FrameworkCompleted, 0
	allowed(t, "the master completing the framework", master.Status().Update(ctx, fw))
}
