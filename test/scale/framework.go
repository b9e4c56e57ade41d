package scale

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/sdk/scheduler"
)

// Kind is what a run launches.
type Kind string

// The kinds of run.
const (
	// KindExecutor launches tasks on a custom executor: one executor pod
	// per agent, reused by all its tasks.
	KindExecutor Kind = "custom executors"
	// KindCommand launches command tasks: a pod per task.
	KindCommand Kind = "command tasks"
	// KindPods creates plain pods, which kube-scheduler places.
	KindPods Kind = "plain pods"
)

// Result is what one run measured.
type Result struct {
	Kind  Kind
	Nodes int
	Tasks int
	// Namespace holds the run's Framework, Tasks and pods.
	Namespace string
	// Duration is each task's run time.
	Duration time.Duration
	// Elapsed runs from the first task's (or pod's) creation to the last
	// TASK_FINISHED (or Succeeded) seen.
	Elapsed time.Duration
	// Finished counts the tasks that finished; each counts once.
	Finished int
	// FinishedTwice counts TASK_FINISHED seen again for a finished task.
	FinishedTwice int
	// Relaunched counts the tasks launched again after their launch ended
	// otherwise (TASK_DROPPED, TASK_LOST ...), by that state.
	Relaunched map[string]int
	// NoRunning counts the tasks whose TASK_RUNNING the framework never
	// saw (it saw TASK_FINISHED first); they have no latency.
	NoRunning int
	// Latencies run from each task's (pod's) creation to its TASK_RUNNING
	// (Running) as the framework (the harness's watch) saw it.
	Latencies []time.Duration
	// Placed run from each task's creation to its TASK_STAGING (the
	// master admitted it onto its agent), or from each pod's creation to
	// its binding to a node (kube-scheduler placed it), as seen by the
	// same watch: the share of the latency before the node's part.
	Placed []time.Duration
	// ArrivalRate is the run's Config.Rate: its tasks (pods) arrived this
	// many per second; 0 when they all arrived at once.
	ArrivalRate float64
	// MaxPending is the run's Config.MaxPending: at most this many of its
	// tasks (pods) were created and not yet running at a time; 0 for no
	// bound.
	MaxPending int
	// PeakPending is the most tasks (pods) that were created, or about to
	// be, and not yet running at once.
	PeakPending int
	// FromArrival run from each task's (pod's) arrival to its
	// TASK_RUNNING (Running): with open arrivals the latency a user sees,
	// the wait for an offer and the framework's create included. Empty
	// when every task arrived at once.
	FromArrival []time.Duration
	// Writes are the writes of the run, from just before its first
	// creation until the cluster settled after the last task finished.
	Writes *Writes
	// Teardown are the writes of ending the framework and removing the
	// run's ended pods, until the cluster settled.
	Teardown *Writes
	// NotRetired counts the executor pods still running once the
	// framework had completed and the cluster settled: executors the
	// agents did not retire.
	NotRetired int
}

// Rate is the run's throughput: tasks (pods) finished per second.
func (r *Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Finished) / r.Elapsed.Seconds()
}

// Percentile is the latency below which fraction p of the tasks' is.
func (r *Result) Percentile(p float64) time.Duration { return percentile(r.Latencies, p) }

// ArrivalPercentile is the same of the time from arrival (FromArrival).
func (r *Result) ArrivalPercentile(p float64) time.Duration { return percentile(r.FromArrival, p) }

