package scheduler_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/testenv"
	"github.com/kubemesos/kubemesos/sdk/scheduler"
)

// The scheduler SDK's tests run drivers against envtest, with an in-process
// master and agents; this file holds their harness: a recording Scheduler
// and drivers with short Leases.

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// recorder is a Scheduler that records its callbacks, and answers offers
// with onOffers.
type recorder struct {
	mu       sync.Mutex
	calls    []string
	statuses []scheduler.TaskStatus
	messages []string
	onOffers func(d scheduler.SchedulerDriver, offers []kmv1.Offer)
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf(format, args...))
}

// has reports whether a callback starting with prefix was recorded.
func (r *recorder) has(prefix string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.calls {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}

func (r *recorder) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// status returns the last status recorded for task.
func (r *recorder) status(task string) (scheduler.TaskStatus, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.statuses) - 1; i >= 0; i-- {
		if r.statuses[i].TaskID == task {
			return r.statuses[i], true
		}
	}
	return scheduler.TaskStatus{}, false
}

// states lists the states recorded for task, in order.
func (r *recorder) states(task string) []kmv1.TaskState {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []kmv1.TaskState
	for _, s := range r.statuses {
		if s.TaskID == task {
			out = append(out, s.State)
		}
	}
	return out
}

// received returns the messages received so far.
func (r *recorder) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.messages...)
}

func (r *recorder) Registered(_ scheduler.SchedulerDriver, id string) { r.add("registered %s", id) }
func (r *recorder) Reregistered(scheduler.SchedulerDriver)            { r.add("reregistered") }
func (r *recorder) ResourceOffers(d scheduler.SchedulerDriver, offers []kmv1.Offer) {
	for _, o := range offers {
		r.add("offer %s %s %s", o.Name, o.Spec.NodeName, o.Spec.AgentID)
	}
	if r.onOffers != nil {
		r.onOffers(d, offers)
	}
}
func (r *recorder) OfferRescinded(_ scheduler.SchedulerDriver, id string) { r.add("rescinded %s", id) }
func (r *recorder) StatusUpdate(_ scheduler.SchedulerDriver, s scheduler.TaskStatus) {
	r.mu.Lock()
	r.statuses = append(r.statuses, s)
	r.mu.Unlock()
	r.add("status %s %s %s", s.TaskID, s.State, s.Reason)
}
func (r *recorder) FrameworkMessage(_ scheduler.SchedulerDriver, executorID, agentID, data string) {
	r.mu.Lock()
	r.messages = append(r.messages, data)
	r.mu.Unlock()
	r.add("message %s %s", executorID, agentID)
}
func (r *recorder) Disconnected(scheduler.SchedulerDriver)           { r.add("disconnected") }
func (r *recorder) AgentLost(_ scheduler.SchedulerDriver, id string) { r.add("agent lost %s", id) }
func (r *recorder) ExecutorLost(_ scheduler.SchedulerDriver, e, a string, status int) {
	r.add("executor lost %s %s %d", e, a, status)
}
func (r *recorder) Error(_ scheduler.SchedulerDriver, msg string) { r.add("error %s", msg) }

// eventually waits for cond; the bound is generous for a loaded machine
// and only limits how long a failing test takes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, what, 60*time.Second, cond)
}

func namespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// startDriver runs a driver for framework in ns with a short Lease, until
// the test ends (then it aborts, as a crash would). 4 s, renewed within
// 3 s: a renewal that a busy machine holds up for a second and a half
// must not stop the driver ("lost the scheduler Lease").
func startDriver(t *testing.T, sched scheduler.Scheduler, ns, framework string, spec *kmv1.FrameworkSpec) *scheduler.Driver {
	t.Helper()
	d, err := scheduler.NewDriver(sched, scheduler.Config{RestConfig: env.Config, Namespace: ns, Framework: framework, Spec: spec,
		LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Abort() })
	return d
}

func getFramework(t *testing.T, ns, name string) *kmv1.Framework {
	t.Helper()
	var fw kmv1.Framework
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &fw); err != nil {
		t.Fatal(err)
	}
	return &fw
}
