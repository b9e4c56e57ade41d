package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/inprocess"
	"github.com/kubemesos/kubemesos/sdk/executor"
)

// The agent phase's node, namespace and framework.
const (
	agentNode = "agent-node"
	agentNS   = "bench-agent"
	agentFw   = "fw-agent"
)

// agentRow is one agent's memory, idle and with its tasks running.
type agentRow struct {
	tasks, executors int
	idle, loaded     memory
	// running is from the Tasks' creation to the last of them RUNNING;
	// finished from the executors sending TASK_FINISHED for every task at
	// once to the last of them FINISHED in the API server.
	running, finished time.Duration
}

// agentMemory runs one `kubemesos agent` process, plays the master (admits
// the agent and stages Tasks on it) and the kubelet (marks its executor
// pods Running and runs each pod's executor here, through the executor SDK
// and the agent's executor API), and reads the agent's memory before any
// task and with every task RUNNING.
func (bn *bench) agentMemory(ctx context.Context) (agentRow, error) {
	cfg := bn.cfg
	row := agentRow{tasks: cfg.agentTasks, executors: cfg.agentExecutors}
	c := bn.c
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: agentNS}}); err != nil {
		return row, fmt.Errorf("creating namespace %s: %w", agentNS, err)
	}
	fw := b.MakeFramework(agentFw, agentNS).FailoverTimeout(3600).Obj()
	if err := c.Create(ctx, fw); err != nil {
		return row, fmt.Errorf("creating the framework: %w", err)
	}
	if err := readyNode(ctx, c, agentNode); err != nil {
		return row, err
	}
	addr, err := bn.freePort()
	if err != nil {
		return row, err
	}
	_, port, _ := strings.Cut(addr, ":")
	args := []string{"--node-name", agentNode, "--advertise-address", "127.0.0.1", "--bind-address", "127.0.0.1",
		"--port", port, "--work-dir", filepath.Join(bn.cfg.out, "agent-work"), "--lease-namespace", systemNS}
	if cfg.agentWriters > 0 {
		args = append(args, "--status-update-writers", strconv.Itoa(cfg.agentWriters))
	}
	p, err := bn.start("agent", "agent", nil, args...)
	if err != nil {
		return row, err
	}
	defer p.kill()

	// Admit the agent, as the master would, and wait until it runs under
	// its agentID (it checkpoints it).
	agentID := agentNode + "-bench"
	var a kmv1.Agent
	if err := waitFor(ctx, "the agent to register (log: "+p.logPath+")", 2*time.Minute, 200*time.Millisecond, func() (bool, error) {
		if err := p.exited(); err != nil {
			return false, err
		}
		return c.Get(ctx, types.NamespacedName{Name: agentNode}, &a) == nil, nil
	}); err != nil {
		return row, err
	}
	now := metav1.Now()
	a.Status = kmv1.AgentStatus{AgentID: agentID, Phase: kmv1.AgentActive, RegisteredTime: &now, ObservedGeneration: a.Generation}
	meta.SetStatusCondition(&a.Status.Conditions, metav1.Condition{Type: kmv1.AgentAdmitted, Status: metav1.ConditionTrue, Reason: kmv1.ReasonAdmitted, Message: "agentID " + agentID})
	if err := c.Status().Update(ctx, &a); err != nil {
		return row, fmt.Errorf("admitting the agent: %w", err)
	}
	if err := waitFor(ctx, "the agent to run under its agentID", 2*time.Minute, 200*time.Millisecond, func() (bool, error) {
		raw, err := os.ReadFile(filepath.Join(bn.cfg.out, "agent-work", "agent.json"))
		return err == nil && strings.Contains(string(raw), agentID), nil
	}); err != nil {
		return row, err
	}
	select {
	case <-ctx.Done():
		return row, ctx.Err()
	case <-time.After(cfg.settle):
	}
	if row.idle, err = bn.readMemory(ctx, p, "agent-idle"); err != nil {
		return row, err
	}
	logf("agent: idle RSS %s MiB, heap after GC %s MiB", mib(row.idle.RSS), mib(row.idle.HeapAlloc))

	// The kubelet and the executors.
	kctx, stopKubelet := context.WithCancel(ctx)
	var drivers sync.WaitGroup
	execs := &executors{}
	defer func() { stopKubelet(); drivers.Wait() }()
	go bn.kubelet(kctx, &drivers, execs)

	start := time.Now()
	if err := parallel(ctx, cfg.agentTasks, func(ctx context.Context, i int) error {
		return stageTask(ctx, c, fw, i, cfg.agentExecutors, agentID)
	}); err != nil {
		return row, err
	}
	if err := bn.waitTasks(ctx, p, kmv1.TaskRunning, cfg.agentTasks); err != nil {
		return row, err
	}
	row.running = time.Since(start)
	select {
	case <-ctx.Done():
		return row, ctx.Err()
	case <-time.After(cfg.settle):
	}
	if row.loaded, err = bn.readMemory(ctx, p, fmt.Sprintf("agent-%dtasks", cfg.agentTasks)); err != nil {
		return row, err
	}
	logf("agent: with %d tasks RSS %s MiB, heap after GC %s MiB", cfg.agentTasks, mib(row.loaded.RSS), mib(row.loaded.HeapAlloc))

	// Every task ends at once: each executor sends TASK_FINISHED for all
	// its tasks, agentSenders calls at a time, and the agent writes them
	// through to the API server.
	start = time.Now()
	execs.finishAll()
	if err := bn.waitTasks(ctx, p, kmv1.TaskFinished, cfg.agentTasks); err != nil {
		return row, err
	}
	row.finished = time.Since(start)
	logf("agent: %d TASK_FINISHED updates written in %s", cfg.agentTasks, row.finished.Round(time.Millisecond))
	return row, nil
}

