package agent_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kubemesos/kubemesos/agent"
	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/restricted"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

func TestCommandTaskRunsToFinished(t *testing.T) {
	startTestMaster(t, 5*time.Second)
	addNode(t, "cmd-node")
	startTestAgent(t, "cmd-node", t.TempDir(), freeAddr(t), time.Minute, nil)
	ns := frameworkWithScheduler(t, "cmdfw")

	launchOnOffer(t, ns, "cmdfw", "cmd-node", b.MakeTask("hello", "").Resources("cpu", "500m", "memory", "64Mi").Data("payload").
		Command("busybox", "echo", "hello").Obj())
	pod := podOf(t, ns, map[string]string{kmv1.LabelTask: "hello"})
	if pod.Spec.NodeName != "cmd-node" || pod.Spec.RestartPolicy != corev1.RestartPolicyNever || len(pod.OwnerReferences) != 1 {
		t.Errorf("pod is not bound, Never-restarting and owned by its task: %+v", pod.Spec)
	}
	if cpu := pod.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; cpu.String() != "500m" {
		t.Errorf("pod requests %s cpu, want the task's 500m", cpu.String())
	}
	// What Pod Security's restricted level asks of every pod.
	if psc, sc := pod.Spec.SecurityContext, pod.Spec.Containers[0].SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot ||
		psc.RunAsUser == nil || *psc.RunAsUser != restricted.User || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault ||
		sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("executor pod security: pod %+v, container %+v", psc, sc)
	}
	for _, name := range []string{executorapi.EnvAgentEndpoint, executorapi.EnvTokenFile, executorapi.EnvFramework, executorapi.EnvExecutorID} {
		if envValue(pod, name) == "" {
			t.Errorf("pod lacks %s", name)
		}
	}
	checkTokenProjection(t, pod)
	if envValue(pod, executorapi.EnvTaskData) != "payload" {
		t.Errorf("task data not passed: %q", envValue(pod, executorapi.EnvTaskData))
	}
	waitState(t, ns, "hello", kmv1.TaskStarting)
	kubelet(t, pod, corev1.PodRunning, 0)
	tk := waitState(t, ns, "hello", kmv1.TaskRunning)
	if tk.Status.Source != kmv1.SourceAgent || tk.Status.StartTime == nil || tk.Status.PodName != pod.Name {
		t.Errorf("running status incomplete: %+v", tk.Status)
	}
	kubelet(t, pod, corev1.PodSucceeded, 0)
	tk = waitState(t, ns, "hello", kmv1.TaskFinished)
	if tk.Status.CompletionTime == nil {
		t.Error("no completionTime")
	}
	// What a user sees.
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := env.WriteKubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(testenv.Kubectl(), "--kubeconfig", kc, "get", "mtask", "-n", ns).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl get mtask: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "TASK_FINISHED") || !strings.Contains(string(out), "cmd-node") {
		t.Errorf("kubectl get mtask does not show the finished task on its agent:\n%s", out)
	}
}

// TestLongTaskNameRuns: a command task's name may be longer than a label
// value (63 characters); its pod still runs it and reports back.
func TestLongTaskNameRuns(t *testing.T) {
	startTestMaster(t, 5*time.Second)
	addNode(t, "long-node")
	startTestAgent(t, "long-node", t.TempDir(), freeAddr(t), time.Minute, nil)
	ns := frameworkWithScheduler(t, "longfw")
	name := "piece-" + strings.Repeat("x", 90)
	launchOnOffer(t, ns, "longfw", "long-node", b.MakeTask(name, "").Resources("cpu", "100m").Command("busybox", "true").Obj())
	pod := podOf(t, ns, map[string]string{kmv1.LabelFramework: "longfw", kmv1.LabelComponent: "executor"})
	if v := pod.Labels[kmv1.LabelTask]; len(v) > 63 || v == "" {
		t.Errorf("task label %q", v)
	}
	waitState(t, ns, name, kmv1.TaskStarting)
	kubelet(t, pod, corev1.PodSucceeded, 0)
	waitState(t, ns, name, kmv1.TaskFinished)
}

func TestCommandTaskFailureCarriesExitCode(t *testing.T) {
	startTestMaster(t, 5*time.Second)
	addNode(t, "fail-node")
	startTestAgent(t, "fail-node", t.TempDir(), freeAddr(t), time.Minute, nil)
	ns := frameworkWithScheduler(t, "failfw")
	launchOnOffer(t, ns, "failfw", "fail-node", b.MakeTask("boom", "").Resources("cpu", "100m").Command("busybox", "false").Obj())
	pod := podOf(t, ns, map[string]string{kmv1.LabelTask: "boom"})
	kubelet(t, pod, corev1.PodFailed, 3)
	tk := waitState(t, ns, "boom", kmv1.TaskFailed)
	if tk.Status.Reason != kmv1.ReasonCommandExecutorFailed || !strings.Contains(tk.Status.Message, "exited with code 3") {
		t.Errorf("failed status %s %q", tk.Status.Reason, tk.Status.Message)
	}
}

