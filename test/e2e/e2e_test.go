//go:build e2e

// Package e2e runs kubemesos on the local cluster (hack/localcluster: real
// kubelets, containerd and runc), installed with its Helm chart as a user
// installs it: the demo path, master failover, a zombie leader (paused past
// its Lease, it writes nothing once resumed, by the API server's audit log),
// agent loss, bad input, a namespace that enforces Pod Security's restricted
// level, executor pods as real containers (logs, exec, the runtime's own
// view), the README's by-hand example, the pod network, and escape attempts
// (a privileged scheduler, a node's agent token used on another node).
// `make e2e` (part of `make test`) starts the cluster, runs these tests and
// stops it.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/examples/montecarloarea/area"
	"github.com/kubemesos/kubemesos/examples/montecarloarea/framework"
	"github.com/kubemesos/kubemesos/internal/resources"
	"github.com/kubemesos/kubemesos/internal/scheme"
	"github.com/kubemesos/kubemesos/internal/testenv"
	"github.com/kubemesos/kubemesos/test/chaos/invariants"
)

const systemNS = "kubemesos-system"

var (
	c          client.WithWatch
	kubeconfig string
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	kubeconfig = os.Getenv("KUBECONFIG")
	if kubeconfig == "" {
		fmt.Fprintln(os.Stderr, "KUBECONFIG is not set: run the e2e tests with `make e2e`, which starts the local cluster")
		os.Exit(1)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err == nil {
		c, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme.New()})
	}
	if err == nil {
		err = install()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		os.Exit(1)
	}
	code := m.Run()
	if code != 0 {
		printDiagnostics(os.Stdout)
	}
	os.Exit(code)
}

func run(name string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	err := cmd.Run()
	return out.String(), err
}

func kubectl(args ...string) (string, error) { return run(testenv.Kubectl(), args...) }

// install helm-installs the chart with its default image and work
// directory, and timeouts short enough for tests.
func install() error {
	// The Mesos scheduler API's anonymous namespace (mesos_framework_test.go)
	// must exist before the chart binds its role there. The agents take
	// calls without credentials from its executors too (the npm library's
	// executor sends none).
	anon := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: mesosNamespace}}
	if err := c.Create(context.Background(), anon); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", mesosNamespace, err)
	}
	out, err := run(testenv.Helm(), "upgrade", "--install", "kubemesos", filepath.Join(testenv.RepoRoot(), "charts", "kubemesos"),
		"--namespace", systemNS, "--create-namespace", "--wait", "--timeout", "5m",
		"--set", "master.leaderElection.leaseDuration="+invariants.Campaign.LeaseDuration.String(), "--set", "master.leaderElection.renewDeadline=3s",
		"--set", "master.leaderElection.retryPeriod=1s", "--set", "master.agentPingTimeout="+chaosAgentPing.String(),
		"--set", "master.maxAgentPingTimeouts="+strconv.Itoa(chaosMaxAgentPings), "--set", "agent.heartbeatInterval=1s",
		"--set", fmt.Sprintf("master.agentRemovalRateLimit=%d/%s", invariants.Campaign.AgentRemovalLimit, invariants.Campaign.AgentRemovalPeriod),
		"--set", "master.mesosAPI.anonymousNamespace="+mesosNamespace, "--set", "master.mesosAPI.commandImage=busybox:stable",
		"--set", "master.mesosAPI.heartbeatInterval=5s", "--set", "agent.executorAPI.anonymousNamespaces={"+mesosNamespace+"}")
	if err != nil {
		return fmt.Errorf("helm install: %v\n%s", err, out)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		var agents kmv1.AgentList
		if c.List(context.Background(), &agents) == nil && len(agents.Items) == 3 && countPhase(agents.Items, kmv1.AgentActive) == 3 {
			return nil
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("the three agents did not become Active")
}

func countPhase(agents []kmv1.Agent, p kmv1.AgentPhase) int {
	n := 0
	for _, a := range agents {
		if a.Status.Phase == p {
			n++
		}
	}
	return n
}

// taskLog records every transition of the tasks in a namespace and checks
// that no state ever goes backwards. A Task is told by its UID: a Mesos
// task ID launched again after its Task ended is a new Task of the same
// name (controllers/mesosapi, replaceEnded).
type taskLog struct {
	mu sync.Mutex
	// last is each name's latest state, byUID each Task's.
	last       map[string]kmv1.TaskState
	byUID      map[types.UID]kmv1.TaskState
	violations []string
	lost       map[string]bool
}

func watchTasks(t *testing.T, ns string) *taskLog {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w, err := c.Watch(ctx, &kmv1.TaskList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	tl := &taskLog{last: map[string]kmv1.TaskState{}, byUID: map[types.UID]kmv1.TaskState{}, lost: map[string]bool{}}
	go func() {
		for ev := range w.ResultChan() {
			tk, ok := ev.Object.(*kmv1.Task)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			tl.mu.Lock()
			prev := tl.byUID[tk.UID]
			if tk.Status.State.Rank() < prev.Rank() || (prev.IsTerminal() && tk.Status.State != prev) {
				tl.violations = append(tl.violations, fmt.Sprintf("%s: %s -> %s", tk.Name, prev, tk.Status.State))
			}
			if tk.Status.State == kmv1.TaskLost {
				tl.lost[tk.Name] = true
			}
			tl.last[tk.Name] = tk.Status.State
			tl.byUID[tk.UID] = tk.Status.State
			tl.mu.Unlock()
		}
	}()
	return tl
}

func (tl *taskLog) check(t *testing.T) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for _, v := range tl.violations {
		t.Errorf("a task state went backwards: %s", v)
	}
}

func newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	return newNamespaceWithLabels(t, prefix, nil)
}

