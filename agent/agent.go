package agent

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	utilcache "k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/deletions"
	"github.com/kubemesos/kubemesos/internal/fieldowner"
	"github.com/kubemesos/kubemesos/internal/messages"
	"github.com/kubemesos/kubemesos/internal/metrics"
	"github.com/kubemesos/kubemesos/internal/portrange"
)

// AnnotationAgentID records on each executor pod the agentID it was
// launched under, so a re-admitted agent can find and kill the old ones.
const AnnotationAgentID = kmv1.AnnotationAgentID

// Index of the agent's Task cache.
const indexTaskExecutor = "task.executor"

// indexPodNode indexes the cached pods by spec.nodeName.
const indexPodNode = "spec.nodeName"

// DefaultStatusUpdateDelay is the binary's --status-update-delay.
const DefaultStatusUpdateDelay = 200 * time.Millisecond

// DefaultResourceGrowthDelay is the binary's --resource-growth-delay.
const DefaultResourceGrowthDelay = 30 * time.Second

// Options are the agent's settings.
type Options struct {
	// NodeName is the agent's node.
	NodeName string
	// Endpoint is the executor API address that executors dial, host:port.
	Endpoint string
	// Listen is the address the executor API listens on.
	Listen string
	// WorkDir holds the checkpoints.
	WorkDir string
	// LeaseNamespace holds the heartbeat Lease.
	LeaseNamespace string
	// HeartbeatInterval is how often the Lease is renewed.
	HeartbeatInterval time.Duration
	// ResourceGrowthDelay is Registrar.GrowthDelay: how long after the
	// Agent spec's last write a spec whose resources only grew (other pods
	// of the node ended) waits to be written. Zero writes it at once; the
	// binary's default is DefaultResourceGrowthDelay.
	ResourceGrowthDelay time.Duration
	// StatusUpdateDelay is how long a non-terminal status update other
	// than a task's first TASK_RUNNING waits before it is written, so that
	// the task's next update takes its place (TASK_RUNNING that of
	// TASK_STARTING): one write instead of two. Zero writes each at once;
	// the binary's default is DefaultStatusUpdateDelay.
	StatusUpdateDelay time.Duration
	// RunningUpdateDelay is how long a task's first TASK_RUNNING waits
	// before it is written, so that a task that ends within it costs one
	// status write: its terminal update takes the place of its
	// TASK_RUNNING. Zero (the binary's default) writes it at once.
	RunningUpdateDelay time.Duration
	// StatusUpdateWriters is how many tasks' status updates are written
	// at once (each task's still one at a time, in order). Zero means
	// DefaultStatusUpdateWriters.
	StatusUpdateWriters int
	// ExecutorRegistrationTimeout is how long an executor pod may take to
	// subscribe before its tasks fail (Mesos 1m), and how long an executor
	// that had subscribed may go without a subscription (after the agent
	// restarted, or its stream ended) before its tasks, running or staged
	// meanwhile, fail.
	ExecutorRegistrationTimeout time.Duration
	// OfferTolerations are the node taints (NoSchedule, NoExecute) under
	// which the node is still offered; executor pods carry them. Under any
	// other such taint, or a cordon, the node offers nothing.
	OfferTolerations []corev1.Toleration
	// Ports are the port ranges the agent offers (Mesos's default
	// [31000-32000] from the command line).
	Ports portrange.Set
	// AnonymousExecutorNamespaces are the namespaces whose executors may
	// call the executor API without credentials, taken from the address of
	// their pod (executor_auth.go); empty: none, every call needs its
	// executor's token.
	AnonymousExecutorNamespaces []string
}

// Agent is the kubemesos agent of one node. It builds the agent's parts
// and wires them together; each part gets what it needs passed in:
//
//   - the registration loop (registration.go): the Agent object, the
//     heartbeat Lease and admission, which sets the agentID;
//   - the task reconciler (tasks.go): the executor and command pods of the
//     tasks placed on this node, kills and executor retirement;
//   - the executor API (executor_server.go) and its hooks
//     (executor_hooks.go, executor_auth.go): what executors call, and what
//     the dispatcher (dispatch.go) sends them;
//   - the status updates (statusupdates.go), checkpointed and written into
//     the Tasks by the status writer (status_writer.go);
//   - the framework messages both ways (messages.go).
type Agent struct {
	// Client reads from the agent's node-scoped cache and writes as
	// fieldowner.Agent.
	Client   client.Client
	Clock    clock.WithTicker
	Recorder events.EventRecorder
	Options  Options
	Log      logr.Logger

	id           *identity
	server       *ExecutorServer
	updates      *StatusUpdates
	messages     *messageRelay
	watches      *messageWatches
	requeue      *requeuer
	tasks        *taskReconciler
	registration *registration
	writer       *statusWriter
}

