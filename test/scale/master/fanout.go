package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/messages"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

// fanoutNS holds the Tasks and Events of the watch fan-out measurement.
const fanoutNS = "bench-fanout"

// fanoutTasks is how many Tasks the Task status writes cycle over.
const fanoutTasks = 1000

// fanoutClients is how many goroutines write at once.
const fanoutClients = 16

// fanoutRow is what one kind of write cost the API server with some idle
// watches open.
type fanoutRow struct {
	watches int
	kind    string
	n       int
	elapsed time.Duration
	// cpu is kube-apiserver's CPU seconds over the run.
	cpu float64
}

func (r fanoutRow) perSecond() float64 { return float64(r.n) / r.elapsed.Seconds() }

// cpuPerWrite is the API server's CPU per write, in milliseconds.
func (r fanoutRow) cpuPerWrite() float64 { return r.cpu * 1000 / float64(r.n) }

// The two kinds of write measured.
const (
	fanoutTaskStatus = "Task status (merge patch, as the agent writes)"
	fanoutEvent      = "Event (unlabelled, as any component records one)"
	// fanoutEventAllNamespaces is an Event with the agents' message
	// watches across all namespaces, as agents held them before.
	fanoutEventAllNamespaces = "Event, the message watches across all namespaces"
)

// watchFanout measures what the agents' watches cost the API server on
// every write of what they watch. Each agent watches the Tasks on its node
// (a field selector on status.nodeName, across every namespace) and the
// scheduler messages to it (events.k8s.io Events, by label, in the
// namespaces where executors run on its node). The API server's watch
// cache indexes neither selector for a custom resource, so it hands every
// Task write to every such watch to filter; Events have no watch cache at
// all (kube-apiserver's default), so each Event watch is a watch of etcd
// of its own, and a write is decoded once for every watch whose namespace
// it is in. For each count in cfg.fanoutWatches, that many agents' idle
// watches are open (selecting nodes that do not exist, their message
// watches in namespaces of their own) while fanoutClients goroutines write
// Task statuses, then create Events, for cfg.writeDuration each. Last,
// with as many message watches across all namespaces added, as agents held
// them before, Events once more.
func (bn *bench) watchFanout(ctx context.Context) ([]fanoutRow, error) {
	if err := bn.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fanoutNS}}); err != nil {
		return nil, fmt.Errorf("creating namespace %s: %w", fanoutNS, err)
	}
	tasks := make([]*kmv1.Task, fanoutTasks)
	err := parallel(ctx, fanoutTasks, func(ctx context.Context, i int) error {
		t := b.MakeTask(fmt.Sprintf("fanout-%04d", i), fanoutNS).Framework("fanout").Offer("fanout-offer").Agent("fanout-agent").
			Resources("cpu", taskCPU, "memory", taskMemory).Executor("fanout-executor", "example.com/bench-executor:1").Obj()
		if err := bn.c.Create(ctx, t); err != nil {
			return fmt.Errorf("creating task %s: %w", t.Name, err)
		}
		now := metav1.Now()
		t.Status = kmv1.TaskStatus{State: kmv1.TaskRunning, Source: kmv1.SourceExecutor, AgentID: "fanout-agent", NodeName: "fanout-node",
			ExecutorID: "fanout-executor", StagingTime: &now, StartTime: &now, LastUpdateTime: &now}
		if err := bn.c.Status().Update(ctx, t); err != nil {
			return fmt.Errorf("writing the status of task %s: %w", t.Name, err)
		}
		tasks[i] = t
		return nil
	})
	if err != nil {
		return nil, err
	}
	var watches []watch.Interface
	defer func() {
		for _, w := range watches {
			w.Stop()
		}
	}()
	// Each watch starts at the newest resourceVersion, as an agent's
	// informer does after its list: no initial events to send.
	open := func(list client.ObjectList, opts ...client.ListOption) error {
		if err := bn.c.List(ctx, list, client.Limit(1)); err != nil {
			return err
		}
		rv := list.(metav1.ListInterface).GetResourceVersion()
		opts = append(opts, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}})
		w, err := bn.c.Watch(ctx, list, opts...)
		if err != nil {
			return err
		}
		watches = append(watches, w)
		go func() {
			for range w.ResultChan() {
			}
		}()
		return nil
	}
	writeStatus := func(ctx context.Context, w, i int) error {
		t := tasks[(w*7919+i)%fanoutTasks]
		now := metav1.Now()
		patch := client.RawPatch(types.MergePatchType,
			fmt.Appendf(nil, `{"status":{"message":"write %d of %d","lastUpdateTime":%q}}`, i, w, now.UTC().Format(time.RFC3339)))
		return bn.c.Status().Patch(ctx, &kmv1.Task{ObjectMeta: metav1.ObjectMeta{Namespace: t.Namespace, Name: t.Name}}, patch)
	}
	createEvent := func(ctx context.Context, w, i int) error {
		return bn.c.Create(ctx, &eventsv1.Event{
			ObjectMeta:          metav1.ObjectMeta{Namespace: fanoutNS, GenerateName: "fanout-"},
			EventTime:           metav1.NewMicroTime(time.Now()),
			ReportingController: "bench-master", ReportingInstance: "bench-master",
			Action: "Measure", Reason: "Measured", Type: corev1.EventTypeNormal,
			Regarding: corev1.ObjectReference{Kind: "Task", APIVersion: kmv1.GroupVersion.String(), Namespace: fanoutNS, Name: tasks[i%fanoutTasks].Name},
			Note:      fmt.Sprintf("event %d of writer %d", i, w),
		})
	}
	var rows []fanoutRow
	held := 0
	for _, want := range bn.cfg.fanoutWatches {
		logf("watch fan-out: %d agents' idle watches, Task status writes then Events, %s each", want, bn.cfg.writeDuration)
		for ; held < want; held++ {
			node := fmt.Sprintf("fanout-other-%05d", held)
			if err := open(&kmv1.TaskList{}, client.MatchingFields{"status.nodeName": node}); err != nil {
				return nil, fmt.Errorf("watching the Tasks of node %s: %w", node, err)
			}
			// Another tenant's namespace, where this node runs an executor.
			if err := open(&eventsv1.EventList{}, client.InNamespace(fmt.Sprintf("fanout-tenant-%05d", held)),
				client.MatchingLabelsSelector{Selector: messages.ToExecutorsOn(node)}); err != nil {
				return nil, fmt.Errorf("watching the messages to node %s: %w", node, err)
			}
		}
		for _, m := range []struct {
			kind  string
			write func(ctx context.Context, w, i int) error
		}{{fanoutTaskStatus, writeStatus}, {fanoutEvent, createEvent}} {
			row, err := bn.fanoutRun(ctx, want, m.kind, m.write)
			if err != nil {
				return nil, err
			}
			rows = append(rows, row)
		}
	}
	// The agents' message watches as they were before they were scoped to
	// their executors' namespaces: every Event of the cluster, by label.
	logf("watch fan-out: %d more watches of the messages across all namespaces, Events, %s", held, bn.cfg.writeDuration)
	for i := range held {
		node := fmt.Sprintf("fanout-other-%05d", i)
		if err := open(&eventsv1.EventList{}, client.MatchingLabelsSelector{Selector: messages.ToExecutorsOn(node)}); err != nil {
			return nil, fmt.Errorf("watching the messages to node %s in all namespaces: %w", node, err)
		}
	}
	row, err := bn.fanoutRun(ctx, held, fanoutEventAllNamespaces, createEvent)
	if err != nil {
		return nil, err
	}
	rows = append(rows, row)
	if err := bn.c.DeleteAllOf(ctx, &kmv1.Task{}, client.InNamespace(fanoutNS)); err != nil {
		return nil, fmt.Errorf("deleting the fan-out Tasks: %w", err)
	}
	return rows, nil
}