func newNamespaceWithLabels(t *testing.T, prefix string, labels map[string]string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-", Labels: labels}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	// Let the framework's scheduler act, as the chart does for "default".
	rb := fmt.Sprintf(`{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"kubemesos-scheduler","namespace":%q},
"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"kubemesos-scheduler"},
"subjects":[{"kind":"ServiceAccount","name":"default","namespace":%q}]}`, ns.Name, ns.Name)
	f := filepath.Join(t.TempDir(), "rb.json")
	_ = os.WriteFile(f, []byte(rb), 0o600)
	if out, err := kubectl("apply", "-f", f); err != nil {
		t.Fatalf("binding the scheduler role: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var sa corev1.ServiceAccount
		if c.Get(context.Background(), client.ObjectKey{Namespace: ns.Name, Name: "default"}, &sa) == nil {
			return ns.Name
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("no default ServiceAccount")
	return ""
}

// montecarlo applies the sample Framework with params into ns.
func montecarlo(t *testing.T, ns string, params map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "samples", "montecarloarea.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	for k, v := range params {
		doc = replaceParam(doc, k, v)
	}
	f := filepath.Join(t.TempDir(), "mc.yaml")
	_ = os.WriteFile(f, []byte(doc), 0o600)
	if out, err := kubectl("apply", "-n", ns, "-f", f); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
}

// replaceParam sets one parameter line of the sample ("    key: value"),
// adding it under "  parameters:" when the sample has none.
func replaceParam(doc, key, value string) string {
	lines := strings.Split(doc, "\n")
	line := "    " + key + ": " + strconv.Quote(value)
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), key+":") && strings.HasPrefix(l, "    ") && !strings.HasPrefix(l, "     ") {
			lines[i] = line
			return strings.Join(lines, "\n")
		}
	}
	for i, l := range lines {
		if l == "  parameters:" {
			return strings.Join(append(lines[:i+1], append([]string{line}, lines[i+1:]...)...), "\n")
		}
	}
	return doc
}

func waitDone(t *testing.T, ns string, within time.Duration) *kmv1.Framework {
	t.Helper()
	fw, err := finished(ns, within)
	if err != nil {
		t.Fatal(err)
	}
	return fw
}

