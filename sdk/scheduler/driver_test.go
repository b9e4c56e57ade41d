package scheduler_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/inprocess"
	"github.com/kubemesos/kubemesos/sdk/scheduler"
)

// TestDriverLifecycle: the driver creates its Framework and is Registered
// with the frameworkID the master assigned; it delivers offers, launches a
// command task on one (the Task named by the TaskID, labelled, owned by the
// Framework), reports its states in order, does not call a declined offer
// rescinded, and completes the framework with a result.
func TestDriverLifecycle(t *testing.T) {
	ctx := context.Background()
	inprocess.StartMaster(t, env.Config, inprocess.MasterOptions())
	inprocess.Node(t, env.Client, "life-node", "4", "8Gi")
	inprocess.StartAgent(t, env.Config, "life-node")
	ns := namespace(t, "life")
	pods := make(chan *corev1.Pod, 4)
	inprocess.Kubelet(t, env.Client, ns, func(p *corev1.Pod) { pods <- p })

	var mu sync.Mutex
	launched, declined := false, ""
	rec := &recorder{}
	rec.onOffers = func(d scheduler.SchedulerDriver, offers []kmv1.Offer) {
		mu.Lock()
		defer mu.Unlock()
		for _, o := range offers {
			switch {
			case !launched:
				launched = true
				err := d.LaunchTasks([]string{o.Name}, []scheduler.TaskInfo{{TaskID: "hello", Resources: b.Resources("cpu", "500m", "memory", "64Mi"),
					Command: &kmv1.CommandInfo{Image: "busybox:stable", Command: []string{"echo", "hello"}}, Labels: map[string]string{"team": "a"}}})
				if err != nil {
					rec.add("error launching: %v", err)
				}
			case declined == "":
				declined = o.Name
				if err := d.DeclineOffer(o.Name, &scheduler.Filters{RefuseSeconds: ptr.To[int32](0)}); err != nil {
					rec.add("error declining: %v", err)
				}
			}
		}
	}
	d := startDriver(t, rec, ns, "life", &kmv1.FrameworkSpec{OfferFilters: &kmv1.OfferFilters{RefuseSeconds: ptr.To[int32](0)}})

	eventually(t, "Registered", func() bool { return rec.has("registered ") })
	fw := getFramework(t, ns, "life")
	if !rec.has("registered " + fw.Status.FrameworkID) {
		t.Errorf("registered with another ID than the master's %q: %v", fw.Status.FrameworkID, rec.calls)
	}
	if d.Framework().Status.FrameworkID != fw.Status.FrameworkID {
		t.Errorf("Framework() has frameworkID %q, want %q", d.Framework().Status.FrameworkID, fw.Status.FrameworkID)
	}

	var pod *corev1.Pod
	select {
	case pod = <-pods:
	case <-time.After(60 * time.Second):
		t.Fatal("no pod for the launched task")
	}
	var task kmv1.Task
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "hello"}, &task); err != nil {
		t.Fatal(err)
	}
	if task.Labels[kmv1.LabelFramework] != "life" || task.Labels[kmv1.LabelAgent] != "life-node" || task.Labels["team"] != "a" {
		t.Errorf("task labels %v", task.Labels)
	}
	if n := task.Annotations[kmv1.AnnotationLaunchTasks]; n != "1" {
		t.Errorf("the task of a launch of one says its launch has %q tasks", n)
	}
	if len(task.OwnerReferences) != 1 || task.OwnerReferences[0].UID != fw.UID {
		t.Errorf("task owners %v, want the Framework %s", task.OwnerReferences, fw.UID)
	}
	eventually(t, "TASK_RUNNING", func() bool { s, _ := rec.status("hello"); return s.State == kmv1.TaskRunning })
	pod.Status.Phase = corev1.PodSucceeded
	if err := env.Client.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	eventually(t, "TASK_FINISHED", func() bool { s, _ := rec.status("hello"); return s.State == kmv1.TaskFinished })
	states := rec.states("hello")
	for i := 1; i < len(states); i++ {
		if states[i].Rank() <= states[i-1].Rank() {
			t.Errorf("states out of order or repeated: %v", states)
		}
	}
	if states[0] != kmv1.TaskStaging {
		t.Errorf("first state %s, want TASK_STAGING: %v", states[0], states)
	}

	// The declined offer was neither used nor rescinded; its agent is
	// offered again (refuseSeconds 0).
	mu.Lock()
	gone := declined
	mu.Unlock()
	if gone == "" {
		eventually(t, "a second offer to decline", func() bool { mu.Lock(); defer mu.Unlock(); return declined != "" })
		mu.Lock()
		gone = declined
		mu.Unlock()
	}
	eventually(t, "an offer after the declined one", func() bool { return rec.count("offer ") >= 3 })
	if rec.has("rescinded " + gone) {
		t.Errorf("the declined offer %s was reported rescinded", gone)
	}

	if err := d.Complete("area=42"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Completed", func() bool { return getFramework(t, ns, "life").Status.Phase == kmv1.FrameworkCompleted })
	if got := getFramework(t, ns, "life").Status.Result; got != "area=42" {
		t.Errorf("result %q, want area=42", got)
	}
}

