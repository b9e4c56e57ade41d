// Package leader elects the master's leader through a Lease, as Mesos
// masters do through ZooKeeper, and fences its writes: every request the
// master sends to the API server passes a Guard that refuses writes once
// the leader can no longer be sure it holds the Lease, and the master then
// exits, as a Mesos master aborts the moment it loses ZooKeeper.
//
// The production master (internal/cli) and the tests' in-process masters
// (internal/inprocess) both build their manager with NewManager.
package leader

import (
	"fmt"
	"os"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
)

// Election is how a master competes for its Lease.
type Election struct {
	// Namespace and Name are the Lease's.
	Namespace, Name string
	// LeaseDuration is how long standbys wait after the last renewal they
	// saw before they take the Lease. The Lease records it in whole
	// seconds, so that is what standbys wait.
	LeaseDuration time.Duration
	// RenewDeadline is how long after the start of its last successful
	// renewal the leader may still write. Past it, the Guard refuses every
	// write and the master exits. LeaseDuration − RenewDeadline is the time
	// a write sent just before the deadline has to reach the API server
	// before a standby can take over.
	RenewDeadline time.Duration
	// RetryPeriod is how often candidates try to take or renew the Lease.
	RetryPeriod time.Duration
	// Identity names this master in the Lease; by default its hostname (a
	// pod's name), "_" and a unique suffix, as controller-runtime does.
	Identity string
	// Clock is the Guard's clock; the real (monotonic) clock when nil.
	Clock clock.Clock
	// OnLost is called once when the Guard trips; the binary exits there.
	OnLost func()
}

// Validate checks the durations against each other.
//
// A standby waits the lease duration after the last change of the Lease it
// saw, and client-go compares Lease records as JSON whose renewTime has
// whole seconds: a renewal within the same second as the one before looks
// like none, so a standby may start its wait up to a second before the
// leader's last renewal. With a retry period under a second, two renewals
// can fall in one second, and the renew deadline must leave that second
// too.
func (e *Election) Validate() error {
	wholeSeconds := e.LeaseDuration.Truncate(time.Second)
	switch {
	case e.LeaseDuration < time.Second || e.RenewDeadline <= 0 || e.RetryPeriod <= 0:
		return fmt.Errorf("the lease duration (%s) must be at least 1s, the renew deadline (%s) and retry period (%s) positive",
			e.LeaseDuration, e.RenewDeadline, e.RetryPeriod)
	case e.RenewDeadline >= wholeSeconds:
		return fmt.Errorf("the renew deadline (%s) must be shorter than the lease duration in whole seconds (%s), which is what standbys wait (the Lease records seconds)",
			e.RenewDeadline, wholeSeconds)
	case e.RetryPeriod < time.Second && e.RenewDeadline+time.Second >= wholeSeconds:
		return fmt.Errorf("with a retry period (%s) under 1s, the renew deadline (%s) must be more than 1s shorter than the lease duration in whole seconds (%s): "+
			"standbys compare Lease records at whole seconds, miss a second renewal within the same second and may take over up to 1s early; "+
			"make the retry period at least 1s or the renew deadline shorter",
			e.RetryPeriod, e.RenewDeadline, wholeSeconds)
	case float64(e.RenewDeadline) <= 1.2*float64(e.RetryPeriod):
		return fmt.Errorf("the renew deadline (%s) must be longer than 1.2 × the retry period (%s), the longest wait between two renewals",
			e.RenewDeadline, e.RetryPeriod)
	}
	return nil
}