// finished waits up to within for ns's MonteCarloArea to end, Completed or
// Failed; its error says where the framework stands.
func finished(ns string, within time.Duration) (*kmv1.Framework, error) {
	deadline := time.Now().Add(within)
	var fw kmv1.Framework
	for time.Now().Before(deadline) {
		if c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "montecarloarea"}, &fw) == nil &&
			(fw.Status.Phase == kmv1.FrameworkCompleted || fw.Status.Phase == kmv1.FrameworkFailed) {
			return &fw, nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	out, _ := kubectl("get", "kubemesos", "-n", ns, "-o", "wide")
	return nil, fmt.Errorf("the framework in %s did not finish within %s: %+v\n%s", ns, within, fw.Status, out)
}

// expected is the result the oracle gives for the sample with params.
func expected(t *testing.T, params map[string]string) string {
	t.Helper()
	want, err := oracle(params)
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// expectedLater starts the oracle for params beside the run and returns
// what waits for its result: random sampling takes the oracle as long as
// the run's pieces together, which it need not add to the test's time.
func expectedLater(t *testing.T, params map[string]string) func() string {
	t.Helper()
	type answer struct {
		want string
		err  error
	}
	ch := make(chan answer, 1)
	go func() {
		want, err := oracle(params)
		ch <- answer{want, err}
	}()
	return func() string {
		t.Helper()
		a := <-ch
		if a.err != nil {
			t.Fatal(a.err)
		}
		return a.want
	}
}

// oracle computes in this process the result of the sample with params.
func oracle(params map[string]string) (string, error) {
	base := map[string]string{"expression": "2x2 + 3x", "xLow": "0", "xHigh": "10", "yLow": "0", "yHigh": "230", "points": "1000", "tasks": "4", "method": "grid"}
	for k, v := range params {
		base[k] = v
	}
	s, err := framework.ParseSettings(base, "")
	if err != nil {
		return "", fmt.Errorf("the sample's parameters %v: %w", params, err)
	}
	if s.Params.Method == area.MethodGrid {
		under, total := area.OracleCount(s.Params, 0, len(area.Columns(s.Params)))
		return area.Summarize(s.Params, under, total).String(), nil
	}
	r, err := area.Compute(s.Params)
	if err != nil {
		return "", fmt.Errorf("the oracle for %v: %w", params, err)
	}
	return r.String(), nil
}

// (a) The demo path: every task finishes, and the area is the oracle's.
func TestDemoPath(t *testing.T) {
	ns := newNamespace(t, "demo")
	tl := watchTasks(t, ns)
	montecarlo(t, ns, nil)
	fw := waitDone(t, ns, 3*time.Minute)
	if fw.Status.Phase != kmv1.FrameworkCompleted || fw.Status.Result != expected(t, nil) {
		t.Fatalf("%s %q (%s); want %q", fw.Status.Phase, fw.Status.Result, fw.Status.Message, expected(t, nil))
	}
	out, err := kubectl("get", "mtask", "-n", ns)
	if err != nil || strings.Count(out, "TASK_FINISHED") != 4 {
		t.Errorf("kubectl get mtask does not show 4 finished tasks:\n%s", out)
	}
	tl.check(t)
}

// slow are parameters whose pieces take seconds each (random sampling), so
// that a failure can strike in the middle of a run.
var slow = map[string]string{"method": "random", "points": "30000", "tasks": "6", "cpu": "1"}

// lossPieces are slow's with less than half the samples: pieces of a few
// seconds each still outlive an agent's stall, and the oracle, which
// samples as much as the whole run, takes half a minute rather than one.
var lossPieces = map[string]string{"method": "random", "points": "20000", "tasks": "6", "cpu": "1"}

func masterPods(t *testing.T) []corev1.Pod {
	var pods corev1.PodList
	if err := c.List(context.Background(), &pods, client.InNamespace(systemNS), client.MatchingLabels{"app.kubernetes.io/component": "master"}); err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

func leader(t *testing.T) string {
	var l coordinationv1.Lease
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: systemNS, Name: kmv1.MasterLeaseName}, &l); err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// (b) Master failover, the leading master's process killed mid-run, is
// the short fault campaign's (TestChaos, run by make e2e after this suite):
// it kills the leader twice among its other faults while MonteCarloArea runs
// whose exact results it checks, and judges every task's states from its
// record.

// killLeader kills the leading master's process (SIGKILL) and returns the
// Lease holder it was.
func killLeader(t *testing.T) string {
	t.Helper()
	holder := leader(t)
	// The holder identity is the leader's hostname, its pod's name, and a
	// unique suffix.
	victim, _, _ := strings.Cut(holder, "_")
	var pod corev1.Pod
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: systemNS, Name: victim}, &pod); err != nil {
		t.Fatalf("the leader %q is not a master pod: %v", holder, err)
	}
	pid := containerPid(t, &pod, "master")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("killing the leader's process %d: %v", pid, err)
	}
	return holder
}

