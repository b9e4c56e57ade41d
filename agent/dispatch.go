package agent

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// dispatcher sends the executors their tasks' LAUNCH and KILL, each at most
// once per subscription, and SHUTDOWN. It is the agent's one record of what
// each executor was told on its latest subscription; the record is keyed by
// the executor API's subscription number, so a new subscription starts a
// new record (in record, the one place where it is reset) and nothing has
// to clear it when an executor subscribes again or the agent is re-admitted.
type dispatcher struct {
	server *ExecutorServer

	mu   sync.Mutex
	subs map[ExecutorKey]*sentOn
}

// sentOn is what one subscription of an executor was sent, by task UID.
// Nothing is sent on it before it has begun: until the agent knows which
// tasks the executor holds and which reached it on an earlier stream.
type sentOn struct {
	gen      uint64
	begun    bool
	launched map[types.UID]bool
	killed   map[types.UID]bool
	// before is what the executor's previous subscription was launched.
	before map[types.UID]bool
}

func newDispatcher(server *ExecutorServer) *dispatcher {
	return &dispatcher{server: server, subs: map[ExecutorKey]*sentOn{}}
}

// record returns the record of executor k's subscription gen, starting it
// when gen is newer than the one held; nil for a subscription older than
// the one held. The caller holds d.mu.
func (d *dispatcher) record(k ExecutorKey, gen uint64) *sentOn {
	cur := d.subs[k]
	switch {
	case cur == nil || cur.gen < gen:
		next := &sentOn{gen: gen, launched: map[types.UID]bool{}, killed: map[types.UID]bool{}}
		if cur != nil {
			next.before = cur.launched
		}
		cur = next
		d.subs[k] = cur
	case cur.gen > gen:
		return nil
	}
	return cur
}

// claim marks the event of task uid as sent on executor k's subscription
// gen (in launched or killed, as pick chooses) and reports whether it was
// not already.
func (d *dispatcher) claim(k ExecutorKey, gen uint64, uid types.UID, pick func(*sentOn) map[types.UID]bool) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	rec := d.record(k, gen)
	if rec == nil || !rec.begun || pick(rec)[uid] {
		return false
	}
	pick(rec)[uid] = true
	return true
}

// unclaim takes back a claim whose event could not be sent.
func (d *dispatcher) unclaim(k ExecutorKey, gen uint64, uid types.UID, pick func(*sentOn) map[types.UID]bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if rec := d.subs[k]; rec != nil && rec.gen == gen {
		delete(pick(rec), uid)
	}
}

func launches(s *sentOn) map[types.UID]bool { return s.launched }
func kills(s *sentOn) map[types.UID]bool    { return s.killed }

// send sends ev about task t to its executor's current subscription unless
// that subscription already had it.
func (d *dispatcher) send(t *kmv1.Task, pick func(*sentOn) map[types.UID]bool, ev executorapi.Event) bool {
	k := executorOf(t)
	gen, ok := d.server.Subscription(k)
	if !ok || !d.claim(k, gen, t.UID, pick) {
		return false
	}
	if !d.server.SendOn(k, gen, ev) {
		d.unclaim(k, gen, t.UID, pick)
		return false
	}
	return true
}

// launch sends LAUNCH for t, once per subscription of its executor.
func (d *dispatcher) launch(t *kmv1.Task) {
	d.send(t, launches, executorapi.Event{Type: executorapi.EventLaunch, Launch: &executorapi.Launch{Task: launchInfo(t)}})
}

// launchInfo is what LAUNCH and LAUNCH_GROUP tell an executor of task t.
func launchInfo(t *kmv1.Task) executorapi.TaskInfo {
	return executorapi.TaskInfo{TaskID: t.Name, Data: t.Spec.Data, Resources: t.Spec.Resources.Core()}
}

// launchGroup sends one LAUNCH_GROUP of tasks, which share an executor, to
// that executor's subscription gen, unless it had one of them already: all
// are claimed, or none. It reports whether it sent the event.
func (d *dispatcher) launchGroup(k ExecutorKey, gen uint64, tasks []*kmv1.Task) bool {
	d.mu.Lock()
	rec := d.record(k, gen)
	if rec == nil || !rec.begun {
		d.mu.Unlock()
		return false
	}
	for _, t := range tasks {
		if rec.launched[t.UID] {
			d.mu.Unlock()
			return false
		}
	}
	ev := executorapi.Event{Type: executorapi.EventLaunchGroup, LaunchGroup: &executorapi.LaunchGroup{}}
	for _, t := range tasks {
		rec.launched[t.UID] = true
		ev.LaunchGroup.Tasks = append(ev.LaunchGroup.Tasks, launchInfo(t))
	}
	d.mu.Unlock()
	if !d.server.SendOn(k, gen, ev) {
		for _, t := range tasks {
			d.unclaim(k, gen, t.UID, launches)
		}
		return false
	}
	return true
}

// kill sends KILL for t, once per subscription of its executor.
func (d *dispatcher) kill(t *kmv1.Task) {
	d.send(t, kills, executorapi.Event{Type: executorapi.EventKill, Kill: &executorapi.Kill{TaskID: t.Name, GracePeriodSeconds: t.Spec.KillGracePeriodSeconds}})
}

// begin starts the record of executor k's subscription gen with the tasks
// that need no LAUNCH there (the executor said, on subscribing, that it
// holds them, or they reached it on an earlier stream), and lets events
// be sent on it.
func (d *dispatcher) begin(k ExecutorKey, gen uint64, held []types.UID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if rec := d.record(k, gen); rec != nil {
		rec.begun = true
		for _, uid := range held {
			rec.launched[uid] = true
		}
	}
}

// launchedBefore reports whether t's executor was given t on its previous
// subscription and not yet on its current one.
func (d *dispatcher) launchedBefore(t *kmv1.Task) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	rec := d.subs[executorOf(t)]
	return rec != nil && rec.before[t.UID] && !rec.launched[t.UID]
}

// launched reports whether t's executor was given t on its latest
// subscription (the current one, or the last that ended).
func (d *dispatcher) launched(t *kmv1.Task) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	rec := d.subs[executorOf(t)]
	return rec != nil && rec.launched[t.UID]
}

// shutdown sends SHUTDOWN to executor k; its record ends with it.
func (d *dispatcher) shutdown(k ExecutorKey) {
	d.server.Send(k, executorapi.Event{Type: executorapi.EventShutdown})
	d.forget(k)
}

// disconnect ends executor k's subscription; its record ends with it.
func (d *dispatcher) disconnect(k ExecutorKey) {
	d.server.Disconnect(k)
	d.forget(k)
}

// forget drops the record of an executor that ends.
func (d *dispatcher) forget(k ExecutorKey) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.subs, k)
}