// New makes an agent whose writes all go through c as fieldowner.Agent. It
// loads the checkpoint under o.WorkDir.
func New(c client.Client, clk clock.WithTicker, rec events.EventRecorder, o Options, log logr.Logger) (*Agent, error) {
	id, err := loadIdentity(o.WorkDir, log)
	if err != nil {
		return nil, err
	}
	c = fieldowner.Client(c, fieldowner.Agent)
	server := &ExecutorServer{Log: log.WithName("executor-api"), Clock: clk, RememberEnds: 2 * o.ExecutorRegistrationTimeout}
	dispatch := newDispatcher(server)
	deletes := deletions.New(c, clk)
	writer := &statusWriter{client: c, server: server, log: log}
	updates := NewStatusUpdates(filepath.Join(o.WorkDir, "updates"), writer.write, writer.acknowledge, clk, log.WithName("status-updates"))
	updates.delay, updates.runningDelay = o.StatusUpdateDelay, o.RunningUpdateDelay
	if o.StatusUpdateWriters > 0 {
		updates.writers = o.StatusUpdateWriters
	}
	relay := newMessageRelay(server, messages.NewDeleter(c, log.WithName("messages")), runsHere(c, server, id), log.WithName("messages"))
	requeue := newRequeuer(c)
	a := &Agent{Client: c, Clock: clk, Recorder: rec, Options: o, Log: log,
		id: id, server: server, updates: updates, messages: relay, requeue: requeue, writer: writer}
	a.tasks = &taskReconciler{
		client: c, clock: clk, recorder: rec, log: log, options: o, id: id,
		server: server, dispatch: dispatch, updates: updates, messages: relay, deletes: deletes,
		started: clk.Now(), created: map[string]time.Time{}, ended: newEnded(clk),
	}
	server.Hooks = &executorHooks{
		tasks: c, node: o.NodeName, clock: clk, log: log.WithName("executor-api"), id: id,
		auth: &executorAuthenticator{
			tokens: newTokenAuthenticator(ClientTokenReview(c), clk, log.WithName("executor-auth")),
			pods:   c, node: o.NodeName, id: id,
			anonymous: sets.New(o.AnonymousExecutorNamespaces...), log: log.WithName("executor-auth"),
			admitted: utilcache.NewLRUExpireCacheWithClock(reviewCacheSize, clk),
		},
		server: server, dispatch: dispatch, updates: updates, inbox: relay, requeue: requeue,
		outbox: &outbox{client: c, clock: clk, node: o.NodeName, id: id},
	}
	a.registration = &registration{
		registrar: &Registrar{Client: c, Clock: clk, NodeName: o.NodeName, Endpoint: o.Endpoint, LeaseNamespace: o.LeaseNamespace,
			Interval: o.HeartbeatInterval, LeaseDuration: 3 * o.HeartbeatInterval, Tolerations: o.OfferTolerations, Ports: o.Ports,
			GrowthDelay: o.ResourceGrowthDelay, Recorder: rec},
		client: c, clock: clk, recorder: rec, log: log, id: id,
		updates: updates, dispatch: dispatch, messages: relay, deletes: deletes, requeue: requeue,
		wake: make(chan struct{}, 1), soon: make(chan struct{}, 1),
	}
	return a, nil
}

// Server is the executor API handler.
func (a *Agent) Server() *ExecutorServer { return a.server }

// Updates is the status update manager.
func (a *Agent) Updates() *StatusUpdates { return a.updates }

// AgentID returns the agentID the agent runs under, "" before admission.
func (a *Agent) AgentID() string { return a.id.get() }

