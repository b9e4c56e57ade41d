package agent

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/scheme"
)

// TestStoppingAgentLogsNoError: a beat whose requests the agent's stop
// cancels is not reported as a failure (a thousand hollow agents logged
// "renewing the heartbeat Lease ... context canceled" with a stack trace
// each at the end of every scale run), while a failed beat of a running
// agent still is.
func TestStoppingAgentLogsNoError(t *testing.T) {
	for _, tc := range []struct {
		name     string
		stopping bool
		want     int
	}{
		{name: "stopping", stopping: true, want: 0},
		{name: "running", stopping: false, want: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			logged := make(chan string, 10)
			fail := func(context.Context) error {
				if tc.stopping {
					cancel()
					return context.Canceled
				}
				return errors.New("the API server is unavailable")
			}
			c := fake.NewClientBuilder().WithScheme(scheme.New()).WithInterceptorFuncs(interceptor.Funcs{
				Get: func(ctx context.Context, _ client.WithWatch, _ client.ObjectKey, _ client.Object, _ ...client.GetOption) error {
					return fail(ctx)
				},
			}).Build()
			clk := clocktesting.NewFakeClock(time.Now())
			sink := funcr.New(func(string, string) {}, funcr.Options{}).GetSink()
			r := &registration{
				registrar: &Registrar{Client: c, Clock: clk, NodeName: "n", LeaseNamespace: "kubemesos-system", Interval: time.Second},
				client:    c, clock: clk, id: &identity{},
				log: logr.New(&errorSink{LogSink: sink, record: func(m string) { logged <- m }}),
			}
			done := make(chan struct{})
			go func() { defer close(done); r.run(ctx) }()
			var errs []string
			if !tc.stopping {
				// One beat's three steps fail: wait for their reports,
				// then stop.
				for range tc.want {
					select {
					case e := <-logged:
						errs = append(errs, e)
					case <-time.After(10 * time.Second):
						t.Fatalf("logged %q, want %d errors", errs, tc.want)
					}
				}
				cancel()
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the registration loop did not end with its context")
			}
			close(logged)
			for e := range logged {
				errs = append(errs, e)
			}
			if len(errs) != tc.want {
				t.Errorf("logged %d errors %q, want %d", len(errs), errs, tc.want)
			}
		})
	}
}

// syncableClient is a fake client, with funcs, on which a Registrar can
// sync the Agent of node "n": the Node exists and pods are indexed by node.
func syncableClient(funcs interceptor.Funcs) client.WithWatch {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("2")}}}
	return fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(node).
		WithIndex(&corev1.Pod{}, indexPodNode, func(o client.Object) []string { return []string{o.(*corev1.Pod).Spec.NodeName} }).
		WithInterceptorFuncs(funcs).Build()
}

// runCountingSyncs runs a registration loop of node "n" (a heartbeat an
// hour, a fake clock) until the test ends, on a client where its first
// failFirst syncs of the Agent spec fail, and counts the syncs begun.
func runCountingSyncs(t *testing.T, failFirst int32) (*registration, *clocktesting.FakeClock, *atomic.Int32, client.WithWatch) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	syncs, failing := &atomic.Int32{}, &atomic.Int32{}
	failing.Store(failFirst)
	c := syncableClient(interceptor.Funcs{
		Get: func(ctx context.Context, cl client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*corev1.Node); ok {
				syncs.Add(1) // a sync of the Agent spec starts by reading the node
				if failing.Add(-1) >= 0 {
					return errors.New("the API server is busy")
				}
			}
			return cl.Get(ctx, key, obj, opts...)
		},
	})
	clk := clocktesting.NewFakeClock(time.Now())
	r := &registration{
		registrar: &Registrar{Client: c, Clock: clk, NodeName: "n", LeaseNamespace: "kubemesos-system", Interval: time.Hour},
		client:    c, clock: clk, id: &identity{}, log: logr.Discard(), soon: make(chan struct{}, 1), wake: make(chan struct{}, 1),
	}
	go r.run(ctx)
	return r, clk, syncs, c
}