func TestKillCommandTask(t *testing.T) {
	ctx := context.Background()
	startTestMaster(t, 5*time.Second)
	addNode(t, "kill-node")
	startTestAgent(t, "kill-node", t.TempDir(), freeAddr(t), time.Minute, nil)
	ns := frameworkWithScheduler(t, "killfw")
	launchOnOffer(t, ns, "killfw", "kill-node", b.MakeTask("victim", "").Resources("cpu", "100m").KillGrace(7).Command("busybox", "sleep", "1000").Obj())
	pod := podOf(t, ns, map[string]string{kmv1.LabelTask: "victim"})
	kubelet(t, pod, corev1.PodRunning, 0)
	waitState(t, ns, "victim", kmv1.TaskRunning)

	tk := task(t, ns, "victim")
	patch := client.MergeFrom(tk.DeepCopy())
	tk.Spec.Kill = true
	if err := env.Client.Patch(ctx, tk, patch); err != nil {
		t.Fatal(err)
	}
	waitState(t, ns, "victim", kmv1.TaskKilling)
	var p corev1.Pod
	eventually(t, "the pod is being deleted with the task's grace period", func() bool {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(pod), &p)
		return err == nil && p.DeletionTimestamp != nil
	})
	if g := p.DeletionGracePeriodSeconds; g == nil || *g != 7 {
		t.Errorf("grace period %v, want 7", g)
	}
	// The agent tells it in an Event reported as its node, which the
	// chart's kubemesos-agent-node policy requires of it.
	var killing eventsv1.Event
	eventually(t, "the agent's Killing event", func() bool {
		var l eventsv1.EventList
		if err := env.Client.List(ctx, &l, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		for _, e := range l.Items {
			if e.Reason == "Killing" && e.Regarding.Name == "victim" {
				killing = e
				return true
			}
		}
		return false
	})
	if killing.ReportingController != agent.RecorderName || killing.ReportingInstance != "kill-node" {
		t.Errorf("the Killing event reported by %s as %s, want %s as the node kill-node", killing.ReportingController, killing.ReportingInstance, agent.RecorderName)
	}
	// The kubelet stops the container and removes the pod.
	if err := env.Client.Delete(ctx, &p, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	waitState(t, ns, "victim", kmv1.TaskKilled)
}

func TestCustomExecutorLaunchesAndReportsData(t *testing.T) {
	startTestMaster(t, 5*time.Second)
	addNode(t, "exec-node")
	startTestAgent(t, "exec-node", t.TempDir(), freeAddr(t), time.Minute, nil)
	ns := frameworkWithScheduler(t, "execfw")
	tk := b.MakeTask("piece-0", "").Resources("cpu", "1").Executor("mc", "montecarloarea").Data("0:500").Obj()
	tk.Spec.Executor.Resources = b.Resources("cpu", "100m")
	launchOnOffer(t, ns, "execfw", "exec-node", tk)
	pod := podOf(t, ns, map[string]string{kmv1.LabelExecutor: "mc"})
	if cpu := pod.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; cpu.String() != "1100m" {
		t.Errorf("executor pod requests %s cpu, want the executor's 100m plus the task's 1", cpu.String())
	}
	kubelet(t, pod, corev1.PodRunning, 0)
	ex := newTestExecutor(t, pod)
	ex.subscribe(t)
	ex.next(t, executorapi.EventSubscribed)
	launch := ex.next(t, executorapi.EventLaunch)
	if launch.Launch.Task.TaskID != "piece-0" || launch.Launch.Task.Data != "0:500" {
		t.Fatalf("LAUNCH %+v", launch.Launch)
	}
	ex.update(t, "piece-0", "TASK_RUNNING", "", "u1")
	if ack := ex.next(t, executorapi.EventAcknowledged); ack.Acknowledged.UUID != "u1" {
		t.Errorf("ACKNOWLEDGED %+v", ack.Acknowledged)
	}
	waitState(t, ns, "piece-0", kmv1.TaskRunning)
	ex.update(t, "piece-0", "TASK_FINISHED", "under=12345", "u2")
	ex.next(t, executorapi.EventAcknowledged)
	done := waitState(t, ns, "piece-0", kmv1.TaskFinished)
	if done.Status.Data != "under=12345" || done.Status.Source != kmv1.SourceExecutor {
		t.Errorf("finished status %+v", done.Status)
	}

	// A second task reuses the running executor pod.
	launchOnOffer(t, ns, "execfw", "exec-node", b.MakeTask("piece-1", "").Resources("cpu", "1").Executor("mc", "montecarloarea").Data("500:1000").Obj())
	if l := ex.next(t, executorapi.EventLaunch); l.Launch.Task.TaskID != "piece-1" {
		t.Fatalf("second LAUNCH %+v", l.Launch)
	}
	var pods corev1.PodList
	_ = env.Client.List(context.Background(), &pods, client.InNamespace(ns))
	if len(pods.Items) != 1 {
		t.Errorf("%d pods for one executor, want 1", len(pods.Items))
	}

	// A task that gives the running executor's ID another image is
	// invalid: the executor it does not describe never gets it.
	launchOnOffer(t, ns, "execfw", "exec-node", b.MakeTask("piece-2", "").Resources("cpu", "1").Executor("mc", "another-image").Obj())
	if bad := waitState(t, ns, "piece-2", kmv1.TaskError); bad.Status.Reason != kmv1.ReasonTaskInvalid || !strings.Contains(bad.Status.Message, "another-image") {
		t.Errorf("piece-2: %s %s %q, want TASK_ERROR, REASON_TASK_INVALID naming the image", bad.Status.State, bad.Status.Reason, bad.Status.Message)
	}
	select {
	case e := <-ex.events:
		if e.Type == executorapi.EventLaunch {
			t.Errorf("the executor got %+v, a task that does not describe it", e.Launch)
		}
	case <-time.After(time.Second):
	}
}

func TestExecutorAPIRefusesBadInput(t *testing.T) {
	startTestMaster(t, 5*time.Second)
	addNode(t, "api-node")
	addr := freeAddr(t)
	workDir := t.TempDir()
	startTestAgent(t, "api-node", workDir, addr, time.Minute, nil)
	ns := frameworkWithScheduler(t, "apifw")
	launchOnOffer(t, ns, "apifw", "api-node", b.MakeTask("t", "").Resources("cpu", "1").Executor("e", "img").Obj())
	pod := podOf(t, ns, map[string]string{kmv1.LabelExecutor: "e"})
	ex := newTestExecutor(t, pod)
	waitState(t, ns, "t", kmv1.TaskStaging)

	post := func(body, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+executorapi.Path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(msg)
	}
	id := `"namespace":"` + ns + `","framework":"apifw","executor_id":"e"`
	cases := []struct {
		name, body, token string
		code              int
		want              string
	}{
		{name: "malformed", body: `{"type":`, token: ex.token, code: 400, want: "malformed call"},
		{name: "unknown type", body: `{"type":"LAUNCH",` + id + `}`, token: ex.token, code: 400, want: "unknown call type"},
		{name: "no token", body: `{"type":"SUBSCRIBE",` + id + `}`, code: 401, want: "executor token"},
		{name: "wrong token", body: `{"type":"SUBSCRIBE",` + id + `}`, token: strings.Repeat("0", 64), code: 401, want: "executor token"},
		{name: "another executor's task", body: `{"type":"UPDATE","namespace":"` + ns + `","framework":"apifw","executor_id":"e","update":{"status":{"task_id":"nope","state":"TASK_RUNNING","uuid":"x"}}}`,
			token: ex.token, code: 404, want: "nope"},
		{name: "bad state", body: `{"type":"UPDATE",` + id + `,"update":{"status":{"task_id":"t","state":"DONE","uuid":"x"}}}`, token: ex.token, code: 400, want: `state "DONE"`},
		// More than a Task's status can store: refused now, not accepted
		// and then lost when the API server refuses it.
		{name: "data too large", body: `{"type":"UPDATE",` + id + `,"update":{"status":{"task_id":"t","state":"TASK_RUNNING","uuid":"x","data":"` +
			strings.Repeat("d", executorapi.MaxDataLength+1) + `"}}}`, token: ex.token, code: 400, want: "data has"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, msg := post(tc.body, tc.token)
			if code != tc.code || !strings.Contains(msg, tc.want) {
				t.Errorf("got %d %q, want %d containing %q", code, msg, tc.code, tc.want)
			}
		})
	}
	resp, err := http.Get("http://" + addr + executorapi.Path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET got %d, want 405", resp.StatusCode)
	}
	// The agent survived all of it and still serves the executor.
	ex.subscribe(t)
	ex.next(t, executorapi.EventLaunch)

	// The agent's own failure (its checkpoint cannot be written) is a 500,
	// which the executor retries, never a 400 that it would drop.
	updates := filepath.Join(workDir, "updates")
	if err := os.RemoveAll(updates); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(updates, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	good := `{"type":"UPDATE",` + id + `,"update":{"status":{"task_id":"t","state":"TASK_STARTING","uuid":"s1"}}}`
	if code, msg := post(good, ex.token); code != http.StatusInternalServerError || !strings.Contains(msg, "retry") {
		t.Errorf("an update the agent cannot checkpoint: %d %q, want 500 asking to retry", code, msg)
	}
	if err := os.Remove(updates); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(updates, 0o700); err != nil {
		t.Fatal(err)
	}
	if code, msg := post(good, ex.token); code != http.StatusAccepted {
		t.Errorf("the retried update: %d %q, want 202", code, msg)
	}
	waitState(t, ns, "t", kmv1.TaskStarting)
}

// TestExecutorThatNeverResubscribes: an executor whose stream ends while
// its task runs gets --executor-registration-timeout to subscribe again;
// then its task fails (REASON_EXECUTOR_REREGISTRATION_TIMEOUT) and its pod
// is removed, instead of the task staying RUNNING for ever.
func TestExecutorThatNeverResubscribes(t *testing.T) {
	// 6 s, not less: the pod's creation time, from which the timeout
	// runs, is whole seconds, and the executor's first SUBSCRIBE (the pod
	// found, its token, a TokenReview) must fit in what is left of it.
	ns, pod, ex := launchOnExecutorWithin(t, "gone-node", "gonefw", "g", 6*time.Second)
	ex.update(t, "g", "TASK_RUNNING", "", "r1")
	waitState(t, ns, "g", kmv1.TaskRunning)
	ex.cancel() // the stream ends, and the executor never comes back
	tk := waitState(t, ns, "g", kmv1.TaskFailed)
	if tk.Status.Reason != kmv1.ReasonExecutorReregistrationTimeout {
		t.Errorf("failed with %s %q", tk.Status.Reason, tk.Status.Message)
	}
	eventually(t, "the executor pod removed", func() bool {
		var p corev1.Pod
		err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(pod), &p)
		return apierrors.IsNotFound(err) || (err == nil && p.DeletionTimestamp != nil)
	})
}

