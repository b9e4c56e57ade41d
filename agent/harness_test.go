package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kubemesos/kubemesos/agent"
	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/inprocess"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

const systemNS = inprocess.SystemNamespace

// startTestMaster runs a master with short timeouts until the test ends.
// An agent whose Lease is older than 2 × ping becomes Unreachable.
func startTestMaster(t *testing.T, ping time.Duration) {
	t.Helper()
	o := inprocess.MasterOptions()
	o.AgentPingTimeout = ping
	inprocess.StartMaster(t, env.Config, o)
}

// testAgent is a running agent, in this test process.
type testAgent struct{ stop func() }

// startTestAgent runs an agent for node. Non-nil funcs change its client,
// for example to fail writes.
func startTestAgent(t *testing.T, node, workDir, addr string, regTimeout time.Duration, funcs *interceptor.Funcs) *testAgent {
	t.Helper()
	return &testAgent{stop: inprocess.RunAgent(t, env.Config, inprocess.AgentConfig{
		Node: node, WorkDir: workDir, Addr: addr, RegistrationTimeout: regTimeout, Intercept: funcs})}
}

func freeAddr(t *testing.T) string { return inprocess.FreeAddr(t) }

func addNode(t *testing.T, name string) { inprocess.Node(t, env.Client, name, "4", "8Gi") }

// frameworkWithScheduler creates a framework in a new namespace with a
// renewed scheduler Lease. When the test ends the Lease is released, as
// a scheduler that exits releases it: a framework still connected would
// take the offers of the next test's master for its Lease's 5 seconds.
func frameworkWithScheduler(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "agent-it-"}}
	if err := env.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, b.MakeFramework(name, ns.Name).RefuseSeconds(0).Obj()); err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: ns.Name, Name: kmv1.SchedulerLeaseName(name)}
	inprocess.HoldLease(t, env.Client, key, inprocess.LeaseHold{Kind: kmv1.LeaseKindScheduler, Duration: 5 * time.Second,
		Every: 500 * time.Millisecond, Release: true})
	return ns.Name
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, what, 30*time.Second, cond)
}

func task(t *testing.T, ns, name string) *kmv1.Task {
	t.Helper()
	var tk kmv1.Task
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &tk); err != nil {
		t.Fatal(err)
	}
	return &tk
}

// launchOnOffer waits for an offer to fw on node and creates the task on it.
func launchOnOffer(t *testing.T, ns, fw, node string, tk *kmv1.Task) {
	t.Helper()
	launchAllOnOffer(t, ns, fw, node, []*kmv1.Task{tk})
}

// launchAllOnOffer creates tasks on one offer of fw on node that no Task
// names yet. An offer that an earlier launch used is passed over: its
// accept window ran from that launch's admission, and once it is over the
// master drops a task on it (TASK_DROPPED), though the Offer may still be
// listed until the master deletes it, later under load.
func launchAllOnOffer(t *testing.T, ns, fw, node string, tasks []*kmv1.Task) {
	t.Helper()
	var offer kmv1.Offer
	eventually(t, "an offer that no task uses", func() bool {
		var l kmv1.OfferList
		var used kmv1.TaskList
		if env.Client.List(context.Background(), &l, client.InNamespace(ns)) != nil ||
			env.Client.List(context.Background(), &used, client.InNamespace(ns)) != nil {
			return false
		}
		for _, o := range l.Items {
			if o.DeletionTimestamp == nil && o.Spec.NodeName == node &&
				!slices.ContainsFunc(used.Items, func(tk kmv1.Task) bool { return slices.Contains(tk.Spec.OfferIDs, o.Name) }) {
				offer = o
				return true
			}
		}
		return false
	})
	for _, tk := range tasks {
		tk.Namespace, tk.Spec.Framework, tk.Spec.OfferIDs = ns, kmv1.ObjectName(fw), []string{offer.Name}
		// As the SDK says it: the offer waits for all of them.
		tk.Annotations = kmv1.SetLaunchTasks(tk.Annotations, len(tasks))
		if err := env.Client.Create(context.Background(), tk); err != nil {
			t.Fatal(err)
		}
	}
}

