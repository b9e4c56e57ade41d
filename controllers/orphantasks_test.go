package controllers_test

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
)

// TestOrphanedTerminalTasksAreCollected: a Task naming a framework that
// does not exist ends TASK_ERROR and, once --orphan-task-ttl has passed,
// is deleted; so are the terminal tasks a deleted framework leaves behind.
// A live framework's terminal tasks stay (its own limit applies).
func TestOrphanedTerminalTasksAreCollected(t *testing.T) {
	ctx := context.Background()
	o := testOptions()
	o.OrphanTaskTTL = 2 * time.Second
	startMaster(t, o, false, "master")
	addAgent(t, "orphan-1", "cpu", "4", "memory", "4Gi")
	_, ns := addFramework(t, b.MakeFramework("keepfw", "").Obj())
	waitPhase(t, ns, "keepfw", kmv1.FrameworkActive)

	ghost := b.MakeTask("ghost-task", ns).Framework("ghost").Offer("none").Resources("cpu", "1").Command("busybox").Obj()
	if err := env.Client.Create(ctx, ghost); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the ghost task refused", func() (bool, error) { return getTask(t, ns, "ghost-task").Status.State == kmv1.TaskError, nil })

	launch(t, ns, "keepfw", "kept")
	tk := getTask(t, ns, "kept")
	tk.Status.State, tk.Status.Source = kmv1.TaskFinished, kmv1.SourceAgent
	if err := env.Client.Status().Update(ctx, tk); err != nil {
		t.Fatal(err)
	}
	gone := func(name string) func() (bool, error) {
		return func() (bool, error) {
			err := env.Client.Get(ctx, keyOf(ns, name), &kmv1.Task{})
			return apierrors.IsNotFound(err), nil
		}
	}
	eventually(t, "the ghost task collected", gone("ghost-task"))
	time.Sleep(3 * time.Second) // past the TTL: a live framework's task stays
	if getTask(t, ns, "kept").Status.State != kmv1.TaskFinished {
		t.Fatal("the live framework's finished task changed")
	}

	if err := env.Client.Delete(ctx, getFramework(t, ns, "keepfw")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted framework's finished task collected", gone("kept"))
}