// PlacedPercentile is the same of the time to placement (Placed).
func (r *Result) PlacedPercentile(p float64) time.Duration { return percentile(r.Placed, p) }

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// RunFramework runs the benchmark framework with kind KindExecutor or
// KindCommand: it launches tasks spread evenly over the agents, each
// running cfg.Duration, waits until each has finished, then completes the
// framework.
func (c *Cluster) RunFramework(ctx context.Context, kind Kind, tasks int) (*Result, error) {
	if tasks <= 0 {
		return nil, fmt.Errorf("a run needs tasks, got %d", tasks)
	}
	if kind != KindExecutor && kind != KindCommand {
		return nil, fmt.Errorf("RunFramework runs %q or %q, not %q", KindExecutor, KindCommand, kind)
	}
	if c.Nodes() == 0 {
		return nil, errors.New("the cluster has no node: Grow it first")
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	ns, err := c.newNamespace(ctx, "bench")
	if err != nil {
		return nil, err
	}
	s := newBenchScheduler(c, kind, tasks)
	before, err := c.mark(ctx)
	if err != nil {
		return nil, err
	}
	d, err := scheduler.NewDriver(s, scheduler.Config{
		RestConfig: c.userAgent(userAgentScheduler), Namespace: ns, Framework: "bench",
		Spec: &kmv1.FrameworkSpec{Role: "*"}, Log: ctrl.Log.WithName("bench-framework"),
		// A long scheduler Lease: the suite measures throughput, not the
		// framework's failover, and at 1,000 nodes on 2 cores a renewal
		// can wait on the API server for longer than the default 10 s.
		LeaseDuration: 60 * time.Second, RenewDeadline: 45 * time.Second, RetryPeriod: 5 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	c.profileAPIServer(ctx, kind)
	s.runWorkers(d)
	defer s.doneMu.Do(func() { close(s.done) }) // stops the workers
	if err := d.Start(); err != nil {
		return nil, err
	}
	if s.open {
		go s.arrive(time.Now())
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = d.Abort()
		}
	}()
	c.cfg.Log.Info("run started", "kind", kind, "nodes", c.Nodes(), "tasks", tasks, "namespace", ns)
	ended := make(chan error, 1)
	go func() { ended <- d.Join() }()
	progress := time.NewTicker(10 * time.Second)
	defer progress.Stop()
wait:
	for {
		select {
		case <-s.done:
			break wait
		case err := <-ended:
			stopped = true
			return nil, fmt.Errorf("%s: the framework's driver stopped with %d of %d tasks finished (%s): %v",
				kind, s.finishedCount(), tasks, c.taskCensus(ns), err)
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: %d of %d tasks finished (%s; the API server holds %s): %w",
				kind, s.finishedCount(), tasks, s.census(), c.taskCensus(ns), ctx.Err())
		case <-progress.C:
			if err := c.alive(); err != nil {
				return nil, err
			}
			c.cfg.Log.Info("progress", "kind", kind, "finished", s.finishedCount(), "of", tasks)
		}
	}
	res := s.result()
	res.Namespace = ns
	after, err := c.runWrites(ctx, res, before)
	if err != nil {
		return nil, err
	}
	// The framework is done: the master kills what is left and the
	// agents retire its executors, whose pods go. Finished command tasks'
	// pods stay, owned by their Tasks: the harness removes them, as the
	// garbage collector would once their Tasks go.
	stopped = true
	if err := d.Stop(false); err != nil {
		return res, fmt.Errorf("completing the framework: %w", err)
	}
	if err := c.waitFramework(ctx, ns, kmv1.FrameworkCompleted); err != nil {
		return res, err
	}
	if res.Teardown, res.NotRetired, err = c.teardown(ctx, ns, after); err != nil {
		return res, err
	}
	if errs := s.errors(); len(errs) > 0 {
		return res, fmt.Errorf("%s: the framework saw errors: %v", kind, errs)
	}
	return res, nil
}

// teardown ends a run once its framework (if any) has ended: it waits
// until the cluster settles, counts the pods of namespace ns still
// running (executors that were never retired), removes every pod left
// (those that ended stay otherwise, as they would until their owner
// goes), waits until they are gone and the cluster has settled again,
// and returns the writes since from.
func (c *Cluster) teardown(ctx context.Context, ns string, from mark) (*Writes, int, error) {
	if err := c.settle(ctx, 3*time.Second); err != nil {
		return nil, 0, fmt.Errorf("waiting for the cluster to settle: %w", err)
	}
	running := 0
	for _, p := range c.podsOf(ns) {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			running++
		}
	}
	// One collection delete of 10,000 pods can outlast the API server's
	// request timeout on a busy machine; what it deleted stays deleted, so
	// it is sent again until it completes.
	err := poll(ctx, c.cfg.Timeout, func() (bool, error) {
		if err := c.client.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(ns)); err != nil {
			c.cfg.Log.Info("deleting the pods again", "namespace", ns, "error", err.Error())
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("deleting the pods of %s: %w", ns, err)
	}
	if err := poll(ctx, c.cfg.Timeout, func() (bool, error) { return len(c.podsOf(ns)) == 0, nil }); err != nil {
		return nil, 0, fmt.Errorf("waiting for the pods of %s to go: %w", ns, err)
	}
	if err := c.settle(ctx, 3*time.Second); err != nil {
		return nil, 0, fmt.Errorf("waiting for the cluster to settle: %w", err)
	}
	end, err := c.mark(ctx)
	if err != nil {
		return nil, 0, err
	}
	w, err := c.writesBetween(from, end)
	return w, running, err
}

// waitFramework waits until the Framework of namespace ns has phase.
func (c *Cluster) waitFramework(ctx context.Context, ns string, phase kmv1.FrameworkPhase) error {
	err := poll(ctx, c.cfg.Timeout, func() (bool, error) {
		var fw kmv1.Framework
		if err := c.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "bench"}, &fw); err != nil {
			return false, err
		}
		return fw.Status.Phase == phase, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the framework of %s to be %s: %w", ns, phase, err)
	}
	return nil
}

