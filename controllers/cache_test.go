package controllers_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers"
	b "github.com/kubemesos/kubemesos/internal/builders"
)

func TestStripTaskPayloads(t *testing.T) {
	tk := b.MakeTask("t", "ns").Framework("fw").Executor("ex", "img").Resources("cpu", "1").Data(strings.Repeat("d", 1000)).Obj()
	tk.Spec.Executor.Command, tk.Spec.Executor.Env = []string{"run"}, []kmv1.EnvVar{{Name: "K", Value: "V"}}
	tk.Spec.Executor.Resources = kmv1.ResourceList{"cpu": tk.Spec.Resources["cpu"]}
	tk.Status.Data, tk.Status.State = "result", kmv1.TaskRunning
	tk.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "x"}}
	out, err := controllers.StripTaskPayloads(tk.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*kmv1.Task)
	want := tk.DeepCopy()
	want.ManagedFields, want.Spec.Data, want.Status.Data = nil, "", ""
	want.Spec.Executor = &kmv1.ExecutorInfo{ExecutorID: "ex", Resources: tk.Spec.Executor.Resources}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("stripped task (-want +got):\n%s", d)
	}
	cmd, _ := controllers.StripTaskPayloads(b.MakeTask("c", "ns").Command("busybox", "echo", "hi").Obj())
	if c := cmd.(*kmv1.Task).Spec.Command; c == nil || c.Image != "" || len(c.Args) != 0 {
		t.Errorf("a command task must stay a command task, without its command line: %+v", c)
	}
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
	tk := b.MakeTask("payload", ns).Framework("payloadfw").Offer(offer.Name).Resources("cpu", "1").Command("busybox", "echo", "hi").Data(data).Obj()
	if err := env.Client.Create(ctx, tk); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the task staged", func() (bool, error) { return getTask(t, ns, "payload").Status.State == kmv1.TaskStaging, nil })
	got := getTask(t, ns, "payload")
	if got.Spec.Data != data || got.Spec.Command == nil || got.Spec.Command.Image != "busybox" || len(got.Spec.Command.Args) != 2 {
		t.Errorf("the master's write lost what its cache leaves out: data %d bytes, command %+v", len(got.Spec.Data), got.Spec.Command)
	}
}
