package scheduler_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/inprocess"
	"github.com/kubemesos/kubemesos/sdk/executor"
	"github.com/kubemesos/kubemesos/sdk/scheduler"
)

// worker is an executor that records what it is told, runs the tasks it
// gets until they are killed, and answers a kill with TASK_KILLED.
type worker struct {
	mu       sync.Mutex
	calls    []string
	messages []string
	tasks    chan string
}

func (w *worker) add(c string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, c)
}

func (w *worker) has(c string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, x := range w.calls {
		if x == c {
			return true
		}
	}
	return false
}

func (w *worker) received() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.messages...)
}

func (w *worker) Registered(executor.ExecutorDriver, executor.Info)   { w.add("registered") }
func (w *worker) Reregistered(executor.ExecutorDriver, executor.Info) { w.add("reregistered") }
func (w *worker) Disconnected(executor.ExecutorDriver)                { w.add("disconnected") }
func (w *worker) LaunchTask(_ executor.ExecutorDriver, t executorapi.TaskInfo) {
	w.add("launch " + t.TaskID)
	w.tasks <- t.TaskID
}
func (w *worker) KillTask(d executor.ExecutorDriver, id string) {
	w.add("kill " + id)
	_ = d.SendStatusUpdate(executor.TaskStatus{TaskID: id, State: kmv1.TaskKilled})
}
func (w *worker) FrameworkMessage(_ executor.ExecutorDriver, data string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.messages = append(w.messages, data)
}
func (w *worker) Shutdown(executor.ExecutorDriver)          { w.add("shutdown") }
func (w *worker) Error(_ executor.ExecutorDriver, m string) { w.add("error " + m) }

// series returns prefix001 ... prefix<n> (3 digits), with a message of
// exactly 1024 bytes, the most one holds, in the middle.
func series(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%03d", prefix, i+1)
	}
	out[n/2] += strings.Repeat("é", (executorapi.MaxFrameworkMessageLength-len(out[n/2]))/2)
	return out
}

// messageEvents counts the message Events left in ns.
func messageEvents(t *testing.T, ns, direction string) int {
	t.Helper()
	var evs eventsv1.EventList
	if err := env.Client.List(context.Background(), &evs, client.InNamespace(ns), client.MatchingLabels{kmv1.LabelMessage: direction}); err != nil {
		t.Fatal(err)
	}
	return len(evs.Items)
}

// receivedAll waits until got() holds as many messages as want, then
// checks that it holds exactly want, in order.
func receivedAll(t *testing.T, who string, got func() []string, want []string) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d messages to the %s", len(want), who), func() bool { return len(got()) >= len(want) })
	if d := cmp.Diff(want, got()); d != "" {
		t.Fatalf("messages to the %s, each once and in order (-want +got):\n%s", who, d)
	}
}

