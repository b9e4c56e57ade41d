package framework_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/examples/montecarloarea/area"
	"github.com/kubemesos/kubemesos/examples/montecarloarea/framework"
	"github.com/kubemesos/kubemesos/internal/inprocess"
	"github.com/kubemesos/kubemesos/internal/testenv"
	"github.com/kubemesos/kubemesos/sdk/executor"
	"github.com/kubemesos/kubemesos/sdk/scheduler"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

var sample = map[string]string{
	"expression": "2x2 + 3x", "xLow": "0", "xHigh": "10", "yLow": "0", "yHigh": "230",
	"points": "300", "tasks": "4", "method": "grid", "cpu": "1", "memory": "128Mi",
}

// cluster starts a master and two agents, and runs the MonteCarloArea
// executor in-process for each executor pod (after delay), as a kubelet
// would run the container.
func cluster(t *testing.T, prefix string, delay time.Duration) string {
	t.Helper()
	return clusterWith(t, prefix, delay, nil)
}

// clusterWith is cluster where crash, when it returns true for a pod, runs a
// crashing executor in that pod: it fails every task it gets, then its pod
// fails.
func clusterWith(t *testing.T, prefix string, delay time.Duration, crash func(*corev1.Pod) bool) string {
	t.Helper()
	inprocess.StartMaster(t, env.Config, inprocess.MasterOptions())
	for i := 1; i <= 2; i++ {
		node := fmt.Sprintf("%s-node-%d", prefix, i)
		inprocess.Node(t, env.Client, node, "4", "8Gi")
		inprocess.StartAgent(t, env.Config, node)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	inprocess.Kubelet(t, env.Client, ns.Name, func(pod *corev1.Pod) {
		time.Sleep(delay)
		var ex executor.Executor = &framework.Executor{}
		if crash != nil && crash(pod) {
			ex = &crashingExecutor{pod: pod.DeepCopy()}
		}
		_, err := inprocess.StartExecutor(t, env.Client, pod, ex)
		if err != nil {
			t.Error(err)
			return
		}
	})
	return ns.Name
}

func createFramework(t *testing.T, ns, name string, params map[string]string) {
	t.Helper()
	fw := &kmv1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: kmv1.FrameworkSpec{Parameters: params}}
	if err := env.Client.Create(context.Background(), fw); err != nil {
		t.Fatal(err)
	}
}

func startScheduler(t *testing.T, ns, name, identity string) *scheduler.Driver {
	t.Helper()
	d, err := scheduler.NewDriver(&framework.Scheduler{DefaultImage: "kubemesos/kubemesos:test"}, scheduler.Config{
		RestConfig: env.Config, Namespace: ns, Framework: name, Identity: identity,
		LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Abort() })
	return d
}

