package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers"
	b "github.com/kubemesos/kubemesos/internal/builders"
)

const systemNS = "kubemesos-system"

func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func existsSelector(key string) labels.Selector {
	req, _ := labels.NewRequirement(key, selection.Exists, nil)
	return labels.NewSelector().Add(*req)
}

// startTestMaster runs a master with short timeouts until the test ends.
// An agent whose Lease is older than 2 × ping becomes Unreachable.
func startTestMaster(t *testing.T, ping time.Duration) {
	t.Helper()
	ensureNamespace(t, systemNS)
	o := controllers.DefaultOptions()
	o.SystemNamespace = systemNS
	o.AllocationInterval = 200 * time.Millisecond
	o.AcceptWindow = 300 * time.Millisecond
	o.AgentPingTimeout = ping
	o.MaxAgentPingTimeouts = 2
	o.AgentRemovalRate = 0
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme: env.Client.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}:           {Label: existsSelector(kmv1.LabelFramework)},
			&coordinationv1.Lease{}: {Label: existsSelector(kmv1.LabelLease)},
		}},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := controllers.New(mgr.GetClient(), clock.RealClock{}, mgr.GetEventRecorder("kubemesos-master"), o)
	if err := m.SetupWithManager(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = mgr.Start(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// testAgent is a running agent process, in this test process.
type testAgent struct {
	agent *Agent
	stop  func()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startTestAgent runs an agent for node with the CLI's cache layout. A
// non-nil wrap changes its client, for example to fail writes.
func startTestAgent(t *testing.T, node, workDir, addr string, regTimeout time.Duration, funcs *interceptor.Funcs) *testAgent {
	t.Helper()
	own := fields.OneTermEqualSelector("metadata.name", node)
	newClient := func(cfg *rest.Config, o client.Options) (client.Client, error) {
		c, err := client.NewWithWatch(cfg, o)
		if err != nil || funcs == nil {
			return c, err
		}
		return interceptor.NewClient(c, *funcs), nil
	}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme: env.Client.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"},
		NewClient: newClient,
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Node{}:    {Field: own},
			&kmv1.Agent{}:     {Field: own},
			&corev1.Pod{}:     {Field: fields.OneTermEqualSelector("spec.nodeName", node)},
			&kmv1.Task{}:      {Field: fields.OneTermEqualSelector("status.nodeName", node)},
			&eventsv1.Event{}: {Label: MessageSelector(node)},
			&coordinationv1.Lease{}: {Namespaces: map[string]cache.Config{systemNS: {}},
				Field: fields.OneTermEqualSelector("metadata.name", kmv1.AgentLeaseName(node))},
		}},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &corev1.Pod{}, "spec.nodeName", func(o client.Object) []string {
		return []string{o.(*corev1.Pod).Spec.NodeName}
	}); err != nil {
		t.Fatal(err)
	}
	a, err := New(mgr.GetClient(), clock.RealClock{}, mgr.GetEventRecorder("kubemesos-agent"), Options{
		NodeName: node, Endpoint: addr, Listen: addr, WorkDir: workDir, LeaseNamespace: systemNS,
		HeartbeatInterval: 200 * time.Millisecond, ExecutorRegistrationTimeout: regTimeout,
	}, ctrl.Log.WithName("agent-"+node))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := a.SetupWithManager(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = mgr.Start(ctx); close(done) }()
	var once sync.Once
	ta := &testAgent{agent: a, stop: func() { once.Do(func() { cancel(); <-done }) }}
	t.Cleanup(ta.stop)
	return ta
}

// addNode creates a Node with allocatable resources.
func addNode(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := env.Client.Create(ctx, n); err != nil {
		t.Fatal(err)
	}
	n.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")}
	if err := env.Client.Status().Update(ctx, n); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.Client.Delete(ctx, n)
		_ = env.Client.Delete(ctx, &kmv1.Agent{ObjectMeta: metav1.ObjectMeta{Name: name}})
	})
}

// frameworkWithScheduler creates a framework in a new namespace with a
// renewed scheduler Lease.
func frameworkWithScheduler(t *testing.T, name string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "agent-it-"}}
	if err := env.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, b.MakeFramework(name, ns.Name).RefuseSeconds(0).Obj()); err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: ns.Name, Name: kmv1.SchedulerLeaseName(name)}
	go func() {
		for ctx.Err() == nil {
			now := metav1.NewMicroTime(time.Now())
			var l coordinationv1.Lease
			if err := env.Client.Get(ctx, key, &l); apierrors.IsNotFound(err) {
				l = coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: map[string]string{kmv1.LabelLease: kmv1.LeaseKindScheduler}},
					Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("test"), LeaseDurationSeconds: ptr.To(int32(5)), RenewTime: &now}}
				_ = env.Client.Create(ctx, &l)
			} else if err == nil {
				l.Spec.RenewTime = &now
				_ = env.Client.Update(ctx, &l)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}()
	return ns.Name
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
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
	var offer kmv1.Offer
	eventually(t, "an offer", func() bool {
		var l kmv1.OfferList
		_ = env.Client.List(context.Background(), &l, client.InNamespace(ns))
		for _, o := range l.Items {
			if o.DeletionTimestamp == nil && o.Spec.NodeName == node {
				offer = o
				return true
			}
		}
		return false
	})
	tk.Namespace = ns
	tk.Spec.Framework = kmv1.ObjectName(fw)
	tk.Spec.OfferIDs = []string{offer.Name}
	if err := env.Client.Create(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
}

func waitState(t *testing.T, ns, name string, s kmv1.TaskState) *kmv1.Task {
	t.Helper()
	eventually(t, name+" "+string(s), func() bool { return task(t, ns, name).Status.State == s })
	return task(t, ns, name)
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
	key             ExecutorKey
	events          chan executorapi.Event
	cancel          func()
}

func newTestExecutor(pod *corev1.Pod) *testExecutor {
	return &testExecutor{endpoint: envValue(pod, executorapi.EnvAgentEndpoint), token: envValue(pod, executorapi.EnvToken),
		key:    ExecutorKey{Namespace: envValue(pod, executorapi.EnvNamespace), Framework: envValue(pod, executorapi.EnvFramework), ExecutorID: envValue(pod, executorapi.EnvExecutorID)},
		events: make(chan executorapi.Event, 100)}
}

func (e *testExecutor) post(ctx context.Context, c executorapi.Call) (*http.Response, error) {
	c.Namespace, c.Framework, c.ExecutorID = e.key.Namespace, e.key.Framework, e.key.ExecutorID
	body, _ := json.Marshal(c)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+e.endpoint+executorapi.Path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/json")
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