// TestTaskStagedWhileItsExecutorSubscribesAgain: a task staged on an
// executor whose stream just ended, its pod older than
// --executor-registration-timeout, waits for the executor to subscribe
// again, as its running task does; it did not, and failed at once with the
// pod and every task on it.
func TestTaskStagedWhileItsExecutorSubscribesAgain(t *testing.T) {
	// Long enough for a launch, its admission and a new SUBSCRIBE between
	// the stream's end and the executor's return on a busy machine.
	timeout := 6 * time.Second
	ns, pod, ex := launchOnExecutorWithin(t, "again-node", "againfw", "a1", timeout)
	ex.update(t, "a1", "TASK_RUNNING", "", "r1")
	waitState(t, ns, "a1", kmv1.TaskRunning)
	time.Sleep(timeout + time.Second) // the pod is older than the timeout
	ex.cancel()
	launchOnOffer(t, ns, "againfw", "again-node", b.MakeTask("a2", "").Resources("cpu", "1").Executor("e", "img").Obj())
	waitState(t, ns, "a2", kmv1.TaskStaging)
	time.Sleep(500 * time.Millisecond) // the agent sees a2 while e is away
	again := newTestExecutor(t, pod)
	again.subscribeWith(t, &executorapi.Subscribe{})
	again.next(t, executorapi.EventLaunch)
	again.update(t, "a2", "TASK_RUNNING", "", "r2")
	waitState(t, ns, "a2", kmv1.TaskRunning)
	if tk := task(t, ns, "a1"); tk.Status.State != kmv1.TaskRunning {
		t.Errorf("a1 is %s (%s: %s), want TASK_RUNNING", tk.Status.State, tk.Status.Reason, tk.Status.Message)
	}
}

