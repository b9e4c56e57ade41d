package controllers_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/prometheus/client_golang/prometheus/testutil"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers"
	"github.com/kubemesos/kubemesos/controllers/schedcache"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/metrics"
)

// waitOffer waits for exactly one offer to fw and returns it.
func waitOffer(t *testing.T, ns, fw string) kmv1.Offer {
	t.Helper()
	var offer kmv1.Offer
	eventually(t, "one offer to "+fw, func() (bool, error) {
		os := offersOf(t, ns, fw)
		if len(os) == 1 {
			offer = os[0]
		}
		return len(os) == 1, nil
	})
	return offer
}

func TestOfferHoldsAllFreeResourcesAndTaskIsStaged(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	addAgent(t, "off-1", "cpu", "4", "memory", "8Gi", "example.com/gpu", "2")
	_, ns := addFramework(t, b.MakeFramework("offfw", "").Obj())

	offer := waitOffer(t, ns, "offfw")
	for name, want := range map[corev1.ResourceName]string{"cpu": "4", "memory": "8Gi", "example.com/gpu": "2"} {
		if got := offer.Spec.Resources[name]; got.Cmp(q(want)) != 0 {
			t.Errorf("offer %s = %s, want %s", name, got.String(), want)
		}
	}
	if offer.Spec.NodeName != "off-1" || offer.Labels[kmv1.LabelAgent] != "off-1" || offer.Spec.FrameworkID == "" {
		t.Errorf("offer is not labelled and filled: %+v", offer)
	}

	task := b.MakeTask("t1", ns).Framework("offfw").Offer(offer.Name).Resources("cpu", "1", "memory", "1Gi").Command("busybox").Obj()
	if err := env.Client.Create(ctx, task); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the task is staged", func() (bool, error) {
		return getTask(t, ns, "t1").Status.State == kmv1.TaskStaging, nil
	})
	tk := getTask(t, ns, "t1")
	if tk.Status.Source != kmv1.SourceMaster || tk.Status.AgentID != offer.Spec.AgentID || tk.Status.NodeName != "off-1" || tk.Status.StagingTime == nil {
		t.Errorf("staged status incomplete: %+v", tk.Status)
	}
	eventually(t, "the agent's status shows the allocation", func() (bool, error) {
		a := getAgent(t, "off-1")
		cpu := a.Status.Allocated["cpu"]
		return cpu.Cmp(q("1")) == 0, nil
	})
	if made := testutil.ToFloat64(metrics.OffersTotal.WithLabelValues(metrics.OfferMade)); made < 1 {
		t.Errorf("kubemesos_master_offers_total{outcome=made} = %v", made)
	}
	if staged := testutil.ToFloat64(metrics.TaskTransitions.WithLabelValues(string(kmv1.TaskStaging))); staged < 1 {
		t.Errorf("kubemesos_master_task_transitions_total{state=TASK_STAGING} = %v", staged)
	}
	// The offer is consumed; what the task left comes back as a new offer.
	eventually(t, "a new offer with the rest", func() (bool, error) {
		os := offersOf(t, ns, "offfw")
		if len(os) != 1 || os[0].Name == offer.Name {
			return false, nil
		}
		cpu := os[0].Spec.Resources["cpu"]
		mem := os[0].Spec.Resources["memory"]
		return cpu.Cmp(q("3")) == 0 && mem.Cmp(q("7Gi")) == 0, nil
	})
}

// hugeExecutor gives the task a custom executor of 2E of memory.
func hugeExecutor(w *b.TaskWrapper) *kmv1.Task {
	tk := w.Executor("big", "busybox").Obj()
	tk.Spec.Executor.Resources = b.Resources("cpu", "100m", "memory", "2E")
	return tk
}

