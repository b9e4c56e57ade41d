package controllers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kubemesos/kubemesos/internal/metrics"
	"github.com/prometheus/client_golang/prometheus/testutil"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/inprocess"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

const systemNS = "kubemesos-system"

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// testOptions are short timeouts that keep the tests fast; nothing asserts
// on them as a bound, they only set when things may happen.
func testOptions() controllers.Options {
	o := inprocess.MasterOptions()
	// 2 s × 2: an agent is lost after 4 s without a renewal, which the
	// test heartbeats (every 150 ms) survive on a loaded 2-core machine.
	o.AgentPingTimeout = 2 * time.Second
	o.AcceptWindow = 500 * time.Millisecond
	return o
}

// runningMaster is a master in its own manager, stopped by stop.
type runningMaster struct{ stop func() }

// startMaster runs a master with o until the test ends or stop is called.
// With leaderElect it competes for the Lease kubemesos-master.
func startMaster(t *testing.T, o controllers.Options, leaderElect bool, id string) *runningMaster {
	t.Helper()
	return &runningMaster{stop: inprocess.RunMaster(t, env.Config, inprocess.MasterConfig{Options: o, LeaderElect: leaderElect, ID: id})}
}

// heartbeat renews a Lease every period until the test ends or stop is called.
type heartbeat struct {
	stop func()
}

func renewLease(t *testing.T, key types.NamespacedName, kind string, duration time.Duration) *heartbeat {
	t.Helper()
	return renewLeaseSkewed(t, key, kind, duration, 0)
}

// renewLeaseSkewed renews a Lease as a holder whose clock is off by skew.
func renewLeaseSkewed(t *testing.T, key types.NamespacedName, kind string, duration, skew time.Duration) *heartbeat {
	t.Helper()
	h := inprocess.HoldLease(t, env.Client, key, inprocess.LeaseHold{Kind: kind, Duration: duration, Skew: skew, Release: kind == kmv1.LeaseKindScheduler})
	return &heartbeat{stop: h.Stop}
}

// addAgent creates a Node, its Agent and a renewed heartbeat Lease.
func addAgent(t *testing.T, node string, res ...string) *heartbeat {
	t.Helper()
	return addAgentSkewed(t, node, 0, res...)
}

// addAgentSkewed is addAgent for an agent whose clock is off by skew.
func addAgentSkewed(t *testing.T, node string, skew time.Duration, res ...string) *heartbeat {
	t.Helper()
	ctx := context.Background()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}
	if err := env.Client.Create(ctx, n); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, b.MakeAgent(node).Resources(res...).Obj()); err != nil {
		t.Fatal(err)
	}
	hb := renewLeaseSkewed(t, types.NamespacedName{Namespace: systemNS, Name: kmv1.AgentLeaseName(node)}, kmv1.LeaseKindAgent, time.Second, skew)
	t.Cleanup(func() {
		hb.stop()
		_ = env.Client.Delete(ctx, &kmv1.Agent{ObjectMeta: metav1.ObjectMeta{Name: node}})
		_ = env.Client.Delete(ctx, n)
		_ = env.Client.Delete(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: systemNS, Name: kmv1.AgentLeaseName(node)}})
	})
	return hb
}

// addFramework creates a Framework in a fresh namespace with a connected
// scheduler (its Lease renewed), returning the namespace.
func addFramework(t *testing.T, fw *kmv1.Framework) (*heartbeat, string) {
	t.Helper()
	return addFrameworkLease(t, fw, 5*time.Second)
}

// addFrameworkLease is addFramework with a scheduler Lease of duration d.
// addFramework's 5 s outlast a renewal that a busy machine holds up (a
// second's Lease lapsed then, and the framework's offers were rescinded
// under the test); a test that stops the heartbeat to see the framework
// disconnect takes a shorter one.
func addFrameworkLease(t *testing.T, fw *kmv1.Framework, d time.Duration) (*heartbeat, string) {
	t.Helper()
	fw.Namespace = frameworkNamespace(t)
	if err := env.Client.Create(context.Background(), fw); err != nil {
		t.Fatal(err)
	}
	hb := renewLease(t, types.NamespacedName{Namespace: fw.Namespace, Name: kmv1.SchedulerLeaseName(fw.Name)}, kmv1.LeaseKindScheduler, d)
	return hb, fw.Namespace
}

// frameworkNamespace creates a fresh namespace for a test's frameworks.
func frameworkNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "fw-"}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// afterCycles waits until the master has run n more allocation cycles:
// the positive sign that it had its chance to act, before a test checks
// that it did not.
func afterCycles(t *testing.T, n float64) {
	t.Helper()
	start := testutil.ToFloat64(metrics.AllocationCycles)
	eventually(t, fmt.Sprintf("%v allocation cycles", n), func() (bool, error) {
		return testutil.ToFloat64(metrics.AllocationCycles) >= start+n, nil
	})
}

// afterReconciles waits until the named controller has finished n more
// reconciles, whatever their result.
func afterReconciles(t *testing.T, controller string, n float64) {
	t.Helper()
	start := reconciles(t, controller)
	eventually(t, fmt.Sprintf("%v reconciles of %s", n, controller), func() (bool, error) { return reconciles(t, controller) >= start+n, nil })
}

// reconciles counts the reconciles that the named controller has finished.
func reconciles(t *testing.T, controller string) float64 {
	t.Helper()
	return reconcileResults(t, controller, "")
}

// reconcileResults counts the named controller's finished reconciles with
// result ("error", "success", ...; "" counts them all).
func reconcileResults(t *testing.T, controller, result string) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["controller"] == controller && (result == "" || labels["result"] == result) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// eventually polls cond until it holds or 30 s pass. The bound is only a
// give-up point for a broken build, not a speed requirement.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s (last error: %v)", what, lastErr)
}

func getAgent(t *testing.T, node string) *kmv1.Agent {
	t.Helper()
	var a kmv1.Agent
	if err := env.Client.Get(context.Background(), types.NamespacedName{Name: node}, &a); err != nil {
		t.Fatal(err)
	}
	return &a
}

func offersOf(t *testing.T, ns, fw string) []kmv1.Offer {
	t.Helper()
	var l kmv1.OfferList
	if err := env.Client.List(context.Background(), &l, client.InNamespace(ns), client.MatchingLabels{kmv1.LabelFramework: fw}); err != nil {
		t.Fatal(err)
	}
	var live []kmv1.Offer
	for _, o := range l.Items {
		if o.DeletionTimestamp == nil {
			live = append(live, o)
		}
	}
	return live
}

func getTask(t *testing.T, ns, name string) *kmv1.Task {
	t.Helper()
	var tk kmv1.Task
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &tk); err != nil {
		t.Fatal(err)
	}
	return &tk
}

func q(s string) resource.Quantity { return resource.MustParse(s) }

func leaseKey(node string) types.NamespacedName {
	return types.NamespacedName{Namespace: systemNS, Name: kmv1.AgentLeaseName(node)}
}

func getNode(t *testing.T, name string) *corev1.Node {
	t.Helper()
	var n corev1.Node
	if err := env.Client.Get(context.Background(), types.NamespacedName{Name: name}, &n); err != nil {
		t.Fatal(err)
	}
	return &n
}

func leaseKeyNS(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}

func keyOf(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}