// TestTaskIsNotLaunchedAgainOnANewStream: a task whose TASK_RUNNING the
// executor sent on its stream, and which the agent's cache still shows
// TASK_STAGING when the executor subscribes again, is not launched again
// on the new stream: it reached the executor already.
func TestTaskIsNotLaunchedAgainOnANewStream(t *testing.T) {
	var stale atomic.Bool
	var staging atomic.Pointer[kmv1.Task]
	staleGet := &interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
		if tk, isTask := obj.(*kmv1.Task); isTask && key.Name == "d" && stale.Load() && staging.Load() != nil {
			staging.Load().DeepCopyInto(tk)
			return nil
		}
		return c.Get(ctx, key, obj, opts...)
	}}
	ns := stageOnExecutor(t, "dup-node", "dupfw", "d", time.Minute, staleGet)
	staging.Store(waitState(t, ns, "d", kmv1.TaskStaging))
	pod := podOf(t, ns, map[string]string{kmv1.LabelExecutor: "e"})
	ex := runExecutor(t, pod)
	stale.Store(true)
	ex.update(t, "d", "TASK_RUNNING", "", "r1")
	waitState(t, ns, "d", kmv1.TaskRunning)
	ex.cancel()
	again := newTestExecutor(t, pod)
	again.subscribeWith(t, &executorapi.Subscribe{})
	for quiet := time.After(3 * time.Second); ; {
		select {
		case ev := <-again.events:
			if ev.Type == executorapi.EventLaunch {
				t.Fatalf("the task was launched again on the new stream: %+v", ev.Launch)
			}
			continue
		case <-quiet:
		}
		break
	}
	stale.Store(false)
}

// TestPodCreateAppliedThoughItTimedOut: the executor pod's create times
// out though the API server stored the pod, while the agent's cache does
// not show the pod yet, and a retry would be refused (a quota that pod
// filled, say): the task is not failed for a pod that exists, and runs in
// it.
func TestPodCreateAppliedThoughItTimedOut(t *testing.T) {
	var creates atomic.Int32
	var first atomic.Pointer[time.Time]
	funcs := &interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		if _, isPod := obj.(*corev1.Pod); !isPod {
			return c.Create(ctx, obj, opts...)
		}
		switch creates.Add(1) {
		case 1:
			if err := c.Create(ctx, obj, opts...); err != nil {
				return err
			}
			now := time.Now()
			first.Store(&now)
			return apierrors.NewTimeoutError("the test's API server did not answer in time", 1)
		case 2:
			return apierrors.NewForbidden(corev1.Resource("pods"), obj.GetName(), errors.New("exceeded quota: the test's quota"))
		}
		return c.Create(ctx, obj, opts...)
	}, Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
		if at := first.Load(); at != nil && time.Since(*at) < 2*time.Second {
			if _, isPod := obj.(*corev1.Pod); isPod {
				// The cache has not shown the pod yet.
				return apierrors.NewNotFound(corev1.Resource("pods"), key.Name)
			}
		}
		return c.Get(ctx, key, obj, opts...)
	}}
	ns := stageOnExecutor(t, "applied-node", "appliedfw", "p", time.Minute, funcs)
	pod := podOf(t, ns, map[string]string{kmv1.LabelExecutor: "e"})
	time.Sleep(2 * time.Second) // past the cache's lag
	ex := runExecutor(t, pod)
	ex.update(t, "p", "TASK_RUNNING", "", "p1")
	waitState(t, ns, "p", kmv1.TaskRunning)
}