func TestAdmissionRefusesInvalidTasks(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	addAgent(t, "inv-1", "cpu", "2", "memory", "4Gi")
	addAgent(t, "inv-2", "cpu", "2", "memory", "4Gi")
	_, ns := addFramework(t, b.MakeFramework("invfw", "").Obj())
	var offers []kmv1.Offer
	eventually(t, "two offers", func() (bool, error) {
		offers = offersOf(t, ns, "invfw")
		return len(offers) == 2, nil
	})
	// An offer to another framework in the same namespace.
	other := b.MakeFramework("otherfw", ns).Obj()
	if err := env.Client.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	renewLease(t, leaseKeyNS(ns, kmv1.SchedulerLeaseName("otherfw")), kmv1.LeaseKindScheduler, time.Second)
	_ = other

	o1, o2 := offers[0].Name, offers[1].Name
	cases := []struct {
		name  string
		task  *kmv1.Task
		state kmv1.TaskState
		want  string
	}{
		{name: "unknown offer", task: b.MakeTask("unknown", ns).Framework("invfw").Offer("nope").Resources("cpu", "1").Command("busybox").Obj(),
			state: kmv1.TaskDropped, want: "offer nope no longer exists"},
		{name: "too much cpu", task: b.MakeTask("greedy", ns).Framework("invfw").Offer(o1).Resources("cpu", "3").Command("busybox").Obj(),
			state: kmv1.TaskError, want: "cpu: need 3, have 2"},
		{name: "a resource the offer lacks", task: b.MakeTask("gpu", ns).Framework("invfw").Offer(o1).Resources("example.com/gpu", "1").Command("busybox").Obj(),
			state: kmv1.TaskError, want: "example.com/gpu"}, // "no agent offers", or "need 1, have 0" once another test's agent offered it
		{name: "more cpu than a node has", task: b.MakeTask("overflow", ns).Framework("invfw").Offer(o1).Resources("cpu", "17446744073709551").Command("busybox").Obj(),
			state: kmv1.TaskError, want: "spec.resources[cpu] is 17446744073709551, more than any node has"},
		{name: "an executor of more memory than a node has", task: hugeExecutor(b.MakeTask("hugeexec", ns).Framework("invfw").Offer(o1).Resources("cpu", "1")),
			state: kmv1.TaskError, want: "spec.executor.resources[memory] is 2E, more than any node has"},
		{name: "offers on two agents", task: b.MakeTask("split", ns).Framework("invfw").Offer(o1, o2).Resources("cpu", "1").Command("busybox").Obj(),
			state: kmv1.TaskError, want: "on different agents"},
		{name: "no resources", task: b.MakeTask("empty", ns).Framework("invfw").Offer(o1).Command("busybox").Obj(),
			state: kmv1.TaskError, want: "spec.resources is empty"},
		{name: "unknown framework", task: b.MakeTask("nofw", ns).Framework("ghost").Offer(o1).Resources("cpu", "1").Command("busybox").Obj(),
			state: kmv1.TaskError, want: `framework "ghost" does not exist`},
		{name: "another framework's offer", task: b.MakeTask("stolen", ns).Framework("otherfw").Offer(o1).Resources("cpu", "1").Command("busybox").Obj(),
			state: kmv1.TaskError, want: `belongs to framework "invfw", not "otherfw"`},
		{name: "agentID that does not match", task: b.MakeTask("wrongagent", ns).Framework("invfw").Offer(o1).Agent("someone-else").Resources("cpu", "1").Command("busybox").Obj(),
			state: kmv1.TaskError, want: "does not match the offers' agent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := env.Client.Create(ctx, tc.task); err != nil {
				t.Fatal(err)
			}
			eventually(t, string(tc.state), func() (bool, error) {
				return getTask(t, ns, tc.task.Name).Status.State == tc.state, nil
			})
			st := getTask(t, ns, tc.task.Name).Status
			if !strings.Contains(st.Message, tc.want) {
				t.Errorf("message %q does not contain %q", st.Message, tc.want)
			}
			if st.Source != kmv1.SourceMaster || !strings.HasPrefix(string(st.Reason), "REASON_") {
				t.Errorf("source %s reason %s", st.Source, st.Reason)
			}
		})
	}
}