// TestDriverStandbyTakesOver: a second instance waits while the first holds
// the scheduler Lease. When the first crashes (Abort), its Lease is left to
// expire, not released; the second takes it, is Registered, learns the
// state of the existing task (REASON_RECONCILIATION), and its KillTask kills
// it. Fail ends the framework as Failed with the message.
func TestDriverStandbyTakesOver(t *testing.T) {
	ctx := context.Background()
	inprocess.StartMaster(t, env.Config, inprocess.MasterOptions())
	inprocess.Node(t, env.Client, "standby-node", "4", "8Gi")
	inprocess.StartAgent(t, env.Config, "standby-node")
	ns := namespace(t, "standby")
	inprocess.Kubelet(t, env.Client, ns, func(*corev1.Pod) {})

	var once sync.Once
	first := &recorder{}
	first.onOffers = func(d scheduler.SchedulerDriver, offers []kmv1.Offer) {
		once.Do(func() {
			_ = d.LaunchTasks([]string{offers[0].Name}, []scheduler.TaskInfo{{TaskID: "long", Resources: b.Resources("cpu", "1"),
				Command: &kmv1.CommandInfo{Image: "busybox:stable", Command: []string{"sleep", "3600"}}}})
		})
	}
	d1 := startDriver(t, first, ns, "standby", &kmv1.FrameworkSpec{})
	eventually(t, "the first instance registered", func() bool { return first.has("registered ") })
	second := &recorder{}
	d2 := startDriver(t, second, ns, "standby", nil)
	eventually(t, "TASK_RUNNING", func() bool { s, _ := first.status("long"); return s.State == kmv1.TaskRunning })
	if second.has("registered") || second.has("status ") {
		t.Errorf("the standby was called while the first instance held the Lease: %v", second.calls)
	}

	holders := watchHolders(t, ns, kmv1.SchedulerLeaseName("standby"))
	first1 := <-holders
	if err := d1.Abort(); err != nil {
		t.Fatal(err)
	}
	for taken := false; !taken; {
		select {
		case h := <-holders:
			if h == "" {
				t.Fatal("the crashed instance released the scheduler Lease")
			}
			taken = h != first1 // the standby's
		case <-time.After(60 * time.Second):
			t.Fatal("the standby did not take the scheduler Lease")
		}
	}
	eventually(t, "the standby registered", func() bool { return second.has("registered ") })
	eventually(t, "the standby learns the task", func() bool { s, ok := second.status("long"); return ok && s.Reason == kmv1.ReasonReconciliation })
	if s, _ := second.status("long"); s.State != kmv1.TaskRunning {
		t.Errorf("the standby learnt state %s, want TASK_RUNNING", s.State)
	}
	if err := d2.KillTask("long"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "TASK_KILLED", func() bool { s, _ := second.status("long"); return s.State == kmv1.TaskKilled })
	if err := d2.Fail("gave up"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Failed", func() bool { return getFramework(t, ns, "standby").Status.Phase == kmv1.FrameworkFailed })
	var fw kmv1.Framework
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "standby"}, &fw); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fw.Status.Message, "gave up") {
		t.Errorf("framework message %q, want the scheduler's", fw.Status.Message)
	}
}

