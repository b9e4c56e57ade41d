package admission

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/inprocess"
	"github.com/kubemesos/kubemesos/internal/testenv"
	"github.com/kubemesos/kubemesos/sdk/executor"
	"github.com/kubemesos/kubemesos/sdk/scheduler"
)

// talker is a scheduler that launches one custom-executor task and records
// the messages it gets.
type talker struct {
	once     sync.Once
	mu       sync.Mutex
	running  scheduler.TaskStatus
	messages []string
	errors   []string
}

func (s *talker) Registered(scheduler.SchedulerDriver, string) {}
func (s *talker) Reregistered(scheduler.SchedulerDriver)       {}
func (s *talker) ResourceOffers(d scheduler.SchedulerDriver, offers []kmv1.Offer) {
	s.once.Do(func() {
		if err := d.LaunchTasks([]string{offers[0].Name}, []scheduler.TaskInfo{{TaskID: "job", Resources: b.Resources("cpu", "1"),
			Executor: &kmv1.ExecutorInfo{ExecutorID: "worker", Image: "img"}}}); err != nil {
			s.Error(d, err.Error())
		}
	})
}
func (s *talker) OfferRescinded(scheduler.SchedulerDriver, string) {}
func (s *talker) StatusUpdate(_ scheduler.SchedulerDriver, st scheduler.TaskStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.State == kmv1.TaskRunning {
		s.running = st
	}
}
func (s *talker) FrameworkMessage(_ scheduler.SchedulerDriver, _, _, data string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, data)
}
func (s *talker) Disconnected(scheduler.SchedulerDriver)                      {}
func (s *talker) AgentLost(scheduler.SchedulerDriver, string)                 {}
func (s *talker) ExecutorLost(scheduler.SchedulerDriver, string, string, int) {}
func (s *talker) Error(_ scheduler.SchedulerDriver, m string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errors = append(s.errors, m)
}

// listener is an executor that records the messages it gets.
type listener struct {
	mu       sync.Mutex
	launched chan string
	messages []string
	errors   []string
}

func (l *listener) Registered(executor.ExecutorDriver, executor.Info)   {}
func (l *listener) Reregistered(executor.ExecutorDriver, executor.Info) {}
func (l *listener) Disconnected(executor.ExecutorDriver)                {}
func (l *listener) LaunchTask(_ executor.ExecutorDriver, t executorapi.TaskInfo) {
	l.launched <- t.TaskID
}
func (l *listener) KillTask(executor.ExecutorDriver, string) {}
func (l *listener) FrameworkMessage(_ executor.ExecutorDriver, data string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.messages = append(l.messages, data)
}
func (l *listener) Shutdown(executor.ExecutorDriver) {}
func (l *listener) Error(_ executor.ExecutorDriver, m string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errors = append(l.errors, m)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, what, 90*time.Second, cond)
}