// TestOfferIsNeverUsedTwice races tasks onto one offer. Each wants all of
// it: exactly one is staged, and the others are refused.
func TestOfferIsNeverUsedTwice(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	addAgent(t, "race-1", "cpu", "2", "memory", "2Gi")
	_, ns := addFramework(t, b.MakeFramework("racefw", "").Obj())
	offer := waitOffer(t, ns, "racefw")

	const racers = 6
	names := make([]string, racers)
	var wg sync.WaitGroup
	for i := range racers {
		names[i] = "racer-" + string(rune('a'+i))
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			tk := b.MakeTask(name, ns).Framework("racefw").Offer(offer.Name).Resources("cpu", "2", "memory", "2Gi").Command("busybox").Obj()
			if err := env.Client.Create(ctx, tk); err != nil {
				t.Error(err)
			}
		}(names[i])
	}
	wg.Wait()
	eventually(t, "every racer admitted or refused", func() (bool, error) {
		for _, n := range names {
			if getTask(t, ns, n).Status.State == "" {
				return false, nil
			}
		}
		return true, nil
	})
	staged := 0
	for _, n := range names {
		switch s := getTask(t, ns, n).Status.State; s {
		case kmv1.TaskStaging:
			staged++
		case kmv1.TaskError, kmv1.TaskDropped:
		default:
			t.Errorf("racer %s is %s", n, s)
		}
	}
	if staged != 1 {
		t.Fatalf("%d tasks were staged on one offer that fits one", staged)
	}
	// The offer is consumed once its accept window has passed; after that,
	// no new offer may appear while the staged task holds the whole agent.
	eventually(t, "the used offer consumed", func() (bool, error) {
		for _, o := range offersOf(t, ns, "racefw") {
			if o.Name == offer.Name {
				return false, nil
			}
		}
		return true, nil
	})
	afterCycles(t, 3)
	if os := offersOf(t, ns, "racefw"); len(os) != 0 {
		t.Fatalf("the agent is full but %d offers are out: %+v", len(os), os[0].Spec.Resources)
	}
}

// TestSeveralTasksShareOneOffer launches two tasks on one offer, as one
// LaunchTasks call does (saying they are two); both fit and both are
// staged.
func TestSeveralTasksShareOneOffer(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	addAgent(t, "share-1", "cpu", "2", "memory", "2Gi")
	_, ns := addFramework(t, b.MakeFramework("sharefw", "").Obj())
	offer := waitOffer(t, ns, "sharefw")
	for _, n := range []string{"s1", "s2"} {
		if err := env.Client.Create(ctx, b.MakeTask(n, ns).Framework("sharefw").Offer(offer.Name).Launch(2).Resources("cpu", "1", "memory", "1Gi").Command("busybox").Obj()); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"s1", "s2"} {
		eventually(t, n+" staged", func() (bool, error) { return getTask(t, ns, n).Status.State == kmv1.TaskStaging, nil })
	}
}

