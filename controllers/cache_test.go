package controllers_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers"
	b "github.com/kubemesos/kubemesos/internal/builders"
)

func TestStripTaskPayloads(t *testing.T) {
	tk := b.MakeTask("t", "ns").Framework("fw").Executor("ex", "img").Resources("cpu", "1").Data(strings.Repeat("d", 1000)).Label(kmv1.LabelFramework, "fw").Obj()
	tk.Spec.Executor.Command, tk.Spec.Executor.Env = []string{"run"}, []kmv1.EnvVar{{Name: "K", Value: "V"}}
	tk.Spec.Executor.Resources = kmv1.ResourceList{"cpu": tk.Spec.Resources["cpu"]}
	tk.Status.Data, tk.Status.State = "result", kmv1.TaskRunning
	tk.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "x"}}
	tk.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": strings.Repeat("a", 1000)}
	tk.OwnerReferences = []metav1.OwnerReference{{APIVersion: kmv1.GroupVersion.String(), Kind: "Framework", Name: "fw", UID: "u"}}
	out, err := controllers.StripTaskPayloads(tk.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*kmv1.Task)
	want := tk.DeepCopy()
	want.ManagedFields, want.Spec.Data, want.Status.Data = nil, "", ""
	want.Labels, want.Annotations, want.OwnerReferences = nil, nil, nil
	want.Spec.Executor = &kmv1.ExecutorInfo{ExecutorID: "ex", Resources: tk.Spec.Executor.Resources}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("stripped task (-want +got):\n%s", d)
	}
	cmd, _ := controllers.StripTaskPayloads(b.MakeTask("c", "ns").Command("busybox", "echo", "hi").Obj())
	if c := cmd.(*kmv1.Task).Spec.Command; c == nil || c.Image != "" || len(c.Args) != 0 {
		t.Errorf("a command task must stay a command task, without its command line: %+v", c)
	}
	// The launch's size stays, as a count, shared by the Tasks of that
	// size; what is no count in range goes.
	launch := func(n string) map[string]string {
		tk := b.MakeTask("l", "ns").Command("busybox").Obj()
		tk.Annotations = map[string]string{kmv1.AnnotationLaunchTasks: n, "other": "x"}
		out, _ := controllers.StripTaskPayloads(tk)
		return out.(*kmv1.Task).Annotations
	}
	for n, want := range map[string]string{"16": "16", "016": "16", "0": "", "-1": "", "4097": "", "ten": ""} {
		got := launch(n)
		if (want == "") != (got == nil) || got[kmv1.AnnotationLaunchTasks] != want || len(got) > 1 {
			t.Errorf("launch size %q kept as %v, want %q alone", n, got, want)
		}
	}
	if a, b := launch("16"), launch("16"); reflect.ValueOf(a).UnsafePointer() != reflect.ValueOf(b).UnsafePointer() {
		t.Error("two Tasks of a launch of 16 do not share their annotations")
	}
}

