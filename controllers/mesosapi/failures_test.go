package mesosapi_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

// TestFailureEvents: a framework hears FAILURE {agent_id, executor_id,
// status} when a pod of its custom executor ends (a wait status, as in
// Mesos), nothing for a command task's pod, and every subscribed framework
// hears FAILURE {agent_id} when an agent is lost.
func TestFailureEvents(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	const node = "fail-node"
	addAgent(t, node, "127.0.0.1:5051", "cpu", "2", "memory", "1Gi")
	url := startAPI(t, apiOptions(t, ns), false)
	mt := mesoswire.MediaProtobuf
	es1 := subscribe(t, url, mt, frameworkInfo("first"))
	es1.next(schedulerv1.Event_SUBSCRIBED)
	es2 := subscribe(t, url, mt, frameworkInfo("second"))
	es2.next(schedulerv1.Event_SUBSCRIBED)
	var agent kmv1.Agent
	eventually(t, "the agent to be admitted", func() bool {
		return env.Client.Get(ctx, types.NamespacedName{Name: node}, &agent) == nil && agent.Status.Phase == kmv1.AgentActive && agent.Status.AgentID != ""
	})
	var fws kmv1.FrameworkList
	if err := env.Client.List(ctx, &fws, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	first := ""
	for _, fw := range fws.Items {
		if fw.Spec.Role == "*" && fw.GenerateName == "first-" {
			first = fw.Name
		}
	}
	if first == "" {
		t.Fatalf("no Framework of the first subscription among %d", len(fws.Items))
	}

	// Pods of the first framework end: a command task's (no FAILURE), then
	// its custom executor's, with exit code 3.
	endPod := func(name string, labels map[string]string, exitCode int32) {
		t.Helper()
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels,
			Annotations: map[string]string{kmv1.AnnotationExecutorID: "exec-1", kmv1.AnnotationAgentID: agent.Status.AgentID}},
			Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: labels[kmv1.LabelComponent], Image: "example/executor:1"}}}}
		if err := env.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // the master caches the running pod first
		p.Status = corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{Name: labels[kmv1.LabelComponent],
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exitCode}}}}}
		if err := env.Client.Status().Update(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	endPod("command-pod", map[string]string{kmv1.LabelFramework: first, kmv1.LabelComponent: "executor", kmv1.LabelTask: "t"}, 1)
	endPod("executor-pod", map[string]string{kmv1.LabelFramework: first, kmv1.LabelComponent: "executor", kmv1.LabelExecutor: "exec-1"}, 3)
	f := es1.next(schedulerv1.Event_FAILURE).GetFailure()
	if f.GetAgentId().GetValue() != agent.Status.AgentID || f.GetExecutorId().GetValue() != "exec-1" || f.Status == nil || f.GetStatus() != 3<<8 {
		t.Fatalf("FAILURE %v: want executor exec-1 on %s with wait status %d (exit code 3)", f, agent.Status.AgentID, 3<<8)
	}

	// The agent is lost: both frameworks hear it.
	patch := client.MergeFrom(agent.DeepCopy())
	agent.Status.Phase = kmv1.AgentUnreachable
	agent.Status.UnreachableTime = ptr.To(metav1.Now())
	if err := env.Client.Status().Patch(ctx, &agent, patch); err != nil {
		t.Fatal(err)
	}
	for _, es := range []*eventStream{es1, es2} {
		f := es.next(schedulerv1.Event_FAILURE).GetFailure()
		if want := (&mesosv1.AgentID{Value: &agent.Status.AgentID}); f.GetAgentId().GetValue() != want.GetValue() || f.ExecutorId != nil || f.Status != nil {
			t.Fatalf("FAILURE %v: want one of agent %s alone", f, agent.Status.AgentID)
		}
	}
}