// TestFrameworkMessages: 100 messages each way in one run, all delivered,
// each once, in the order sent, one of them 1024 bytes; a larger one is an
// error before anything is sent. Then messages sent while the agent is down
// arrive once it is back (the scheduler's wait as Events, the executor's in
// its driver), and messages sent while no scheduler is active reach the
// instance that takes over. No message Event is left behind.
func TestFrameworkMessages(t *testing.T) {
	inprocess.StartMaster(t, env.Config, inprocess.MasterOptions())
	inprocess.Node(t, env.Client, "msg-node", "4", "8Gi")
	work, addr := t.TempDir(), inprocess.FreeAddr(t)
	stopAgent := inprocess.RunAgent(t, env.Config, inprocess.AgentConfig{Node: "msg-node", WorkDir: work, Addr: addr})
	ns := namespace(t, "msg")
	w := &worker{tasks: make(chan string, 4)}
	drivers := make(chan *executor.Driver, 1)
	inprocess.Kubelet(t, env.Client, ns, func(pod *corev1.Pod) {
		d, err := inprocess.StartExecutor(t, env.Client, pod, w)
		if err != nil {
			t.Error(err)
			return
		}
		drivers <- d
	})
	var once sync.Once
	sched := &recorder{}
	sched.onOffers = func(d scheduler.SchedulerDriver, offers []kmv1.Offer) {
		once.Do(func() {
			_ = d.LaunchTasks([]string{offers[0].Name}, []scheduler.TaskInfo{{TaskID: "job", Resources: b.Resources("cpu", "1"),
				Executor: &kmv1.ExecutorInfo{ExecutorID: "worker", Image: "img"}}})
		})
	}
	sd := startDriver(t, sched, ns, "msgfw", &kmv1.FrameworkSpec{})

	var ed *executor.Driver
	select {
	case ed = <-drivers:
	case <-time.After(60 * time.Second):
		t.Fatal("no executor pod")
	}
	select {
	case <-w.tasks:
	case <-time.After(60 * time.Second):
		t.Fatal("the executor got no task")
	}
	if err := ed.SendStatusUpdate(executor.TaskStatus{TaskID: "job", State: kmv1.TaskRunning}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "TASK_RUNNING", func() bool { s, _ := sched.status("job"); return s.State == kmv1.TaskRunning })
	st, _ := sched.status("job")
	agentID := st.AgentID

	// Too large, or to an agent the framework has nothing on: errors,
	// and nothing is sent.
	tooBig := strings.Repeat("x", executorapi.MaxFrameworkMessageLength+1)
	if err := sd.SendFrameworkMessage("worker", agentID, tooBig); err == nil || !strings.Contains(err.Error(), "at most 1024") {
		t.Errorf("the scheduler sent %d bytes: %v", len(tooBig), err)
	}
	if err := ed.SendFrameworkMessage(tooBig); err == nil || !strings.Contains(err.Error(), "at most 1024") {
		t.Errorf("the executor sent %d bytes: %v", len(tooBig), err)
	}
	if err := sd.SendFrameworkMessage("worker", "no-such-agent", "hi"); err == nil || !strings.Contains(err.Error(), "no task or offer") {
		t.Errorf("a message to an unknown agent: %v", err)
	}

	// 100 each way, at the same time.
	toExecutor, toScheduler := series("s", 100), series("e", 100)
	for _, m := range toScheduler {
		if err := ed.SendFrameworkMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range toExecutor {
		if err := sd.SendFrameworkMessage("worker", agentID, m); err != nil {
			t.Fatal(err)
		}
	}
	// A last message each way: once it is in, anything sent before it
	// has had its chance to arrive (twice).
	toExecutor, toScheduler = append(toExecutor, "s-end"), append(toScheduler, "e-end")
	if err := sd.SendFrameworkMessage("worker", agentID, "s-end"); err != nil {
		t.Fatal(err)
	}
	if err := ed.SendFrameworkMessage("e-end"); err != nil {
		t.Fatal(err)
	}
	receivedAll(t, "executor", w.received, toExecutor)
	receivedAll(t, "scheduler", sched.received, toScheduler)
	if n := sched.count("message worker " + agentID); n != len(toScheduler) {
		t.Errorf("%d messages came from executor worker on agent %s, want %d", n, agentID, len(toScheduler))
	}
	eventually(t, "no message Event left", func() bool {
		return messageEvents(t, ns, kmv1.MessageToExecutor) == 0 && messageEvents(t, ns, kmv1.MessageToScheduler) == 0
	})

	// The agent restarts. What the scheduler sends meanwhile waits as
	// Events; what the executor sends waits in its driver.
	stopAgent()
	eventually(t, "the executor notices the agent is gone", func() bool { return w.has("disconnected") })
	for i := 1; i <= 10; i++ {
		m, e := fmt.Sprintf("t%02d", i), fmt.Sprintf("f%02d", i)
		toExecutor, toScheduler = append(toExecutor, m), append(toScheduler, e)
		if err := sd.SendFrameworkMessage("worker", agentID, m); err != nil {
			t.Fatal(err)
		}
		if err := ed.SendFrameworkMessage(e); err != nil {
			t.Fatal(err)
		}
	}
	if n := messageEvents(t, ns, kmv1.MessageToExecutor); n != 10 {
		t.Errorf("%d messages wait for the agent, want 10", n)
	}
	inprocess.RunAgent(t, env.Config, inprocess.AgentConfig{Node: "msg-node", WorkDir: work, Addr: addr})
	receivedAll(t, "executor", w.received, toExecutor)
	receivedAll(t, "scheduler", sched.received, toScheduler)
	eventually(t, "no message Event left", func() bool {
		return messageEvents(t, ns, kmv1.MessageToExecutor) == 0 && messageEvents(t, ns, kmv1.MessageToScheduler) == 0
	})

	// The scheduler crashes. What the executor sends meanwhile reaches
	// the instance that takes over, in order.
	if err := sd.Abort(); err != nil {
		t.Fatal(err)
	}
	var later []string
	for i := 1; i <= 10; i++ {
		later = append(later, fmt.Sprintf("g%02d", i))
		if err := ed.SendFrameworkMessage(later[i-1]); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the messages stored with no scheduler", func() bool { return messageEvents(t, ns, kmv1.MessageToScheduler) == 10 })
	next := &recorder{}
	sd2 := startDriver(t, next, ns, "msgfw", nil)
	eventually(t, "the new instance registered", func() bool { return next.has("registered ") })
	receivedAll(t, "new scheduler", next.received, later)
	if sched.count("message ") != len(toScheduler) {
		t.Errorf("the crashed instance got messages after it stopped")
	}
	// Its messages are a sequence of their own.
	if err := sd2.SendFrameworkMessage("worker", agentID, "from the new instance"); err != nil {
		t.Fatal(err)
	}
	receivedAll(t, "executor", w.received, append(toExecutor, "from the new instance"))

	// Completing the framework kills the task and retires the executor.
	if err := sd2.Complete("done"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the executor shut down", func() bool { return w.has("shutdown") })
	if !w.has("kill job") {
		t.Errorf("the executor was not told to kill its task: %v", w.calls)
	}
	eventually(t, "no message Event left", func() bool {
		return messageEvents(t, ns, kmv1.MessageToExecutor) == 0 && messageEvents(t, ns, kmv1.MessageToScheduler) == 0
	})
}
