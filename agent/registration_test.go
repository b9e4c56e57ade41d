package agent_test

import (
	"context"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubemesos/kubemesos/agent"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/inprocess"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

func TestRegistrarWritesAgentAndLease(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "reg-node", Labels: map[string]string{"zone": "z1"}},
	}
	if err := c.Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	node.Status.Allocatable = corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("4"),
		corev1.ResourceMemory: resource.MustParse("8Gi"),
	}
	if err := c.Status().Update(ctx, node); err != nil {
		t.Fatal(err)
	}
	inprocess.ReadyNode(t, c, node)
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kubemesos-system"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}

	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	r := &agent.Registrar{Client: c, Clock: clk, NodeName: "reg-node", Endpoint: "127.0.0.2:5051",
		LeaseNamespace: "kubemesos-system", Interval: 5 * time.Second, LeaseDuration: 15 * time.Second}

	if err := r.SyncAgent(ctx); err != nil {
		t.Fatal(err)
	}
	var agent kmv1.Agent
	if err := c.Get(ctx, types.NamespacedName{Name: "reg-node"}, &agent); err != nil {
		t.Fatal(err)
	}
	if got := agent.Spec.Resources[corev1.ResourceCPU]; got.Cmp(resource.MustParse("4")) != 0 {
		t.Errorf("agent cpu %s, want 4", got.String())
	}
	if agent.Spec.Endpoint != "127.0.0.2:5051" || agent.Spec.Attributes["zone"] != "z1" {
		t.Errorf("agent spec %+v lacks the endpoint or the zone attribute", agent.Spec)
	}

	// Steady state: no write.
	rv := agent.ResourceVersion
	if err := r.SyncAgent(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, types.NamespacedName{Name: "reg-node"}, &agent); err != nil {
		t.Fatal(err)
	}
	if agent.ResourceVersion != rv {
		t.Errorf("SyncAgent wrote an unchanged Agent (resourceVersion %s -> %s)", rv, agent.ResourceVersion)
	}

	// Another pod on the node takes resources away from the offers.
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "reg-node", Containers: []corev1.Container{{
			Name: "c", Image: "busybox",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
		}}},
	}
	if err := c.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := r.SyncAgent(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, types.NamespacedName{Name: "reg-node"}, &agent); err != nil {
		t.Fatal(err)
	}
	if got := agent.Spec.Resources[corev1.ResourceCPU]; got.Cmp(resource.MustParse("3")) != 0 {
		t.Errorf("agent cpu %s after a 1-cpu pod, want 3", got.String())
	}

	// A kubemesos pod stopping after its tasks ended (none is live; a
	// finalizer keeps it stopping here, where no kubelet ends it) is not
	// subtracted from the resources, but held until it stops: the kubelet
	// counts it.
	stopping := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "stopping-executor", Namespace: "default", Labels: map[string]string{kmv1.LabelAgent: "reg-node"},
			Finalizers: []string{"kubemesos.io/test-stopping"}},
		Spec: corev1.PodSpec{NodeName: "reg-node", Containers: []corev1.Container{{
			Name: "c", Image: "busybox",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}},
		}}},
	}
	if err := c.Create(ctx, stopping); err != nil {
		t.Fatal(err)
	}
	heldCPU := func() (resource.Quantity, resource.Quantity) {
		t.Helper()
		if err := r.SyncAgent(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.Get(ctx, types.NamespacedName{Name: "reg-node"}, &agent); err != nil {
			t.Fatal(err)
		}
		return agent.Spec.Resources[corev1.ResourceCPU], agent.Spec.Held[corev1.ResourceCPU]
	}
	if got, held := heldCPU(); got.Cmp(resource.MustParse("3")) != 0 || !held.IsZero() {
		t.Errorf("with an idle executor pod of 500m: cpu %s, held %s; want 3 and nothing (its executor's next task runs in it)", got.String(), held.String())
	}
	if err := c.Delete(ctx, stopping, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	if got, held := heldCPU(); got.Cmp(resource.MustParse("3")) != 0 || held.Cmp(resource.MustParse("500m")) != 0 {
		t.Errorf("with that pod stopping: cpu %s, held %s; want 3 and 500m", got.String(), held.String())
	}
	if err := c.Patch(ctx, stopping, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`))); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the stopped pod held no more", 30*time.Second, func() bool {
		_, held := heldCPU()
		return held.IsZero()
	})

	// A NoSchedule taint that the agent does not tolerate: nothing is
	// offered, and the Agent's events say why. Tolerated (the operator's
	// opt-in), the node is offered again, and the events say so.
	rec := events.NewFakeRecorder(10)
	r.Recorder = rec
	if err := r.SyncAgent(ctx); err != nil {
		t.Fatal(err)
	}
	if len(rec.Events) != 0 {
		t.Errorf("an event for an untainted node: %q", <-rec.Events)
	}
	node.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
	if err := c.Update(ctx, node); err != nil {
		t.Fatal(err)
	}
	if err := r.SyncAgent(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, types.NamespacedName{Name: "reg-node"}, &agent); err != nil {
		t.Fatal(err)
	}
	if len(agent.Spec.Resources) != 0 {
		t.Errorf("a tainted node offers %v, want nothing", agent.Spec.Resources)
	}
	nextEvent := func() string {
		t.Helper()
		select {
		case e := <-rec.Events:
			return e
		default:
			return ""
		}
	}
	if e := nextEvent(); !strings.HasPrefix(e, "Warning NodeNotOffered offering nothing: ") || !strings.Contains(e, "dedicated=gpu:NoSchedule") {
		t.Errorf("event %q for the taint, want a Warning NodeNotOffered naming dedicated=gpu:NoSchedule", e)
	}
	if err := r.SyncAgent(ctx); err != nil {
		t.Fatal(err)
	}
	if e := nextEvent(); e != "" {
		t.Errorf("a second event %q for the same taint", e)
	}
	r.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
	if err := r.SyncAgent(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, types.NamespacedName{Name: "reg-node"}, &agent); err != nil {
		t.Fatal(err)
	}
	if got := agent.Spec.Resources[corev1.ResourceCPU]; got.Cmp(resource.MustParse("3")) != 0 {
		t.Errorf("a node whose taint is tolerated offers cpu %s, want 3", got.String())
	}
	if e := nextEvent(); !strings.HasPrefix(e, "Normal NodeOffered ") {
		t.Errorf("event %q once the taint is tolerated, want a Normal NodeOffered", e)
	}

	// The heartbeat creates the Lease, then renews it with the clock's time.
	if err := r.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Step(5 * time.Second)
	if err := r.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	var lease coordinationv1.Lease
	if err := c.Get(ctx, types.NamespacedName{Namespace: "kubemesos-system", Name: "kubemesos-agent-reg-node"}, &lease); err != nil {
		t.Fatal(err)
	}
	if !lease.Spec.RenewTime.Time.Equal(clk.Now()) {
		t.Errorf("lease renewTime %s, want %s", lease.Spec.RenewTime.Time, clk.Now())
	}
	if !lease.Spec.AcquireTime.Time.Equal(clk.Now().Add(-5 * time.Second)) {
		t.Errorf("lease acquireTime %s moved on renewal", lease.Spec.AcquireTime.Time)
	}
}

// staleLeases answers Gets of Leases with the copy it holds, as a cache
// that has not caught up with the agent's own last renewal would.
// staleCache is a client whose cache shows obj, once set, for every
// object of its type.
type staleCache[T any, PT interface {
	*T
	client.Object
}] struct {
	client.Client
	obj PT
}

func (s *staleCache[T, PT]) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if o, ok := obj.(PT); ok && s.obj != nil {
		*o = *s.obj.DeepCopyObject().(PT)
		return nil
	}
	return s.Client.Get(ctx, key, obj, opts...)
}

func TestHeartbeatFromALaggingCacheRenews(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kubemesos-system"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	stale := &staleCache[coordinationv1.Lease, *coordinationv1.Lease]{Client: c}
	r := &agent.Registrar{Client: stale, Clock: clk, NodeName: "lagging-node", Endpoint: "127.0.0.3:5051",
		LeaseNamespace: "kubemesos-system", Interval: 5 * time.Second, LeaseDuration: 15 * time.Second}
	key := types.NamespacedName{Namespace: "kubemesos-system", Name: kmv1.AgentLeaseName("lagging-node")}
	if err := r.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	var first coordinationv1.Lease
	if err := c.Get(ctx, key, &first); err != nil {
		t.Fatal(err)
	}
	clk.Step(5 * time.Second)
	if err := r.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	// The cache still shows the Lease as first created, two renewals ago.
	stale.obj = &first
	clk.Step(5 * time.Second)
	if err := r.Heartbeat(ctx); err != nil {
		t.Fatalf("a renewal read from a lagging cache: %v", err)
	}
	var now coordinationv1.Lease
	if err := c.Get(ctx, key, &now); err != nil {
		t.Fatal(err)
	}
	if !now.Spec.RenewTime.Time.Equal(clk.Now()) {
		t.Errorf("renewTime %v, want %v", now.Spec.RenewTime.Time, clk.Now())
	}
}

// TestAgentSpecFromALaggingCache: the node's resources shrink and come
// back while the agent's cache still shows the Agent as first written; the
// agent compares with its own last write, not with the cache, and writes
// the resources back.
func TestAgentSpecFromALaggingCache(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "lag-agent-node"}}
	if err := c.Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	node.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")}
	if err := c.Status().Update(ctx, node); err != nil {
		t.Fatal(err)
	}
	inprocess.ReadyNode(t, c, node)
	stale := &staleCache[kmv1.Agent, *kmv1.Agent]{Client: c}
	r := &agent.Registrar{Client: stale, Clock: clocktesting.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
		NodeName: "lag-agent-node", Endpoint: "127.0.0.4:5051", LeaseNamespace: "kubemesos-system", Interval: 5 * time.Second, LeaseDuration: 15 * time.Second}
	cpu := func() string {
		t.Helper()
		var a kmv1.Agent
		if err := c.Get(ctx, types.NamespacedName{Name: "lag-agent-node"}, &a); err != nil {
			t.Fatal(err)
		}
		q := a.Spec.Resources[corev1.ResourceCPU]
		return q.String()
	}
	if err := r.SyncAgent(ctx); err != nil {
		t.Fatal(err)
	}
	var first kmv1.Agent
	if err := c.Get(ctx, types.NamespacedName{Name: "lag-agent-node"}, &first); err != nil {
		t.Fatal(err)
	}
	stale.obj = &first // the cache shows this from now on
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "lag-other", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "lag-agent-node", Containers: []corev1.Container{{Name: "c", Image: "busybox",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}},
	}
	if err := c.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := r.SyncAgent(ctx); err != nil {
		t.Fatal(err)
	}
	if got := cpu(); got != "3" {
		t.Fatalf("cpu %s after a 1-cpu pod, want 3", got)
	}
	if err := c.Delete(ctx, p, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	if err := r.SyncAgent(ctx); err != nil {
		t.Fatal(err)
	}
	if got := cpu(); got != "4" {
		t.Errorf("cpu %s once the pod is gone, the cache still showing the first Agent, want 4", got)
	}
}

// TestStoppingPodIsHeldAtOnce: a kubemesos pod that starts stopping holds
// its requests at the kubelet until it stops (spec.held), and its agent
// says so within syncSoonInterval, not at its next heartbeat (a minute
// here); once the pod is gone, it holds nothing again.
func TestStoppingPodIsHeldAtOnce(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	const node = "held-node"
	addNode(t, node)
	inprocess.RunAgent(t, env.Config, inprocess.AgentConfig{Node: node, HeartbeatInterval: time.Minute})
	held := func() kmv1.ResourceList {
		var a kmv1.Agent
		if err := c.Get(ctx, types.NamespacedName{Name: node}, &a); err != nil {
			return kmv1.ResourceList{"unknown": resource.Quantity{}}
		}
		return a.Spec.Held
	}
	testenv.Eventually(t, "the agent to register", 30*time.Second, func() bool {
		var a kmv1.Agent
		return c.Get(ctx, types.NamespacedName{Name: node}, &a) == nil
	})
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "held-"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	// A pod of this node's agent. Deleted, it stays, as the API server
	// keeps a pod for its grace period until the kubelet says it stopped
	// (a delete with no grace).
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "stopping", Labels: map[string]string{kmv1.LabelAgent: node}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "executor", Image: "busybox",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}},
	}
	if err := c.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, pod); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the stopping pod's cpu to be held", 10*time.Second, func() bool {
		cpu, ok := held()[corev1.ResourceCPU]
		return ok && cpu.Cmp(resource.MustParse("1")) == 0
	})
	if err := c.Delete(ctx, pod, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "nothing held once the pod is gone", 10*time.Second, func() bool { return len(held()) == 0 })
}

// TestAnotherSchedulersPodIsCountedAtOnce: a pod that another scheduler
// places on the node takes what the agent offers, and the agent says so
// within syncSoonInterval, not at its next heartbeat (a minute here), so
// that the master does not offer that room meanwhile and have the kubelet
// refuse the next executor pod (OutOfcpu). What a pod gives back when it
// goes waits for --resource-growth-delay (6 s here), even at a sync that
// another pod's coming asks for; past the delay, such a sync writes it.
func TestAnotherSchedulersPodIsCountedAtOnce(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	const node = "shared-node"
	const growthDelay = 6 * time.Second
	addNode(t, node)
	inprocess.RunAgent(t, env.Config, inprocess.AgentConfig{Node: node, HeartbeatInterval: time.Minute, ResourceGrowthDelay: growthDelay})
	cpu := func() string {
		var a kmv1.Agent
		if err := c.Get(ctx, types.NamespacedName{Name: node}, &a); err != nil {
			return "unknown"
		}
		q := a.Spec.Resources[corev1.ResourceCPU]
		return q.String()
	}
	testenv.Eventually(t, "the agent to offer its node's 4 cpus", 30*time.Second, func() bool { return cpu() == "4" })
	pod := func(name, request string) {
		t.Helper()
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
			Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(request)}}}}},
		}
		if err := c.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Delete(ctx, p, client.GracePeriodSeconds(0)) })
	}
	pod("web", "1")
	testenv.Eventually(t, "the Agent to offer 3 cpus once another scheduler's pod of 1 cpu came", 10*time.Second, func() bool { return cpu() == "3" })
	pod("batch", "500m")
	testenv.Eventually(t, "the Agent to offer 2500m once a second pod came", 10*time.Second, func() bool { return cpu() == "2500m" })
	shrunk := time.Now() // the shrink was written before this
	if err := c.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}}, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	// A pod of no requests comes: the agent syncs, and the cpu that web
	// gave back waits for the growth delay.
	pod("nudge-1", "0")
	time.Sleep(2 * time.Second) // two syncSoonIntervals
	if got := cpu(); time.Since(shrunk) < growthDelay-time.Second && got != "2500m" {
		t.Errorf("the Agent offers %s cpu within the growth delay of its last write, want 2500m", got)
	}
	time.Sleep(time.Until(shrunk.Add(growthDelay)))
	pod("nudge-2", "0")
	testenv.Eventually(t, "the Agent to offer 3500m at a sync past the growth delay", 10*time.Second, func() bool { return cpu() == "3500m" })
}

// TestACordonTakesTheNodeOutAtOnce: an operator's cordon takes the node
// out of the offers within syncSoonInterval, not at the agent's next
// heartbeat (a minute here), and the uncordon puts it back as soon.
func TestACordonTakesTheNodeOutAtOnce(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	const node = "cordoned-node"
	addNode(t, node)
	inprocess.RunAgent(t, env.Config, inprocess.AgentConfig{Node: node, HeartbeatInterval: time.Minute, ResourceGrowthDelay: time.Minute})
	offered := func() int {
		var a kmv1.Agent
		if err := c.Get(ctx, types.NamespacedName{Name: node}, &a); err != nil {
			return -1
		}
		return len(a.Spec.Resources)
	}
	testenv.Eventually(t, "the agent to offer its node", 30*time.Second, func() bool { return offered() > 0 })
	cordon := func(on bool) {
		t.Helper()
		var n corev1.Node
		if err := c.Get(ctx, types.NamespacedName{Name: node}, &n); err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(n.DeepCopy())
		n.Spec.Unschedulable = on
		if err := c.Patch(ctx, &n, patch); err != nil {
			t.Fatal(err)
		}
	}
	cordon(true)
	testenv.Eventually(t, "the cordoned node's Agent to offer nothing", 10*time.Second, func() bool { return offered() == 0 })
	cordon(false)
	testenv.Eventually(t, "the uncordoned node's Agent to offer it again", 10*time.Second, func() bool { return offered() > 0 })
}

// TestResourceGrowthWaits: with a GrowthDelay, what other pods of the node
// take is written into the Agent at once, and what they give back when
// they end only once the delay has passed since the last write, so that
// a node shared with churning pods does not write its Agent on every
// heartbeat.
func TestResourceGrowthWaits(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	const node = "growth-node"
	addNode(t, node)
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	r := &agent.Registrar{Client: c, Clock: clk, NodeName: node, LeaseNamespace: "kubemesos-system", Interval: 5 * time.Second,
		GrowthDelay: 30 * time.Second}
	cpu := func(what, want string) {
		t.Helper()
		if err := r.SyncAgent(ctx); err != nil {
			t.Fatal(err)
		}
		var a kmv1.Agent
		if err := c.Get(ctx, types.NamespacedName{Name: node}, &a); err != nil {
			t.Fatal(err)
		}
		if got := a.Spec.Resources[corev1.ResourceCPU]; got.Cmp(resource.MustParse(want)) != 0 {
			t.Errorf("%s: the Agent offers cpu %s, want %s", what, got.String(), want)
		}
	}
	pod := func(name, cpu string) *corev1.Pod {
		t.Helper()
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}}},
		}
		if err := c.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gone := func(p *corev1.Pod) {
		t.Helper()
		if err := c.Delete(ctx, p, client.GracePeriodSeconds(0)); err != nil {
			t.Fatal(err)
		}
	}
	cpu("registered", "4")
	one := pod("growth-one", "1")
	cpu("a pod of 1 cpu started, at once", "3")
	gone(one)
	cpu("that pod ended, within the delay", "3")
	clk.Step(29 * time.Second)
	cpu("29 s after the last write", "3")
	two := pod("growth-two", "2")
	cpu("a pod of 2 cpu started, within the delay: at once", "2")
	gone(two)
	clk.Step(29 * time.Second)
	cpu("that pod ended, 29 s after the last write", "2")
	clk.Step(time.Second)
	cpu("30 s after the last write", "4")
}