// benchScheduler is the benchmark framework. It launches its tasks on the
// offers it gets, at most its share of them (the tasks over the agents)
// per offer, so that they spread over the agents as kube-scheduler
// spreads pods. It launches each offer's tasks in one LaunchTasks call, as
// a Mesos framework accepts an offer with all its tasks, cfg.Workers calls
// at a time; a task's creation time is when its call starts, so its
// latency includes the framework's own creates. A task whose
// launch ends in another state than TASK_FINISHED (TASK_DROPPED when its
// offer went before the master admitted it, TASK_LOST ...) is launched
// again, as a framework would.
//
// With open arrivals (Config.Rate) tasks join the pending ones as they
// arrive; the framework holds the offers it has no task for and launches
// each arriving task on one of them at once, preferring agents that run
// its executor, as a framework that expects work keeps its offers.
type benchScheduler struct {
	c      *Cluster
	kind   Kind
	share  int
	work   chan func(scheduler.SchedulerDriver)
	done   chan struct{}
	doneMu sync.Once

	mu         sync.Mutex
	pending    []int       // tasks waiting for an offer
	open       bool        // tasks arrive at cfg.Rate
	arrived    []time.Time // with open arrivals, when each task arrived
	nArrived   int
	held       []kmv1.Offer   // with open arrivals, offers kept for tasks to come
	attempts   map[string]int // task ID to task
	tries      []int
	created    []time.Time
	staged     []time.Time
	running    []time.Time
	finished   []time.Time
	nFinished  int
	twice      int
	relaunched map[string]int
	// started are the agents the framework launched its executor on:
	// their pods live until it ends, so a task there starts sooner.
	started    map[string]bool
	noRunning  int
	first      time.Time
	last       time.Time
	suppressed bool
	// waiting is set while a timer is to launch the pending tasks once
	// their localityWait is over.
	waiting bool
	// launching counts the tasks launched and not yet running or ended,
	// counted marks them (by task), for Config.MaxPending, and peak is
	// the most launching has been.
	launching int
	counted   []bool
	peak      int
	// suppressMu serializes syncSuppress.
	suppressMu sync.Mutex
	errs       []string
}