// TestFrameworkMessagesUnderTheChartsRBAC: a framework runs with exactly
// the rights the chart grants. Its scheduler is the namespace's default
// ServiceAccount, bound to kubemesos-scheduler by a RoleBinding (as the
// chart binds it in each of frameworkNamespaces), and the agent is its
// ServiceAccount with its node's bound token, held by kubemesos-agent-node.
// Messages go both ways, in order, one of them 1024 bytes long: the
// scheduler finds the executor's node without any cluster-scoped read, and
// the agent writes only its own node's messages.
func TestFrameworkMessagesUnderTheChartsRBAC(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	saUser := "system:serviceaccount:" + ns + ":default"
	bind(t, ns, saUser, "kubemesos-scheduler")
	impersonate := func(user string, groups []string, extra map[string][]string) *rest.Config {
		cfg := rest.CopyConfig(env.Config)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: append(groups, "system:authenticated"), Extra: extra}
		return cfg
	}
	schedulerCfg := impersonate(saUser, []string{"system:serviceaccounts", "system:serviceaccounts:" + ns}, nil)
	agentCfg := impersonate(agentUser, []string{"system:serviceaccounts", "system:serviceaccounts:" + systemNS}, map[string][]string{nodeExtra: {"msg-node"}})
	// The policies must be in force before the agent starts.
	node1 := agentOn(t, "msg-node")
	eventuallyRefused(t, func() error {
		return node1.Create(ctx, &corev1.Pod{ObjectMeta: executorPod(ns, "probe", "node-2", nil).ObjectMeta, Spec: executorPod(ns, "probe", "node-2", nil).Spec})
	})
	// A RoleBinding grants nothing cluster-scoped: the scheduler runs
	// without reading Agents.
	if sa := as(t, saUser, []string{"system:serviceaccounts"}, nil); sa.List(ctx, &kmv1.AgentList{}) == nil {
		t.Errorf("the scheduler's ServiceAccount may list Agents, so this test proves nothing about running without")
	}

	inprocess.StartMaster(t, env.Config, inprocess.MasterOptions())
	inprocess.Node(t, env.Client, "msg-node", "4", "8Gi")
	inprocess.RunAgent(t, agentCfg, inprocess.AgentConfig{Node: "msg-node"})
	l := &listener{launched: make(chan string, 1)}
	drivers := make(chan *executor.Driver, 1)
	inprocess.Kubelet(t, env.Client, ns, func(pod *corev1.Pod) {
		d, err := inprocess.StartExecutor(t, env.Client, pod, l)
		if err != nil {
			t.Error(err)
			return
		}
		drivers <- d
	})
	s := &talker{}
	sd, err := scheduler.NewDriver(s, scheduler.Config{RestConfig: schedulerCfg, Namespace: ns, Framework: "talk", Spec: &kmv1.FrameworkSpec{},
		LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := sd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sd.Abort() })

	var ed *executor.Driver
	select {
	case ed = <-drivers:
	case <-time.After(90 * time.Second):
		t.Fatal("no executor pod: the scheduler could not launch its task, or the agent could not create the pod")
	}
	<-l.launched
	if err := ed.SendStatusUpdate(executor.TaskStatus{TaskID: "job", State: kmv1.TaskRunning}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "TASK_RUNNING", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.running.AgentID != "" })
	s.mu.Lock()
	agentID := s.running.AgentID
	s.mu.Unlock()

	var toExecutor, toScheduler []string
	for i := 1; i <= 20; i++ {
		toExecutor, toScheduler = append(toExecutor, fmt.Sprintf("s%02d", i)), append(toScheduler, fmt.Sprintf("e%02d", i))
	}
	toExecutor[9] += strings.Repeat("x", executorapi.MaxFrameworkMessageLength-len(toExecutor[9]))
	toScheduler[9] += strings.Repeat("x", executorapi.MaxFrameworkMessageLength-len(toScheduler[9]))
	for i := range toExecutor {
		if err := ed.SendFrameworkMessage(toScheduler[i]); err != nil {
			t.Fatal(err)
		}
		if err := sd.SendFrameworkMessage("worker", agentID, toExecutor[i]); err != nil {
			t.Fatalf("the scheduler's ServiceAccount could not send: %v", err)
		}
	}
	waitFor(t, "the messages to the executor", func() bool { l.mu.Lock(); defer l.mu.Unlock(); return len(l.messages) >= len(toExecutor) })
	waitFor(t, "the messages to the scheduler", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.messages) >= len(toScheduler) })
	l.mu.Lock()
	if d := cmp.Diff(toExecutor, l.messages); d != "" {
		t.Errorf("messages to the executor (-want +got):\n%s", d)
	}
	if len(l.errors) > 0 {
		t.Errorf("executor errors: %v", l.errors)
	}
	l.mu.Unlock()
	s.mu.Lock()
	if d := cmp.Diff(toScheduler, s.messages); d != "" {
		t.Errorf("messages to the scheduler (-want +got):\n%s", d)
	}
	if len(s.errors) > 0 {
		t.Errorf("scheduler errors: %v", s.errors)
	}
	s.mu.Unlock()
}