// TestPodSyncsAreSpaced: pods stopping (or coming) ask for a sync of the Agent spec
// apart from the heartbeat, at most one every syncSoonInterval, however
// many stop.
func TestPodSyncsAreSpaced(t *testing.T) {
	r, clk, syncs, _ := runCountingSyncs(t, 0)
	want := func(what string, n int32) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for syncs.Load() != n {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d syncs, want %d", what, syncs.Load(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond) // and no more
		if got := syncs.Load(); got != n {
			t.Fatalf("%s: %d syncs, want %d", what, got, n)
		}
	}
	want("the first beat", 1)
	// Within syncSoonInterval of the beat's sync: deferred to its end.
	for range 5 {
		r.syncSoon()
	}
	want("pods stopping just after a sync", 1)
	for clk.Waiters() < 2 { // the ticker, and the deferred sync
		time.Sleep(time.Millisecond)
	}
	clk.Step(syncSoonInterval)
	want("syncSoonInterval later", 2)
	// Long after the last sync: at once.
	clk.Step(10 * syncSoonInterval)
	r.syncSoon()
	want("a pod stopping long after", 3)
}

// TestAFailedSyncIsRetriedSoon: a sync of the Agent spec that failed is
// tried again after syncSoonInterval, not at the next heartbeat (an hour
// here), and the wait doubles while it keeps failing.
func TestAFailedSyncIsRetriedSoon(t *testing.T) {
	_, clk, syncs, c := runCountingSyncs(t, 2)
	ctx := context.Background()
	step := func(what string, d time.Duration, want int32) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for clk.Waiters() < 2 { // the ticker, and the retry
			if time.Now().After(deadline) {
				t.Fatalf("%s: no retry is waiting (%d syncs)", what, syncs.Load())
			}
			time.Sleep(time.Millisecond)
		}
		clk.Step(d - time.Millisecond)
		time.Sleep(50 * time.Millisecond)
		if got := syncs.Load(); got != want-1 {
			t.Fatalf("%s: %d syncs before the retry is due, want %d", what, got, want-1)
		}
		clk.Step(time.Millisecond)
		for syncs.Load() < want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d syncs, want %d", what, syncs.Load(), want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	step("the first beat's sync failed", syncSoonInterval, 2)
	step("the retry failed as well", 2*syncSoonInterval, 3)
	// The third sync wrote the Agent: nothing more is waiting.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var a kmv1.Agent
		if c.Get(ctx, client.ObjectKey{Name: "n"}, &a) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the Agent was not written once the syncs succeeded")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if n := clk.Waiters(); n != 1 {
		t.Errorf("%d timers wait after a sync succeeded, want only the ticker", n)
	}
}

