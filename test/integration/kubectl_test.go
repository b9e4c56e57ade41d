package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

// kubectl runs the kubectl built with the control plane against envtest.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := env.WriteKubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.Kubectl(), append([]string{"--kubeconfig", kc}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// header returns the column names of kubectl's table output.
func header(out string) []string {
	line, _, _ := strings.Cut(out, "\n")
	return strings.Fields(line)
}

func TestKubectlShortNamesAndColumns(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	fw := b.MakeFramework("mc", ns).Obj()
	task := b.MakeTask("mc-0", ns).Framework("mc").Offer("o1").Resources("cpu", "1").Executor("mc", "montecarloarea").Obj()
	offer := b.MakeOffer("o1", ns).Framework("mc", "fw-1").Agent("ag-1", "kubectl-node").Resources("cpu", "2", "memory", "1Gi").Obj()
	agent := b.MakeAgent("kubectl-node").Resources("cpu", "4", "memory", "8Gi").Obj()
	for _, o := range []client.Object{fw, task, offer, agent} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	task.Status = kmv1.TaskStatus{State: kmv1.TaskFinished, NodeName: "kubectl-node", Data: "under=42"}
	if err := env.Client.Status().Update(ctx, task); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		args []string
		want []string
		row  []string
	}{
		{args: []string{"get", "mfw", "-n", ns}, want: []string{"NAME", "ROLE", "PHASE", "RUNNING", "FINISHED", "FAILED", "RESULT", "AGE"}, row: []string{"mc", "*"}},
		{args: []string{"get", "mtask", "-n", ns}, want: []string{"NAME", "FRAMEWORK", "STATE", "AGENT", "DATA", "AGE"}, row: []string{"mc-0", "mc", "TASK_FINISHED", "kubectl-node", "under=42"}},
		{args: []string{"get", "moffer", "-n", ns}, want: []string{"NAME", "FRAMEWORK", "AGENT", "CPU", "MEMORY", "AGE"}, row: []string{"o1", "mc", "kubectl-node", "2", "1Gi"}},
		{args: []string{"get", "magent", "kubectl-node"}, want: []string{"NAME", "PHASE", "AGENT-ID", "CPU", "MEMORY", "AGE"}, row: []string{"kubectl-node"}},
		{args: []string{"get", "mtask", "-n", ns, "-o", "wide"}, want: []string{"NAME", "FRAMEWORK", "STATE", "AGENT", "DATA", "AGE", "REASON", "AGENT-ID", "POD", "MESSAGE"}},
		{args: []string{"get", "mtask", "-n", ns, "--field-selector", "status.state=TASK_FINISHED"}, row: []string{"mc-0"}},
		{args: []string{"get", "moffer", "-n", ns, "--field-selector", "spec.nodeName=kubectl-node"}, row: []string{"o1"}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out := kubectl(t, tc.args...)
			if tc.want != nil && strings.Join(header(out), " ") != strings.Join(tc.want, " ") {
				t.Errorf("columns are %q, want %q\n%s", header(out), tc.want, out)
			}
			for _, cell := range tc.row {
				if !strings.Contains(out, cell) {
					t.Errorf("output lacks %q:\n%s", cell, out)
				}
			}
		})
	}

	t.Run("category kubemesos lists frameworks, tasks and offers", func(t *testing.T) {
		out := kubectl(t, "get", "kubemesos", "-n", ns)
		for _, want := range []string{"framework.kubemesos.io/mc", "task.kubemesos.io/mc-0", "offer.kubemesos.io/o1"} {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl get kubemesos lacks %s:\n%s", want, out)
			}
		}
	})

	t.Run("an invalid task is refused with a readable message", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.yaml")
		manifest := "apiVersion: kubemesos.io/v1alpha1\nkind: Task\nmetadata:\n  name: bad\n  namespace: " + ns +
			"\nspec:\n  framework: mc\n  offerIDs: [o1]\n  resources: {cpu: \"-1\"}\n"
		if err := os.WriteFile(bad, []byte(manifest), 0o600); err != nil {
			t.Fatal(err)
		}
		kc := filepath.Join(t.TempDir(), "kubeconfig")
		if err := env.WriteKubeconfig(kc); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(testenv.Kubectl(), "--kubeconfig", kc, "apply", "-f", bad).CombinedOutput()
		if err == nil {
			t.Fatalf("kubectl apply accepted an invalid task:\n%s", out)
		}
		for _, want := range []string{"exactly one of command or executor must be set", "resource quantities must not be negative"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("kubectl's error lacks %q:\n%s", want, out)
			}
		}
	})
}
