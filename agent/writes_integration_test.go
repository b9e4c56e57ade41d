package agent_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/fieldowner"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

// TestWritesOfARunAndOfAnIdleCluster reads the API server's own request
// counters: a run of several tasks on one custom executor deletes the
// executor's pod once (not once per task, nor again while it terminates),
// and afterwards an idle cluster writes nothing but heartbeat Leases.
func TestWritesOfARunAndOfAnIdleCluster(t *testing.T) {
	ctx := context.Background()
	// An API server of its own: its counters are the whole server's, and
	// the package's earlier tests leave frameworks behind that the master
	// goes on serving (offers, a failover timeout expiring) while this
	// test counts the writes of an idle cluster.
	own, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	shared := env
	env = own
	t.Cleanup(func() {
		env = shared
		if err := own.Stop(); err != nil {
			t.Errorf("stopping the test's own API server: %v", err)
		}
	})
	startTestMaster(t, 5*time.Second)
	addNode(t, "wr-node")
	startTestAgent(t, "wr-node", t.TempDir(), freeAddr(t), time.Minute, nil)
	ns := frameworkWithScheduler(t, "wrfw")
	before := readRequests(t)

	// Six tasks on one offer, one launch, all on the executor e.
	const tasks = 6
	var launch []*kmv1.Task
	for i := range tasks {
		launch = append(launch, b.MakeTask(fmt.Sprintf("wr-%d", i), "").Resources("cpu", "100m").Executor("e", "img").Obj())
	}
	launchAllOnOffer(t, ns, "wrfw", "wr-node", launch)
	pod := podOf(t, ns, map[string]string{kmv1.LabelExecutor: "e"})
	kubelet(t, pod, corev1.PodRunning, 0)
	ex := newTestExecutor(t, pod)
	ex.subscribe(t)
	for i := 0; i < tasks; i++ {
		l := ex.next(t, executorapi.EventLaunch)
		ex.update(t, l.Launch.Task.TaskID, "TASK_FINISHED", "", l.Launch.Task.TaskID+"-done")
	}
	for i := 0; i < tasks; i++ {
		waitState(t, ns, fmt.Sprintf("wr-%d", i), kmv1.TaskFinished)
	}

	// The framework ends: the executor is shut down and its pod deleted;
	// every finished task of the executor passes through the agent again.
	var fw kmv1.Framework
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "wrfw"}, &fw); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(ctx, &fw); err != nil {
		t.Fatal(err)
	}
	ex.next(t, executorapi.EventShutdown)
	eventually(t, "the executor pod is terminating", func() bool {
		var p corev1.Pod
		return env.Client.Get(ctx, client.ObjectKeyFromObject(pod), &p) == nil && p.DeletionTimestamp != nil
	})
	// No kubelet here: the pod terminates for as long as the test likes.
	// Heartbeats and reconciles go on meanwhile.
	waitRenewals(t, 3)
	podDeletes := readRequests(t).Since(before).Count(func(r testenv.Request) bool {
		return r.Verb == "DELETE" && r.Resource == "pods"
	})
	if podDeletes != 1 {
		t.Errorf("%d tasks on one executor: the API server counted %v pod DELETEs, want 1", tasks, podDeletes)
	}

	// The kubelet finishes the pod; the framework is released.
	kubelet(t, pod, corev1.PodSucceeded, 0)
	eventually(t, "the Framework is gone", func() bool {
		return apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "wrfw"}, &kmv1.Framework{}))
	})
	waitRenewals(t, 2) // what the end set in motion settles
	idle := readRequests(t)
	waitRenewals(t, 5)
	writes := readRequests(t).Since(idle)
	for r, n := range writes {
		if testenv.IsWrite(r) && r.Resource != "leases" {
			t.Errorf("an idle cluster wrote: %v × %+v", n, r)
		}
	}
}

func readRequests(t *testing.T) testenv.Requests {
	t.Helper()
	r, err := testenv.ReadRequests(context.Background(), env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// waitRenewals waits until the agent wr-node has renewed its heartbeat
// Lease n more times: the positive sign that its loops, and the master's
// (which it wakes), had their chance to act.
func waitRenewals(t *testing.T, n int) {
	t.Helper()
	key := client.ObjectKey{Namespace: systemNS, Name: kmv1.AgentLeaseName("wr-node")}
	var last time.Time
	seen := -1
	eventually(t, fmt.Sprintf("%d heartbeats", n), func() bool {
		var l coordinationv1.Lease
		if env.Client.Get(context.Background(), key, &l) != nil || l.Spec.RenewTime == nil {
			return false
		}
		if !l.Spec.RenewTime.Time.Equal(last) {
			last = l.Spec.RenewTime.Time
			seen++
		}
		return seen >= n
	})
}

// TestAgentWritesAsItsFieldManager: every write of the agent carries its
// field manager, kubemesos-agent. After a command task ran to
// TASK_FINISHED, the status fields that the agent wrote are the agent's
// in the Task's managedFields (the state its alone), and the agent wrote
// its Agent's spec, its heartbeat Lease and the task's pod.
func TestAgentWritesAsItsFieldManager(t *testing.T) {
	ctx := context.Background()
	startTestMaster(t, 5*time.Second)
	addNode(t, "fo-node")
	startTestAgent(t, "fo-node", t.TempDir(), freeAddr(t), time.Minute, nil)
	ns := frameworkWithScheduler(t, "fofw")
	launchOnOffer(t, ns, "fofw", "fo-node", b.MakeTask("owned", "").Resources("cpu", "100m").Command("busybox", "true").Obj())
	pod := podOf(t, ns, map[string]string{kmv1.LabelTask: "owned"})
	kubelet(t, pod, corev1.PodRunning, 0)
	waitState(t, ns, "owned", kmv1.TaskRunning)
	kubelet(t, pod, corev1.PodSucceeded, 0)
	tk := waitState(t, ns, "owned", kmv1.TaskFinished)

	// The fields whose values the agent changed (lastUpdateTime, which
	// counts seconds, may keep the master's value when the task ran
	// within the second it was staged).
	status := managedFields(t, tk, "status")
	for _, f := range []string{"state", "source", "message", "podName", "startTime", "completionTime"} {
		if !status[fieldowner.Agent]["status."+f] {
			t.Errorf("status.%s is not the agent's: %s", f, status)
		}
	}
	if owners := status.Owners("status.state"); len(owners) != 1 {
		t.Errorf("status.state is owned by %v, want the agent alone", owners)
	}

	var p corev1.Pod
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pod), &p); err != nil {
		t.Fatal(err)
	}
	if m := managedFields(t, &p, ""); !m[fieldowner.Agent]["spec.containers"] {
		t.Errorf("the task's pod was not created by the agent: %s", m)
	}
	var ag kmv1.Agent
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "fo-node"}, &ag); err != nil {
		t.Fatal(err)
	}
	if m := managedFields(t, &ag, ""); !m[fieldowner.Agent]["spec.resources"] {
		t.Errorf("the Agent's spec is not the agent's: %s", m)
	}
	var lease coordinationv1.Lease
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: systemNS, Name: kmv1.AgentLeaseName("fo-node")}, &lease); err != nil {
		t.Fatal(err)
	}
	if m := managedFields(t, &lease, ""); !m[fieldowner.Agent]["spec.renewTime"] {
		t.Errorf("the heartbeat Lease is not the agent's: %s", m)
	}
}

// managedFields reads who owns which of obj's fields on subresource.
func managedFields(t *testing.T, obj client.Object, subresource string) testenv.Managers {
	t.Helper()
	m, err := testenv.ManagedFields(obj, subresource)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
