package leader_test

import (
	"context"
	"errors"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubemesos/kubemesos/internal/leader"
	"github.com/kubemesos/kubemesos/internal/scheme"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// within bounds a wait so that a broken test fails instead of hanging; it
// is never what a passing test measures.
const within = time.Minute

// namespace creates a namespace named prefix and a suffix, so that tests
// can run again on the same API server.
func namespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func configMap(ns, name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

// TestAResumedLeaderWritesNothingAndStops elects a manager, then moves its
// Guard's clock past the renew deadline, as a process resumed after a pause
// finds its monotonic clock. Its very next write is refused before it
// leaves the process, and the manager stops.
func TestAResumedLeaderWritesNothingAndStops(t *testing.T) {
	ns := namespace(t, "guard-resume")
	clk := clocktesting.NewFakeClock(time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := &leader.Election{Namespace: ns, Name: "guarded", LeaseDuration: 3 * time.Second,
		RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 300 * time.Millisecond, Clock: clk, OnLost: cancel}
	mgr, guard, err := leader.NewManager(env.Config, ctrl.Options{Scheme: scheme.New(), Metrics: metricsserver.Options{BindAddress: "0"}}, e)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	select {
	case <-mgr.Elected():
	case <-time.After(within):
		t.Fatal("not elected")
	}
	var lease coordinationv1.Lease
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "guarded"}, &lease); err != nil {
		t.Fatal(err)
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		t.Fatalf("the elected manager does not hold the Lease: %+v", lease.Spec)
	}
	c := mgr.GetClient()
	if err := c.Create(context.Background(), configMap(ns, "before")); err != nil {
		t.Fatalf("the leader may not write: %v", err)
	}

	clk.Step(e.RenewDeadline)
	err = c.Create(context.Background(), configMap(ns, "after"))
	if !errors.Is(err, leader.ErrNotLeading) {
		t.Fatalf("the resumed leader's write: %v, want ErrNotLeading", err)
	}
	select {
	case <-guard.Lost():
	case <-time.After(within):
		t.Fatal("the guard did not trip")
	}
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(configMap(ns, "after")), &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
		t.Errorf("the refused write reached the API server: %v", err)
	}
	// Reads are not fenced.
	if err := mgr.GetAPIReader().Get(context.Background(), client.ObjectKeyFromObject(configMap(ns, "before")), &corev1.ConfigMap{}); err != nil {
		t.Errorf("a read was refused: %v", err)
	}
	select {
	case <-done:
	case <-time.After(within):
		t.Fatal("the manager did not stop after its guard tripped")
	}
	if guard.Refused() < 1 {
		t.Errorf("Refused() = %d", guard.Refused())
	}
}

// TestAStandbyWritesNothingUntilElected: a second manager waits for the
// Lease that another holds; its writes are refused until it is elected,
// then allowed.
func TestAStandbyWritesNothingUntilElected(t *testing.T) {
	ns := namespace(t, "guard-standby")
	holder := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "guarded"}}
	now := metav1.NewMicroTime(time.Now())
	holder.Spec.HolderIdentity, holder.Spec.LeaseDurationSeconds = ptr.To("someone-else"), ptr.To(int32(3600))
	holder.Spec.RenewTime, holder.Spec.AcquireTime = &now, &now
	if err := env.Client.Create(context.Background(), holder); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := &leader.Election{Namespace: ns, Name: "guarded", LeaseDuration: 3 * time.Second,
		RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 300 * time.Millisecond, OnLost: cancel}
	mgr, _, err := leader.NewManager(env.Config, ctrl.Options{Scheme: scheme.New(), Metrics: metricsserver.Options{BindAddress: "0"}}, e)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = mgr.Start(ctx) }()
	if err := mgr.GetClient().Create(context.Background(), configMap(ns, "standby")); !errors.Is(err, leader.ErrNotLeading) {
		t.Fatalf("a standby's write: %v, want ErrNotLeading", err)
	}
	// The other holder goes away; this manager takes the Lease.
	if err := env.Client.Delete(context.Background(), holder); err != nil {
		t.Fatal(err)
	}
	select {
	case <-mgr.Elected():
	case <-time.After(within):
		t.Fatal("not elected")
	}
	if err := mgr.GetClient().Create(context.Background(), configMap(ns, "elected")); err != nil {
		t.Fatalf("the elected manager may not write: %v", err)
	}
}

// TestLeading: no election leads; an election leads once its channel is
// closed.
func TestLeading(t *testing.T) {
	if !leader.Leading(nil) {
		t.Error("no election: not leading")
	}
	ch := make(chan struct{})
	if leader.Leading(ch) {
		t.Error("leading before the election is won")
	}
	close(ch)
	if !leader.Leading(ch) {
		t.Error("not leading once the election is won")
	}
}