func newBenchScheduler(c *Cluster, kind Kind, n int) *benchScheduler {
	s := &benchScheduler{c: c, kind: kind, share: (n + c.Nodes() - 1) / c.Nodes(),
		work: make(chan func(scheduler.SchedulerDriver), n+c.Nodes()+16), done: make(chan struct{}),
		attempts: map[string]int{}, tries: make([]int, n), created: make([]time.Time, n), staged: make([]time.Time, n), running: make([]time.Time, n),
		finished: make([]time.Time, n), relaunched: map[string]int{}, started: map[string]bool{}, counted: make([]bool, n)}
	if c.cfg.Rate > 0 {
		// Tasks come a few at a time: each takes what room its offer
		// has, on the agents with the executor first.
		s.open, s.arrived, s.share = true, make([]time.Time, n), n
		return s
	}
	for i := range n {
		s.pending = append(s.pending, i)
	}
	return s
}

// arrive makes the tasks arrive at cfg.Rate from start, until all have or
// the run is done.
func (s *benchScheduler) arrive(start time.Time) {
	for i := range s.arrived {
		t := time.NewTimer(time.Until(s.c.cfg.arrival(start, i)))
		select {
		case <-t.C:
		case <-s.done:
			t.Stop()
			return
		}
		s.mu.Lock()
		s.arrived[i] = time.Now()
		s.nArrived++
		s.pending = append(s.pending, i)
		s.launchHeld()
		s.mu.Unlock()
	}
}

// localityWait is how long, with open arrivals, a custom-executor task
// waits for an offer of an agent that runs the executor before it starts
// the executor on another agent: the delay scheduling of frameworks such
// as Spark on Mesos. Such an offer is out only while the master makes it
// again after a launch used it, a few tens of milliseconds when the API
// server keeps up; a new executor takes its pod's start and its
// subscription, most of a second.
const localityWait = 250 * time.Millisecond

// launchHeld launches the pending tasks on the held offers, each offer's
// agent with the executor first; once every task has arrived and none is
// pending, it declines the offers left and suppresses. A custom-executor
// task for which no held offer has the executor waits up to localityWait
// from its arrival for one. s.mu is held.
func (s *benchScheduler) launchHeld() {
	for len(s.pending) > 0 && len(s.held) > 0 {
		j := -1
		for k := range s.held {
			if s.started[s.held[k].Spec.AgentID] {
				j = k
				break
			}
		}
		if j < 0 {
			if wait := s.localityWaitLeft(); wait > 0 {
				if !s.waiting {
					s.waiting = true
					time.AfterFunc(wait, func() {
						s.mu.Lock()
						defer s.mu.Unlock()
						s.waiting = false
						s.launchHeld()
					})
				}
				return
			}
			j = 0
		}
		if s.batch(&s.held[j]) > s.room() {
			return // until a launched task runs (Config.MaxPending)
		}
		o := s.held[j]
		s.held = slices.Delete(s.held, j, j+1)
		s.useOffer(&o)
	}
	if s.nArrived < len(s.arrived) || len(s.pending) > 0 {
		return
	}
	s.launchedAll()
}

// launchedAll declines the held offers and suppresses offers: nothing is
// left to launch. s.mu is held.
func (s *benchScheduler) launchedAll() {
	for _, o := range s.held {
		s.queue(func(d scheduler.SchedulerDriver) { _ = d.DeclineOffer(o.Name, nil) })
	}
	s.held = nil
	if !s.suppressed {
		s.suppressed = true
		s.queue(s.syncSuppress)
	}
}

// localityWaitLeft is how much longer the first pending task may wait for an
// offer of an agent with the executor: none when the executor runs
// nowhere yet, or for command tasks. s.mu is held.
func (s *benchScheduler) localityWaitLeft() time.Duration {
	if s.kind != KindExecutor || len(s.started) == 0 {
		return 0
	}
	return time.Until(s.arrived[s.pending[0]].Add(localityWait))
}

// taskID names attempt try of task i.
func taskID(i, try int) string {
	if try == 0 {
		return fmt.Sprintf("task-%05d", i)
	}
	return fmt.Sprintf("task-%05d-%d", i, try)
}

