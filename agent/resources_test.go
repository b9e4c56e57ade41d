package agent

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/portrange"
	"github.com/kubemesos/kubemesos/internal/scheme"
)

func pod(name string, phase corev1.PodPhase, labels map[string]string, cpu, mem string) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse(cpu),
				corev1.ResourceMemory: resource.MustParse(mem),
			}},
		}}},
		Status: corev1.PodStatus{Phase: phase},
	}
}

func TestOfferableResources(t *testing.T) {
	node := &corev1.Node{Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("4"),
		corev1.ResourceMemory: resource.MustParse("8Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
		"example.com/gpu":     resource.MustParse("2"),
	}}}
	cases := []struct {
		name  string
		pods  []corev1.Pod
		ports string
		want  kmv1.ResourceList
	}{
		{
			name: "no pods offers all allocatable but the pod count",
			want: builders.Resources("cpu", "4", "memory", "8Gi", "example.com/gpu", "2"),
		},
		{
			name: "other pods are subtracted",
			pods: []corev1.Pod{pod("a", corev1.PodRunning, nil, "1500m", "1Gi")},
			want: builders.Resources("cpu", "2500m", "memory", "7Gi", "example.com/gpu", "2"),
		},
		{
			name: "executor pods and finished pods are not subtracted",
			pods: []corev1.Pod{
				pod("exec", corev1.PodRunning, map[string]string{kmv1.LabelAgent: "n1"}, "1", "1Gi"),
				pod("done", corev1.PodSucceeded, nil, "1", "1Gi"),
				pod("failed", corev1.PodFailed, nil, "1", "1Gi"),
			},
			want: builders.Resources("cpu", "4", "memory", "8Gi", "example.com/gpu", "2"),
		},
		{
			name: "overcommitted node offers zero, never negative",
			pods: []corev1.Pod{pod("big", corev1.PodPending, nil, "6", "1Gi")},
			want: builders.Resources("cpu", "0", "memory", "7Gi", "example.com/gpu", "2"),
		},
		{
			name:  "ports are counted",
			ports: "[31000-31099,32000-32000]",
			want:  builders.Resources("cpu", "4", "memory", "8Gi", "example.com/gpu", "2", string(kmv1.ResourcePorts), "101"),
		},
		{
			name:  "no ports, no count",
			ports: "[]",
			want:  builders.Resources("cpu", "4", "memory", "8Gi", "example.com/gpu", "2"),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ports portrange.Set
			if tc.ports != "" {
				var err error
				if ports, err = portrange.Parse(tc.ports); err != nil {
					t.Fatal(err)
				}
			}
			got := OfferableResources(node, tc.pods, ports)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, w := range tc.want {
				g := got[k]
				if g.Cmp(w) != 0 {
					t.Errorf("%s: got %s, want %s", k, g.String(), w.String())
				}
			}
		})
	}
}

func TestNodeAttributes(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"zone": "a", "kubernetes.io/hostname": "n1"}}}
	want := kmv1.Attributes{"zone": "a", "kubernetes.io/hostname": "n1"}
	if d := cmp.Diff(want, NodeAttributes(node)); d != "" {
		t.Errorf("attributes (-want +got):\n%s", d)
	}
	if got := NodeAttributes(&corev1.Node{}); got != nil {
		t.Errorf("a node without labels has attributes %v", got)
	}
}

func TestNodeAttributesFitTheAgent(t *testing.T) {
	labels := map[string]string{}
	for i := 0; i < 200; i++ {
		labels[fmt.Sprintf("example.com/l%03d", i)] = "v"
	}
	attrs := NodeAttributes(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: labels}})
	if len(attrs) != MaxAttributes || attrs["example.com/l000"] != "v" || attrs["example.com/l127"] != "v" || attrs["example.com/l128"] != "" {
		t.Errorf("%d attributes from 200 labels; want the first %d by key", len(attrs), MaxAttributes)
	}
}