// containerPid returns the main process of a pod's container (see
// podPid), and fails the test when it cannot.
func containerPid(t *testing.T, pod *corev1.Pod, container string) int {
	t.Helper()
	pid, err := podPid(pod, container)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// podPid returns the main process of a pod's container ("" for its
// first), from the container's cgroup on the local cluster's node (the
// kubelet's cgroupRoot is /kubemesos/<node>; the container's cgroup is
// pod<uid>/<container id>).
func podPid(pod *corev1.Pod, container string) (int, error) {
	var id string
	for _, cs := range pod.Status.ContainerStatuses {
		if (cs.Name == container || container == "") && cs.State.Running != nil {
			_, id, _ = strings.Cut(cs.ContainerID, "://")
			break
		}
	}
	if id == "" {
		return 0, fmt.Errorf("pod %s has no running container %q", pod.Name, container)
	}
	base := filepath.Join("/sys/fs/cgroup/pids/kubemesos", pod.Spec.NodeName, "kubepods")
	var procs []string
	for _, pattern := range []string{"pod%s/%s/cgroup.procs", "*/pod%s/%s/cgroup.procs"} {
		m, _ := filepath.Glob(filepath.Join(base, fmt.Sprintf(pattern, pod.UID, id)))
		procs = append(procs, m...)
	}
	if len(procs) != 1 {
		return 0, fmt.Errorf("the cgroup of %s/%s (%s) was not found under %s: %v", pod.Name, container, id, base, procs)
	}
	raw, err := os.ReadFile(procs[0])
	if err != nil {
		return 0, err
	}
	pids := strings.Fields(string(raw))
	if len(pids) == 0 {
		return 0, fmt.Errorf("no process in %s", procs[0])
	}
	return strconv.Atoi(pids[0])
}

// (c) Agent loss: one agent stalls (SIGSTOP) past the timeout. Its tasks
// become TASK_LOST. It resumes, comes back as a new agent, the pieces are
// launched again, the area is exact, and its old tasks stay LOST.
func TestAgentLoss(t *testing.T) {
	ns := newNamespace(t, "loss")
	tl := watchTasks(t, ns)
	montecarlo(t, ns, lossPieces)
	want := expectedLater(t, lossPieces)
	// Wait for a running task and stall its agent.
	var node string
	deadline := time.Now().Add(time.Minute)
	for node == "" && time.Now().Before(deadline) {
		var tasks kmv1.TaskList
		_ = c.List(context.Background(), &tasks, client.InNamespace(ns))
		for _, tk := range tasks.Items {
			if tk.Status.State == kmv1.TaskRunning {
				node = tk.Status.NodeName
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if node == "" {
		t.Fatal("no task ran")
	}
	var old kmv1.Agent
	_ = c.Get(context.Background(), client.ObjectKey{Name: node}, &old)
	var agentPod *corev1.Pod
	var pods corev1.PodList
	_ = c.List(context.Background(), &pods, client.InNamespace(systemNS), client.MatchingLabels{"app.kubernetes.io/component": "agent"})
	for i, p := range pods.Items {
		if p.Spec.NodeName == node {
			agentPod = &pods.Items[i]
		}
	}
	if agentPod == nil {
		t.Fatalf("no agent pod on %s", node)
	}
	pid := containerPid(t, agentPod, "agent")
	// Stalled, the agent also fails its liveness probe: the kubelet may
	// restart it before it is resumed, as it would on any node.
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	defer resume()
	wait(t, "the agent to be Unreachable", 2*time.Minute, func() bool {
		var a kmv1.Agent
		return c.Get(context.Background(), client.ObjectKey{Name: node}, &a) == nil && a.Status.Phase == kmv1.AgentUnreachable
	})
	// The master lost its tasks before it marked it (the watch may show
	// that a moment later).
	wait(t, "a task of the agent to be TASK_LOST", 30*time.Second, func() bool {
		tl.mu.Lock()
		defer tl.mu.Unlock()
		return len(tl.lost) > 0
	})
	// The agent resumes mid-run: it comes back as a new agent, and the
	// run goes on over all three nodes.
	resume()
	wait(t, "the agent to come back as a new agent", 2*time.Minute, func() bool {
		var a kmv1.Agent
		return c.Get(context.Background(), client.ObjectKey{Name: node}, &a) == nil && a.Status.Phase == kmv1.AgentActive &&
			a.Status.AgentID != old.Status.AgentID
	})
	fw := waitDone(t, ns, 4*time.Minute)
	if w := want(); fw.Status.Phase != kmv1.FrameworkCompleted || fw.Status.Result != w {
		t.Fatalf("after agent loss: %s %q (%s); want %q", fw.Status.Phase, fw.Status.Result, fw.Status.Message, w)
	}
	tl.mu.Lock()
	for name := range tl.lost {
		if tl.last[name] != kmv1.TaskLost {
			t.Errorf("lost task %s became %s", name, tl.last[name])
		}
	}
	tl.mu.Unlock()
	tl.check(t)
}

func wait(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// (d) Bad input is refused, or ends Failed with a readable message, and
// the master and the agents keep running.
func TestBadInput(t *testing.T) {
	ns := newNamespace(t, "bad")
	restarts := func() int32 {
		var pods corev1.PodList
		_ = c.List(context.Background(), &pods, client.InNamespace(systemNS))
		var n int32
		for _, p := range pods.Items {
			for _, cs := range p.Status.ContainerStatuses {
				n += cs.RestartCount
			}
		}
		return n
	}
	before := restarts()
	for _, tc := range []struct{ manifest, want string }{
		{"apiVersion: kubemesos.io/v1alpha1\nkind: Framework\nmetadata: {name: badrole}\nspec: {role: \"Not A Role\"}\n", "spec.role"},
		{"apiVersion: kubemesos.io/v1alpha1\nkind: Task\nmetadata: {name: badtask}\nspec: {framework: x, offerIDs: [o], resources: {cpu: \"-1\"}}\n", "exactly one of command or executor"},
	} {
		f := filepath.Join(t.TempDir(), "bad.yaml")
		_ = os.WriteFile(f, []byte(tc.manifest), 0o600)
		out, err := kubectl("apply", "-n", ns, "-f", f)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("kubectl apply of a bad object: err %v, output %q; want a refusal naming %q", err, out, tc.want)
		}
	}
	montecarlo(t, ns, map[string]string{"expression": "2x2 + 3y"})
	fw := waitDone(t, ns, 2*time.Minute)
	if fw.Status.Phase != kmv1.FrameworkFailed || !strings.Contains(fw.Status.Message, "3y") {
		t.Errorf("a bad expression ended %s with %q; want Failed naming the term", fw.Status.Phase, fw.Status.Message)
	}
	if after := restarts(); after != before {
		t.Errorf("kubemesos pods restarted %d times during bad input", after-before)
	}
}

// (e) Pod Security: in a namespace that enforces the restricted level, a
// privileged pod is refused by the API server, and MonteCarloArea runs to
// its exact result: the scheduler pod (from the sample's template) and the
// executor pods (made by the agent) are all admitted.
func TestRestrictedNamespace(t *testing.T) {
	ns := newNamespaceWithLabels(t, "restricted", map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"})
	priv := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "privileged", Namespace: ns}, Spec: corev1.PodSpec{HostNetwork: true,
		Containers: []corev1.Container{{Name: "c", Image: "busybox:stable", Command: []string{"true"}}}}}
	if err := c.Create(context.Background(), priv); err == nil || !strings.Contains(err.Error(), "violates PodSecurity") {
		t.Fatalf("a host-network pod in a restricted namespace: %v; want a PodSecurity refusal", err)
	}
	tl := watchTasks(t, ns)
	montecarlo(t, ns, nil)
	fw := waitDone(t, ns, 3*time.Minute)
	if fw.Status.Phase != kmv1.FrameworkCompleted || fw.Status.Result != expected(t, nil) {
		t.Fatalf("in a restricted namespace: %s %q (%s); want %q", fw.Status.Phase, fw.Status.Result, fw.Status.Message, expected(t, nil))
	}
	tl.check(t)
}

// (f) Executor pods are real containers: kubectl exec runs in one, its
// node's containerd lists it, kubectl logs reads it; deleting the
// Framework mid-run takes them away.
func TestExecutorPodsAreContainers(t *testing.T) {
	ns := newNamespace(t, "containers")
	montecarlo(t, ns, slow)
	var pod corev1.Pod
	wait(t, "a running task's executor pod", 2*time.Minute, func() bool {
		var tasks kmv1.TaskList
		_ = c.List(context.Background(), &tasks, client.InNamespace(ns))
		for _, tk := range tasks.Items {
			if tk.Status.State == kmv1.TaskRunning && tk.Status.PodName != "" &&
				c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: tk.Status.PodName}, &pod) == nil &&
				len(pod.Status.ContainerStatuses) == 1 && pod.Status.ContainerStatuses[0].State.Running != nil {
				return true
			}
		}
		return false
	})
	if out, err := kubectl("exec", "-n", ns, pod.Name, "--", "kubemesos", "version"); err != nil || !strings.HasPrefix(out, "kubemesos ") {
		t.Errorf("kubectl exec in executor pod %s: %v\n%s", pod.Name, err, out)
	}
	if out, err := kubectl("logs", "-n", ns, pod.Name); err != nil {
		t.Errorf("kubectl logs of executor pod %s: %v\n%s", pod.Name, err, out)
	}
	_, id, _ := strings.Cut(pod.Status.ContainerStatuses[0].ContainerID, "://")
	socket := filepath.Join("/run/kubemesos", pod.Spec.NodeName, "containerd.sock")
	if out, err := run("ctr", "--address", socket, "--namespace", "k8s.io", "tasks", "ls"); err != nil || !strings.Contains(out, id) {
		t.Errorf("ctr tasks ls on %s does not list executor container %s: %v\n%s", pod.Spec.NodeName, id, err, out)
	}
	if pid := containerPid(t, &pod, "executor"); pid <= 0 {
		t.Errorf("no process for executor container %s", id)
	}
	// The run is not needed to its end (the other cases check areas):
	// deleting the Framework tears it down, its executor pods with it.
	if err := c.Delete(context.Background(), &kmv1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "montecarloarea"}}); err != nil {
		t.Fatal(err)
	}
	wait(t, "the deleted framework's executor pods to go", 2*time.Minute, func() bool {
		var pods corev1.PodList
		return c.List(context.Background(), &pods, client.InNamespace(ns), client.HasLabels{kmv1.LabelExecutor}) == nil && len(pods.Items) == 0
	})
}