// taskInfo is attempt try of task i.
func (s *benchScheduler) taskInfo(i, try int) scheduler.TaskInfo {
	cfg := &s.c.cfg
	ti := scheduler.TaskInfo{TaskID: taskID(i, try), Resources: kmv1.ResourceList(cfg.taskRequests())}
	duration := cfg.Duration.String()
	if s.kind == KindExecutor {
		ti.Executor = &kmv1.ExecutorInfo{ExecutorID: benchExecutorID, Image: "kubemesos-bench-executor",
			Resources: kmv1.ResourceList(cfg.taskRequests())}
	} else {
		ti.Command = &kmv1.CommandInfo{Image: "kubemesos-bench-task", Command: []string{"sleep", duration},
			Env: []kmv1.EnvVar{{Name: DurationEnv, Value: duration}}}
	}
	return ti
}

// benchExecutorID is the executor ID of the custom-executor tasks.
const benchExecutorID = "bench"

// runsExecutor reports whether offer o was made while the benchmark's
// executor ran a task on its agent: its resources are then not in the
// offer, and a task needs only its own.
func runsExecutor(o *kmv1.Offer) bool { return o.ListsExecutor(benchExecutorID) }

// fits is how many tasks an offer holds, with the executor's own
// resources when the offer does not list the executor.
func (s *benchScheduler) fits(o *kmv1.Offer) int {
	cfg := &s.c.cfg
	n := s.share
	for name, need := range cfg.taskRequests() {
		have := o.Spec.Resources[name]
		if s.kind == KindExecutor && !runsExecutor(o) {
			have.Sub(need) // the executor's own, as much as a task
		}
		if need.Sign() <= 0 {
			continue
		}
		n = min(n, int(have.MilliValue()/max(need.MilliValue(), 1)))
	}
	return max(n, 0)
}

// Registered needs nothing: offers follow.
func (s *benchScheduler) Registered(scheduler.SchedulerDriver, string) {}

// Reregistered needs nothing.
func (s *benchScheduler) Reregistered(scheduler.SchedulerDriver) {}

// ResourceOffers launches pending tasks on the offers, and declines the
// offers it has no use for.
func (s *benchScheduler) ResourceOffers(d scheduler.SchedulerDriver, offers []kmv1.Offer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open {
		s.held = append(s.held, offers...)
		s.launchHeld()
		return
	}
	for i := range offers {
		s.useOffer(&offers[i])
	}
	if len(s.pending) == 0 && !s.suppressed {
		s.suppressed = true
		s.queue(s.syncSuppress)
	}
}

// useOffer launches on o as many pending tasks as it holds (its batch, at
// most Config.MaxPending), holds it while its batch exceeds the room left
// under MaxPending, so that an offer is not used a task at a time, and
// declines it when it holds none. s.mu is held.
func (s *benchScheduler) useOffer(o *kmv1.Offer) {
	n := s.batch(o)
	if n > s.room() {
		s.held = append(s.held, *o)
		return
	}
	if n == 0 {
		s.queue(func(d scheduler.SchedulerDriver) { _ = d.DeclineOffer(o.Name, nil) })
		return
	}
	tasks := s.pending[:n:n]
	s.pending = s.pending[n:]
	for _, i := range tasks {
		s.counted[i] = true
	}
	s.launching += n
	s.peak = max(s.peak, s.launching)
	s.started[o.Spec.AgentID] = true
	s.queue(func(d scheduler.SchedulerDriver) { s.launch(d, o.Name, tasks) })
}

// batch is how many pending tasks o takes: as many as it holds, at most
// Config.MaxPending. s.mu is held.
func (s *benchScheduler) batch(o *kmv1.Offer) int {
	n := min(s.fits(o), len(s.pending))
	if limit := s.c.cfg.MaxPending; limit > 0 {
		n = min(n, limit)
	}
	return n
}

// room is how many more tasks may be launched now: Config.MaxPending less
// those launched and not yet running; unbounded without MaxPending. s.mu
// is held.
func (s *benchScheduler) room() int {
	if s.c.cfg.MaxPending <= 0 {
		return math.MaxInt
	}
	return max(s.c.cfg.MaxPending-s.launching, 0)
}

// ran gives back task i's place among the launched ones, once it runs or
// ends, and launches pending tasks on the offers held for want of room.
// s.mu is held.
func (s *benchScheduler) ran(i int) {
	if !s.counted[i] {
		return
	}
	s.counted[i] = false
	s.launching--
	s.launchMore()
}

