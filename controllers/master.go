package controllers

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers/schedcache"
	"github.com/kubemesos/kubemesos/internal/deletions"
	"github.com/kubemesos/kubemesos/internal/fieldowner"
)

// Options are the master's settings, set from the flags of `kubemesos master`.
type Options struct {
	// SystemNamespace holds the agents' heartbeat Leases.
	SystemNamespace string
	// AllocationInterval is the period of the allocation loop (Mesos 1s).
	AllocationInterval time.Duration
	// OfferTimeout rescinds offers left unused this long; zero keeps them
	// until used or declined (Mesos's default, unsafe on a shared cluster).
	OfferTimeout time.Duration
	// AcceptWindow is how long an offer stays usable after its latest task
	// was admitted, so that every task of one launch lands on it however
	// slowly its creates reach the master. Then the offer is consumed and
	// what its tasks did not use returns to the pool.
	// A launch whose tasks say how many they are
	// (kmv1.AnnotationLaunchTasks) consumes it as soon as all are admitted,
	// and keeps it for partialLaunchWindows windows while fewer exist.
	AcceptWindow time.Duration
	// UsageWriteInterval is the least time between two writes of an
	// Agent's status.allocated and status.offered: with tasks coming and
	// going they change every cycle, and writing them that often would
	// cost the API server a write per agent per cycle. Zero writes every
	// change at once.
	UsageWriteInterval time.Duration
	// UsageWriteRate bounds the usage writes of all agents together, per
	// second, the agent written longest ago first, so that they do not
	// grow with the number of busy agents (at 1,000 agents and 10 s they
	// would be 100 writes a second); each agent's usage is then refreshed
	// about every agents ÷ rate seconds. Zero means no bound.
	UsageWriteRate float64
	// AgentPingTimeout × MaxAgentPingTimeouts is how stale an agent's Lease
	// may get before the agent becomes Unreachable (Mesos 15s × 5).
	AgentPingTimeout     time.Duration
	MaxAgentPingTimeouts int
	// AgentRemovalRate bounds how many agents may become Unreachable per
	// AgentRemovalPeriod; zero means no bound.
	AgentRemovalRate   int
	AgentRemovalPeriod time.Duration
	// RoleWeights are the DRF weights of roles; 1 when absent.
	RoleWeights map[string]float64
	// TerminalTaskLimit is how many terminal Tasks a framework keeps; older
	// ones are deleted. Zero keeps them all.
	TerminalTaskLimit int
	// TeardownTimeout bounds how long a deleted Framework waits for its
	// live tasks and running pods to end. Past it, the master removes what
	// is left at once (grace period 0) and releases the Framework: a pod
	// that its kubelet never finishes cannot hold a deletion, or its
	// namespace's, forever.
	TeardownTimeout time.Duration
	// OrphanTaskTTL is how long a terminal Task whose Framework does not
	// exist is kept before it is deleted; zero keeps it.
	OrphanTaskTTL time.Duration
}

// DefaultOptions returns Mesos's defaults.
func DefaultOptions() Options {
	return Options{
		SystemNamespace:      "kubemesos-system",
		AllocationInterval:   time.Second,
		UsageWriteInterval:   10 * time.Second,
		UsageWriteRate:       5,
		AcceptWindow:         2 * time.Second,
		AgentPingTimeout:     15 * time.Second,
		MaxAgentPingTimeouts: 5,
		AgentRemovalRate:     10,
		AgentRemovalPeriod:   time.Minute,
		TerminalTaskLimit:    1000,
		OrphanTaskTTL:        10 * time.Minute,
		TeardownTimeout:      2 * time.Minute,
		// Mesos has no offer timeout by default. On a shared cluster one
		// scheduler that never answers would hold every agent's resources
		// away from all others, so kubemesos rescinds unused offers after
		// five minutes unless the operator says otherwise.
		OfferTimeout: DefaultOfferTimeout,
	}
}