// (g) The README's "Talking to the master with kubectl" runs as written:
// its manifests are read from the README, the placeholders filled in.
func TestReadmeByHandExample(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := string(raw)
	if i := strings.Index(section, "## Talking to the master with kubectl"); i >= 0 {
		section = section[i:]
	} else {
		t.Fatal("README.md has no section \"Talking to the master with kubectl\"")
	}
	block := section[strings.Index(section, "```sh\n")+6:]
	block = block[:strings.Index(block, "```")]
	var docs []string
	for _, m := range regexp.MustCompile(`(?s)<<'?YAML'?\n(.*?\n)YAML\n`).FindAllStringSubmatch(block, -1) {
		docs = append(docs, m[1])
	}
	if len(docs) != 3 {
		t.Fatalf("want the Framework, the Lease and the Task manifests in the README's example, found %d", len(docs))
	}
	apply := func(doc string) {
		t.Helper()
		f := filepath.Join(t.TempDir(), "doc.yaml")
		_ = os.WriteFile(f, []byte(doc), 0o600)
		if out, err := kubectl("apply", "-n", "default", "-f", f); err != nil {
			t.Fatalf("kubectl apply:\n%s\n%v\n%s", doc, err, out)
		}
	}
	t.Cleanup(func() { _, _ = kubectl("delete", "-n", "default", "mfw", "byhand", "--wait=false") })
	apply(docs[0])
	apply(strings.ReplaceAll(docs[1], "$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)", time.Now().UTC().Format("2006-01-02T15:04:05.000000Z")))
	// As the README says, an offer with room for the task: an agent whose
	// node still stops an earlier test's pods offers less.
	var hello kmv1.Task
	if err := yaml.UnmarshalStrict([]byte(docs[2]), &hello); err != nil {
		t.Fatalf("the README's Task: %v", err)
	}
	var offer string
	wait(t, "an offer to byhand with room for the task", time.Minute, func() bool {
		var offers kmv1.OfferList
		_ = c.List(context.Background(), &offers, client.InNamespace("default"), client.MatchingLabels{kmv1.LabelFramework: "byhand"})
		for _, o := range offers.Items {
			if resources.Fits(hello.Spec.Resources.Core(), o.Spec.Resources.Core()) {
				offer = o.Name
			}
		}
		return offer != ""
	})
	apply(strings.ReplaceAll(docs[2], "<offer-name>", offer))
	var task kmv1.Task
	wait(t, "the task hello to finish", 2*time.Minute, func() bool {
		return c.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "hello"}, &task) == nil && task.Status.State.IsTerminal()
	})
	if task.Status.State != kmv1.TaskFinished {
		t.Fatalf("task hello ended %s: %s", task.Status.State, task.Status.Message)
	}
	if out, err := kubectl("logs", "-n", "default", task.Status.PodName); err != nil || strings.TrimSpace(out) != "hello" {
		t.Errorf("kubectl logs %s: %v %q; want hello", task.Status.PodName, err, out)
	}
	if out, err := kubectl("delete", "-n", "default", "mfw", "byhand", "--timeout=2m"); err != nil {
		t.Errorf("deleting the framework: %v\n%s", err, out)
	}
}

