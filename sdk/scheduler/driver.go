package scheduler

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/fieldowner"
	"github.com/kubemesos/kubemesos/internal/messages"
	"github.com/kubemesos/kubemesos/internal/restconfig"
	"github.com/kubemesos/kubemesos/internal/scheme"
	"github.com/kubemesos/kubemesos/internal/stopper"
)

// This file holds the Driver itself: its configuration, its state and its
// lifecycle (Start, Stop, Abort, Join, Run). The scheduler Lease and
// failover are in failover.go, the informer events that become Scheduler
// callbacks in events.go, the calls to the master in calls.go and framework
// messages in messages.go.

// Config configures a Driver.
type Config struct {
	// RestConfig reaches the API server: in-cluster config in a pod, a
	// kubeconfig from a laptop. Left at zero, its QPS means no client-side
	// rate limit (the API server's own flow control applies), as
	// controller-runtime's config loader does; client-go's default of 5
	// requests a second would bound the launch rate. The driver asks for
	// uncompressed responses, as the master and the agents do: compressed,
	// each event of its watches costs the API server a gzip flush.
	RestConfig *rest.Config
	// Namespace and Framework name the Framework.
	Namespace, Framework string
	// Spec creates the Framework when it does not exist; nil claims an
	// existing one only.
	Spec *kmv1.FrameworkSpec
	// Identity names this instance in the Lease; by default the hostname,
	// the pid and a random suffix, so that two drivers in one process are
	// two instances. Two drivers with one identity both hold the Lease.
	Identity string
	// Lease timings; 15s, 10s and 2s by default.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Log receives the driver's logs.
	Log logr.Logger
}

// Driver is the SchedulerDriver.
type Driver struct {
	sched Scheduler
	cfg   Config
	c     client.Client
	cache cache.Cache
	// cs writes the scheduler Lease through client-go's Lease lock.
	cs kubernetes.Interface
	// leaseOwner is the Framework, as the scheduler Lease's owner.
	leaseOwner metav1.OwnerReference

	ctx    context.Context
	cancel context.CancelFunc
	calls  *callQueue
	stop   *stopper.Stopper
	// final is the last callback, run once the driver has stopped:
	// Disconnected after the Lease is lost, or Error.
	final func()

	// Framework messages: those from executors, and this instance's own
	// sequence as a sender.
	inbox       *inbox
	messagesReg toolscache.ResourceEventHandlerRegistration
	deleter     *messages.Deleter
	sender      string
	sendMu      sync.Mutex
	sent        uint64

	mu         sync.Mutex
	active     bool
	registered bool
	fw         *kmv1.Framework
	seenOffers map[string]bool       // delivered to the scheduler
	usedOffers map[string]bool       // launched on or declined
	lastState  map[string]seenStatus // the last status queued for each task
	// delivered is each task's furthest state delivered to the scheduler
	// (its Rank()+1); only the dispatcher reads and writes it.
	delivered   map[string]int
	lostAgents  map[string]bool
	agentNodes  map[string]string // agentID -> node, from tasks and offers
	pendingOffs []kmv1.Offer
	aborted     atomic.Bool // Abort was called: the Lease is not written again
}