// TestALaunchStillToComeKeepsItsOffer: a launch that says it has three
// tasks keeps its offer while its third is on its way, past one accept
// window (a create a busy API server holds up), and the third is staged,
// not dropped; a launch whose last task never comes gives back what it
// left once five windows have passed.
func TestALaunchStillToComeKeepsItsOffer(t *testing.T) {
	ctx := context.Background()
	o := testOptions()
	startMaster(t, o, false, "master")
	addAgent(t, "partial-1", "cpu", "8", "memory", "8Gi")
	_, ns := addFramework(t, b.MakeFramework("partialfw", "").Obj())
	create := func(name, offer string) {
		t.Helper()
		if err := env.Client.Create(ctx, b.MakeTask(name, ns).Framework("partialfw").Offer(offer).Launch(3).Resources("cpu", "1").Command("busybox").Obj()); err != nil {
			t.Fatal(err)
		}
	}
	staged := func(name string) {
		t.Helper()
		eventually(t, name+" staged", func() (bool, error) {
			s := getTask(t, ns, name).Status.State
			if s != "" && s != kmv1.TaskStaging {
				return false, fmt.Errorf("%s is %s (%s), want TASK_STAGING", name, s, getTask(t, ns, name).Status.Message)
			}
			return s == kmv1.TaskStaging, nil
		})
	}
	offer := waitOffer(t, ns, "partialfw")
	create("p1", offer.Name)
	create("p2", offer.Name)
	staged("p1")
	staged("p2")
	time.Sleep(2 * o.AcceptWindow) // the third create, held up past a window
	create("p3", offer.Name)
	staged("p3")

	// A launch of three of which two come: its offer goes in the end, and
	// what they left is offered again.
	next := waitOffer(t, ns, "partialfw")
	create("q1", next.Name)
	create("q2", next.Name)
	staged("q2")
	eventually(t, "the rest of a launch whose last task never came offered again", func() (bool, error) {
		os := offersOf(t, ns, "partialfw")
		return len(os) == 1 && os[0].Name != next.Name, nil
	})
}

// TestOffersListTheRunningExecutors: an offer made while a framework's
// custom executor runs a task on the agent names it in spec.executorIDs,
// its room left out; once the executor's last task has ended the next
// offer names none and holds that room again.
func TestOffersListTheRunningExecutors(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	addAgent(t, "exec-1", "cpu", "4", "memory", "8Gi")
	_, ns := addFramework(t, b.MakeFramework("execfw", "").Obj())
	offer := waitOffer(t, ns, "execfw")
	if len(offer.Spec.ExecutorIDs) != 0 {
		t.Errorf("an offer before any task lists executors %v", offer.Spec.ExecutorIDs)
	}
	task := b.MakeTask("e1", ns).Framework("execfw").Offer(offer.Name).Resources("cpu", "1", "memory", "1Gi").Executor("ex", "img").Obj()
	task.Spec.Executor.Resources = b.Resources("cpu", "500m", "memory", "512Mi")
	if err := env.Client.Create(ctx, task); err != nil {
		t.Fatal(err)
	}
	// next waits for the one offer that replaces offer `was`, of cpu and
	// naming executors.
	next := func(what, was, cpu string, executors []string) {
		eventually(t, what, func() (bool, error) {
			os := offersOf(t, ns, "execfw")
			if len(os) != 1 || os[0].Name == was {
				return false, nil
			}
			got := os[0].Spec.Resources["cpu"]
			return got.Cmp(q(cpu)) == 0 && slices.Equal(os[0].Spec.ExecutorIDs, executors), nil
		})
	}
	next("an offer of the rest, naming the executor", offer.Name, "2500m", []string{"ex"})
	tk := getTask(t, ns, "e1")
	tk.Status.State, tk.Status.Source = kmv1.TaskFinished, kmv1.SourceAgent
	if err := env.Client.Status().Update(ctx, tk); err != nil {
		t.Fatal(err)
	}
	// The framework declines the outstanding offer without a filter: the
	// next is the whole agent, and names no executor.
	rest := offersOf(t, ns, "execfw")[0]
	rest.Annotations = map[string]string{kmv1.AnnotationRefuseSeconds: "0"}
	if err := env.Client.Update(ctx, &rest); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(ctx, &rest); err != nil {
		t.Fatal(err)
	}
	next("an offer of the whole agent, naming no executor", rest.Name, "4", nil)
}

