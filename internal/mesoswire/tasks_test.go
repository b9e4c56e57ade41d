package mesoswire

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// TestTaskName: names are DNS-1123 labels; IDs that read alike once
// lowercased and cleaned still get different names, and so does one ID in
// two frameworks (Mesos task IDs are unique per framework only).
func TestTaskName(t *testing.T) {
	ids := []string{"a", "A", "a.b", "a_b", "a-b", "", "---", strings.Repeat("x", 300), strings.Repeat("x", 301), "Web.Server_1", "日本"}
	seen := map[string]string{}
	for _, id := range ids {
		n := TaskName("fw-1", id)
		if !dnsLabel.MatchString(n) || len(n) > 63 {
			t.Errorf("TaskName(%q) = %q: not a DNS-1123 label", id, n)
		}
		if other, ok := seen[n]; ok {
			t.Errorf("TaskName(%q) = TaskName(%q) = %q", id, other, n)
		}
		seen[n] = id
	}
	if TaskName("fw-1", "Web.Server_1") != TaskName("fw-1", "Web.Server_1") {
		t.Error("TaskName is not deterministic")
	}
	if TaskName("fw-1", "task-1") == TaskName("fw-2", "task-1") {
		t.Error("two frameworks' tasks with one ID get one name")
	}
}

// TestTaskIDAndData: a task launched through the scheduler API gives its
// executor the Mesos ID and the bytes it was launched with; a kubemesos
// task its name and its text.
func TestTaskIDAndData(t *testing.T) {
	raw := []byte{0, 0xff, 'x'}
	mesos := &kmv1.Task{ObjectMeta: metav1.ObjectMeta{Name: TaskName("fw", "Web.1"), Annotations: map[string]string{AnnotationTaskID: "Web.1"}},
		Spec: kmv1.TaskSpec{Data: SpecData(raw)}}
	if TaskID(mesos) != "Web.1" || !bytes.Equal(TaskData(mesos), raw) {
		t.Errorf("Mesos task: ID %q data %q, want Web.1 %q", TaskID(mesos), TaskData(mesos), raw)
	}
	own := &kmv1.Task{ObjectMeta: metav1.ObjectMeta{Name: "piece-1"}, Spec: kmv1.TaskSpec{Data: "0,0,1"}}
	if TaskID(own) != "piece-1" || string(TaskData(own)) != "0,0,1" {
		t.Errorf("kubemesos task: ID %q data %q, want piece-1 0,0,1", TaskID(own), TaskData(own))
	}
	if SpecData(nil) != "" || TaskData(&kmv1.Task{}) != nil {
		t.Error("no data must stay no data")
	}
}

// TestValidateID: Mesos's rules for task and executor IDs, with its
// messages; anything else is taken, in any script.
func TestValidateID(t *testing.T) {
	for id, want := range map[string]string{
		"exec-1": "", "My Executor.1:ü": "", "日本": "", strings.Repeat("e", 255): "", "...": "",
		"":                       "ID must not be empty",
		strings.Repeat("e", 256): "ID must not be greater than 255 characters",
		".":                      "'.' is disallowed",
		"..":                     "'..' is disallowed",
		"a/b":                    "'a/b' contains invalid characters",
		`a\b`:                    `'a\b' contains invalid characters`,
		"a\tb":                   "'a\tb' contains invalid characters",
		"a\x7fb":                 "'a\x7fb' contains invalid characters",
	} {
		if got := ValidateID(id); got != want {
			t.Errorf("ValidateID(%q) = %q, want %q", id, got, want)
		}
	}
}

// TestDNSLabelPrefix: a readable DNS-1123 start of any ID, within max.
func TestDNSLabelPrefix(t *testing.T) {
	for id, want := range map[string]string{
		"Web.Server_1": "web-server-1", "--a--": "a", "日本": "", "a日本b": "a-b", strings.Repeat("x", 80): strings.Repeat("x", 40),
	} {
		got := DNSLabelPrefix(id, 40)
		if got != want || (got != "" && !dnsLabel.MatchString(got)) {
			t.Errorf("DNSLabelPrefix(%q, 40) = %q, want %q", id, got, want)
		}
	}
}