func TestExecutorPodFailureFailsItsTasks(t *testing.T) {
	ns, pod, ex := launchOnExecutor(t, "crash-node", "crashfw", "c")
	ex.update(t, "c", "TASK_RUNNING", "", "r1")
	waitState(t, ns, "c", kmv1.TaskRunning)
	kubelet(t, pod, corev1.PodFailed, 137)
	tk := waitState(t, ns, "c", kmv1.TaskFailed)
	if tk.Status.Reason != kmv1.ReasonExecutorTerminated {
		t.Errorf("reason %s, want %s", tk.Status.Reason, kmv1.ReasonExecutorTerminated)
	}
}

func TestExecutorRegistrationTimeout(t *testing.T) {
	startTestMaster(t, 5*time.Second)
	addNode(t, "slow-node")
	startTestAgent(t, "slow-node", t.TempDir(), freeAddr(t), time.Second, nil)
	ns := frameworkWithScheduler(t, "slowfw")
	launchOnOffer(t, ns, "slowfw", "slow-node", b.MakeTask("s", "").Resources("cpu", "1").Executor("e", "img").Obj())
	podOf(t, ns, map[string]string{kmv1.LabelExecutor: "e"})
	tk := waitState(t, ns, "s", kmv1.TaskFailed)
	if tk.Status.Reason != kmv1.ReasonExecutorRegistrationTimeout {
		t.Errorf("reason %s", tk.Status.Reason)
	}
}

// TestUpdateSurvivesAgentDeath kills the agent between an executor's UPDATE
// and the status write: the update is checkpointed, and the restarted agent
// writes it. The watch shows the task reach RUNNING exactly once.
func TestUpdateSurvivesAgentDeath(t *testing.T) {
	ctx := context.Background()
	startTestMaster(t, 5*time.Second)
	addNode(t, "rec-node")
	work, addr := t.TempDir(), freeAddr(t)
	var blocked atomic.Bool
	failWrites := &interceptor.Funcs{SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
		if _, isTask := obj.(*kmv1.Task); isTask && blocked.Load() {
			return errors.New("the API server is unreachable")
		}
		return c.SubResource(sub).Patch(ctx, obj, p, opts...)
	}}
	first := startTestAgent(t, "rec-node", work, addr, time.Minute, failWrites)
	ns := frameworkWithScheduler(t, "recfw")

	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wc.Watch(ctx, &kmv1.TaskList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var runningSeen atomic.Int32
	go func() {
		last := kmv1.TaskState("")
		for ev := range w.ResultChan() {
			if tk, ok := ev.Object.(*kmv1.Task); ok && ev.Type != watch.Deleted {
				if tk.Status.State == kmv1.TaskRunning && last != kmv1.TaskRunning {
					runningSeen.Add(1)
				}
				last = tk.Status.State
			}
		}
	}()

	launchOnOffer(t, ns, "recfw", "rec-node", b.MakeTask("r", "").Resources("cpu", "1").Executor("e", "img").Obj())
	pod := podOf(t, ns, map[string]string{kmv1.LabelExecutor: "e"})
	ex := newTestExecutor(t, pod)
	ex.subscribe(t)
	ex.next(t, executorapi.EventLaunch)

	blocked.Store(true)
	ex.update(t, "r", "TASK_RUNNING", "", "run-1") // accepted and checkpointed, not written
	time.Sleep(500 * time.Millisecond)
	if s := task(t, ns, "r").Status.State; s != kmv1.TaskStaging {
		t.Fatalf("the write went through while blocked: %s", s)
	}
	first.stop()
	ex.cancel()

	startTestAgent(t, "rec-node", work, addr, time.Minute, nil)
	waitState(t, ns, "r", kmv1.TaskRunning)

	// The executor re-attaches to the new agent, as the SDK does, with the
	// update it never saw acknowledged and the task it runs: it gets the
	// acknowledgement and no second LAUNCH.
	ex2 := newTestExecutor(t, pod)
	ex2.subscribeWith(t, &executorapi.Subscribe{UnacknowledgedTasks: []string{"r"},
		UnacknowledgedUpdates: []executorapi.TaskStatus{{TaskID: "r", State: "TASK_RUNNING", UUID: "run-1"}}})
	ex2.next(t, executorapi.EventSubscribed)
	if ack := ex2.next(t, executorapi.EventAcknowledged); ack.Acknowledged.UUID != "run-1" {
		t.Errorf("ACKNOWLEDGED %+v", ack.Acknowledged)
	}
	time.Sleep(time.Second)
	select {
	case ev := <-ex2.events:
		if ev.Type == executorapi.EventLaunch {
			t.Errorf("the task was launched again on a re-attached executor")
		}
	default:
	}
	if n := runningSeen.Load(); n != 1 {
		t.Fatalf("the task became TASK_RUNNING %d times, want exactly once", n)
	}
}