// NewDriver returns a driver for sched.
func NewDriver(sched Scheduler, cfg Config) (*Driver, error) {
	if cfg.RestConfig == nil || cfg.Namespace == "" || cfg.Framework == "" {
		return nil, errors.New("scheduler.Config needs RestConfig, Namespace and Framework")
	}
	if cfg.Identity == "" {
		host, _ := os.Hostname()
		cfg.Identity = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), messages.NewSender()[:6])
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration, cfg.RenewDeadline, cfg.RetryPeriod = 15*time.Second, 10*time.Second, 2*time.Second
	}
	if cfg.Log.GetSink() == nil {
		cfg.Log = logr.Discard()
	}
	cfg.RestConfig = restconfig.ForCluster(cfg.RestConfig)
	if cfg.RestConfig.QPS == 0 {
		cfg.RestConfig.QPS = -1
	}
	s := scheme.New()
	c, err := client.New(cfg.RestConfig, client.Options{Scheme: s})
	if err != nil {
		return nil, fmt.Errorf("creating a client: %w", err)
	}
	// Every write of the driver (Framework, Tasks, Offers, Events, the
	// Lease) names the SDK as its field manager. client-go's Lease lock
	// sets none, so its clientset's user agent names it (the API server
	// takes the default field manager from the user agent).
	c = fieldowner.Client(c, fieldowner.Scheduler)
	leaseConfig := rest.CopyConfig(cfg.RestConfig)
	leaseConfig.UserAgent = fieldowner.Scheduler
	cs, err := kubernetes.NewForConfig(leaseConfig)
	if err != nil {
		return nil, fmt.Errorf("creating a clientset: %w", err)
	}
	ca, err := cache.New(cfg.RestConfig, cache.Options{Scheme: s, ByObject: map[client.Object]cache.ByObject{
		&kmv1.Offer{}:     {Namespaces: map[string]cache.Config{cfg.Namespace: {}}, Field: fields.OneTermEqualSelector("spec.framework", cfg.Framework)},
		&kmv1.Task{}:      {Namespaces: map[string]cache.Config{cfg.Namespace: {}}, Field: fields.OneTermEqualSelector("spec.framework", cfg.Framework)},
		&kmv1.Framework{}: {Namespaces: map[string]cache.Config{cfg.Namespace: {}}, Field: fields.OneTermEqualSelector("metadata.name", cfg.Framework)},
		&eventsv1.Event{}: {Namespaces: map[string]cache.Config{cfg.Namespace: {}}, Label: messages.ToScheduler(cfg.Framework)},
	}})
	if err != nil {
		return nil, fmt.Errorf("creating the cache: %w", err)
	}
	return &Driver{sched: sched, cfg: cfg, c: c, cs: cs, cache: ca, calls: newCallQueue(), stop: stopper.New(),
		inbox: newInbox(), deleter: messages.NewDeleter(c, cfg.Log.WithName("messages")), sender: messages.NewSender(),
		seenOffers: map[string]bool{}, usedOffers: map[string]bool{}, lastState: map[string]seenStatus{}, delivered: map[string]int{}, lostAgents: map[string]bool{},
		agentNodes: map[string]string{}}, nil
}

var _ SchedulerDriver = (*Driver)(nil)

func (d *Driver) log() logr.Logger { return d.cfg.Log }

func (d *Driver) isActive() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.active
}

// ErrNotActive is what a call returns when this driver is not the
// framework's active scheduler: a standby, an instance that lost the Lease,
// or a stopped driver. The call was not made, as a Mesos driver drops the
// calls of a framework that is not registered: only the instance that holds
// the Lease acts for the framework.
var ErrNotActive = errors.New("this driver is not the framework's active scheduler (a standby, or it lost the scheduler Lease or stopped): call not made")

// Start claims the Framework, starts the informers and campaigns for the
// scheduler Lease.
func (d *Driver) Start() error {
	d.ctx, d.cancel = context.WithCancel(context.Background())
	if err := d.claim(d.ctx); err != nil {
		d.cancel()
		return err
	}
	if err := d.watch(d.ctx); err != nil {
		d.cancel()
		return err
	}
	go func() { _ = d.cache.Start(d.ctx) }()
	go d.deleter.Run(d.ctx)
	go d.dispatch()
	go d.campaign()
	return nil
}

// Stop stops the driver and releases the Lease. Without failover an active
// instance completes the framework first; a standby only stops, leaving the
// framework to the instance that holds the Lease.
func (d *Driver) Stop(failover bool) error {
	if !failover && d.isActive() {
		if err := d.Complete(d.Framework().Status.Result); err != nil {
			return err
		}
	}
	// The scheduler stopped the driver: no Disconnected follows.
	d.mu.Lock()
	d.active = false
	d.mu.Unlock()
	d.finish(nil)
	return nil
}

// Abort stops at once without releasing the Lease, as a crash would.
func (d *Driver) Abort() error {
	d.aborted.Store(true)
	d.mu.Lock()
	d.active = false
	d.mu.Unlock()
	d.finish(errors.New("aborted"))
	return nil
}

// Join waits for the driver to stop.
func (d *Driver) Join() error { return d.stop.Wait() }

// Run starts the driver and waits for it to stop.
func (d *Driver) Run() error {
	if err := d.Start(); err != nil {
		return err
	}
	return d.Join()
}

// finish stops the driver; the first reason given is the one Join returns.
// Its requests end first, so that an instance that lost the Lease writes
// nothing more, even from a callback that is still running.
func (d *Driver) finish(err error) {
	d.mu.Lock()
	if d.cancel != nil {
		d.cancel()
	}
	d.mu.Unlock()
	d.stop.Stop(err)
}

// stopWith stops the driver and runs last as its final callback, once the
// callback running (if any) has returned; the callbacks still queued are
// dropped. The first stop's final callback is the one that runs: the loss
// of the Lease that follows an Error's stop does not take its place.
func (d *Driver) stopWith(err error, last func()) {
	d.mu.Lock()
	if d.final == nil {
		d.final = last
	}
	d.mu.Unlock()
	d.finish(err)
}

// Framework returns the Framework as last seen.
func (d *Driver) Framework() *kmv1.Framework {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fw == nil {
		return &kmv1.Framework{}
	}
	return d.fw.DeepCopy()
}