// TestDriverOffersRescindedSuppressedRevived: an offer the scheduler leaves
// unused past the master's --offer-timeout is reported rescinded;
// SuppressOffers and ReviveOffers set and clear spec.suppressOffers, and
// after a revival offers come again, also of an agent the framework had
// declined for an hour.
func TestDriverOffersRescindedSuppressedRevived(t *testing.T) {
	o := inprocess.MasterOptions()
	o.OfferTimeout = time.Second
	inprocess.StartMaster(t, env.Config, o)
	inprocess.Node(t, env.Client, "revive-node", "4", "8Gi")
	inprocess.StartAgent(t, env.Config, "revive-node")
	ns := namespace(t, "revive")
	rec := &recorder{} // holds every offer, unused
	d := startDriver(t, rec, ns, "revive", &kmv1.FrameworkSpec{})

	eventually(t, "an offer", func() bool { return rec.has("offer ") })
	eventually(t, "the unused offer rescinded", func() bool { return rec.has("rescinded ") })
	if err := d.SuppressOffers(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "spec.suppressOffers set", func() bool { return getFramework(t, ns, "revive").Spec.SuppressOffers })
	seen := rec.count("offer ")
	if err := d.ReviveOffers(); err != nil {
		t.Fatal(err)
	}
	if getFramework(t, ns, "revive").Spec.SuppressOffers {
		t.Error("spec.suppressOffers still set after ReviveOffers")
	}
	eventually(t, "an offer after the revival", func() bool { return rec.count("offer ") > seen })

	// Declined for an hour, the agent is offered again at the next
	// revival: ReviveOffers drops the decline filters, as Mesos's does.
	var last string
	rec.mu.Lock()
	for _, c := range rec.calls {
		if f := strings.Fields(c); len(f) > 1 && f[0] == "offer" {
			last = f[1]
		}
	}
	rec.mu.Unlock()
	if err := d.DeclineOffer(last, &scheduler.Filters{RefuseSeconds: ptr.To[int32](3600)}); err != nil {
		t.Fatal(err)
	}
	seen = rec.count("offer ")
	if err := d.ReviveOffers(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the agent declined for an hour offered again after the revival", func() bool { return rec.count("offer ") > seen })
}

// TestDriverReportsLosses: an executor whose pod fails under its running
// task is reported lost (ExecutorLost, with the task TASK_FAILED,
// REASON_EXECUTOR_TERMINATED); an agent that stops renewing its Lease is
// reported lost once (AgentLost), with its tasks TASK_LOST
// (REASON_AGENT_REMOVED) and its outstanding offer rescinded.
func TestDriverReportsLosses(t *testing.T) {
	ctx := context.Background()
	inprocess.StartMaster(t, env.Config, inprocess.MasterOptions())
	inprocess.Node(t, env.Client, "loss-node", "4", "8Gi")
	stopAgent := inprocess.RunAgent(t, env.Config, inprocess.AgentConfig{Node: "loss-node"})
	ns := namespace(t, "loss")
	w := &worker{tasks: make(chan string, 4)}
	pods := make(chan *corev1.Pod, 4)
	inprocess.Kubelet(t, env.Client, ns, func(pod *corev1.Pod) {
		pods <- pod
		if pod.Labels[kmv1.LabelTask] != "" {
			return // the command task's pod runs on its own
		}
		_, err := inprocess.StartExecutor(t, env.Client, pod, w)
		if err != nil {
			t.Error(err)
			return
		}
	})
	var once sync.Once
	rec := &recorder{}
	rec.onOffers = func(d scheduler.SchedulerDriver, offers []kmv1.Offer) {
		once.Do(func() {
			_ = d.LaunchTasks([]string{offers[0].Name}, []scheduler.TaskInfo{
				{TaskID: "cmd", Resources: b.Resources("cpu", "1"), Command: &kmv1.CommandInfo{Image: "busybox:stable", Command: []string{"sleep", "3600"}}},
				{TaskID: "ex", Resources: b.Resources("cpu", "1"), Executor: &kmv1.ExecutorInfo{ExecutorID: "worker", Image: "img"}},
			})
		})
	}
	startDriver(t, rec, ns, "loss", &kmv1.FrameworkSpec{FailoverTimeoutSeconds: ptr.To[int32](600)})

	select {
	case <-w.tasks:
	case <-time.After(60 * time.Second):
		t.Fatal("the executor got no task")
	}
	var execPod *corev1.Pod
	for execPod == nil {
		select {
		case p := <-pods:
			if p.Labels[kmv1.LabelTask] == "" {
				execPod = p
			}
		case <-time.After(60 * time.Second):
			t.Fatal("no executor pod")
		}
	}
	eventually(t, "the command task running", func() bool { s, _ := rec.status("cmd"); return s.State == kmv1.TaskRunning })
	execPod.Status.Phase = corev1.PodFailed
	if err := env.Client.Status().Update(ctx, execPod); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the executor's task failed", func() bool { s, _ := rec.status("ex"); return s.State == kmv1.TaskFailed })
	st, _ := rec.status("ex")
	if st.Reason != kmv1.ReasonExecutorTerminated {
		t.Errorf("the executor's task failed with %s, want %s", st.Reason, kmv1.ReasonExecutorTerminated)
	}
	eventually(t, "ExecutorLost", func() bool { return rec.has("executor lost worker " + st.AgentID + " ") })

	eventually(t, "an outstanding offer", func() bool { return rec.count("offer ") >= 2 })
	rescinded := rec.count("rescinded ")
	stopAgent()
	eventually(t, "the command task lost", func() bool { s, _ := rec.status("cmd"); return s.State == kmv1.TaskLost })
	if s, _ := rec.status("cmd"); s.Reason != kmv1.ReasonAgentRemoved {
		t.Errorf("the task was lost with %s, want %s", s.Reason, kmv1.ReasonAgentRemoved)
	}
	eventually(t, "AgentLost", func() bool { return rec.has("agent lost " + st.AgentID) })
	eventually(t, "the agent's offer rescinded", func() bool { return rec.count("rescinded ") > rescinded })
	if n := rec.count("agent lost "); n != 1 {
		t.Errorf("AgentLost called %d times, want once", n)
	}
}

// watchHolders streams the holderIdentity of each version of a Lease, from
// the current one, until the test ends.
func watchHolders(t *testing.T, ns, name string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wc.Watch(ctx, &coordinationv1.LeaseList{}, client.InNamespace(ns), client.MatchingFields{"metadata.name": name})
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan string, 16)
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			if l, ok := ev.Object.(*coordinationv1.Lease); ok {
				select {
				case out <- ptr.Deref(l.Spec.HolderIdentity, ""):
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}
