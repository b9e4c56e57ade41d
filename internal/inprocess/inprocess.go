// Package inprocess runs a kubemesos master and agents inside a test
// process, against a real API server (envtest), with the same cache layout
// as the kubemesos binary. Tests play the kubelet: they set the phase of the
// pods the agents create. NewMaster and NewAgent, which need no test, also
// build the scale suite's master and hollow agents (test/scale).
package inprocess

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubemesos/kubemesos/agent"
	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers"
	"github.com/kubemesos/kubemesos/controllers/console"
	"github.com/kubemesos/kubemesos/controllers/mesosapi"
	"github.com/kubemesos/kubemesos/internal/leader"
	"github.com/kubemesos/kubemesos/internal/restconfig"
	"github.com/kubemesos/kubemesos/internal/scheme"
	"github.com/kubemesos/kubemesos/sdk/executor"
)

// SystemNamespace holds the agents' Leases in these tests.
const SystemNamespace = "kubemesos-system"

// MasterOptions are short timeouts for tests.
func MasterOptions() controllers.Options {
	o := controllers.DefaultOptions()
	o.SystemNamespace = SystemNamespace
	o.AllocationInterval = 200 * time.Millisecond
	o.UsageWriteInterval = 0 // tests read the usage as soon as it changes
	o.UsageWriteRate = 0
	o.AcceptWindow = 300 * time.Millisecond
	o.AgentPingTimeout = 5 * time.Second
	o.MaxAgentPingTimeouts = 2
	o.AgentRemovalRate = 0
	return o
}

// MasterConfig is how to run one master.
type MasterConfig struct {
	// Options are the master's options; MasterOptions() when zero.
	Options controllers.Options
	// LeaderElect makes it compete for the Lease kubemesos-master (3s
	// lease, 1.5s renew deadline), its writes fenced by a leader.Guard.
	LeaderElect bool
	// LeaseDuration, when set, is its Lease's duration in place of 3s; the
	// renew deadline is half of it and the retry period a tenth. A test
	// that must not lose its leader to a machine too busy to renew within
	// 1.5s gives it longer.
	LeaseDuration time.Duration
	// ID names it in logs and starts its identity in the Lease.
	ID string
	// GuardClock is its Guard's clock (real when nil): stepping a fake one
	// past the renew deadline is what a process sees when it resumes after
	// a pause.
	GuardClock clock.Clock
	// Zombie keeps it running after its Guard trips, as a process that
	// could not exit would, so that a test sees what it still tries to
	// write. By default it stops there, as the binary exits.
	Zombie bool
	// OnLost is called when its Guard trips (NewMaster; LaunchMaster sets
	// it to stop the master unless Zombie).
	OnLost func()
	// Log receives its logs; ctrl.Log named after ID when unset.
	Log logr.Logger
	// MesosAPI, when set, serves the Mesos scheduler API with these
	// options; its address is advertised in the master's Lease identity.
	MesosAPI *mesosapi.Options
	// Console, when set, serves the web console with these options; its
	// address is advertised in the master's Lease identity.
	Console *console.Options
	// Transport, when set, wraps its connections to the API server below
	// the Guard (it sees what is actually sent), the Lease's included.
	Transport func(http.RoundTripper) http.RoundTripper
}

// Master is a master run by LaunchMaster.
type Master struct {
	// Stop stops it as a crash would: the Lease is not released. It is
	// idempotent and also called when the test ends.
	Stop func()
	// Client is its manager's client; its writes pass the Guard.
	Client client.Client
	// Guard fences its writes; nil without leader election.
	Guard *leader.Guard
	// Identity names it in the Lease; empty without leader election.
	Identity string
}

// StartMaster runs a master with MasterOptions until the test ends.
func StartMaster(t testing.TB, cfg *rest.Config, o controllers.Options) {
	t.Helper()
	RunMaster(t, cfg, MasterConfig{Options: o})
}

// RunMaster runs a master until the test ends or stop is called; stopping
// it is a crash: the Lease is not released.
func RunMaster(t testing.TB, cfg *rest.Config, mc MasterConfig) (stop func()) {
	t.Helper()
	return LaunchMaster(t, cfg, mc).Stop
}

// LaunchMaster runs a master until the test ends or Stop is called, built
// as the kubemesos binary builds it (leader.NewManager, the master's cache).
func LaunchMaster(t testing.TB, cfg *rest.Config, mc MasterConfig) *Master {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if !mc.Zombie {
		mc.OnLost = cancel
	}
	mgr, out, err := NewMaster(ctx, cfg, mc)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	out.Stop = run(t, mgr, ctx, cancel)
	return out
}