func waitState(t *testing.T, ns, name string, s kmv1.TaskState) *kmv1.Task {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		tk := task(t, ns, name)
		if tk.Status.State == s {
			return tk
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s %s: it is %q (%s, %s): %s", name, s, tk.Status.State, tk.Status.Source, tk.Status.Reason, tk.Status.Message)
		}
	}
}

// podOf waits for the pod the agent made for a task and returns it.
func podOf(t *testing.T, ns string, sel map[string]string) *corev1.Pod {
	t.Helper()
	var pod corev1.Pod
	eventually(t, "the executor pod", func() bool {
		var l corev1.PodList
		_ = env.Client.List(context.Background(), &l, client.InNamespace(ns), client.MatchingLabels(sel))
		if len(l.Items) == 1 {
			pod = l.Items[0]
			return true
		}
		return false
	})
	return &pod
}

// kubelet sets a pod's phase (and exit code) as a kubelet would.
func kubelet(t *testing.T, pod *corev1.Pod, phase corev1.PodPhase, exit int32) {
	t.Helper()
	ctx := context.Background()
	var p corev1.Pod
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pod), &p); err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = phase
	if phase == corev1.PodSucceeded || phase == corev1.PodFailed {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: p.Spec.Containers[0].Name, State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: exit, Reason: map[bool]string{true: "Completed", false: "Error"}[exit == 0]}}}}
	}
	if err := env.Client.Status().Update(ctx, &p); err != nil {
		t.Fatal(err)
	}
}

func envValue(p *corev1.Pod, name string) string {
	for _, e := range p.Spec.Containers[0].Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// testExecutor is a custom executor speaking the executor API from outside
// the agent, as an executor pod would, with the settings of its pod.
type testExecutor struct {
	endpoint, token string
	key             agent.ExecutorKey
	events          chan executorapi.Event
	cancel          func()
}

// newTestExecutor speaks for pod, with the token that the kubelet would
// mount into it.
func newTestExecutor(t *testing.T, pod *corev1.Pod) *testExecutor {
	t.Helper()
	token, err := inprocess.ExecutorToken(context.Background(), env.Client, pod)
	if err != nil {
		t.Fatal(err)
	}
	return &testExecutor{endpoint: envValue(pod, executorapi.EnvAgentEndpoint), token: token,
		key:    agent.ExecutorKey{Namespace: envValue(pod, executorapi.EnvNamespace), Framework: envValue(pod, executorapi.EnvFramework), ExecutorID: envValue(pod, executorapi.EnvExecutorID)},
		events: make(chan executorapi.Event, 100)}
}

func (e *testExecutor) post(ctx context.Context, c executorapi.Call) (*http.Response, error) {
	c.Namespace, c.Framework, c.ExecutorID = e.key.Namespace, e.key.Framework, e.key.ExecutorID
	body, _ := json.Marshal(c)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+e.endpoint+executorapi.Path, bytes.NewReader(body))
	if e.token != "" { // else a call without credentials
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	req.Header.Set("Content-Type", executorapi.MediaType)
	return http.DefaultClient.Do(req)
}

// subscribe opens the event stream and feeds e.events.
func (e *testExecutor) subscribe(t *testing.T) { e.subscribeWith(t, nil) }

// subscribeWith subscribes with what the executor already knows.
func (e *testExecutor) subscribeWith(t *testing.T, s *executorapi.Subscribe) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	t.Cleanup(cancel)
	resp, err := e.post(ctx, executorapi.Call{Type: executorapi.CallSubscribe, Subscribe: s})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("SUBSCRIBE: %s", resp.Status)
	}
	go func() {
		defer resp.Body.Close()
		rr := executorapi.NewRecordReader(resp.Body)
		for {
			var ev executorapi.Event
			if err := rr.Read(&ev); err != nil {
				return
			}
			e.events <- ev
		}
	}()
}

func (e *testExecutor) next(t *testing.T, want executorapi.EventType) executorapi.Event {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev := <-e.events:
			if ev.Type == want {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event", want)
		}
	}
}

func (e *testExecutor) update(t *testing.T, taskID, state, data, uuid string) {
	t.Helper()
	resp, err := e.post(context.Background(), executorapi.Call{Type: executorapi.CallUpdate,
		Update: &executorapi.UpdateCall{Status: executorapi.TaskStatus{TaskID: taskID, State: state, Data: data, UUID: uuid}}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("UPDATE %s: %s", state, resp.Status)
	}
}