// TestReadmittedAgentKillsOldExecutors: the agent dies long enough to be
// marked Unreachable; its tasks are LOST. When it comes back the master
// re-admits it under a new agentID, and the agent kills the executor pods
// of the old one, whether it still has its checkpoint (its old agentID) or
// lost it. The old tasks stay LOST.
func TestReadmittedAgentKillsOldExecutors(t *testing.T) {
	ctx := context.Background()
	// 2 s × 2 missed pings: a heartbeat that a busy API server holds up
	// for a second must not mark the agent Unreachable before its task
	// is staged.
	startTestMaster(t, 2*time.Second)
	for _, lost := range []bool{false, true} {
		node := map[bool]string{false: "re-node", true: "re-lost-node"}[lost]
		addNode(t, node)
		work, addr := t.TempDir(), freeAddr(t)
		first := startTestAgent(t, node, work, addr, time.Minute, nil)
		fw := map[bool]string{false: "refw", true: "relostfw"}[lost]
		ns := frameworkWithScheduler(t, fw)
		launchOnOffer(t, ns, fw, node, b.MakeTask("old", "").Resources("cpu", "1").Executor("e", "img").Obj())
		pod := podOf(t, ns, map[string]string{kmv1.LabelExecutor: "e"})
		kubelet(t, pod, corev1.PodRunning, 0)
		oldID := task(t, ns, "old").Status.AgentID

		first.stop()
		waitState(t, ns, "old", kmv1.TaskLost)

		if lost {
			work = t.TempDir() // its checkpoint (the old agentID) is gone
		}
		startTestAgent(t, node, work, addr, time.Minute, nil)
		eventually(t, node+": a new agentID", func() bool {
			var a kmv1.Agent
			return env.Client.Get(ctx, client.ObjectKey{Name: node}, &a) == nil && a.Status.AgentID != "" && a.Status.AgentID != oldID && a.Status.Phase == kmv1.AgentActive
		})
		eventually(t, node+": the old executor pod is killed", func() bool {
			var p corev1.Pod
			err := env.Client.Get(ctx, client.ObjectKeyFromObject(pod), &p)
			return apierrors.IsNotFound(err) || (err == nil && p.DeletionTimestamp != nil)
		})
		time.Sleep(500 * time.Millisecond)
		if s := task(t, ns, "old").Status.State; s != kmv1.TaskLost {
			t.Errorf("%s: the old task is %s, want it to stay TASK_LOST", node, s)
		}
	}
}

// TestFrameworkTeardownShutsExecutorsDown deletes a Framework: its running
// task gets KILL, and once the executor reports TASK_KILLED the agent sends
// SHUTDOWN and removes the executor pod.
func TestFrameworkTeardownShutsExecutorsDown(t *testing.T) {
	ctx := context.Background()
	ns, pod, ex := launchOnExecutor(t, "td-node", "tdfw", "td")
	ex.update(t, "td", "TASK_RUNNING", "", "td-1")
	waitState(t, ns, "td", kmv1.TaskRunning)

	var fw kmv1.Framework
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tdfw"}, &fw); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(ctx, &fw); err != nil {
		t.Fatal(err)
	}
	if k := ex.next(t, executorapi.EventKill); k.Kill.TaskID != "td" {
		t.Fatalf("KILL %+v", k.Kill)
	}
	ex.update(t, "td", "TASK_KILLED", "", "td-2")
	waitState(t, ns, "td", kmv1.TaskKilled)
	ex.next(t, executorapi.EventShutdown)
	waitPodRemoved(t, pod)
}

// TestExecutorWithoutTasksRetiresWhenItsFrameworkEnds: the master deletes
// ended Tasks past --terminal-task-limit, so an executor may have none left
// when its framework ends; the agent finds it by its pod and retires it.
func TestExecutorWithoutTasksRetiresWhenItsFrameworkEnds(t *testing.T) {
	ctx := context.Background()
	ns, pod, ex := launchOnExecutor(t, "gc-node", "gcfw", "gc")
	ex.update(t, "gc", "TASK_FINISHED", "", "gc-1")
	done := waitState(t, ns, "gc", kmv1.TaskFinished)
	// The ended Task goes, as the master's terminal-task limit deletes it.
	if err := env.Client.Delete(ctx, done); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Task is gone", func() bool {
		return apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKeyFromObject(done), &kmv1.Task{}))
	})
	var fw kmv1.Framework
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gcfw"}, &fw); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(ctx, &fw); err != nil {
		t.Fatal(err)
	}
	ex.next(t, executorapi.EventShutdown)
	waitPodRemoved(t, pod)
}

// launchOnExecutor starts a master and an agent on node, launches task on
// framework fw's custom executor "e", and returns the framework's
// namespace, the executor pod (Running) and the executor, subscribed, with
// the task's LAUNCH read.
func launchOnExecutor(t *testing.T, node, fw, task string) (string, *corev1.Pod, *testExecutor) {
	t.Helper()
	return launchOnExecutorWithin(t, node, fw, task, time.Minute)
}