// TestALaunchUsesItsOfferUpAtOnce: with an accept window of an hour, an
// offer whose launch said how many tasks it creates is used up as soon as
// they are all admitted, and what they left is offered again; an offer
// whose task says nothing stays for the window.
func TestALaunchUsesItsOfferUpAtOnce(t *testing.T) {
	ctx := context.Background()
	o := testOptions()
	o.AcceptWindow = time.Hour
	startMaster(t, o, false, "master")
	addAgent(t, "launch-1", "cpu", "4", "memory", "4Gi")
	_, ns := addFramework(t, b.MakeFramework("launchfw", "").Obj())
	offer := waitOffer(t, ns, "launchfw")
	for _, n := range []string{"l1", "l2"} {
		tk := b.MakeTask(n, ns).Framework("launchfw").Offer(offer.Name).Resources("cpu", "1", "memory", "1Gi").Command("busybox").Obj()
		tk.Annotations = map[string]string{kmv1.AnnotationLaunchTasks: "2"}
		if err := env.Client.Create(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "a new offer of what the launch left", func() (bool, error) {
		os := offersOf(t, ns, "launchfw")
		if len(os) != 1 || os[0].Name == offer.Name {
			return false, nil
		}
		cpu := os[0].Spec.Resources["cpu"]
		return cpu.Cmp(q("2")) == 0, nil
	})
	rest := offersOf(t, ns, "launchfw")[0]
	if err := env.Client.Create(ctx, b.MakeTask("l3", ns).Framework("launchfw").Offer(rest.Name).Resources("cpu", "1").Command("busybox").Obj()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "l3 staged", func() (bool, error) { return getTask(t, ns, "l3").Status.State == kmv1.TaskStaging, nil })
	afterCycles(t, 3)
	if os := offersOf(t, ns, "launchfw"); len(os) != 1 || os[0].Name != rest.Name {
		t.Errorf("an offer used by a task that does not say how many its launch has was replaced within its accept window: %d offers", len(os))
	}
}

// TestAnUnclearStagingWriteIsTriedAgainAfterItsGrace: a TASK_STAGING
// write that times out leaves the task reserved; admission looks at it
// again when the reservation's grace ends. If the write was not applied,
// the task is staged then, on the same offer; if it was, while the
// informers still showed the task without a state, the new write's
// conflict keeps the reservation: the offer is charged once, never none.
func TestAnUnclearStagingWriteIsTriedAgainAfterItsGrace(t *testing.T) {
	ctx := context.Background()
	master := startMaster(t, testOptions(), false, "master")
	hb := addAgent(t, "unclear-1", "cpu", "4", "memory", "4Gi")
	_, ns := addFramework(t, b.MakeFramework("unclearfw", "").Obj())
	offer := waitOffer(t, ns, "unclearfw")
	// Only the passes below admit from here on.
	master.stop()
	hb.stop()
	for _, applied := range []bool{false, true} {
		name := fmt.Sprintf("applied-%v", applied)
		tk := b.MakeTask(name, ns).Framework("unclearfw").Offer(offer.Name).Resources("cpu", "1").Command("busybox").Obj()
		if err := env.Client.Create(ctx, tk); err != nil {
			t.Fatal(err)
		}
		passes, rest, err := controllers.AdmitPastAnUnclearWrite(ctx, env.Client, getAgent(t, "unclear-1"), &offer, getTask(t, ns, name), applied)
		if err != nil {
			t.Fatal(err)
		}
		if e := passes[0].Err; e == nil || !apierrors.IsTimeout(e) {
			t.Errorf("%s: the pass whose write timed out returned %v, want the timeout (so that it is retried)", name, e)
		}
		if p := passes[1]; p.Err != nil || p.Result.RequeueAfter <= 0 || p.Result.RequeueAfter > schedcache.Grace {
			t.Errorf("%s: the pass that found the task reserved returned %+v, want a look again within %v", name, p, schedcache.Grace)
		}
		if got := getTask(t, ns, name); got.Status.State != kmv1.TaskStaging || got.Status.AgentID != offer.Spec.AgentID {
			t.Errorf("%s: after the grace of its unclear write the task is %q on %q, want TASK_STAGING on %s", name, got.Status.State, got.Status.AgentID, offer.Spec.AgentID)
		}
		if cpu := rest["cpu"]; cpu.Cmp(q("3")) != 0 {
			t.Errorf("%s: the offer has cpu %s left in the master's cache, want 3 (the task charged once)", name, cpu.String())
		}
	}
}

// TestDeclineFiltersThePair deletes an offer: the agent is not offered to
// the framework again until refuseSeconds pass.
func TestDeclineFiltersThePair(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	addAgent(t, "dec-1", "cpu", "1", "memory", "1Gi")
	_, ns := addFramework(t, b.MakeFramework("decfw", "").RefuseSeconds(3).Obj())
	offer := waitOffer(t, ns, "decfw")
	declined := time.Now()
	if err := env.Client.Delete(ctx, &offer); err != nil {
		t.Fatal(err)
	}
	next := waitOffer(t, ns, "decfw")
	if next.Name == offer.Name {
		t.Fatal("the declined offer came back")
	}
	if gap := next.CreationTimestamp.Sub(declined.Truncate(time.Second)); gap < 2*time.Second {
		t.Errorf("the agent was offered again %s after a decline with refuseSeconds 3", gap)
	}
}

// TestSuppressAndRevive sets suppressOffers: outstanding offers stay, no
// new ones come; clearing it revives offers.
func TestSuppressAndRevive(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	addAgent(t, "sup-1", "cpu", "1", "memory", "1Gi")
	fw := b.MakeFramework("supfw", "").Suppress(true).Obj()
	_, ns := addFramework(t, fw)
	eventually(t, "the framework is Active", func() (bool, error) {
		var f kmv1.Framework
		err := env.Client.Get(ctx, keyOf(ns, "supfw"), &f)
		return err == nil && f.Status.Phase == kmv1.FrameworkActive, err
	})
	afterCycles(t, 3)
	if os := offersOf(t, ns, "supfw"); len(os) != 0 {
		t.Fatalf("a suppressed framework got %d offers", len(os))
	}
	var f kmv1.Framework
	if err := env.Client.Get(ctx, keyOf(ns, "supfw"), &f); err != nil {
		t.Fatal(err)
	}
	f.Spec.SuppressOffers = false
	if err := env.Client.Update(ctx, &f); err != nil {
		t.Fatal(err)
	}
	waitOffer(t, ns, "supfw")
}

// TestDRFAcrossFrameworks gives two frameworks two agents: each gets one.
// The frameworks are Active before the agents come, so that no cycle
// sees one of them alone (it would be offered both agents, as Mesos
// offers an agent to the only framework there is). Their scheduler Leases
// last 5 s: a framework Disconnected for a moment (a renewal that a busy
// machine delays past a 1 s Lease) loses its offer to the other, and DRF
// does not take back an offer once made.
func TestDRFAcrossFrameworks(t *testing.T) {
	startMaster(t, testOptions(), false, "master")
	_, ns1 := addFrameworkLease(t, b.MakeFramework("drfa", "").Obj(), 5*time.Second)
	_, ns2 := addFrameworkLease(t, b.MakeFramework("drfb", "").Obj(), 5*time.Second)
	waitPhase(t, ns1, "drfa", kmv1.FrameworkActive)
	waitPhase(t, ns2, "drfb", kmv1.FrameworkActive)
	addAgent(t, "drf-1", "cpu", "2", "memory", "2Gi")
	addAgent(t, "drf-2", "cpu", "2", "memory", "2Gi")
	eventually(t, "one offer each", func() (bool, error) {
		a, b := offersOf(t, ns1, "drfa"), offersOf(t, ns2, "drfb")
		if len(a) == 1 && len(b) == 1 {
			return true, nil
		}
		// Said on a timeout: who holds what, and whether both were Active.
		return false, fmt.Errorf("drfa (%s) holds %d offers, drfb (%s) %d", getFramework(t, ns1, "drfa").Status.Phase, len(a), getFramework(t, ns2, "drfb").Status.Phase, len(b))
	})
}

// TestOfferTimeoutRescinds rescinds unused offers after --offer-timeout.
func TestOfferTimeoutRescinds(t *testing.T) {
	o := testOptions()
	o.OfferTimeout = time.Second
	startMaster(t, o, false, "master")
	addAgent(t, "to-1", "cpu", "1", "memory", "1Gi")
	_, ns := addFramework(t, b.MakeFramework("tofw", "").Obj())
	first := waitOffer(t, ns, "tofw")
	eventually(t, "the offer is replaced after the timeout", func() (bool, error) {
		os := offersOf(t, ns, "tofw")
		return len(os) == 1 && os[0].Name != first.Name, nil
	})
}

// TestShrunkAgentRescindsOffers: when the agent's resources shrink below
// what its offer promises, or its pods come to hold part of them
// (spec.held), the offer is rescinded and a smaller one made.
func TestShrunkAgentRescindsOffers(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	addAgent(t, "shrink-1", "cpu", "4", "memory", "4Gi")
	_, ns := addFramework(t, b.MakeFramework("shrinkfw", "").Obj())
	// change changes the Agent's spec (the master writes its status
	// meanwhile: retry on conflict) and waits for an offer of cpu to
	// replace the offer named was; it returns the new offer's name.
	change := func(what, was, cpu string, edit func(*kmv1.Agent)) string {
		t.Helper()
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			a := getAgent(t, "shrink-1")
			edit(a)
			return env.Client.Update(ctx, a)
		}); err != nil {
			t.Fatal(err)
		}
		var now string
		eventually(t, what, func() (bool, error) {
			os := offersOf(t, ns, "shrinkfw")
			if len(os) != 1 || os[0].Name == was {
				return false, nil
			}
			now = os[0].Name
			got := os[0].Spec.Resources["cpu"]
			return got.Cmp(q(cpu)) == 0, nil
		})
		return now
	}
	second := change("a smaller offer replaces the first", waitOffer(t, ns, "shrinkfw").Name, "2", func(a *kmv1.Agent) {
		a.Spec.Resources = b.Resources("cpu", "2", "memory", "4Gi")
	})
	// The agent's pods hold 1 CPU beyond their live tasks (spec.held): the
	// kubelet counts it, so the master no longer promises it.
	change("an offer without what is held replaces the second", second, "1", func(a *kmv1.Agent) {
		a.Spec.Held = b.Resources("cpu", "1")
	})
}