// TestStripTaskPayloadsInternsResources: Tasks that ask for the same
// amounts, however written, share one ResourceList in the cache; others
// keep their own.
func TestStripTaskPayloadsInternsResources(t *testing.T) {
	strip := func(tk *kmv1.Task) *kmv1.Task {
		out, err := controllers.StripTaskPayloads(tk)
		if err != nil {
			t.Fatal(err)
		}
		return out.(*kmv1.Task)
	}
	same := func(a, b kmv1.ResourceList) bool {
		return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
	}
	a := strip(b.MakeTask("a", "ns").Resources("cpu", "250m", "memory", "64Mi").Executor("ex", "img").Obj())
	c := strip(b.MakeTask("c", "ns").Resources("memory", "64Mi", "cpu", "0.25").Obj())
	d := strip(b.MakeTask("d", "ns").Resources("cpu", "250m", "memory", "65Mi").Obj())
	if !same(a.Spec.Resources, c.Spec.Resources) {
		t.Errorf("equal resources must share one list: %v and %v", a.Spec.Resources, c.Spec.Resources)
	}
	if same(a.Spec.Resources, d.Spec.Resources) || qty(d.Spec.Resources, "memory").Cmp(resource.MustParse("65Mi")) != 0 {
		t.Errorf("different resources must keep their own amounts: %v and %v", a.Spec.Resources, d.Spec.Resources)
	}
	e := b.MakeTask("e", "ns").Resources("cpu", "250m", "memory", "64Mi").Executor("ex", "img").Obj()
	e.Spec.Executor.Resources = b.Resources("cpu", "250m", "memory", "64Mi")
	e = strip(e)
	if !same(e.Spec.Executor.Resources, a.Spec.Resources) || !same(e.Spec.Resources, a.Spec.Resources) {
		t.Errorf("an executor's resources are interned with the tasks'")
	}
	// The tasks of one executor share its slim ExecutorInfo; another
	// executor has its own.
	f := b.MakeTask("f", "ns").Resources("cpu", "1").Executor("ex", "img").Obj()
	f.Spec.Executor.Resources = b.Resources("memory", "64Mi", "cpu", "250m")
	g := f.DeepCopy()
	g.Spec.Executor.ExecutorID = "other"
	f, g = strip(f), strip(g)
	if f.Spec.Executor != e.Spec.Executor || g.Spec.Executor == e.Spec.Executor || g.Spec.Executor.ExecutorID != "other" || !same(g.Spec.Executor.Resources, e.Spec.Executor.Resources) {
		t.Errorf("executors: %p %+v, %p %+v, %p %+v", e.Spec.Executor, e.Spec.Executor, f.Spec.Executor, f.Spec.Executor, g.Spec.Executor, g.Spec.Executor)
	}
	// Repeated strings are shared too: c and d were decoded apart.
	for _, tk := range []*kmv1.Task{c, d} {
		tk.Status.State, tk.Status.NodeName = kmv1.TaskState(strings.Clone("TASK_RUNNING")), strings.Clone("node-1")
		strip(tk)
	}
	if unsafe.StringData(c.Namespace) != unsafe.StringData(d.Namespace) || unsafe.StringData(string(c.Status.State)) != unsafe.StringData(string(d.Status.State)) ||
		unsafe.StringData(c.Status.NodeName) != unsafe.StringData(d.Status.NodeName) || c.Status.NodeName != "node-1" {
		t.Errorf("repeated strings are not shared: %+v and %+v", c.Status, d.Status)
	}
	if qty(c.Spec.Resources, "cpu").MilliValue() != 250 || qty(c.Spec.Resources, "memory").Value() != 64<<20 {
		t.Errorf("interned amounts changed: %v", c.Spec.Resources)
	}
}

func qty(rl kmv1.ResourceList, name string) *resource.Quantity {
	q := rl[corev1.ResourceName(name)]
	return &q
}

// TestMasterWritesKeepTaskPayloads: the master caches Tasks without their
// payloads and writes them only with patches, so what it left out of its
// cache is still in the API server after it staged the task.
func TestMasterWritesKeepTaskPayloads(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	addAgent(t, "payload-1", "cpu", "4", "memory", "4Gi")
	_, ns := addFramework(t, b.MakeFramework("payloadfw", "").Obj())
	waitPhase(t, ns, "payloadfw", kmv1.FrameworkActive)
	offer := waitOffer(t, ns, "payloadfw")
	data := strings.Repeat("p", 4096)
	tk := b.MakeTask("payload", ns).Framework("payloadfw").Offer(offer.Name).Resources("cpu", "1").Command("busybox", "echo", "hi").Data(data).Label(kmv1.LabelFramework, "payloadfw").Obj()
	if err := env.Client.Create(ctx, tk); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the task staged", func() (bool, error) { return getTask(t, ns, "payload").Status.State == kmv1.TaskStaging, nil })
	got := getTask(t, ns, "payload")
	if got.Spec.Data != data || got.Spec.Command == nil || got.Spec.Command.Image != "busybox" || len(got.Spec.Command.Args) != 2 ||
		got.Labels[kmv1.LabelFramework] != "payloadfw" || len(got.OwnerReferences) != len(tk.OwnerReferences) {
		t.Errorf("the master's write lost what its cache leaves out: data %d bytes, command %+v, labels %v, owners %v", len(got.Spec.Data), got.Spec.Command, got.Labels, got.OwnerReferences)
	}
}
