package schedcache

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/resources"
)

// fwTask is a task of framework fw with the given resources.
func fwTask(uid, fw string, state kmv1.TaskState, pairs ...string) *kmv1.Task {
	t := newTask(uid).Resources(pairs...).State(state).Obj()
	t.Spec.Framework = kmv1.ObjectName(fw)
	t.Status.AgentID = "a1"
	return t
}

// TestFrameworkTasksFollowEveryEvent: the counts and the allocation of
// each framework follow its tasks' adds, transitions and deletions, and
// every event names the framework once counted.
func TestFrameworkTasksFollowEveryEvent(t *testing.T) {
	c, _ := newCache()
	var told []string
	c.TaskChanged = func(fw types.NamespacedName) {
		// Called without the lock, after the count: reading works.
		got := c.FrameworkTasks(fw)
		told = append(told, fw.Name+":"+resources.String(got.Allocated))
	}
	fw := types.NamespacedName{Namespace: "ns", Name: "fw"}
	other := types.NamespacedName{Namespace: "ns", Name: "other"}

	c.Upsert(fwTask("p", "fw", "", "cpu", "1")) // pending: neither counted nor allocated
	c.Upsert(fwTask("a", "fw", kmv1.TaskStaging, "cpu", "1", "memory", "1Gi"))
	c.Upsert(fwTask("b", "fw", kmv1.TaskRunning, "cpu", "500m"))
	c.Upsert(fwTask("x", "other", kmv1.TaskRunning, "cpu", "2"))
	want := FrameworkTasks{Counts: kmv1.TaskCounts{Staging: 1, Running: 1}, Allocated: b3("cpu", "1500m", "memory", "1Gi")}
	if d := cmp.Diff(want, c.FrameworkTasks(fw)); d != "" {
		t.Errorf("two live tasks (-want +got):\n%s", d)
	}

	c.Upsert(fwTask("a", "fw", kmv1.TaskRunning, "cpu", "1", "memory", "1Gi")) // still live: allocated once
	c.Upsert(fwTask("b", "fw", kmv1.TaskFinished, "cpu", "500m"))              // ended
	c.Upsert(fwTask("p", "fw", kmv1.TaskError, "cpu", "1"))                    // refused
	want = FrameworkTasks{Counts: kmv1.TaskCounts{Running: 1, Finished: 1, Error: 1}, Terminal: 2, Allocated: b3("cpu", "1", "memory", "1Gi")}
	if d := cmp.Diff(want, c.FrameworkTasks(fw)); d != "" {
		t.Errorf("after the transitions (-want +got):\n%s", d)
	}

	c.Remove(fwTask("a", "fw", kmv1.TaskRunning, "cpu", "1", "memory", "1Gi"))
	c.Remove(fwTask("b", "fw", kmv1.TaskFinished, "cpu", "500m"))
	want = FrameworkTasks{Counts: kmv1.TaskCounts{Error: 1}, Terminal: 1}
	if d := cmp.Diff(want, c.FrameworkTasks(fw)); d != "" {
		t.Errorf("after the deletions (-want +got):\n%s", d)
	}
	c.Remove(fwTask("p", "fw", kmv1.TaskError, "cpu", "1"))
	if got := c.FrameworkTasks(fw); !cmp.Equal(got, FrameworkTasks{}) || c.byFramework[fw] != nil {
		t.Errorf("a framework without tasks: %+v, entry %v", got, c.byFramework[fw])
	}
	if got := c.FrameworkTasks(other); got.Counts.Running != 1 || resources.String(got.Allocated) != "cpu=2" {
		t.Errorf("the other framework's tasks: %+v", got)
	}
	wantTold := []string{"fw:", "fw:cpu=1,memory=1Gi", "fw:cpu=1500m,memory=1Gi", "other:cpu=2",
		"fw:cpu=1500m,memory=1Gi", "fw:cpu=1,memory=1Gi", "fw:cpu=1,memory=1Gi", "fw:", "fw:", "fw:"}
	if d := cmp.Diff(wantTold, told); d != "" {
		t.Errorf("TaskChanged calls, each with what was counted by then (-want +got):\n%s", d)
	}
}

// TestFrameworkTasksOfTheOnlyTask: a framework's one live task that
// changes state keeps its allocation (the framework's entry never goes in
// between), and a task seen again after its deletion is counted once.
func TestFrameworkTasksOfTheOnlyTask(t *testing.T) {
	c, _ := newCache()
	fw := types.NamespacedName{Namespace: "ns", Name: "fw"}
	c.Upsert(fwTask("a", "fw", kmv1.TaskStaging, "cpu", "1"))
	c.Upsert(fwTask("a", "fw", kmv1.TaskStarting, "cpu", "1"))
	c.Upsert(fwTask("a", "fw", kmv1.TaskRunning, "cpu", "1"))
	if got := c.FrameworkTasks(fw); got.Counts != (kmv1.TaskCounts{Running: 1}) || resources.String(got.Allocated) != "cpu=1" {
		t.Errorf("one running task: %+v", got)
	}
	c.Remove(fwTask("a", "fw", kmv1.TaskRunning, "cpu", "1"))
	c.Remove(fwTask("a", "fw", kmv1.TaskRunning, "cpu", "1")) // a second deletion (DeletedFinalStateUnknown)
	c.Upsert(fwTask("b", "fw", kmv1.TaskKilled, "cpu", "1"))
	if got := c.FrameworkTasks(fw); !cmp.Equal(got, FrameworkTasks{Counts: kmv1.TaskCounts{Killed: 1}, Terminal: 1}) {
		t.Errorf("one killed task: %+v", got)
	}
}

// b3 is a ResourceList as the cache's vectors give it back.
func b3(pairs ...string) corev1.ResourceList { return b.Resources(pairs...).Core() }