// TestAnOfferHeldByAFinalizerIsGone: an Offer deleted (declined) but held
// by a finalizer promises nothing: its agent's resources are offered again
// and those offers stay. Before, the master counted the held Offer as
// promised, found the agent over-promised on every cycle, and rescinded
// every new offer on it, from every framework.
func TestAnOfferHeldByAFinalizerIsGone(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	addAgent(t, "held-1", "cpu", "4", "memory", "4Gi")
	_, ns := addFramework(t, b.MakeFramework("heldfw", "").RefuseSeconds(0).Obj())
	held := waitOffer(t, ns, "heldfw")
	patch := client.MergeFrom(held.DeepCopy())
	held.Finalizers = []string{"example.com/hold"}
	if err := env.Client.Patch(ctx, &held, patch); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		var o kmv1.Offer
		if env.Client.Get(context.Background(), client.ObjectKeyFromObject(&held), &o) == nil {
			p := client.MergeFrom(o.DeepCopy())
			o.Finalizers = nil
			_ = env.Client.Patch(context.Background(), &o, p)
		}
	})
	if err := env.Client.Delete(ctx, &held); err != nil {
		t.Fatal(err)
	}
	again := waitOffer(t, ns, "heldfw")
	if again.UID == held.UID {
		t.Fatalf("offer %s is still live", held.Name)
	}
	afterCycles(t, 3)
	var o kmv1.Offer
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(&again), &o); err != nil || o.DeletionTimestamp != nil {
		t.Errorf("the agent's new offer %s was rescinded (%v): the held offer counted as promised", again.Name, err)
	}
}