// runExecutor runs the executor of pod (as its kubelet, then as the
// executor, subscribed) and waits for its first LAUNCH.
func runExecutor(t *testing.T, pod *corev1.Pod) *testExecutor {
	t.Helper()
	kubelet(t, pod, corev1.PodRunning, 0)
	ex := newTestExecutor(t, pod)
	ex.subscribe(t)
	ex.next(t, executorapi.EventLaunch)
	return ex
}

// stageOnExecutor starts a master and node's agent (with
// --executor-registration-timeout regTimeout, its client wrapped by funcs
// when set), and launches task of fw on the custom executor e there. It
// returns fw's namespace.
func stageOnExecutor(t *testing.T, node, fw, task string, regTimeout time.Duration, funcs *interceptor.Funcs) string {
	t.Helper()
	startTestMaster(t, 5*time.Second)
	addNode(t, node)
	startTestAgent(t, node, t.TempDir(), freeAddr(t), regTimeout, funcs)
	ns := frameworkWithScheduler(t, fw)
	launchOnOffer(t, ns, fw, node, b.MakeTask(task, "").Resources("cpu", "1").Executor("e", "img").Obj())
	return ns
}

// launchOnExecutorWithin is launchOnExecutor with an agent whose
// --executor-registration-timeout is regTimeout.
func launchOnExecutorWithin(t *testing.T, node, fw, task string, regTimeout time.Duration) (string, *corev1.Pod, *testExecutor) {
	t.Helper()
	ns := stageOnExecutor(t, node, fw, task, regTimeout, nil)
	pod := podOf(t, ns, map[string]string{kmv1.LabelExecutor: "e"})
	ex := runExecutor(t, pod)
	return ns, pod, ex
}

// TestExecutorShutdownWhenAsked: the Mesos SHUTDOWN call's annotation on a
// Task of an executor shuts it down once it runs no live task, though its
// framework goes on; without it, an idle executor is kept for later tasks.
func TestExecutorShutdownWhenAsked(t *testing.T) {
	ctx := context.Background()
	ns, pod, ex := launchOnExecutor(t, "sd-node", "sdfw", "sd")
	ex.update(t, "sd", "TASK_FINISHED", "", "sd-1")
	done := waitState(t, ns, "sd", kmv1.TaskFinished)
	select {
	case e := <-ex.events:
		if e.Type == executorapi.EventShutdown {
			t.Fatal("an idle executor of a running framework was shut down unasked")
		}
	case <-time.After(time.Second):
	}
	patch := client.MergeFrom(done.DeepCopy())
	done.Annotations = map[string]string{kmv1.AnnotationShutdownExecutor: time.Now().UTC().Format(time.RFC3339)}
	if err := env.Client.Patch(ctx, done, patch); err != nil {
		t.Fatal(err)
	}
	ex.next(t, executorapi.EventShutdown)
	waitPodRemoved(t, pod)
	// The ask was for the pod that ran then: the executor's next pod,
	// created later, is kept for its task. (envtest has no kubelet to
	// finish the old pod's deletion, so it goes here.)
	if err := env.Client.Delete(ctx, pod, client.GracePeriodSeconds(0)); client.IgnoreNotFound(err) != nil {
		t.Fatal(err)
	}
	eventually(t, "the old executor pod is gone", func() bool {
		return apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKeyFromObject(pod), &corev1.Pod{}))
	})
	time.Sleep(1100 * time.Millisecond) // a pod's creation time is in whole seconds
	launchOnOffer(t, ns, "sdfw", "sd-node", b.MakeTask("sd-2", "").Resources("cpu", "1").Executor("e", "img").Obj())
	next := podOf(t, ns, map[string]string{kmv1.LabelExecutor: "e"})
	ex2 := runExecutor(t, next)
	// Idle again: only a shutdown asked after this pod began would end it.
	ex2.update(t, "sd-2", "TASK_FINISHED", "", "sd-2-1")
	waitState(t, ns, "sd-2", kmv1.TaskFinished)
	time.Sleep(2 * time.Second)
	var p corev1.Pod
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(next), &p); err != nil || p.DeletionTimestamp != nil {
		t.Errorf("the executor's new pod was removed by the old shutdown (%v)", err)
	}
}

// waitPodRemoved waits for pod to be gone or being deleted.
func waitPodRemoved(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	eventually(t, "the executor pod is removed", func() bool {
		var p corev1.Pod
		err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(pod), &p)
		return apierrors.IsNotFound(err) || (err == nil && p.DeletionTimestamp != nil)
	})
}