// launchMore launches pending tasks on the held offers while there is
// room; once nothing is pending it declines those left and suppresses
// offers. s.mu is held.
func (s *benchScheduler) launchMore() {
	if s.open {
		s.launchHeld()
		return
	}
	for len(s.pending) > 0 && len(s.held) > 0 && s.batch(&s.held[0]) <= s.room() {
		o := s.held[0]
		s.held = s.held[1:]
		s.useOffer(&o)
	}
	if len(s.pending) == 0 {
		s.launchedAll()
	}
}

// syncSuppress makes the framework's spec.suppressOffers what the
// framework wants now (suppressed while nothing is pending). The calls are
// made one at a time, each deciding when it runs, so that a suppress and
// a revive queued close together on different workers cannot land in the
// wrong order and leave a framework with pending tasks suppressed.
func (s *benchScheduler) syncSuppress(d scheduler.SchedulerDriver) {
	s.suppressMu.Lock()
	defer s.suppressMu.Unlock()
	s.mu.Lock()
	want := len(s.pending) == 0
	s.mu.Unlock()
	if want {
		s.check(d.SuppressOffers())
	} else {
		s.check(d.ReviveOffers())
	}
}

// queue hands work to the workers; it never blocks a callback.
func (s *benchScheduler) queue(f func(scheduler.SchedulerDriver)) {
	select {
	case s.work <- f:
	default:
		go func() {
			select {
			case s.work <- f:
			case <-s.done:
			}
		}()
	}
}

// runWorkers runs the queued work, cfg.Workers at a time, until done.
func (s *benchScheduler) runWorkers(d scheduler.SchedulerDriver) {
	for range s.c.cfg.Workers {
		go func() {
			for {
				select {
				case f := <-s.work:
					f(d)
				case <-s.done:
					return
				}
			}
		}()
	}
}

// launch creates the next attempt of each task on offer, in one call.
func (s *benchScheduler) launch(d scheduler.SchedulerDriver, offer string, tasks []int) {
	infos := make([]scheduler.TaskInfo, 0, len(tasks))
	s.mu.Lock()
	now := time.Now()
	if s.first.IsZero() {
		s.first = now
	}
	for _, i := range tasks {
		try := s.tries[i]
		s.attempts[taskID(i, try)] = i
		s.created[i], s.staged[i], s.running[i] = now, time.Time{}, time.Time{}
		infos = append(infos, s.taskInfo(i, try))
	}
	s.mu.Unlock()
	if err := d.LaunchTasks([]string{offer}, infos); err != nil {
		s.mu.Lock()
		s.errs = append(s.errs, err.Error())
		s.mu.Unlock()
	}
}

// OfferRescinded forgets a held offer; tasks launched on it are dropped
// and launched again.
func (s *benchScheduler) OfferRescinded(_ scheduler.SchedulerDriver, offerID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held = slices.DeleteFunc(s.held, func(o kmv1.Offer) bool { return o.Name == offerID })
}

// StatusUpdate records TASK_RUNNING and TASK_FINISHED, and launches again
// a task whose attempt ended otherwise.
func (s *benchScheduler) StatusUpdate(d scheduler.SchedulerDriver, st scheduler.TaskStatus) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.attempts[st.TaskID]
	if !ok || taskID(i, s.tries[i]) != st.TaskID {
		return // an attempt already replaced
	}
	switch {
	case st.State == kmv1.TaskStaging:
		if s.staged[i].IsZero() {
			s.staged[i] = now
		}
	case st.State == kmv1.TaskRunning:
		if s.running[i].IsZero() {
			s.running[i] = now
		}
		s.ran(i)
	case st.State == kmv1.TaskFinished:
		s.ran(i)
		if !s.finished[i].IsZero() {
			s.twice++
			return
		}
		s.finished[i], s.last = now, now
		if s.running[i].IsZero() {
			s.noRunning++
		}
		s.nFinished++
		if s.nFinished == len(s.finished) {
			s.doneMu.Do(func() { close(s.done) })
		}
	case st.State.IsTerminal():
		s.relaunched[string(st.State)]++
		s.tries[i]++
		s.pending = append(s.pending, i)
		s.ran(i)
		if s.open {
			s.launchHeld()
		}
		if s.suppressed {
			s.suppressed = false
			s.queue(s.syncSuppress)
		}
	}
}