// TestOnlyGrew: which changes of the Agent spec may wait for
// Registrar.GrowthDelay (more of what is offered, nothing else) and which
// are written at once.
func TestOnlyGrew(t *testing.T) {
	spec := func(cpu, mem, held string) kmv1.AgentSpec {
		s := kmv1.AgentSpec{NodeName: "n", Resources: kmv1.ResourceList{}, Attributes: kmv1.Attributes{"zone": "a"}}
		if cpu != "" {
			s.Resources[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			s.Resources[corev1.ResourceMemory] = resource.MustParse(mem)
		}
		if held != "" {
			s.Held = kmv1.ResourceList{corev1.ResourceCPU: resource.MustParse(held)}
		}
		return s
	}
	otherZone := spec("2", "1Gi", "")
	otherZone.Attributes = kmv1.Attributes{"zone": "b"}
	for _, tc := range []struct {
		name      string
		cur, next kmv1.AgentSpec
		want      bool
	}{
		{"more cpu", spec("2", "1Gi", ""), spec("3", "1Gi", ""), true},
		{"more of both", spec("2", "1Gi", ""), spec("2500m", "2Gi", ""), true},
		{"less cpu", spec("2", "1Gi", ""), spec("1", "1Gi", ""), false},
		{"more cpu, less memory", spec("2", "1Gi", ""), spec("3", "512Mi", ""), false},
		{"the same", spec("2", "1Gi", ""), spec("2", "1Gi", ""), false},
		{"from none of the cpu", spec("0", "1Gi", ""), spec("1", "1Gi", ""), false},
		{"from nothing offered", spec("", "", ""), spec("2", "1Gi", ""), false},
		{"a resource dropped", spec("2", "1Gi", ""), spec("3", "", ""), false},
		{"a resource added", spec("2", "", ""), spec("3", "1Gi", ""), false},
		{"more cpu, and less held", spec("2", "1Gi", "1"), spec("3", "1Gi", ""), false},
		{"more cpu, and more held", spec("2", "1Gi", ""), spec("3", "1Gi", "1"), false},
		{"more cpu, and another attribute", spec("2", "1Gi", ""), func() kmv1.AgentSpec {
			s := otherZone.DeepCopy()
			s.Resources[corev1.ResourceCPU] = resource.MustParse("3")
			return *s
		}(), false},
	} {
		if got := onlyGrew(tc.cur, tc.next); got != tc.want {
			t.Errorf("%s: onlyGrew = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestTookRoom: which pod events leave the node less to offer, so that
// the agent syncs its Agent at once rather than at its next heartbeat.
func TestTookRoom(t *testing.T) {
	pod := func(cpu string, phase corev1.PodPhase, kubemesos bool) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}}},
			Status: corev1.PodStatus{Phase: phase},
		}
		if kubemesos {
			p.Labels = map[string]string{kmv1.LabelAgent: "n"}
		}
		return p
	}
	withMemory := pod("1", corev1.PodRunning, false)
	withMemory.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory] = resource.MustParse("1Gi")
	for _, tc := range []struct {
		name     string
		old, new client.Object
		want     bool
	}{
		{"another scheduler's pod comes", nil, pod("1", corev1.PodPending, false), true},
		{"a kubemesos pod comes (its tasks pay for it)", nil, pod("1", corev1.PodPending, true), false},
		{"a pod already ended comes to the cache", nil, pod("1", corev1.PodSucceeded, false), false},
		{"a pod runs", pod("1", corev1.PodPending, false), pod("1", corev1.PodRunning, false), false},
		{"a pod ends", pod("1", corev1.PodRunning, false), pod("1", corev1.PodFailed, false), false},
		{"a pod is resized up", pod("1", corev1.PodRunning, false), pod("2", corev1.PodRunning, false), true},
		{"a pod is resized down", pod("2", corev1.PodRunning, false), pod("1", corev1.PodRunning, false), false},
		{"a pod asks for a resource it did not", pod("1", corev1.PodRunning, false), withMemory, true},
		{"a pod loses the kubemesos label", pod("1", corev1.PodRunning, true), pod("1", corev1.PodRunning, false), true},
		{"not a pod", nil, &corev1.Node{}, false},
	} {
		if got := tookRoom(tc.old, tc.new); got != tc.want {
			t.Errorf("%s: tookRoom %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestOfferedChanged: which changes of the Node have the agent sync its
// Agent at once, and which (the kubelet's status heartbeats) do not.
func TestOfferedChanged(t *testing.T) {
	base := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"zone": "a"}},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
	}
	change := func(f func(*corev1.Node)) *corev1.Node {
		n := base.DeepCopy()
		f(n)
		return n
	}
	for _, tc := range []struct {
		name string
		new  client.Object
		want bool
	}{
		{"cordoned", change(func(n *corev1.Node) { n.Spec.Unschedulable = true }), true},
		{"tainted", change(func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}}
		}), true},
		{"allocatable shrank", change(func(n *corev1.Node) { n.Status.Allocatable[corev1.ResourceCPU] = resource.MustParse("3") }), true},
		{"relabelled", change(func(n *corev1.Node) { n.Labels["zone"] = "b" }), true},
		{"a status heartbeat", change(func(n *corev1.Node) {
			n.Status.Conditions[0].LastHeartbeatTime = metav1.Now()
			n.ResourceVersion = "2"
		}), false},
		{"not a node", &corev1.Pod{}, false},
	} {
		if got := offeredChanged(base, tc.new); got != tc.want {
			t.Errorf("%s: offeredChanged %v, want %v", tc.name, got, tc.want)
		}
	}
}