// TestStagedTaskWaitsForItsGoingExecutor: a task staged for an executor
// whose pod is being deleted (here held by a finalizer, as a kubelet holds
// a terminating pod) is not failed with that pod, which it never ran on:
// it waits, and once the pod is gone a fresh one runs it. The fault
// campaign saw tasks fail within a second of staging this way.
func TestStagedTaskWaitsForItsGoingExecutor(t *testing.T) {
	ctx := context.Background()
	ns, pod, ex := launchOnExecutor(t, "going-node", "goingfw", "first")
	ex.update(t, "first", "TASK_FINISHED", "", "f1")
	waitState(t, ns, "first", kmv1.TaskFinished)

	// The pod is deleted and lingers.
	const hold = "test.kubemesos.io/hold"
	var p corev1.Pod
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pod), &p); err != nil {
		t.Fatal(err)
	}
	p.Finalizers = append(p.Finalizers, hold)
	if err := env.Client.Update(ctx, &p); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(ctx, &p, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	launchOnOffer(t, ns, "goingfw", "going-node", b.MakeTask("second", "").Resources("cpu", "1").Executor("e", "img").Obj())
	waitState(t, ns, "second", kmv1.TaskStaging)
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if s := task(t, ns, "second").Status.State; s != kmv1.TaskStaging {
			tk := task(t, ns, "second")
			t.Fatalf("the task staged for a going executor became %s (%s): %s", s, tk.Status.Reason, tk.Status.Message)
		}
	}

	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pod), &p); err != nil {
		t.Fatal(err)
	}
	p.Finalizers = nil
	if err := env.Client.Update(ctx, &p); err != nil {
		t.Fatal(err)
	}
	var fresh corev1.Pod
	eventually(t, "a fresh executor pod", func() bool {
		return env.Client.Get(ctx, client.ObjectKeyFromObject(pod), &fresh) == nil && fresh.UID != pod.UID
	})
	kubelet(t, &fresh, corev1.PodRunning, 0)
	ex2 := newTestExecutor(t, &fresh)
	ex2.subscribe(t)
	if ev := ex2.next(t, executorapi.EventLaunch); ev.Launch == nil || ev.Launch.Task.TaskID != "second" {
		t.Fatalf("the fresh executor got %+v, want the LAUNCH of second", ev)
	}
}

// TestExecutorPodRefusedByTheKubelet: an executor pod the kubelet refuses at
// admission (OutOfcpu) fails the task staged on it with the kubelet's
// reason, instead of being made again and refused again while the task
// stays TASK_STAGING (the fault campaign met that loop), and the pod goes.
func TestExecutorPodRefusedByTheKubelet(t *testing.T) {
	ctx := context.Background()
	startTestMaster(t, 5*time.Second)
	addNode(t, "refuse-node")
	// The task's TASK_FAILED is held in the agent (its status writes fail)
	// until the refused pod is gone: the agent must not make the pod again
	// for a task it has ended, though the store still says TASK_STAGING.
	// Once written, the agent's cache goes on showing TASK_STAGING for a
	// while (stale): nor then.
	var blocked, stale atomic.Bool
	var staging atomic.Pointer[kmv1.Task]
	holdWrites := &interceptor.Funcs{SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
		if _, isTask := obj.(*kmv1.Task); isTask && blocked.Load() {
			return errors.New("the API server is unreachable")
		}
		return c.SubResource(sub).Patch(ctx, obj, p, opts...)
	}, Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
		if tk, isTask := obj.(*kmv1.Task); isTask && key.Name == "r" && stale.Load() && staging.Load() != nil {
			staging.Load().DeepCopyInto(tk)
			return nil
		}
		return c.Get(ctx, key, obj, opts...)
	}}
	startTestAgent(t, "refuse-node", t.TempDir(), freeAddr(t), time.Minute, holdWrites)
	ns := frameworkWithScheduler(t, "refusefw")
	launchOnOffer(t, ns, "refusefw", "refuse-node", b.MakeTask("r", "").Resources("cpu", "1").Executor("e", "img").Obj())
	pod := podOf(t, ns, map[string]string{kmv1.LabelExecutor: "e"})
	var p corev1.Pod
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pod), &p); err != nil {
		t.Fatal(err)
	}
	staging.Store(waitState(t, ns, "r", kmv1.TaskStaging))
	blocked.Store(true)
	p.Status.Phase, p.Status.Reason, p.Status.Message = corev1.PodFailed, "OutOfcpu", "Pod was rejected: Node didn't have enough resource: cpu"
	if err := env.Client.Status().Update(ctx, &p); err != nil {
		t.Fatal(err)
	}
	podGone := func() bool {
		var now corev1.Pod
		return apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKeyFromObject(pod), &now))
	}
	eventually(t, "the refused pod removed", podGone)
	// The agent looks at the task again every second while the pod is
	// gone; a pod made again would show within a few of those passes.
	for range 4 {
		time.Sleep(time.Second)
		if !podGone() {
			t.Fatal("the agent made the executor pod again for a task whose TASK_FAILED it holds")
		}
	}
	stale.Store(true)
	blocked.Store(false)
	tk := waitState(t, ns, "r", kmv1.TaskFailed)
	if tk.Status.Reason != kmv1.ReasonContainerLaunchFailed || !strings.Contains(tk.Status.Message, "OutOfcpu") {
		t.Errorf("failed with %s %q, want %s with the kubelet's reason", tk.Status.Reason, tk.Status.Message, kmv1.ReasonContainerLaunchFailed)
	}
	// An event of the task (here its annotation) while the cache shows
	// TASK_STAGING.
	if err := env.Client.Patch(ctx, tk, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"touched":"yes"}}}`))); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		time.Sleep(time.Second)
		if !podGone() {
			t.Fatal("the agent made the executor pod again for a task it ended, its cache showing TASK_STAGING")
		}
	}
	stale.Store(false)
}
