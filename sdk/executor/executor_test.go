package executor_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/inprocess"
	"github.com/kubemesos/kubemesos/internal/testenv"
	"github.com/kubemesos/kubemesos/sdk/executor"
	"github.com/kubemesos/kubemesos/sdk/scheduler"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// oneTask launches one custom-executor task on the first offer.
type oneTask struct {
	mu       sync.Mutex
	launched bool
}

func (s *oneTask) Registered(scheduler.SchedulerDriver, string) {}
func (s *oneTask) Reregistered(scheduler.SchedulerDriver)       {}
func (s *oneTask) ResourceOffers(d scheduler.SchedulerDriver, offers []kmv1.Offer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range offers {
		if s.launched {
			_ = d.DeclineOffer(o.Name, nil)
			continue
		}
		s.launched = true
		_ = d.LaunchTasks([]string{o.Name}, []scheduler.TaskInfo{{TaskID: "job", Resources: builders.Resources("cpu", "1"),
			Executor: &kmv1.ExecutorInfo{ExecutorID: "worker", Image: "img"}}})
	}
}
func (s *oneTask) OfferRescinded(scheduler.SchedulerDriver, string)                   {}
func (s *oneTask) StatusUpdate(scheduler.SchedulerDriver, scheduler.TaskStatus)       {}
func (s *oneTask) FrameworkMessage(scheduler.SchedulerDriver, string, string, string) {}
func (s *oneTask) Disconnected(scheduler.SchedulerDriver)                             {}
func (s *oneTask) AgentLost(scheduler.SchedulerDriver, string)                        {}
func (s *oneTask) ExecutorLost(scheduler.SchedulerDriver, string, string, int)        {}
func (s *oneTask) Error(scheduler.SchedulerDriver, string)                            {}

// recorder is an executor that records its callbacks.
type recorder struct {
	mu     sync.Mutex
	events []string
	tasks  chan string
}

func (r *recorder) add(e string) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) hasPrefix(p string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.events {
		if strings.HasPrefix(x, p) {
			return true
		}
	}
	return false
}

func (r *recorder) has(e string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.events {
		if x == e {
			return true
		}
	}
	return false
}

func (r *recorder) Registered(executor.ExecutorDriver, executor.Info)   { r.add("registered") }
func (r *recorder) Reregistered(executor.ExecutorDriver, executor.Info) { r.add("reregistered") }
func (r *recorder) Disconnected(executor.ExecutorDriver)                { r.add("disconnected") }
func (r *recorder) LaunchTask(_ executor.ExecutorDriver, t executorapi.TaskInfo) {
	r.add("launch " + t.TaskID)
	r.tasks <- t.TaskID
}
func (r *recorder) KillTask(executor.ExecutorDriver, string)                {}
func (r *recorder) FrameworkMessage(_ executor.ExecutorDriver, data string) { r.add("message " + data) }
func (r *recorder) Shutdown(executor.ExecutorDriver)                        { r.add("shutdown") }
func (r *recorder) Error(_ executor.ExecutorDriver, msg string)             { r.add("error " + msg) }

func wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, what, 30*time.Second, cond)
}

func taskState(t *testing.T, ns string) kmv1.TaskState {
	var tk kmv1.Task
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "job"}, &tk); err != nil {
		return ""
	}
	return tk.Status.State
}

// TestExecutorSurvivesAgentRestart: the agent restarts while a task runs.
// The executor driver reconnects and re-registers, and the terminal update
// it sent while the agent was down still reaches the registry, once. A
// scheduler message reaches the executor through the agent.
func TestExecutorSurvivesAgentRestart(t *testing.T) {
	ctx := context.Background()
	inprocess.StartMaster(t, env.Config, inprocess.MasterOptions())
	inprocess.Node(t, env.Client, "sdk-node", "4", "8Gi")
	work, addr := t.TempDir(), inprocess.FreeAddr(t)
	stopAgent := inprocess.RunAgent(t, env.Config, inprocess.AgentConfig{Node: "sdk-node", WorkDir: work, Addr: addr})
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "sdk-"}}
	if err := env.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	sd, err := scheduler.NewDriver(&oneTask{}, scheduler.Config{RestConfig: env.Config, Namespace: ns.Name, Framework: "sdkfw",
		Spec: &kmv1.FrameworkSpec{}, LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := sd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sd.Abort() })

	rec := &recorder{tasks: make(chan string, 10)}
	var ed *executor.Driver
	inprocess.Kubelet(t, env.Client, ns.Name, func(pod *corev1.Pod) {
		d, err := inprocess.StartExecutor(t, env.Client, pod, rec)
		if err != nil {
			t.Error(err)
			return
		}
		ed = d
	})
	var taskID string
	select {
	case taskID = <-rec.tasks:
	case <-time.After(30 * time.Second):
		t.Fatal("the executor got no task")
	}
	if err := ed.SendStatusUpdate(executor.TaskStatus{TaskID: taskID, State: kmv1.TaskRunning}); err != nil {
		t.Fatal(err)
	}
	wait(t, "TASK_RUNNING", func() bool { return taskState(t, ns.Name) == kmv1.TaskRunning })

	// A message from the scheduler.
	var tk kmv1.Task
	_ = env.Client.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "job"}, &tk)
	if err := sd.SendFrameworkMessage("worker", tk.Status.AgentID, "hello executor"); err != nil {
		t.Fatal(err)
	}
	wait(t, "the message", func() bool { return rec.has("message hello executor") })

	stopAgent()
	wait(t, "the executor notices", func() bool { return rec.has("disconnected") })
	// Sent while the agent is down: kept by the driver, resent later.
	if err := ed.SendStatusUpdate(executor.TaskStatus{TaskID: taskID, State: kmv1.TaskFinished, Data: "42"}); err != nil {
		t.Fatal(err)
	}
	inprocess.RunAgent(t, env.Config, inprocess.AgentConfig{Node: "sdk-node", WorkDir: work, Addr: addr})
	wait(t, "re-registration", func() bool { return rec.has("reregistered") })
	wait(t, "TASK_FINISHED", func() bool { return taskState(t, ns.Name) == kmv1.TaskFinished })
	_ = env.Client.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "job"}, &tk)
	if tk.Status.Data != "42" {
		t.Errorf("data %q, want 42", tk.Status.Data)
	}
	n := 0
	rec.mu.Lock()
	for _, e := range rec.events {
		if e == "launch job" {
			n++
		}
	}
	rec.mu.Unlock()
	if n != 1 {
		t.Errorf("the task was launched %d times, want once", n)
	}
}
