package scale

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/kubemesos/kubemesos/agent"
	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/inprocess"
	"github.com/kubemesos/kubemesos/sdk/executor"
)

// hollowAgent is the real agent of one kwok node, run in this process.
type hollowAgent struct {
	node, addr string
}

// startHollowAgent runs the agent of node i, built as the kubemesos binary
// builds it (inprocess.NewAgent), with its own manager, its executor API
// on its own loopback address and its own work dir.
func startHollowAgent(c *Cluster, cfg *rest.Config, i int) (*hollowAgent, error) {
	a := &hollowAgent{node: nodeName(i), addr: net.JoinHostPort(agentIP(i), strconv.Itoa(c.port))}
	workDir := filepath.Join(c.dir, "agents", a.node)
	if err := os.MkdirAll(workDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the work dir of agent %s: %w", a.node, err)
	}
	mgr, _, err := inprocess.NewAgent(c.ctx, cfg, inprocess.AgentConfig{
		Node: a.node, WorkDir: workDir, Addr: a.addr,
		RegistrationTimeout: time.Minute, HeartbeatInterval: c.cfg.HeartbeatInterval,
		// The binary's default, as the agents of a cluster run.
		StatusUpdateDelay:   agent.DefaultStatusUpdateDelay,
		ResourceGrowthDelay: c.cfg.ResourceGrowthDelay,
	})
	if err != nil {
		return nil, err
	}
	c.goRun(func() {
		if err := mgr.Start(c.ctx); err != nil {
			c.cfg.Log.Error(err, "hollow agent stopped", "node", a.node)
		}
	})
	return a, nil
}

// executorHost plays the kubelet's part for custom executor pods, which
// kwok only marks Running: once such a pod runs, it starts the executor
// in this process, through the executor SDK against the executor API of
// the pod's agent, with a token bound to the pod (as the kubelet mounts
// it) and from a loopback address of its own (as each pod has its own
// IP; the agent takes a bounded number of connections per address). When
// the pod is deleted, the executor stops, as its container would.
type executorHost struct {
	c      *Cluster
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	running map[types.UID]*hostedExecutor
	nextIP  atomic.Int64
	started atomic.Int64
}

// hostedExecutor is one executor; driver is nil while it starts.
type hostedExecutor struct {
	driver  *executor.Driver
	client  *http.Client
	stopped bool
}

func newExecutorHost(c *Cluster) (*executorHost, error) {
	h := &executorHost{c: c, running: map[types.UID]*hostedExecutor{}}
	h.ctx, h.cancel = context.WithCancel(c.ctx)
	if _, err := c.pods.AddEventHandler(toolscache.FilteringResourceEventHandler{
		FilterFunc: isCustomExecutorPod,
		Handler: toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { h.podChanged(o) },
			UpdateFunc: func(_, o any) { h.podChanged(o) },
			DeleteFunc: func(o any) { h.podGone(o) },
		},
	}); err != nil {
		return nil, fmt.Errorf("watching executor pods: %w", err)
	}
	return h, nil
}

// isCustomExecutorPod matches the pods of custom executors: executor pods
// with an executor label (command tasks' pods have none).
func isCustomExecutorPod(o any) bool {
	if t, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
		o = t.Obj
	}
	p, ok := o.(*corev1.Pod)
	if !ok {
		return false
	}
	_, executor := p.Labels[kmv1.LabelExecutor]
	return executor && p.Labels[kmv1.LabelComponent] == "executor"
}

func (h *executorHost) podChanged(o any) {
	p, ok := o.(*corev1.Pod)
	if !ok {
		return
	}
	if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		h.stopExecutor(p.UID)
		return
	}
	if p.Status.Phase != corev1.PodRunning {
		return
	}
	h.mu.Lock()
	if _, ok := h.running[p.UID]; ok {
		h.mu.Unlock()
		return
	}
	e := &hostedExecutor{}
	h.running[p.UID] = e
	h.mu.Unlock()
	go h.startExecutor(p.DeepCopy(), e)
}

func (h *executorHost) podGone(o any) {
	if t, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
		o = t.Obj
	}
	if p, ok := o.(*corev1.Pod); ok {
		h.stopExecutor(p.UID)
	}
}