// NewMaster builds a master as the kubemesos binary builds it
// (leader.NewManager, the master's cache, controllers.New) and sets it up
// under ctx; starting the returned manager runs it. It creates the system
// namespace when missing. The returned Master's Stop is nil: the caller
// stops the manager.
func NewMaster(ctx context.Context, cfg *rest.Config, mc MasterConfig) (ctrl.Manager, *Master, error) {
	o := mc.Options
	if o.AllocationInterval == 0 {
		o = MasterOptions()
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, nil, fmt.Errorf("creating a client: %w", err)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.SystemNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, nil, fmt.Errorf("creating namespace %s: %w", o.SystemNamespace, err)
	}
	var election *leader.Election
	identity := mc.ID + "_" + string(uuid.NewUUID())
	var con console.Options
	if mc.Console != nil {
		con = *mc.Console
		identity = mesosapi.WithConsole(identity, con.AdvertiseAddress)
		con.LeaderLease = types.NamespacedName{Namespace: o.SystemNamespace, Name: kmv1.MasterLeaseName}
	}
	var api mesosapi.Options
	if mc.MesosAPI != nil {
		api = *mc.MesosAPI
		identity = mesosapi.AdvertisedIdentity(identity, api.AdvertiseAddress)
		api.MasterID = identity
		api.LeaderLease = types.NamespacedName{Namespace: o.SystemNamespace, Name: kmv1.MasterLeaseName}
	}
	if mc.LeaderElect {
		lease := mc.LeaseDuration
		if lease == 0 {
			lease = 3 * time.Second
		}
		election = &leader.Election{
			Namespace: o.SystemNamespace, Name: kmv1.MasterLeaseName,
			LeaseDuration: lease, RenewDeadline: lease / 2, RetryPeriod: lease / 10,
			Identity: identity, Clock: mc.GuardClock,
			OnLost: mc.OnLost,
		}
	}
	if mc.Transport != nil {
		cfg = rest.CopyConfig(cfg)
		cfg.Wrap(mc.Transport)
	}
	log := mc.Log
	if log.GetSink() == nil {
		log = ctrl.Log.WithName(mc.ID)
	}
	mgr, guard, err := leader.NewManager(restconfig.ForCluster(cfg), ctrl.Options{
		Scheme: scheme.New(), Metrics: metricsserver.Options{BindAddress: "0"},
		// The production master's cache, so that tests run its wiring.
		Cache:      controllers.CacheOptions(),
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		Logger:     log,
	}, election)
	if err != nil {
		return nil, nil, err
	}
	m := controllers.New(mgr.GetClient(), clock.RealClock{}, mgr.GetEventRecorder("kubemesos-master"), o)
	if err := m.SetupWithManager(ctx, mgr); err != nil {
		return nil, nil, fmt.Errorf("setting up the master: %w", err)
	}
	if mc.MesosAPI != nil {
		srv, err := mesosapi.New(mgr, api)
		if err != nil {
			return nil, nil, err
		}
		srv.ClearFilters = m.ClearFilters
		if err := mgr.Add(srv); err != nil {
			return nil, nil, fmt.Errorf("adding the Mesos scheduler API: %w", err)
		}
	}
	if mc.Console != nil {
		srv, err := console.New(mgr, m, con)
		if err != nil {
			return nil, nil, err
		}
		if err := mgr.Add(srv); err != nil {
			return nil, nil, fmt.Errorf("adding the console: %w", err)
		}
	}
	out := &Master{Client: mgr.GetClient(), Guard: guard}
	if election != nil {
		out.Identity = election.Identity
	}
	return mgr, out, nil
}