func TestUntoleratedTaint(t *testing.T) {
	taint := func(key, value string, effect corev1.TaintEffect) corev1.Taint {
		return corev1.Taint{Key: key, Value: value, Effect: effect}
	}
	exists := corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists}
	cases := []struct {
		name        string
		taints      []corev1.Taint
		cordoned    bool
		tolerations []corev1.Toleration
		offered     bool
	}{
		{name: "no taint", offered: true},
		{name: "NoSchedule", taints: []corev1.Taint{taint("dedicated", "gpu", corev1.TaintEffectNoSchedule)}},
		{name: "NoExecute", taints: []corev1.Taint{taint("node-role.kubernetes.io/control-plane", "", corev1.TaintEffectNoExecute)}},
		{name: "PreferNoSchedule only", taints: []corev1.Taint{taint("dedicated", "gpu", corev1.TaintEffectPreferNoSchedule)}, offered: true},
		{name: "tolerated by key", taints: []corev1.Taint{taint("dedicated", "gpu", corev1.TaintEffectNoSchedule)}, tolerations: []corev1.Toleration{exists}, offered: true},
		{name: "one of two tolerated", taints: []corev1.Taint{taint("dedicated", "gpu", corev1.TaintEffectNoSchedule), taint("other", "", corev1.TaintEffectNoSchedule)},
			tolerations: []corev1.Toleration{exists}},
		{name: "value does not match", taints: []corev1.Taint{taint("dedicated", "gpu", corev1.TaintEffectNoSchedule)},
			tolerations: []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "batch"}}},
		{name: "cordoned", cordoned: true},
		{name: "cordoned, tolerated", cordoned: true, tolerations: []corev1.Toleration{{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists}}, offered: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{Taints: tc.taints, Unschedulable: tc.cordoned}}
			why := UntoleratedTaint(node, tc.tolerations)
			if (why == "") != tc.offered {
				t.Errorf("UntoleratedTaint = %q; offered should be %v", why, tc.offered)
			}
			if why != "" && !strings.Contains(why, "--offer-tolerations") {
				t.Errorf("the reason %q does not say how to opt in", why)
			}
		})
	}
}

// TestDesiredSpecOffersPorts: the Agent spec carries the agent's port
// ranges and their count; a node it may not offer counts none.
func TestDesiredSpecOffersPorts(t *testing.T) {
	ports, err := portrange.Parse("[31000-31099,32000-32000]")
	if err != nil {
		t.Fatal(err)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("2")}}}
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(node).
		WithIndex(&corev1.Pod{}, indexPodNode, func(o client.Object) []string { return []string{o.(*corev1.Pod).Spec.NodeName} }).Build()
	r := &Registrar{Client: c, NodeName: "n1", Ports: ports}
	spec, err := r.DesiredSpec(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := spec.Resources[kmv1.ResourcePorts]
	if d := cmp.Diff([]kmv1.PortRange{{Begin: 31000, End: 31099}, {Begin: 32000, End: 32000}}, spec.Ports); d != "" || n.Value() != 101 {
		t.Errorf("ports (-want +got):\n%s\ncount %s, want 101", d, n.String())
	}
	node.Spec.Unschedulable = true
	if err := c.Update(context.Background(), node); err != nil {
		t.Fatal(err)
	}
	if spec, err = r.DesiredSpec(context.Background()); err != nil || len(spec.Resources) != 0 {
		t.Errorf("a cordoned node offers %v (%v), want nothing", spec.Resources, err)
	}
}