// fanoutSettle is how long fanoutRun waits after a run, so that the
// watch cache's dispatch of its last writes is counted.
const fanoutSettle = 2 * time.Second

// fanoutRun runs write on fanoutClients goroutines for cfg.writeDuration
// and reads kube-apiserver's CPU time around it: from the start of the run
// to fanoutSettle after its end, less what the API server spends idle
// (with the watches open), read just before.
func (bn *bench) fanoutRun(ctx context.Context, watches int, kind string, write func(ctx context.Context, w, i int) error) (fanoutRow, error) {
	idle, start := apiServerIdle(ctx)
	wr, err := bn.writeRun(ctx, fanoutClients, kind, write)
	if err != nil {
		return fanoutRow{}, err
	}
	time.Sleep(fanoutSettle)
	spent := apiServerCPU() - start - idle*(wr.elapsed+fanoutSettle).Seconds()
	return fanoutRow{watches: watches, kind: kind, n: wr.n, elapsed: wr.elapsed, cpu: max(spent, 0)}, nil
}

// apiServerCPU is kube-apiserver's CPU time so far, in seconds.
func apiServerCPU() float64 { return testenv.ChildCPU("")["kube-apiserver"] }

// apiServerIdle waits, for at most a minute, until kube-apiserver uses
// less than a tenth of a core over a second (what came before, such as
// opening watches, has settled), and returns its CPU rate over that last
// second, in cores, and its CPU time at its end.
func apiServerIdle(ctx context.Context) (rate, at float64) {
	deadline := time.Now().Add(time.Minute)
	at = apiServerCPU()
	for {
		select {
		case <-ctx.Done():
			return rate, at
		case <-time.After(time.Second):
		}
		now := apiServerCPU()
		rate, at = now-at, now
		if rate < 0.1 || time.Now().After(deadline) {
			return rate, at
		}
	}
}

func (r *report) watchFanout(rows []fanoutRow, cfg *config) {
	r.printf("### The watch fan-out\n\n")
	r.printf("What one write costs kube-apiserver (its CPU time from /proc, from the start of the run to %s after it, less its idle CPU with the watches open, divided by the writes) with idle watches open as that many agents hold theirs: per agent, one watch of Tasks with `status.nodeName` of its node (all namespaces) and one of events.k8s.io Events labelled as scheduler messages to it in a namespace of its own, selecting nodes that do not exist; the last row adds as many message watches across all namespaces, as agents held them before. %d client goroutines, %s per run, on the run's own etcd and kube-apiserver.\n\n", fanoutSettle, fanoutClients, cfg.writeDuration)
	r.printf("| agents' idle watches | write | writes/s | kube-apiserver CPU per write | × with none |\n|---:|---|---:|---:|---:|\n")
	base := map[string]float64{}
	for _, row := range rows {
		if row.watches == 0 {
			base[row.kind] = row.cpuPerWrite()
		}
	}
	base[fanoutEventAllNamespaces] = base[fanoutEvent]
	for _, row := range rows {
		ratio := "—"
		if b := base[row.kind]; b > 0 {
			ratio = fmt.Sprintf("%.1f", row.cpuPerWrite()/b)
		}
		r.printf("| %d | %s | %.0f | %.2f ms | %s |\n", row.watches, row.kind, row.perSecond(), row.cpuPerWrite(), ratio)
	}
	r.printf("\n")
}