// waitTasks waits until n of the agent's Tasks are in state.
func (bn *bench) waitTasks(ctx context.Context, p *proc, state kmv1.TaskState, n int) error {
	return waitFor(ctx, fmt.Sprintf("%d tasks to be %s on the agent (log: %s)", n, state, p.logPath), 10*time.Minute, 100*time.Millisecond, func() (bool, error) {
		if err := p.exited(); err != nil {
			return false, err
		}
		var l kmv1.TaskList
		if err := bn.c.List(ctx, &l, client.InNamespace(agentNS)); err != nil {
			return false, err
		}
		got := 0
		for _, t := range l.Items {
			if t.Status.State == state {
				got++
			}
		}
		return got == n, fmt.Errorf("%d of %d %s", got, n, state)
	})
}

// readyNode creates a Ready Node with room for the agent's tasks, without
// the not-ready taint the API server gives a new Node.
func readyNode(ctx context.Context, c client.Client, name string) error {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := c.Create(ctx, n); err != nil {
		return fmt.Errorf("creating node %s: %w", name, err)
	}
	n.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1000"), corev1.ResourceMemory: resource.MustParse("4Ti"),
		corev1.ResourcePods: resource.MustParse("5000")}
	n.Status.Capacity = n.Status.Allocatable
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	if err := c.Status().Update(ctx, n); err != nil {
		return fmt.Errorf("making node %s Ready: %w", name, err)
	}
	var kept []corev1.Taint
	for _, t := range n.Spec.Taints {
		if t.Key != corev1.TaintNodeNotReady {
			kept = append(kept, t)
		}
	}
	if len(kept) != len(n.Spec.Taints) {
		n.Spec.Taints = kept
		if err := c.Update(ctx, n); err != nil {
			return fmt.Errorf("lifting the not-ready taint of %s: %w", name, err)
		}
	}
	return nil
}

// stageTask creates the i-th task on the agent, of executor i mod
// executors, staged as the master's admission stages it.
func stageTask(ctx context.Context, c client.Client, fw *kmv1.Framework, i, executors int, agentID string) error {
	execID := fmt.Sprintf("exec-%02d", i%executors)
	t := b.MakeTask(fmt.Sprintf("task-%05d", i), agentNS).Framework(fw.Name).Offer(fw.Name+"-bench").Agent(agentID).
		Resources("cpu", taskCPU, "memory", taskMemory).Executor(execID, "example.com/bench-executor:1").
		Label(kmv1.LabelAgent, agentNode).Data(`{"points":100000}`).Obj()
	t.Spec.Executor.Resources = b.Resources("cpu", executorCPU, "memory", executorMemory)
	t.OwnerReferences = []metav1.OwnerReference{kmv1.FrameworkOwner(fw.Name, fw.UID)}
	if err := c.Create(ctx, t); err != nil {
		return fmt.Errorf("creating task %s: %w", t.Name, err)
	}
	now := metav1.Now()
	t.Status = kmv1.TaskStatus{State: kmv1.TaskStaging, Source: kmv1.SourceMaster, Message: "admitted on " + agentNode,
		AgentID: agentID, NodeName: agentNode, ExecutorID: execID, StagingTime: &now}
	if err := c.Status().Update(ctx, t); err != nil {
		return fmt.Errorf("staging task %s: %w", t.Name, err)
	}
	return nil
}

