package mesoswire

import (
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// TestTaskGroupAnnotation: the IDs of a group come back as they went in,
// in their order; values that are not a group's IDs are refused.
func TestTaskGroupAnnotation(t *testing.T) {
	ids := []string{"web", "Side car", "日本", `"quoted"`}
	v, err := TaskGroupAnnotation(ids)
	if err != nil {
		t.Fatal(err)
	}
	task := &kmv1.Task{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationTaskGroupTasks: v}}}
	got, ok, err := TaskGroupTasks(task)
	if err != nil || !ok || !slices.Equal(got, ids) {
		t.Errorf("TaskGroupTasks = %q, %v, %v; want %q", got, ok, err, ids)
	}
	if _, ok, err := TaskGroupTasks(&kmv1.Task{}); ok || err != nil {
		t.Errorf("a task of no group: %v, %v", ok, err)
	}
	if _, err := TaskGroupAnnotation([]string{strings.Repeat("x", MaxTaskGroupTasksBytes)}); err == nil {
		t.Error("a group's IDs longer than the bound were taken")
	}
	for _, bad := range []string{"", "[]", "{}", `["a","a"]`, `[""]`, `["a",1]`, `"a"`, "[" + strings.Repeat(`"x",`, MaxTaskGroupTasksBytes/4) + `"y"]`} {
		if ids, err := ParseTaskGroupTasks(bad); err == nil {
			t.Errorf("ParseTaskGroupTasks(%.40q) = %q, want an error", bad, ids)
		}
	}
}

// FuzzParseTaskGroupTasks: any value parses or is refused without a
// panic; what parses is a group's IDs and encodes back to what parses the
// same.
func FuzzParseTaskGroupTasks(f *testing.F) {
	for _, seed := range []string{`["web","sidecar"]`, `[]`, `["a","a"]`, `{"a":1}`, ``} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		ids, err := ParseTaskGroupTasks(v)
		if err != nil {
			return
		}
		if len(ids) == 0 || slices.Contains(ids, "") {
			t.Fatalf("parsed %q from %q", ids, v)
		}
		again, err := TaskGroupAnnotation(ids)
		if err != nil {
			return // re-encoded longer (escapes): refused on the way in too
		}
		back, err := ParseTaskGroupTasks(again)
		if err != nil || !slices.Equal(back, ids) {
			t.Fatalf("%q encodes to %q, which parses to %q, %v", ids, again, back, err)
		}
	})
}
