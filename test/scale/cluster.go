package scale

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers"
	"github.com/kubemesos/kubemesos/internal/inprocess"
	"github.com/kubemesos/kubemesos/internal/scheme"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

// kwokConfig is kwok's stages (kwok.yaml).
//
//go:embed kwok.yaml
var kwokConfig []byte

// auditPolicy has the API server record every write but the Leases', with
// its user agent, resource, verb and answer (level Metadata), and nothing
// else. Leases are written by the second, not by the task (a thousand
// agents renew a hundred a second): the request counters count them.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  resources: [{group: coordination.k8s.io, resources: [leases]}]
- level: Metadata
  verbs: [create, update, patch, delete, deletecollection]
- level: None
`

// The user agents of the suite's own clients, by which the audit log
// tells its writers apart (kwok and kube-scheduler send their own).
const (
	userAgentMaster    = "kubemesos-master"
	userAgentAgent     = "kubemesos-agent"
	userAgentScheduler = "kubemesos-scheduler"
	userAgentHarness   = "kubemesos-bench"
)

// NodePrefix starts the name of every kwok node.
const NodePrefix = "kwok-node-"

// Cluster is a running control plane with kwok, kube-scheduler, the
// kubemesos master and one hollow agent per kwok node.
type Cluster struct {
	cfg    Config
	dir    string
	ownDir bool
	env    *testenv.Env
	// admin has no client-side rate limit, as the kubemesos binary's
	// config (controller-runtime's default); each component copies it
	// with its own user agent.
	admin  *rest.Config
	client client.Client
	audit  *auditLog
	kwok   *process
	sched  *process

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	port      int
	agents    []*hollowAgent
	executors *executorHost
	runs      atomic.Int64
	// pods is the harness's one watch of every pod: the executor host,
	// the peer runs and the waits read it.
	pods   toolscache.SharedIndexInformer
	stopCh chan struct{}
}

// StartCluster starts the control plane, kwok, kube-scheduler and the
// master, with no node yet (Grow adds them).
func StartCluster(cfg Config) (_ *Cluster, err error) {
	if err := cfg.complete(); err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, dir: cfg.WorkDir}
	if c.dir == "" {
		base := ""
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			base = "/dev/shm"
		}
		if c.dir, err = os.MkdirTemp(base, "kubemesos-scale-"); err != nil {
			return nil, fmt.Errorf("creating the work dir: %w", err)
		}
		c.ownDir = true
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.stopCh = make(chan struct{})
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	log := cfg.Log
	policy := filepath.Join(c.dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		return nil, fmt.Errorf("writing the audit policy: %w", err)
	}
	c.audit = &auditLog{path: filepath.Join(c.dir, "audit.log")}
	log.Info("starting the control plane", "dir", c.dir)
	// The log is never rotated (the API server rotates it at 100 MB by
	// default): the suite reads it from offsets.
	if c.env, err = testenv.StartWith(true, map[string]string{
		"audit-policy-file": policy, "audit-log-path": c.audit.path, "audit-log-maxsize": "1000000",
	}); err != nil {
		return nil, err
	}
	c.admin = rest.CopyConfig(c.env.Config)
	c.admin.QPS, c.admin.Burst = -1, 0
	if c.client, err = client.New(c.userAgent(userAgentHarness), client.Options{Scheme: scheme.New()}); err != nil {
		return nil, fmt.Errorf("creating the harness's client: %w", err)
	}
	kubeconfig := filepath.Join(c.dir, "kubeconfig")
	if err := c.env.WriteKubeconfig(kubeconfig); err != nil {
		return nil, err
	}
	kwokYAML := filepath.Join(c.dir, "kwok.yaml")
	if err := os.WriteFile(kwokYAML, kwokConfig, 0o600); err != nil {
		return nil, fmt.Errorf("writing kwok's config: %w", err)
	}
	// HOME is the work dir, so that kwok reads no ~/.kwok/kwok.yaml.
	if c.kwok, err = startProcess(c.dir, "kwok", cfg.Kwok, []string{"HOME=" + c.dir},
		"--kubeconfig="+kubeconfig, "--config="+kwokYAML, "--manage-all-nodes", "-v=WARN"); err != nil {
		return nil, err
	}
	// The peer's scheduler, as a cluster runs it but with its client's
	// rate limit raised (50/s by default caps binds at about 50 pods/s).
	if c.sched, err = startProcess(c.dir, "kube-scheduler", cfg.KubeScheduler, nil,
		"--kubeconfig="+kubeconfig, "--leader-elect=false", "--secure-port=0",
		"--kube-api-qps=5000", "--kube-api-burst=10000"); err != nil {
		return nil, err
	}
	if c.port, err = freePort(); err != nil {
		return nil, err
	}
	o := controllers.DefaultOptions()
	o.SystemNamespace = inprocess.SystemNamespace
	mgr, _, err := inprocess.NewMaster(c.ctx, c.userAgent(userAgentMaster), inprocess.MasterConfig{Options: o, ID: "master"})
	if err != nil {
		return nil, err
	}
	c.goRun(func() { _ = mgr.Start(c.ctx) })
	cs, err := kubernetes.NewForConfig(c.userAgent(userAgentHarness))
	if err != nil {
		return nil, fmt.Errorf("creating the harness's clientset: %w", err)
	}
	factory := informers.NewSharedInformerFactory(cs, 0)
	c.pods = factory.Core().V1().Pods().Informer()
	if c.executors, err = newExecutorHost(c); err != nil {
		return nil, err
	}
	factory.Start(c.stopCh)
	for typ, ok := range factory.WaitForCacheSync(c.stopCh) {
		if !ok {
			return nil, fmt.Errorf("syncing the harness's cache of %v", typ)
		}
	}
	return c, nil
}

// podsOf lists the pods of namespace ns in the harness's cache.
func (c *Cluster) podsOf(ns string) []*corev1.Pod {
	objs, _ := c.pods.GetIndexer().ByIndex(toolscache.NamespaceIndex, ns)
	out := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			out = append(out, p)
		}
	}
	return out
}

// userAgent is the suite's admin config with a user agent of its own.
//
// Each config has a dialer of its own, so that client-go gives each of the
// in-process programs (the master, every hollow agent, the framework) its
// own connections, as separate processes have: sharing one HTTP/2
// connection would serialize every watch and request of the process
// through one socket, which no real cluster does.
func (c *Cluster) userAgent(ua string) *rest.Config {
	cfg := rest.CopyConfig(c.admin)
	cfg.UserAgent = ua
	cfg.Dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return cfg
}

func (c *Cluster) goRun(f func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

// Nodes is how many kwok nodes (and agents) the cluster has.
func (c *Cluster) Nodes() int { return len(c.agents) }

// Client is the harness's client.
func (c *Cluster) Client() client.Client { return c.client }

// Dir is the work dir: the processes' logs and the audit log.
func (c *Cluster) Dir() string { return c.dir }

// Grow adds kwok nodes, and a hollow agent on each, until the cluster has
// n, and waits until every agent is Active.
func (c *Cluster) Grow(ctx context.Context, n int) error {
	from := len(c.agents)
	if n <= from {
		return nil
	}
	start := time.Now()
	c.cfg.Log.Info("adding nodes and agents", "from", from, "to", n)
	if err := c.alive(); err != nil {
		return err
	}
	err := parallel(ctx, n-from, c.cfg.Workers, func(i int) error {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: nodeName(from + i), Labels: map[string]string{"type": "kwok"}},
			Status:     corev1.NodeStatus{Allocatable: c.cfg.nodeAllocatable(), Capacity: c.cfg.nodeAllocatable()},
		}
		if err := c.client.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating node %s: %w", node.Name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	agentConfig := c.userAgent(userAgentAgent)
	for i := from; i < n; i++ {
		a, err := startHollowAgent(c, agentConfig, i)
		if err != nil {
			return err
		}
		c.agents = append(c.agents, a)
	}
	err = poll(ctx, c.cfg.Timeout, func() (bool, error) {
		var agents kmv1.AgentList
		if err := c.client.List(ctx, &agents); err != nil {
			return false, err
		}
		active := 0
		for i := range agents.Items {
			if agents.Items[i].Status.Phase == kmv1.AgentActive {
				active++
			}
		}
		return active >= n, c.alive()
	})
	if err != nil {
		return fmt.Errorf("waiting for %d agents to be Active: %w", n, err)
	}
	c.cfg.Log.Info("agents Active", "agents", n, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// alive fails when kwok or kube-scheduler has ended.
func (c *Cluster) alive() error {
	for _, p := range []*process{c.kwok, c.sched} {
		if ended, err := p.exited(); ended {
			return fmt.Errorf("%s ended (%v); see %s", p.name, err, filepath.Join(c.dir, p.name+".log"))
		}
	}
	return nil
}

// Stop stops everything the cluster started and removes its work dir if
// it made it.
func (c *Cluster) Stop() {
	c.cancel()
	close(c.stopCh)
	if c.executors != nil {
		c.executors.stop()
	}
	c.wg.Wait()
	for _, p := range []*process{c.sched, c.kwok} {
		if p != nil {
			p.stop()
		}
	}
	if c.env != nil {
		if err := c.env.Stop(); err != nil {
			c.cfg.Log.Error(err, "stopping the control plane")
		}
	}
	if c.ownDir {
		_ = os.RemoveAll(c.dir)
	}
}

// newNamespace creates a namespace of its own for a run.
func (c *Cluster) newNamespace(ctx context.Context, prefix string) (string, error) {
	name := fmt.Sprintf("%s-%d", prefix, c.runs.Add(1))
	if err := c.client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		return "", fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return name, nil
}

func nodeName(i int) string { return NodePrefix + strconv.Itoa(i) }

// agentIP is the loopback address of agent i's executor API: 127.1.x.y,
// one per agent, so that the executor API of each agent is its own
// listener, as on real nodes.
func agentIP(i int) string { return fmt.Sprintf("127.1.%d.%d", i/250, i%250+1) }

// freePort picks a port free on 127.1.0.1 for every agent's executor API
// (each on its own address).
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.1.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// parallel runs f(0..n-1) with at most workers at a time and returns the
// first error.
func parallel(ctx context.Context, n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for w := 0; w < min(workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// errTimeout is what poll returns when within passed.
var errTimeout = errors.New("timed out")

// poll calls cond every half second until it holds or fails; within only
// bounds how long a broken build takes to fail.
func poll(ctx context.Context, within time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(within)
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return errTimeout
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