func waitFramework(t *testing.T, ns, name string, phases ...kmv1.FrameworkPhase) *kmv1.Framework {
	t.Helper()
	var fw kmv1.Framework
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &fw); err == nil {
			for _, p := range phases {
				if fw.Status.Phase == p {
					return &fw
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("framework %s never reached %v; status %+v", name, phases, fw.Status)
	return nil
}

// oracleArea is the area of the straightforward nested loop over the whole grid.
func oracleArea(t *testing.T, params map[string]string) string {
	t.Helper()
	s, err := framework.ParseSettings(params, "")
	if err != nil {
		t.Fatal(err)
	}
	under, total := area.OracleCount(s.Params, 0, len(area.Columns(s.Params)))
	return area.Summarize(s.Params, under, total).String()
}

func TestMonteCarloAreaCompletesWithTheExactGridArea(t *testing.T) {
	ns := cluster(t, "mc", 0)
	createFramework(t, ns, "mc", sample)
	startScheduler(t, ns, "mc", "only")
	fw := waitFramework(t, ns, "mc", kmv1.FrameworkCompleted, kmv1.FrameworkFailed)
	if fw.Status.Phase != kmv1.FrameworkCompleted {
		t.Fatalf("framework %s: %s", fw.Status.Phase, fw.Status.Message)
	}
	want := oracleArea(t, sample)
	if fw.Status.Result != want {
		t.Errorf("result %q\nwant   %q (the oracle's)", fw.Status.Result, want)
	}
	var tasks kmv1.TaskList
	if err := env.Client.List(context.Background(), &tasks, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	finished := 0
	for _, tk := range tasks.Items {
		if tk.Status.State == kmv1.TaskFinished {
			finished++
		}
	}
	if finished != 4 {
		t.Errorf("%d tasks finished, want one per piece (4)", finished)
	}
}

// TestSchedulerFailover aborts the active scheduler after it launched the
// pieces but before they ran. The standby takes the Lease, learns the tasks
// through status updates, and finishes the run with the same area, with no
// piece launched twice.
func TestSchedulerFailover(t *testing.T) {
	ns := cluster(t, "fo", 3*time.Second)
	createFramework(t, ns, "fo", sample)
	first := startScheduler(t, ns, "fo", "first")
	deadline := time.Now().Add(60 * time.Second)
	for {
		var tasks kmv1.TaskList
		_ = env.Client.List(context.Background(), &tasks, client.InNamespace(ns))
		if len(tasks.Items) == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first scheduler launched %d of 4 pieces", len(tasks.Items))
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = first.Abort()
	startScheduler(t, ns, "fo", "second")
	fw := waitFramework(t, ns, "fo", kmv1.FrameworkCompleted, kmv1.FrameworkFailed)
	if fw.Status.Phase != kmv1.FrameworkCompleted || fw.Status.Result != oracleArea(t, sample) {
		t.Fatalf("after failover: %s %q (%s)", fw.Status.Phase, fw.Status.Result, fw.Status.Message)
	}
	var tasks kmv1.TaskList
	_ = env.Client.List(context.Background(), &tasks, client.InNamespace(ns))
	if len(tasks.Items) != 4 {
		t.Errorf("%d tasks for 4 pieces: a piece was launched twice", len(tasks.Items))
	}
}

func TestBadExpressionFailsTheFramework(t *testing.T) {
	ns := cluster(t, "bad", 0)
	params := map[string]string{}
	for k, v := range sample {
		params[k] = v
	}
	params["expression"] = "2x2 + 3y"
	createFramework(t, ns, "bad", params)
	startScheduler(t, ns, "bad", "only")
	fw := waitFramework(t, ns, "bad", kmv1.FrameworkFailed, kmv1.FrameworkCompleted)
	if fw.Status.Phase != kmv1.FrameworkFailed || !strings.Contains(fw.Status.Message, "3y") {
		t.Fatalf("framework %s with message %q; want Failed naming the bad term", fw.Status.Phase, fw.Status.Message)
	}
}

// TestFailedPiecesAreRelaunched crashes the first executor pod: its pieces
// fail (REASON_EXECUTOR_TERMINATED), the scheduler relaunches them, and the
// run still ends with the exact area.
func TestFailedPiecesAreRelaunched(t *testing.T) {
	var mu sync.Mutex
	crashed := false
	ns := clusterWith(t, "re", 0, func(*corev1.Pod) bool {
		mu.Lock()
		defer mu.Unlock()
		first := !crashed
		crashed = true
		return first
	})
	createFramework(t, ns, "re", sample)
	startScheduler(t, ns, "re", "only")
	fw := waitFramework(t, ns, "re", kmv1.FrameworkCompleted, kmv1.FrameworkFailed)
	if fw.Status.Phase != kmv1.FrameworkCompleted || fw.Status.Result != oracleArea(t, sample) {
		t.Fatalf("%s %q (%s)", fw.Status.Phase, fw.Status.Result, fw.Status.Message)
	}
	var tasks kmv1.TaskList
	_ = env.Client.List(context.Background(), &tasks, client.InNamespace(ns))
	failed := 0
	for _, tk := range tasks.Items {
		if tk.Status.State == kmv1.TaskFailed {
			failed++
		}
	}
	if failed == 0 || len(tasks.Items) <= 4 {
		t.Errorf("%d tasks, %d failed: the crash did not make the scheduler relaunch pieces", len(tasks.Items), failed)
	}
}

// crashingExecutor fails the tasks it gets and then crashes its pod.
type crashingExecutor struct {
	framework.Executor
	once sync.Once
	pod  *corev1.Pod
}

func (c *crashingExecutor) LaunchTask(d executor.ExecutorDriver, task executorapi.TaskInfo) {
	_ = d.SendStatusUpdate(executor.TaskStatus{TaskID: task.TaskID, State: kmv1.TaskFailed, Message: "simulated executor crash"})
	c.once.Do(func() {
		go func() {
			time.Sleep(200 * time.Millisecond)
			var p corev1.Pod
			if env.Client.Get(context.Background(), client.ObjectKeyFromObject(c.pod), &p) == nil {
				p.Status.Phase = corev1.PodFailed
				_ = env.Client.Status().Update(context.Background(), &p)
			}
			_ = d.Stop()
		}()
	})
}
