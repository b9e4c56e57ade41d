package agent_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubemesos/kubemesos/agent"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/scheme"
)

// TestExecutorPodRequestsNoPorts: ports are the master's to account; a
// pod that requested them would never be admitted by the kubelet.
func TestExecutorPodRequestsNoPorts(t *testing.T) {
	meta := metav1.ObjectMeta{Namespace: "team", Name: "t1", UID: "t1-uid",
		OwnerReferences: []metav1.OwnerReference{{Kind: "Framework", Name: "web", UID: "fw-uid"}}}
	ports := []kmv1.PortRange{{Begin: 31000, End: 31001}}
	for name, task := range map[string]*kmv1.Task{
		"command": {ObjectMeta: meta, Spec: kmv1.TaskSpec{Framework: "web", Ports: ports,
			Resources: builders.Resources("cpu", "1", string(kmv1.ResourcePorts), "2"),
			Command:   &kmv1.CommandInfo{Image: "busybox", Command: []string{"true"}}}},
		"executor": {ObjectMeta: meta, Spec: kmv1.TaskSpec{Framework: "web", Ports: ports,
			Resources: builders.Resources("cpu", "1", string(kmv1.ResourcePorts), "1"),
			Executor: &kmv1.ExecutorInfo{ExecutorID: "ex", Image: "example/executor:1",
				Resources: builders.Resources("memory", "64Mi", string(kmv1.ResourcePorts), "1")}}},
	} {
		pod, err := agent.ExecutorPod(task, "p", "agent-1", "fw-uid", agent.Options{NodeName: "n1", Endpoint: "10.0.0.1:5051"}, scheme.New())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		req := pod.Spec.Containers[0].Resources.Requests
		if _, ok := req[kmv1.ResourcePorts]; ok {
			t.Errorf("%s: the pod requests %s: %v", name, kmv1.ResourcePorts, req)
		}
		if cpu := req.Cpu(); cpu.String() != "1" {
			t.Errorf("%s: the pod requests cpu %s, want the task's 1", name, cpu)
		}
	}
}