// kubelet marks each executor pod the agent creates Running and runs its
// executor in this process, until ctx ends.
func (bn *bench) kubelet(ctx context.Context, drivers *sync.WaitGroup, execs *executors) {
	started := map[types.UID]bool{}
	for ctx.Err() == nil {
		var pods corev1.PodList
		if err := bn.c.List(ctx, &pods, client.InNamespace(agentNS), client.MatchingLabels{kmv1.LabelComponent: "executor"}); err == nil {
			for i := range pods.Items {
				pod := &pods.Items[i]
				if started[pod.UID] || pod.DeletionTimestamp != nil {
					continue
				}
				pod.Status.Phase = corev1.PodRunning
				if err := bn.c.Status().Update(ctx, pod); err != nil {
					continue
				}
				started[pod.UID] = true
				dir, err := os.MkdirTemp(bn.cfg.out, "executor-")
				if err != nil {
					logf("kubelet: %v", err)
					continue
				}
				ecfg, err := inprocess.ExecutorConfig(ctx, bn.c, pod, dir)
				if err != nil {
					logf("kubelet: the executor of pod %s: %v", pod.Name, err)
					continue
				}
				ex := &benchExecutor{}
				execs.add(ex)
				d := executor.NewDriver(ex, ecfg)
				if err := d.Start(); err != nil {
					logf("kubelet: starting the executor of pod %s: %v", pod.Name, err)
					continue
				}
				drivers.Add(1)
				go func() {
					defer drivers.Done()
					<-ctx.Done()
					_ = d.Stop()
				}()
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// agentSenders is how many status calls each executor has in flight when
// it finishes its tasks (the executor API takes 8 per executor).
const agentSenders = 4

// executors are the runner's executors.
type executors struct {
	mu  sync.Mutex
	all []*benchExecutor
}

func (e *executors) add(x *benchExecutor) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, x)
}

// finishAll has every executor report TASK_FINISHED for each of its tasks,
// agentSenders calls at a time, and returns when the agent has taken them.
func (e *executors) finishAll() {
	e.mu.Lock()
	all := append([]*benchExecutor(nil), e.all...)
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, x := range all {
		x.mu.Lock()
		d, tasks := x.driver, append([]string(nil), x.tasks...)
		x.mu.Unlock()
		for s := range agentSenders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := s; k < len(tasks); k += agentSenders {
					if err := d.SendStatusUpdate(executor.TaskStatus{TaskID: tasks[k], State: kmv1.TaskFinished}); err != nil {
						logf("executor: %v", err)
					}
				}
			}()
		}
	}
	wg.Wait()
}

// benchExecutor reports each task it is given TASK_RUNNING, each task it
// is asked to kill TASK_KILLED, and remembers its tasks so that the runner
// can finish them.
type benchExecutor struct {
	mu     sync.Mutex
	driver executor.ExecutorDriver
	tasks  []string
}

func (*benchExecutor) Registered(executor.ExecutorDriver, executor.Info)   {}
func (*benchExecutor) Reregistered(executor.ExecutorDriver, executor.Info) {}
func (*benchExecutor) Disconnected(executor.ExecutorDriver)                {}
func (*benchExecutor) FrameworkMessage(executor.ExecutorDriver, string)    {}
func (*benchExecutor) Shutdown(executor.ExecutorDriver)                    {}
func (*benchExecutor) Error(_ executor.ExecutorDriver, msg string)         { logf("executor: %s", msg) }

func (x *benchExecutor) LaunchTask(d executor.ExecutorDriver, t executorapi.TaskInfo) {
	x.mu.Lock()
	x.driver = d
	x.tasks = append(x.tasks, t.TaskID)
	x.mu.Unlock()
	go func() { _ = d.SendStatusUpdate(executor.TaskStatus{TaskID: t.TaskID, State: kmv1.TaskRunning}) }()
}

func (*benchExecutor) KillTask(d executor.ExecutorDriver, id string) {
	go func() { _ = d.SendStatusUpdate(executor.TaskStatus{TaskID: id, State: kmv1.TaskKilled}) }()
}

func (r *report) agent(row agentRow, cfg *config) {
	r.printf("### The agent's memory\n\n")
	r.printf("One `kubemesos agent` process; the runner admits it and stages %s Tasks on it (%d custom executors, one pod each, which the runner marks Running and whose executors it runs through the executor SDK, each reporting TASK_RUNNING for every task it is given). All %s were RUNNING %s after they were created; memory read %s after the agent registered, and %s after the last task was RUNNING.\n\n",
		thousands(row.tasks), row.executors, thousands(row.tasks), secs(row.running), cfg.settle, cfg.settle)
	r.printf("| agent | RSS MiB | peak RSS MiB | heap after GC MiB (HeapAlloc) | HeapInuse MiB | Go Sys MiB |\n|---|---|---|---|---|---|\n")
	for _, x := range []struct {
		what string
		m    memory
	}{{"registered, no task", row.idle}, {strconv.Itoa(row.tasks) + " tasks RUNNING", row.loaded}} {
		r.printf("| %s | %s | %s | %s | %s | %s |\n", x.what, mib(x.m.RSS), mib(x.m.HWM), mib(x.m.HeapAlloc), mib(x.m.HeapInuse), mib(x.m.Sys))
	}
	r.printf("\n")
	writers := "the default"
	if cfg.agentWriters > 0 {
		writers = strconv.Itoa(cfg.agentWriters)
	}
	r.printf("Then every executor reported TASK_FINISHED for all its tasks at once (%d calls in flight per executor): the agent checkpointed the %s updates and wrote them into the Tasks' status (each a read from its cache and a preconditioned merge patch; %s --status-update-writers, each task's updates one at a time) in %s, %.0f status writes per second through to the API server. Compare BenchmarkExecutorStatusUpdates (agent/), the same path into a registry that takes each write at once.\n\n",
		agentSenders, thousands(row.tasks), writers, secs(row.finished), float64(row.tasks)/row.finished.Seconds())
}