// NewManager returns a controller manager for cfg and o. With e nil it has
// no leader election and no Guard. With e, it competes for e's Lease, and
// every request of its clients, caches and event recorders goes through
// the returned Guard, which is also added to the manager as its watchdog.
// The Lease itself is written on a connection of its own, outside the Guard.
func NewManager(cfg *rest.Config, o ctrl.Options, e *Election) (ctrl.Manager, *Guard, error) {
	if e == nil {
		o.LeaderElection = false
		mgr, err := ctrl.NewManager(cfg, o)
		if err != nil {
			return nil, nil, fmt.Errorf("creating the controller manager: %w", err)
		}
		return mgr, nil, nil
	}
	if err := e.Validate(); err != nil {
		return nil, nil, err
	}
	log := o.Logger
	if log.GetSink() == nil {
		log = ctrl.Log
	}
	log = log.WithName("leader").WithValues("lease", e.Namespace+"/"+e.Name)
	clk := e.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	guard := NewGuard(clk, e.RenewDeadline, e.OnLost, log)
	rec := &lockEvents{}
	lock, identity, err := newLeaseLock(cfg, e, rec)
	if err != nil {
		return nil, nil, err
	}
	guard.log = log.WithValues("holder", identity)

	fenced := rest.CopyConfig(cfg)
	fenced.Wrap(guard.Transport)
	o.LeaderElection = true
	o.LeaderElectionID = e.Name
	o.LeaderElectionNamespace = e.Namespace
	o.LeaderElectionResourceLockInterface = guard.Lock(lock)
	o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = &e.LeaseDuration, &e.RenewDeadline, &e.RetryPeriod
	// A leader that loses its Lease stops at once; nothing is released for
	// a graceful handover that could race the new leader.
	o.LeaderElectionReleaseOnCancel = false
	mgr, err := ctrl.NewManager(fenced, o)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the controller manager: %w", err)
	}
	rec.set(mgr.GetEventRecorder(e.Name))
	if err := mgr.Add(guard); err != nil {
		return nil, nil, fmt.Errorf("adding the leader guard: %w", err)
	}
	return mgr, guard, nil
}

// newLeaseLock returns the Lease lock of e on a connection of its own
// (not fenced: it must renew, and take the Lease in the first place), with
// a timeout per request as controller-runtime sets it, and its identity.
func newLeaseLock(cfg *rest.Config, e *Election, rec resourcelock.EventRecorder) (resourcelock.Interface, string, error) {
	id := e.Identity
	if id == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, "", fmt.Errorf("naming this master for the Lease: %w", err)
		}
		id = host + "_" + string(uuid.NewUUID())
	}
	lc := rest.AddUserAgent(rest.CopyConfig(cfg), "leader-election")
	lc.Timeout = max(e.RenewDeadline/2, time.Second)
	core, err := corev1client.NewForConfig(lc)
	if err != nil {
		return nil, "", fmt.Errorf("creating the Lease client: %w", err)
	}
	coord, err := coordinationv1client.NewForConfig(lc)
	if err != nil {
		return nil, "", fmt.Errorf("creating the Lease client: %w", err)
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, e.Namespace, e.Name, core, coord,
		resourcelock.ResourceLockConfig{Identity: id, EventRecorder: rec})
	if err != nil {
		return nil, "", fmt.Errorf("creating the Lease lock: %w", err)
	}
	return lock, id, nil
}

// lockEvents records the lock's events ("became leader") through the
// manager's event recorder, which exists only once the manager does, and
// whose writes the Guard fences like every other.
type lockEvents struct {
	mu  sync.RWMutex
	rec events.EventRecorder
}

func (l *lockEvents) set(rec events.EventRecorder) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rec = rec
}

// Eventf records an event about the Lease.
func (l *lockEvents) Eventf(obj runtime.Object, eventType, reason, message string, args ...any) {
	l.mu.RLock()
	rec := l.rec
	l.mu.RUnlock()
	if rec != nil {
		rec.Eventf(obj, nil, eventType, reason, "LeaderElection", message, args...)
	}
}

// Leading reports whether the election whose Elected channel is elected has
// been won (a nil channel: there is no election, so this replica leads).
func Leading(elected <-chan struct{}) bool {
	if elected == nil {
		return true
	}
	select {
	case <-elected:
		return true
	default:
		return false
	}
}