// TestHeldResources: what the node's kubemesos pods hold at the kubelet
// beyond what the master charges their live tasks, on pods built as the
// agent builds them (ExecutorPod).
func TestHeldResources(t *testing.T) {
	const agentID = "agent-1"
	task := func(name string, state kmv1.TaskState, cpu string) *builders.TaskWrapper {
		w := builders.MakeTask(name, "ns").Framework("fw").Agent(agentID).Resources("cpu", cpu, "memory", "64Mi").State(state)
		w.Status.AgentID = agentID
		return w
	}
	withExec := func(w *builders.TaskWrapper) kmv1.Task {
		tk := w.Executor("e", "img").Obj()
		tk.Spec.Executor.Resources = builders.Resources("cpu", "500m", "memory", "32Mi")
		return *tk
	}
	podOf := func(tk kmv1.Task, phase corev1.PodPhase, deleting bool) corev1.Pod {
		p, err := ExecutorPod(&tk, podNameFor(&tk, agentID), agentID, "fw-uid", Options{NodeName: "n1", Endpoint: "10.0.0.1:5051"}, scheme.New())
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Phase = phase
		if deleting {
			p.DeletionTimestamp = &metav1.Time{}
		}
		return *p
	}
	first := withExec(task("first", kmv1.TaskRunning, "1"))      // its executor pod requests 1500m, 96Mi
	second := withExec(task("second", kmv1.TaskRunning, "250m")) // the same executor pod
	cmd := *task("cmd", kmv1.TaskRunning, "2").Command("busybox").Obj()
	ended := func(tk kmv1.Task) kmv1.Task { tk.Status.State = kmv1.TaskFinished; return tk }
	offerable := builders.Resources("cpu", "4", "memory", "1Gi")
	cases := []struct {
		name      string
		pods      []corev1.Pod
		tasks     []kmv1.Task
		offerable kmv1.ResourceList // 4 cpu, 1Gi when nil
		want      kmv1.ResourceList
	}{
		{name: "live tasks pay for their pods", pods: []corev1.Pod{podOf(first, corev1.PodRunning, false), podOf(cmd, corev1.PodRunning, false)},
			tasks: []kmv1.Task{first, second, cmd}},
		{name: "an idle executor pod is kept for its executor's next task: not held", pods: []corev1.Pod{podOf(first, corev1.PodRunning, false)},
			tasks: []kmv1.Task{ended(first), ended(second)}},
		{name: "a stopping executor pod holds its requests less what its live tasks pay",
			pods: []corev1.Pod{podOf(first, corev1.PodRunning, true)}, tasks: []kmv1.Task{ended(first), second},
			want: builders.Resources("cpu", "750m", "memory", "0")},
		{name: "a stopping idle executor pod holds its requests", pods: []corev1.Pod{podOf(first, corev1.PodRunning, true)},
			tasks: []kmv1.Task{ended(first), ended(second)}, want: builders.Resources("cpu", "1500m", "memory", "96Mi")},
		{name: "a command pod stopping after its task ended holds its requests", pods: []corev1.Pod{podOf(cmd, corev1.PodRunning, true)},
			tasks: []kmv1.Task{ended(cmd)}, want: builders.Resources("cpu", "2", "memory", "64Mi")},
		{name: "a pod that stopped holds nothing", pods: []corev1.Pod{podOf(cmd, corev1.PodFailed, true), podOf(first, corev1.PodSucceeded, true)},
			tasks: []kmv1.Task{ended(cmd), ended(first)}},
		{name: "other pods are not held but subtracted from what is offered", pods: []corev1.Pod{pod("other", corev1.PodRunning, nil, "1", "1Gi")}},
		{name: "together", pods: []corev1.Pod{podOf(cmd, corev1.PodRunning, true), podOf(first, corev1.PodRunning, true)},
			tasks: []kmv1.Task{ended(cmd), ended(first)}, want: builders.Resources("cpu", "3500m", "memory", "160Mi")},
		{name: "never more than what is offered", pods: []corev1.Pod{podOf(cmd, corev1.PodRunning, true), podOf(first, corev1.PodRunning, true)},
			tasks: []kmv1.Task{ended(cmd), ended(first)}, offerable: builders.Resources("cpu", "3", "memory", "1Gi"), want: builders.Resources("cpu", "3", "memory", "160Mi")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.offerable == nil {
				tc.offerable = offerable
			}
			got := HeldResources(tc.pods, tc.tasks, tc.offerable)
			if !equality.Semantic.DeepEqual(zeroless(got), zeroless(tc.want)) {
				t.Errorf("held %v, want %v", got, tc.want)
			}
		})
	}
}

// zeroless drops the zero amounts of r, nil when nothing is left.
func zeroless(r kmv1.ResourceList) kmv1.ResourceList {
	var out kmv1.ResourceList
	for n, q := range r {
		if !q.IsZero() {
			if out == nil {
				out = kmv1.ResourceList{}
			}
			out[n] = q
		}
	}
	return out
}
