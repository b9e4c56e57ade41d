package mesoswire

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/mesosjson"
)

// TestExecutorView: what a Task keeps of its TaskInfo comes back whole in
// the TaskInfo its executor gets; nothing is kept when nothing is to keep;
// too much is refused with a message.
func TestExecutorView(t *testing.T) {
	cmd := &mesosv1.CommandInfo{Value: ptr.To("./serve"), Shell: ptr.To(false), Arguments: []string{"serve", "--port", "80"},
		Uris: []*mesosv1.CommandInfo_URI{{Value: ptr.To("http://example.com/a.tgz")}}}
	ti := &mesosv1.TaskInfo{TaskId: &mesosv1.TaskID{Value: ptr.To("t-1")}, Name: ptr.To("Web server"), Command: cmd,
		Labels: &mesosv1.Labels{Labels: []*mesosv1.Label{{Key: ptr.To("Team Name"), Value: ptr.To("web/α")}, {Key: ptr.To("canary")}}}}
	kept, err := ExecutorTaskAnnotation(ti)
	if err != nil || kept == "" {
		t.Fatalf("ExecutorTaskAnnotation: %q, %v", kept, err)
	}
	labels, err := TaskLabelsAnnotation(ti.GetLabels().GetLabels())
	if err != nil {
		t.Fatal(err)
	}
	task := &kmv1.Task{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationExecutorTask: kept, AnnotationTaskLabels: labels}}}
	got := &mesosv1.TaskInfo{TaskId: ti.TaskId, Name: ptr.To("t-1")}
	if err := AddExecutorView(task, got); err != nil {
		t.Fatal(err)
	}
	// Mesos's JSON writes proto2 defaults, which come back set.
	if g, w := mustMesosJSON(t, got), mustMesosJSON(t, ti); g != w {
		t.Errorf("the executor gets %s, want %s", g, w)
	}

	// A task named by its ID, without a command, keeps nothing.
	if v, err := ExecutorTaskAnnotation(&mesosv1.TaskInfo{TaskId: ti.TaskId, Name: ptr.To("t-1")}); v != "" || err != nil {
		t.Errorf("nothing to keep: %q, %v", v, err)
	}
	if _, err := ExecutorTaskAnnotation(&mesosv1.TaskInfo{Name: ptr.To(strings.Repeat("n", MaxExecutorTaskBytes))}); err == nil {
		t.Error("a name longer than the bound is kept")
	}
	if _, err := TaskLabelsAnnotation([]*mesosv1.Label{{Key: ptr.To(strings.Repeat("k", MaxTaskLabelsBytes))}}); err == nil {
		t.Error("labels longer than the bound are kept")
	}
	// An annotation that does not parse is an error, and changes nothing.
	for _, bad := range []map[string]string{{AnnotationExecutorTask: `{"command": {"shell": "yes"}}`}, {AnnotationTaskLabels: `{"key": 1}`}} {
		before := &mesosv1.TaskInfo{Name: ptr.To("t-1")}
		after := proto.Clone(before).(*mesosv1.TaskInfo)
		if err := AddExecutorView(&kmv1.Task{ObjectMeta: metav1.ObjectMeta{Annotations: bad}}, after); err == nil || !proto.Equal(before, after) {
			t.Errorf("%v: %v, %v", bad, err, after)
		}
	}
}

// FuzzParseExecutorTask: any annotation value is read or refused, never a
// crash, and what is read encodes back to a value that reads the same.
func FuzzParseExecutorTask(f *testing.F) {
	f.Add(`{"name":"Web","command":{"value":"./run","shell":false,"arguments":["run","-v"]}}`)
	f.Add(`{"command":{"uris":[{"value":"http://x/a.tgz","extract":true}]}}`)
	f.Add(`{"name":null,"command":null}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, v string) {
		got, err := ParseExecutorTask(v)
		if err != nil {
			return
		}
		again, err := ExecutorTaskAnnotation(&mesosv1.TaskInfo{TaskId: &mesosv1.TaskID{Value: ptr.To("\x00id")}, Name: got.Name, Command: got.Command})
		if err != nil || again == "" {
			return // longer once encoded, or nothing to keep
		}
		back, err := ParseExecutorTask(again)
		if err != nil {
			t.Fatalf("%q reads as %v; encoded again %q does not read: %v", v, got, again, err)
		}
		twice, err := ExecutorTaskAnnotation(&mesosv1.TaskInfo{TaskId: &mesosv1.TaskID{Value: ptr.To("\x00id")}, Name: back.Name, Command: back.Command})
		if err != nil || twice != again {
			t.Errorf("%q: encoded once %q, twice %q (%v)", v, again, twice, err)
		}
	})
}

// FuzzParseTaskLabels: any annotation value is read or refused, never a
// crash.
func FuzzParseTaskLabels(f *testing.F) {
	f.Add(`[{"key":"Team Name","value":"web/α"},{"key":"canary"}]`)
	f.Add(`[]`)
	f.Add(`[{"key":1}]`)
	f.Fuzz(func(t *testing.T, v string) {
		ls, err := ParseTaskLabels(v)
		if err != nil {
			return
		}
		if _, err := TaskLabelsAnnotation(ls); err != nil && len(v) <= MaxTaskLabelsBytes/2 {
			t.Errorf("%q reads as %v, which does not encode again: %v", v, ls, err)
		}
	})
}

func mustMesosJSON(t *testing.T, m proto.Message) string {
	t.Helper()
	b, err := mesosjson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