// run starts mgr and returns an idempotent stop, also called at cleanup.
func run(t testing.TB, mgr ctrl.Manager, ctx context.Context, cancel context.CancelFunc) func() {
	done := make(chan struct{})
	go func() { _ = mgr.Start(ctx); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// Node creates a Node with allocatable cpu and memory, removed with its
// Agent when the test ends.
func Node(t testing.TB, c client.Client, name, cpu, memory string) {
	t.Helper()
	ctx := context.Background()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := c.Create(ctx, n); err != nil {
		t.Fatal(err)
	}
	n.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	if err := c.Status().Update(ctx, n); err != nil {
		t.Fatal(err)
	}
	// The API server's TaintNodesByCondition taints a new node not-ready;
	// with no node lifecycle controller here, lift it as it would.
	ReadyNode(t, c, n)
	t.Cleanup(func() {
		_ = c.Delete(ctx, n)
		_ = c.Delete(ctx, &kmv1.Agent{ObjectMeta: metav1.ObjectMeta{Name: name}})
	})
}

// ReadyNode removes the not-ready taint that the API server puts on a new
// Node, as the node lifecycle controller does once the node is Ready.
func ReadyNode(t testing.TB, c client.Client, n *corev1.Node) {
	t.Helper()
	var kept []corev1.Taint
	for _, taint := range n.Spec.Taints {
		if taint.Key != corev1.TaintNodeNotReady {
			kept = append(kept, taint)
		}
	}
	if len(kept) == len(n.Spec.Taints) {
		return
	}
	n.Spec.Taints = kept
	if err := c.Update(context.Background(), n); err != nil {
		t.Fatal(err)
	}
}

// FreeAddr returns a free loopback address for an agent's executor API.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// StartAgent runs the agent of node until the test ends.
func StartAgent(t testing.TB, cfg *rest.Config, node string) {
	t.Helper()
	RunAgent(t, cfg, AgentConfig{Node: node})
}

// AgentConfig is how to run one agent.
type AgentConfig struct {
	Node string
	// WorkDir and Addr default to a new temporary dir and a free port
	// (RunAgent); running an agent again with the same ones is an agent
	// restart. Addr is where the executor API listens and what executors
	// dial.
	WorkDir, Addr string
	// RegistrationTimeout defaults to a minute (RunAgent).
	RegistrationTimeout time.Duration
	// HeartbeatInterval defaults to 200 ms (RunAgent).
	HeartbeatInterval time.Duration
	// Intercept, when set, wraps the agent's client, for example to fail
	// its writes.
	Intercept *interceptor.Funcs
	// Log receives its logs; ctrl.Log named after the node when unset.
	Log logr.Logger
	// AnonymousExecutorNamespaces opt namespaces in to executor calls
	// without credentials (agent.Options).
	AnonymousExecutorNamespaces []string
	// StatusUpdateDelay is agent.Options's; zero writes each update at
	// once.
	StatusUpdateDelay time.Duration
	// ResourceGrowthDelay is agent.Options's; zero writes every change of
	// the node's resources at once.
	ResourceGrowthDelay time.Duration
}

// RunAgent runs an agent until the test ends or stop is called.
func RunAgent(t testing.TB, cfg *rest.Config, ac AgentConfig) (stop func()) {
	t.Helper()
	if ac.WorkDir == "" {
		ac.WorkDir = t.TempDir()
	}
	if ac.Addr == "" {
		ac.Addr = FreeAddr(t)
	}
	if ac.RegistrationTimeout == 0 {
		ac.RegistrationTimeout = time.Minute
	}
	if ac.HeartbeatInterval == 0 {
		ac.HeartbeatInterval = 200 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	mgr, _, err := NewAgent(ctx, cfg, ac)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	return run(t, mgr, ctx, cancel)
}

// NewAgent builds the agent of ac.Node as the kubemesos binary builds it
// (its own manager with agent.CacheOptions, agent.New, SetupWithManager)
// and sets it up under ctx; starting the returned manager runs it. Every
// field of ac but Intercept and Log must be set. Many agents can run in
// one process, each with its own manager, work dir and address.
func NewAgent(ctx context.Context, cfg *rest.Config, ac AgentConfig) (ctrl.Manager, *agent.Agent, error) {
	node := ac.Node
	newClient := func(cfg *rest.Config, o client.Options) (client.Client, error) {
		c, err := client.NewWithWatch(cfg, o)
		if err != nil || ac.Intercept == nil {
			return c, err
		}
		return interceptor.NewClient(c, *ac.Intercept), nil
	}
	log := ac.Log
	if log.GetSink() == nil {
		log = ctrl.Log.WithName("agent-" + node)
	}
	mgr, err := ctrl.NewManager(restconfig.ForCluster(cfg), ctrl.Options{
		Scheme: scheme.New(), Metrics: metricsserver.Options{BindAddress: "0"},
		NewClient:  newClient,
		Cache:      agent.CacheOptions(node, SystemNamespace),
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("creating the manager of agent %s: %w", node, err)
	}
	rec, err := agent.NewRecorder(ctx, mgr, node)
	if err != nil {
		return nil, nil, err
	}
	a, err := agent.New(mgr.GetClient(), clock.RealClock{}, rec, agent.Options{
		NodeName: node, Endpoint: ac.Addr, Listen: ac.Addr, WorkDir: ac.WorkDir, LeaseNamespace: SystemNamespace,
		HeartbeatInterval: ac.HeartbeatInterval, ExecutorRegistrationTimeout: ac.RegistrationTimeout,
		AnonymousExecutorNamespaces: ac.AnonymousExecutorNamespaces, StatusUpdateDelay: ac.StatusUpdateDelay,
		ResourceGrowthDelay: ac.ResourceGrowthDelay,
	}, log)
	if err != nil {
		return nil, nil, fmt.Errorf("creating agent %s: %w", node, err)
	}
	if err := a.SetupWithManager(ctx, mgr); err != nil {
		return nil, nil, fmt.Errorf("setting up agent %s: %w", node, err)
	}
	return mgr, a, nil
}

// StartExecutor runs the executor SDK's driver for e in pod, as the pod's
// container would (with its token, as the kubelet mounts it), until the
// test ends.
func StartExecutor(t testing.TB, c client.Client, pod *corev1.Pod, e executor.Executor) (*executor.Driver, error) {
	cfg, err := ExecutorConfig(context.Background(), c, pod, t.TempDir())
	if err != nil {
		return nil, err
	}
	d := executor.NewDriver(e, cfg)
	_ = d.Start()
	t.Cleanup(func() { _ = d.Stop() })
	return d, nil
}

// Kubelet plays the kubelet for the pods that agents create in namespace:
// it marks each new pod Running and calls run with it, once per pod, in a
// goroutine. It stops when the test ends.
func Kubelet(t testing.TB, c client.Client, namespace string, run func(pod *corev1.Pod)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	started := map[string]bool{}
	go func() {
		for ctx.Err() == nil {
			var pods corev1.PodList
			if err := c.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabels{kmv1.LabelComponent: "executor"}); err == nil {
				for i := range pods.Items {
					p := &pods.Items[i]
					if started[string(p.UID)] || p.DeletionTimestamp != nil {
						continue
					}
					started[string(p.UID)] = true
					p.Status.Phase = corev1.PodRunning
					if err := c.Status().Update(ctx, p); err != nil {
						started[string(p.UID)] = false
						continue
					}
					go run(p.DeepCopy())
				}
				// Finish deletions as a kubelet would.
				for i := range pods.Items {
					if p := &pods.Items[i]; p.DeletionTimestamp != nil {
						_ = c.Delete(ctx, p, client.GracePeriodSeconds(0))
					}
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
}

// PodEnv returns the environment of a pod's first container as a map.
func PodEnv(p *corev1.Pod) map[string]string {
	out := map[string]string{}
	for _, e := range p.Spec.Containers[0].Env {
		out[e.Name] = e.Value
	}
	return out
}

// DefaultServiceAccount creates the ServiceAccount "default" of namespace
// if it is missing, as kube-controller-manager does in a real cluster
// (envtest runs none).
func DefaultServiceAccount(ctx context.Context, c client.Client, namespace string) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "default"}}
	if err := c.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the default ServiceAccount of %s: %w", namespace, err)
	}
	return nil
}

// ExecutorToken does what the kubelet does for an executor pod's projected
// service account token: it requests a token bound to the pod, for the
// audience and lifetime that the pod's volume asks for.
func ExecutorToken(ctx context.Context, c client.Client, p *corev1.Pod) (string, error) {
	var src *corev1.ServiceAccountTokenProjection
	for _, v := range p.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ServiceAccountToken != nil {
				src = s.ServiceAccountToken
			}
		}
	}
	if src == nil {
		return "", fmt.Errorf("pod %s/%s has no projected service account token", p.Namespace, p.Name)
	}
	if err := DefaultServiceAccount(ctx, c, p.Namespace); err != nil {
		return "", err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Spec.ServiceAccountName}}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences: []string{src.Audience}, ExpirationSeconds: src.ExpirationSeconds,
		BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.Name, UID: p.UID},
	}}
	if err := c.SubResource("token").Create(ctx, sa, tr); err != nil {
		return "", fmt.Errorf("requesting the token of pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	return tr.Status.Token, nil
}

// ExecutorConfig is the executor SDK's configuration from a pod's
// environment, as the executor would read it inside the pod, with the
// pod's token (ExecutorToken) written into a file under dir, where the
// kubelet would mount it.
func ExecutorConfig(ctx context.Context, c client.Client, p *corev1.Pod, dir string) (executor.Config, error) {
	token, err := ExecutorToken(ctx, c, p)
	if err != nil {
		return executor.Config{}, err
	}
	file := filepath.Join(dir, executorapi.TokenFile)
	if err := os.WriteFile(file, []byte(token), 0o600); err != nil {
		return executor.Config{}, fmt.Errorf("writing the executor token: %w", err)
	}
	env := PodEnv(p)
	env[executorapi.EnvTokenFile] = file
	return executor.ConfigFrom(func(k string) string { return env[k] })
}