// CacheOptions is what the agent of node caches: its own Node, Agent and
// heartbeat Lease (in leaseNamespace), the pods and Tasks on its node, and
// the message Events addressed to it. The CLI and the test harness both
// use it, so tests run the production wiring.
func CacheOptions(node, leaseNamespace string) cache.Options {
	own := fields.OneTermEqualSelector("metadata.name", node)
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Node{}: {Field: own},
			&kmv1.Agent{}:  {Field: own},
			&corev1.Pod{}:  {Field: fields.OneTermEqualSelector("spec.nodeName", node)},
			&kmv1.Task{}:   {Field: fields.OneTermEqualSelector("status.nodeName", node)},
			&coordinationv1.Lease{}: {
				Namespaces: map[string]cache.Config{leaseNamespace: {}},
				Field:      fields.OneTermEqualSelector("metadata.name", kmv1.AgentLeaseName(node)),
			},
		},
	}
}

// SetupWithManager registers the agent's indexes, its task controller, its
// watch of scheduler messages, and the agent itself (Start).
func (a *Agent) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := registerIndexes(ctx, mgr); err != nil {
		return err
	}
	if err := a.updates.Recover(); err != nil {
		return err
	}
	a.writer.live = mgr.GetAPIReader()
	a.tasks.live = mgr.GetAPIReader()
	if h, ok := a.server.Hooks.(*executorHooks); ok {
		h.live = mgr.GetAPIReader()
	}
	if err := a.tasks.setup(mgr, a.registration.poke, a.registration.syncSoon, a.requeue); err != nil {
		return fmt.Errorf("setting up the task controller: %w", err)
	}
	if err := a.tasks.setupRetirement(mgr); err != nil {
		return fmt.Errorf("setting up the executor retirement: %w", err)
	}
	events, err := kubernetes.NewForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
	if err != nil {
		return fmt.Errorf("a client for scheduler messages: %w", err)
	}
	a.watches = newMessageWatches(events, a.Client, a.messages, a.Options.NodeName, a.Clock, a.Log.WithName("messages"))
	// A task or an executor pod that arrives may need its namespace's
	// messages watched.
	poke := toolscache.ResourceEventHandlerFuncs{AddFunc: func(any) { a.watches.poke() }}
	for _, obj := range []client.Object{&kmv1.Task{}, &corev1.Pod{}} {
		inf, err := mgr.GetCache().GetInformer(ctx, obj)
		if err != nil {
			return fmt.Errorf("watching %T for the namespaces of scheduler messages: %w", obj, err)
		}
		if _, err := inf.AddEventHandler(poke); err != nil {
			return fmt.Errorf("watching %T for the namespaces of scheduler messages: %w", obj, err)
		}
	}
	return mgr.Add(a)
}

// registerIndexes registers the indexes of the agent's cache that its
// parts use: pods by node (the Registrar) and Tasks by executor.
func registerIndexes(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &corev1.Pod{}, indexPodNode, func(o client.Object) []string {
		return []string{o.(*corev1.Pod).Spec.NodeName}
	}); err != nil {
		return fmt.Errorf("indexing pods by node: %w", err)
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &kmv1.Task{}, indexTaskExecutor, func(o client.Object) []string {
		t := o.(*kmv1.Task)
		if t.Status.ExecutorID == "" {
			return nil
		}
		return []string{kmv1.ExecutorRef{Namespace: t.Namespace, Framework: string(t.Spec.Framework), ExecutorID: t.Status.ExecutorID}.String()}
	}); err != nil {
		return fmt.Errorf("indexing tasks by executor: %w", err)
	}
	return nil
}

// NeedLeaderElection is false: every node runs its own agent.
func (a *Agent) NeedLeaderElection() bool { return false }

// Start runs the executor API, the status update manager, the message
// relay and the registration loop until ctx ends. Everything they do runs
// under ctx, the executor API's calls included.
func (a *Agent) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.Options.Listen)
	if err != nil {
		return fmt.Errorf("listening for executors on %s: %w", a.Options.Listen, err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := a.server.Serve(ctx, ln); err != nil {
			a.Log.Error(err, "executor API stopped")
		}
	}()
	defer func() { <-served }()
	metrics.ObserveStatusUpdateBacklog(a.updates.Backlog)
	go a.updates.Run(ctx)
	go a.messages.run(ctx)
	watched := make(chan struct{})
	go func() { defer close(watched); a.watches.run(ctx) }()
	defer func() { <-watched }()
	a.registration.run(ctx)
	return nil
}