// (h) The pod network: a pod on one node reaches another node's
// host-network agent (its health endpoint on the node's address) and the
// API server through the kubernetes Service address.
func TestPodNetwork(t *testing.T) {
	ctx := context.Background()
	var nodes corev1.NodeList
	if err := c.List(ctx, &nodes); err != nil || len(nodes.Items) < 2 {
		t.Fatalf("want two nodes: %v", err)
	}
	other := ""
	for _, a := range nodes.Items[1].Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			other = a.Address
		}
	}
	// nc, not wget: the static busybox's wget crashes on http URLs.
	script := fmt.Sprintf(`printf 'GET /healthz HTTP/1.0\r\n\r\n' | nc -w 5 %s 5052 && echo && nc -w 5 $KUBERNETES_SERVICE_HOST $KUBERNETES_SERVICE_PORT </dev/null && echo api-reachable`, other)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "netcheck-", Namespace: "default"}, Spec: corev1.PodSpec{
		NodeName: nodes.Items[0].Name, RestartPolicy: corev1.RestartPolicyNever, AutomountServiceAccountToken: ptr.To(false),
		Containers: []corev1.Container{{Name: "c", Image: "busybox:stable", Command: []string{"sh", "-c", script}}}}}
	if err := c.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Delete(ctx, pod) })
	wait(t, "the network check pod to end", 2*time.Minute, func() bool {
		return c.Get(ctx, client.ObjectKeyFromObject(pod), pod) == nil && (pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed)
	})
	out, _ := kubectl("logs", "-n", "default", pod.Name)
	if pod.Status.Phase != corev1.PodSucceeded || !strings.Contains(out, "200 OK") || !strings.Contains(out, "api-reachable") {
		t.Errorf("from %s: the agent on %s (%s) or the API server unreachable: %s\n%s", nodes.Items[0].Name, nodes.Items[1].Name, other, pod.Status.Phase, out)
	}
}