// DefaultOfferTimeout is how long an offer may stay unused before it is
// rescinded, by default.
const DefaultOfferTimeout = 5 * time.Minute

// AgentTimeout is how stale a heartbeat Lease may get.
func (o Options) AgentTimeout() time.Duration {
	return o.AgentPingTimeout * time.Duration(o.MaxAgentPingTimeouts)
}

// Master is the kubemesos master: the agent registry, task admission,
// the allocation loop and the framework lifecycle, sharing state only
// through the scheduling cache.
type Master struct {
	// Client reads through the informers; each concern writes through its
	// own client below, named by its field manager.
	Client   client.Client
	Clock    clock.WithTicker
	Recorder events.EventRecorder
	Options  Options

	admissionClient  client.Client
	registryClient   client.Client
	allocatorClient  client.Client
	frameworksClient client.Client
	// rebuild serialises the scheduling cache's rebuild on leader start.
	rebuild sync.Mutex
	trigger chan struct{}
	removal *removalLimiter
	// renewals times the agents' heartbeats by the master's clock.
	renewals *renewals
	// stagings keeps admission from staging tasks on an agent that the
	// registry is removing.
	stagings *stagings
	// apiReader reads from the API server, past the informers.
	apiReader client.Reader
	// deletes deletes each pod and Task once.
	deletes *deletions.Deleter
	// usageWritten is when each agent's usage was last written (the
	// allocation loop's own).
	usageWritten map[string]time.Time
	// usagePruned is when usageWritten was last pruned.
	usagePruned time.Time
	// usageLimiter applies Options.UsageWriteRate; nil when unbounded.
	usageLimiter *rate.Limiter
	// shares are the frameworks' dominant shares from the last cycle.
	shares shares
	// lastCycle is the last allocation cycle, for LastCycle.
	lastCycle atomic.Pointer[Cycle]
	// sched is the scheduling cache that each allocation cycle reads.
	sched   *schedcache.Cache
	elected <-chan struct{}
	// frameworkQueue is the framework controller's queue once it runs:
	// the scheduling cache's task events refresh the frameworks' counts
	// through it (setupFrameworks).
	frameworkQueue atomic.Pointer[workqueue.TypedRateLimitingInterface[reconcile.Request]]
}

// leading reports whether this master won the election (or runs without one).
func (m *Master) leading() bool {
	if m.elected == nil {
		return true
	}
	select {
	case <-m.elected:
		return true
	default:
		return false
	}
}

// New returns a master with the given client, clock, recorder and options.
func New(c client.Client, clk clock.WithTicker, rec events.EventRecorder, o Options) *Master {
	return &Master{
		Client:           c,
		Clock:            clk,
		Recorder:         rec,
		Options:          o,
		admissionClient:  fieldowner.Client(c, fieldowner.Admission),
		registryClient:   fieldowner.Client(c, fieldowner.Registry),
		allocatorClient:  fieldowner.Client(c, fieldowner.Allocator),
		frameworksClient: fieldowner.Client(c, fieldowner.Frameworks),
		trigger:          make(chan struct{}, 1),
		removal:          newRemovalLimiter(o.AgentRemovalRate, o.AgentRemovalPeriod, clk),
		renewals:         newRenewals(clk),
		stagings:         newStagings(clk),
		deletes:          deletions.New(fieldowner.Client(c, fieldowner.Frameworks), clk),
		sched:            schedcache.New(clk),
		usageWritten:     map[string]time.Time{},
		usageLimiter:     newUsageLimiter(o.UsageWriteRate),
	}
}

// newUsageLimiter is the limiter of UsageWriteRate writes a second, a
// second's worth at once, or nil for no bound.
func newUsageLimiter(perSecond float64) *rate.Limiter {
	if perSecond <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(perSecond), max(1, int(math.Ceil(perSecond))))
}

// Trigger asks for an allocation cycle soon. It never blocks.
func (m *Master) Trigger() {
	select {
	case m.trigger <- struct{}{}:
	default:
	}
}

