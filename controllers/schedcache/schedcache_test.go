package schedcache

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

func task(uid string, state kmv1.TaskState) *kmv1.Task {
	return &kmv1.Task{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: uid, UID: types.UID(uid)}, Status: kmv1.TaskStatus{State: state}}
}

func TestTasksLeaveTheViewWhenTheyEnd(t *testing.T) {
	c := New()
	c.Upsert(task("a", ""))
	c.Upsert(task("b", kmv1.TaskStaging))
	c.Upsert(task("c", kmv1.TaskRunning))
	s := c.Snapshot([]types.UID{"a", "b", "gone"})
	if len(s.LiveTasks) != 2 || s.Staged("a") || !s.Staged("b") || s.Staged("gone") {
		t.Fatalf("live %d, staged a=%v b=%v gone=%v", len(s.LiveTasks), s.Staged("a"), s.Staged("b"), s.Staged("gone"))
	}
	c.Upsert(task("a", kmv1.TaskStaging))
	c.Upsert(task("b", kmv1.TaskFinished)) // ended: out of the view, still counted
	c.Remove(task("c", kmv1.TaskRunning))  // deleted
	s = c.Snapshot([]types.UID{"b"})
	if len(s.LiveTasks) != 1 || s.LiveTasks[0].Name != "a" {
		t.Errorf("live tasks %v, want a only", s.LiveTasks)
	}
	if !s.Staged("b") {
		t.Error("an ended task no longer counts as seen admitted")
	}
	want := map[kmv1.TaskState]int{kmv1.TaskStaging: 1, kmv1.TaskFinished: 1}
	if fmt.Sprint(s.TaskStates) != fmt.Sprint(want) {
		t.Errorf("counts %v, want %v", s.TaskStates, want)
	}
}

func TestObjectsAreTheInformersOwn(t *testing.T) {
	c := New()
	a := &kmv1.Agent{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	f := &kmv1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "fw"}}
	o := &kmv1.Offer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "o1"}}
	for _, obj := range []any{a, f, o} {
		c.Upsert(obj)
	}
	s := c.Snapshot(nil)
	if len(s.Agents) != 1 || s.Agents[0] != a || s.Frameworks[0] != f || s.Offers[0] != o {
		t.Fatal("the snapshot does not hold the informers' objects")
	}
	c.Remove(o)
	if s := c.Snapshot(nil); len(s.Offers) != 0 || len(s.Agents) != 1 {
		t.Errorf("after removing the offer: %d offers, %d agents", len(s.Offers), len(s.Agents))
	}
}

// BenchmarkSnapshot10000EndedTasks is the cycle's read with 10,000 ended
// tasks, 100 live ones and 3 agents (the measurement setting):
// ended tasks cost nothing per cycle.
func BenchmarkSnapshot10000EndedTasks(b *testing.B) {
	c := New()
	for i := 0; i < 10000; i++ {
		c.Upsert(task(fmt.Sprintf("done-%d", i), kmv1.TaskFinished))
	}
	for i := 0; i < 100; i++ {
		c.Upsert(task(fmt.Sprintf("live-%d", i), kmv1.TaskRunning))
	}
	for i := 0; i < 3; i++ {
		c.Upsert(&kmv1.Agent{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%d", i)}})
	}
	b.ReportAllocs()
	for b.Loop() {
		if s := c.Snapshot(nil); len(s.LiveTasks) != 100 {
			b.Fatal(len(s.LiveTasks))
		}
	}
}