func (s *benchScheduler) check(err error) {
	if err != nil {
		s.mu.Lock()
		s.errs = append(s.errs, err.Error())
		s.mu.Unlock()
	}
}

// FrameworkMessage needs nothing: the executors send none.
func (s *benchScheduler) FrameworkMessage(scheduler.SchedulerDriver, string, string, string) {}

// Disconnected needs nothing: the run's counts show its effect.
func (s *benchScheduler) Disconnected(scheduler.SchedulerDriver) {}

// AgentLost needs nothing: its tasks are TASK_LOST and launched again.
func (s *benchScheduler) AgentLost(scheduler.SchedulerDriver, string) {}

// ExecutorLost needs nothing: its tasks fail and are launched again.
func (s *benchScheduler) ExecutorLost(scheduler.SchedulerDriver, string, string, int) {}

// Error records the driver's error.
func (s *benchScheduler) Error(_ scheduler.SchedulerDriver, message string) {
	s.check(errors.New(message))
}

// census says what the framework waits for, for a run that does not end.
func (s *benchScheduler) census() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	running := 0
	for i := range s.running {
		if !s.running[i].IsZero() && s.finished[i].IsZero() {
			running++
		}
	}
	return fmt.Sprintf("%d pending, %d running, suppressed %t, relaunched %v", len(s.pending), running, s.suppressed, s.relaunched)
}

// taskCensus counts a namespace's Tasks by state, as the API server holds
// them.
func (c *Cluster) taskCensus(ns string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var list kmv1.TaskList
	if err := c.client.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return "unknown: " + err.Error()
	}
	by := map[kmv1.TaskState]int{}
	for _, t := range list.Items {
		by[t.Status.State]++
	}
	return fmt.Sprintf("%d Tasks by state %v", len(list.Items), by)
}

func (s *benchScheduler) finishedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nFinished
}

func (s *benchScheduler) errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.errs)
}

// result is what the run measured so far.
func (s *benchScheduler) result() *Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &Result{Kind: s.kind, Nodes: s.c.Nodes(), Tasks: len(s.finished), Duration: s.c.cfg.Duration,
		Elapsed: s.last.Sub(s.first), Finished: s.nFinished, FinishedTwice: s.twice, NoRunning: s.noRunning,
		Relaunched: map[string]int{}, ArrivalRate: s.c.cfg.Rate, MaxPending: s.c.cfg.MaxPending, PeakPending: s.peak}
	for k, v := range s.relaunched {
		r.Relaunched[k] = v
	}
	for i := range s.finished {
		if !s.running[i].IsZero() {
			r.Latencies = append(r.Latencies, s.running[i].Sub(s.created[i]))
			if s.open {
				r.FromArrival = append(r.FromArrival, s.running[i].Sub(s.arrived[i]))
			}
		}
		if !s.staged[i].IsZero() {
			r.Placed = append(r.Placed, s.staged[i].Sub(s.created[i]))
		}
	}
	return r
}

var _ scheduler.Scheduler = (*benchScheduler)(nil)

// runWrites waits for the cluster to settle after a run, marks the end of
// its window and counts its writes since before into res.Writes.
func (c *Cluster) runWrites(ctx context.Context, res *Result, before mark) (mark, error) {
	if err := c.settle(ctx, 3*time.Second); err != nil {
		return mark{}, fmt.Errorf("waiting for the cluster to settle: %w", err)
	}
	after, err := c.mark(ctx)
	if err != nil {
		return mark{}, err
	}
	if res.Writes, err = c.writesBetween(before, after); err != nil {
		return mark{}, err
	}
	return after, nil
}
