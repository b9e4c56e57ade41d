package admission

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
)

// TestASchedulerWritesOnlyItsVerdict: of a Framework's status, a scheduler
// (or a tenant by hand) writes only the result and the Succeeded
// condition, and those only until the framework has ended; every other
// field is the master's (kubemesos-framework-status). Cluster admins are
// not held to it.
func TestASchedulerWritesOnlyItsVerdict(t *testing.T) {
	ctx := context.Background()
	ns, alice := schedulerTenant(t)
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

	// A scheduler writes as the SDK does: a merge patch of what it changes.
	write := func(c client.Client, name string, dryRun bool, change func(*kmv1.FrameworkStatus)) error {
		fw := get(name)
		patch := client.MergeFrom(fw.DeepCopy())
		change(&fw.Status)
		var opts []client.SubResourcePatchOption
		if dryRun {
			opts = append(opts, client.DryRunAll)
		}
		return c.Status().Patch(ctx, fw, patch, opts...)
	}
	eventuallyRefused(t, func() error {
		return write(alice, "fw", true, func(s *kmv1.FrameworkStatus) { s.Phase = kmv1.FrameworkCompleted })
	})
	const msg = "a scheduler writes only a Framework's status.result and its Succeeded condition"
	now := metav1.Now()
	changes := map[string]func(*kmv1.FrameworkStatus){
		"frameworkID":        func(s *kmv1.FrameworkStatus) { s.FrameworkID = "forged" },
		"phase":              func(s *kmv1.FrameworkStatus) { s.Phase = kmv1.FrameworkCompleted },
		"observedGeneration": func(s *kmv1.FrameworkStatus) { s.ObservedGeneration = 7 },
		"registeredTime":     func(s *kmv1.FrameworkStatus) { s.RegisteredTime = &now },
		"completionTime":     func(s *kmv1.FrameworkStatus) { s.CompletionTime = &now },
		"tasks":              func(s *kmv1.FrameworkStatus) { s.Tasks.Finished = 9 },
		"allocated":          func(s *kmv1.FrameworkStatus) { s.Allocated = kmv1.ResourceList{"cpu": resource.MustParse("1")} },
		"dominantShare":      func(s *kmv1.FrameworkStatus) { s.DominantShare = "0" },
		"outstandingOffers":  func(s *kmv1.FrameworkStatus) { s.OutstandingOffers = 3 },
		"message":            func(s *kmv1.FrameworkStatus) { s.Message = "all is well" },
		"conditions": func(s *kmv1.FrameworkStatus) {
			meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: kmv1.FrameworkRegistered, Status: metav1.ConditionFalse, Reason: "Forged", Message: "forged"})
		},
	}
	st := reflect.TypeOf(kmv1.FrameworkStatus{})
	for i := range st.NumField() {
		field, _, _ := strings.Cut(st.Field(i).Tag.Get("json"), ",")
		if _, ok := changes[field]; !ok && field != "result" {
			t.Errorf("no case writes status.%s", field)
		}
	}
	for field, change := range changes {
		for _, name := range []string{"fw", "fresh"} { // registered, and with no status yet
			if field == "frameworkID" && name == "fw" {
				continue // the CRD's own rule: an assigned frameworkID never changes
			}
			refused(t, "a scheduler writing status."+field+" of "+name, write(alice, name, false, change), msg)
		}
	}

	// The verdict is the scheduler's, as the SDK's Complete writes it.
	verdict := func(s *kmv1.FrameworkStatus) {
		s.Result = "area=816.7"
		meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: kmv1.FrameworkSucceeded, Status: metav1.ConditionTrue,
			Reason: kmv1.ReasonCompletedByScheduler, Message: "completed by the scheduler"})
	}
	allowed(t, "a scheduler writing its result and Succeeded", write(alice, "fw", false, verdict))
	allowed(t, "a scheduler writing its verdict before registration", write(alice, "fresh", false, verdict))
	// The master's own writes pass: it completes fw. Then the verdict is
	// the record of how fw ended, and stays.
	allowed(t, "the master completing the framework", write(master, "fw", false, func(s *kmv1.FrameworkStatus) {
		s.Phase, s.Tasks.Running = kmv1.FrameworkCompleted, 0
	}))
	const ended = "the Framework has ended"
	refused(t, "a scheduler changing the result of an ended framework", write(alice, "fw", false, func(s *kmv1.FrameworkStatus) { s.Result = "other" }), ended)
	refused(t, "a scheduler changing the Succeeded condition of an ended framework", write(alice, "fw", false, func(s *kmv1.FrameworkStatus) {
		meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: kmv1.FrameworkSucceeded, Status: metav1.ConditionFalse, Reason: kmv1.ReasonFailedByScheduler, Message: "failed"})
	}), ended)
	// A cluster admin (system:masters) may write any of it.
	allowed(t, "a cluster admin writing the message", write(env.Client, "fw", false, func(s *kmv1.FrameworkStatus) { s.Message = "fixed by hand" }))
}