// SetupWithManager registers the indexes, the reconcilers and the
// allocation loop with mgr. Everything runs on the leader only.
func (m *Master) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := SetupIndexes(ctx, mgr.GetFieldIndexer()); err != nil {
		return err
	}
	m.elected = mgr.Elected()
	m.apiReader = mgr.GetAPIReader()
	// A deleted offer is forgotten by the scheduling cache and then, in
	// the same event, judged: consumed, rescinded, or declined.
	m.sched.OfferDeleted = func(o *kmv1.Offer, fate schedcache.Fate) { m.offerDeleted(ctx, o, fate) }
	m.sched.RefuseFor = m.refuseFor
	m.sched.TaskChanged = m.frameworkTasksChanged
	m.sched.LaunchAdmitted = m.Trigger
	if err := m.sched.Register(ctx, mgr.GetCache()); err != nil {
		return err
	}
	if err := m.setupAgentRegistry(mgr); err != nil {
		return fmt.Errorf("setting up the agent registry: %w", err)
	}
	if err := m.setupAdmission(mgr); err != nil {
		return fmt.Errorf("setting up task admission: %w", err)
	}
	if err := m.setupFrameworks(mgr); err != nil {
		return fmt.Errorf("setting up the framework controller: %w", err)
	}
	if err := m.setupOrphanTasks(mgr); err != nil {
		return fmt.Errorf("setting up the orphaned task collector: %w", err)
	}
	if err := mgr.Add(&allocationLoop{m: m}); err != nil {
		return fmt.Errorf("adding the allocation loop: %w", err)
	}
	return nil
}

// ensureRebuilt rebuilds, once per leadership and before anything is
// admitted or offered, what admitted tasks took from the offers that still
// exist, reading every offer and task from the informers.
func (m *Master) ensureRebuilt(ctx context.Context) error {
	if m.sched.Rebuilt() {
		return nil
	}
	m.rebuild.Lock()
	defer m.rebuild.Unlock()
	if m.sched.Rebuilt() {
		return nil
	}
	// The cache's handlers must have taken in the informers' first lists,
	// which the manager does not wait for: waited here, without the
	// cache's lock (they take it).
	if !m.sched.WaitHandled(ctx) {
		return fmt.Errorf("waiting for the scheduling cache to take in the informers' first lists: %w", ctx.Err())
	}
	// The lists are read with the scheduling cache locked (RebuildFrom).
	// The informers have synced (the controllers and the allocation loop
	// that call this start once they have), so a List returns at once;
	// it reads the informers' stores, which their handlers never hold.
	return m.sched.RebuildFrom(func() ([]*kmv1.Offer, []*kmv1.Task, error) {
		var offers kmv1.OfferList
		var tasks kmv1.TaskList
		// Read only, and the cache keeps nothing of the lists: no deep
		// copies of every Task.
		if err := m.Client.List(ctx, &offers, client.UnsafeDisableDeepCopy); err != nil {
			return nil, nil, fmt.Errorf("reading the offers: %w", err)
		}
		if err := m.Client.List(ctx, &tasks, client.UnsafeDisableDeepCopy); err != nil {
			return nil, nil, fmt.Errorf("reading the tasks: %w", err)
		}
		os := make([]*kmv1.Offer, len(offers.Items))
		for i := range offers.Items {
			os[i] = &offers.Items[i]
		}
		ts := make([]*kmv1.Task, len(tasks.Items))
		for i := range tasks.Items {
			ts[i] = &tasks.Items[i]
		}
		return os, ts, nil
	})
}

// CacheObjects are the kinds the master reads, for cache configuration.
var CacheObjects = []client.Object{&kmv1.Agent{}, &kmv1.Framework{}, &kmv1.Task{}, &kmv1.Offer{},
	&coordinationv1.Lease{}, &corev1.Node{}, &corev1.Pod{}}