// startExecutor does what the kubelet and the pod's container would: the
// pod's token into a file, then the executor's driver with the pod's
// environment.
func (h *executorHost) startExecutor(p *corev1.Pod, e *hostedExecutor) {
	dir := filepath.Join(h.c.dir, "executors", string(p.UID))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		h.c.cfg.Log.Error(err, "creating an executor's dir", "pod", p.Namespace+"/"+p.Name)
		return
	}
	cfg, err := inprocess.ExecutorConfig(h.ctx, h.c.client, p, dir)
	if err != nil {
		if h.ctx.Err() == nil {
			h.c.cfg.Log.Error(err, "starting an executor", "pod", p.Namespace+"/"+p.Name)
		}
		return
	}
	cfg.HTTPClient = executorClient(executorIP(int(h.nextIP.Add(1) - 1)))
	cfg.Log = ctrl.Log.WithName("executor").WithValues("pod", p.Namespace+"/"+p.Name)
	d := executor.NewDriver(&benchExecutor{duration: h.c.cfg.Duration, log: cfg.Log}, cfg)
	h.mu.Lock()
	defer h.mu.Unlock()
	if e.stopped {
		return
	}
	e.driver, e.client = d, cfg.HTTPClient
	_ = d.Start()
	h.started.Add(1)
}

func (h *executorHost) stopExecutor(uid types.UID) {
	h.mu.Lock()
	e := h.running[uid]
	if e == nil || e.stopped {
		h.mu.Unlock()
		return
	}
	e.stopped = true
	h.mu.Unlock()
	if e.driver != nil {
		_ = e.driver.Stop()
		e.client.CloseIdleConnections()
	}
}

// stop stops every executor.
func (h *executorHost) stop() {
	h.cancel()
	h.mu.Lock()
	uids := make([]types.UID, 0, len(h.running))
	for uid := range h.running {
		uids = append(uids, uid)
	}
	h.mu.Unlock()
	for _, uid := range uids {
		h.stopExecutor(uid)
	}
}

// Started is how many executors have been started so far.
func (h *executorHost) Started() int { return int(h.started.Load()) }

// executorIP is the loopback address that executor n dials from:
// 127.2.x.y.
func executorIP(n int) string { return fmt.Sprintf("127.2.%d.%d", n/250, n%250+1) }

// executorClient is the executor SDK's default client (a few connections
// to the agent, no timeout: the event stream is long-lived) dialing from
// ip.
func executorClient(ip string) *http.Client {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = dialer.DialContext
	t.MaxConnsPerHost = 6
	return &http.Client{Transport: t}
}

// benchExecutor runs each task for a fixed duration: TASK_RUNNING at
// once, TASK_FINISHED when the duration has passed.
type benchExecutor struct {
	duration time.Duration
	log      logr.Logger
}

var _ executor.Executor = (*benchExecutor)(nil)

// Registered needs nothing.
func (e *benchExecutor) Registered(executor.ExecutorDriver, executor.Info) {}

// Reregistered needs nothing: the driver resends what the agent missed.
func (e *benchExecutor) Reregistered(executor.ExecutorDriver, executor.Info) {}

// Disconnected needs nothing: the driver reconnects.
func (e *benchExecutor) Disconnected(executor.ExecutorDriver) {}

// LaunchTask runs the task in a goroutine, as every callback should.
func (e *benchExecutor) LaunchTask(d executor.ExecutorDriver, task executorapi.TaskInfo) {
	go func() {
		_ = d.SendStatusUpdate(executor.TaskStatus{TaskID: task.TaskID, State: kmv1.TaskRunning})
		time.Sleep(e.duration)
		_ = d.SendStatusUpdate(executor.TaskStatus{TaskID: task.TaskID, State: kmv1.TaskFinished})
	}()
}

// KillTask ends the task at once.
func (e *benchExecutor) KillTask(d executor.ExecutorDriver, taskID string) {
	_ = d.SendStatusUpdate(executor.TaskStatus{TaskID: taskID, State: kmv1.TaskKilled})
}

// FrameworkMessage needs nothing: the benchmark sends none.
func (e *benchExecutor) FrameworkMessage(executor.ExecutorDriver, string) {}

// Shutdown needs nothing: the driver stops.
func (e *benchExecutor) Shutdown(executor.ExecutorDriver) {}

// Error logs what the agent reported; the run's counts show its effect.
func (e *benchExecutor) Error(_ executor.ExecutorDriver, message string) {
	e.log.Error(nil, "executor error", "message", message)
}
