package schedcache

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/resources"
)

var start = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func newCache() (*Cache, *clocktesting.FakeClock) {
	clk := clocktesting.NewFakeClock(start)
	return New(clk), clk
}

func liveTask(uid string, state kmv1.TaskState) *kmv1.Task {
	return &kmv1.Task{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: uid, UID: types.UID(uid)},
		Spec: kmv1.TaskSpec{Framework: "fw", Resources: b.Resources("cpu", "1")}, Status: kmv1.TaskStatus{State: state, AgentID: "a1"}}
}

func activeAgent(node, id string, pairs ...string) *kmv1.Agent {
	a := b.MakeAgent(node).Resources(pairs...).Obj()
	a.Status.AgentID, a.Status.Phase = id, kmv1.AgentActive
	return a
}

// newTask is a pending task of framework fw on the given offers.
func newTask(uid string, offers ...string) *b.TaskWrapper {
	w := b.MakeTask(uid, "ns").Framework("fw").Offer(offers...)
	w.UID = types.UID(uid)
	return w
}

func withExecutor(w *b.TaskWrapper, exec string) *kmv1.Task {
	t := w.Executor(exec, "img").Obj()
	t.Spec.Executor.Resources = b.Resources("cpu", "500m", "memory", "64Mi")
	return t
}

func testOffer(name, agentID string, pairs ...string) *kmv1.Offer {
	return b.MakeOffer(name, "ns").Framework("fw", "fw-id").Agent(agentID, "n-"+agentID).Resources(pairs...).Obj()
}

// used returns what the snapshot charges to agent agentID, as a string.
func used(c *Cache, agentID string) string {
	s := c.Snapshot()
	for _, a := range s.Agents {
		if a.Obj.Status.AgentID == agentID {
			return resources.String(s.Names.ResourceList(a.Used))
		}
	}
	return "no agent"
}

func TestTasksLeaveTheViewWhenTheyEnd(t *testing.T) {
	c, _ := newCache()
	c.Upsert(activeAgent("n1", "a1", "cpu", "8"))
	c.Upsert(liveTask("a", ""))
	c.Upsert(liveTask("b", kmv1.TaskStaging))
	c.Upsert(liveTask("c", kmv1.TaskRunning))
	if got := used(c, "a1"); got != "cpu=2" {
		t.Fatalf("two live tasks charge %s, want cpu=2", got)
	}
	c.Upsert(liveTask("a", kmv1.TaskStaging))
	c.Upsert(liveTask("b", kmv1.TaskFinished)) // ended: out of the view, still counted
	c.Remove(liveTask("c", kmv1.TaskRunning))  // deleted
	s := c.Snapshot()
	if got := s.Names.ResourceList(s.Agents[0].Used); got.Cpu().MilliValue() != 1000 {
		t.Errorf("one live task left, the agent is charged %v", got)
	}
	want := map[kmv1.TaskState]int{kmv1.TaskStaging: 1, kmv1.TaskFinished: 1}
	if fmt.Sprint(s.TaskStates) != fmt.Sprint(want) {
		t.Errorf("counts %v, want %v", s.TaskStates, want)
	}
}

func TestObjectsAreTheInformersOwn(t *testing.T) {
	c, _ := newCache()
	a := &kmv1.Agent{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	f := &kmv1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "fw"}}
	o := &kmv1.Offer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "o1"}}
	for _, obj := range []any{a, f, o} {
		c.Upsert(obj)
	}
	s := c.Snapshot()
	if len(s.Agents) != 1 || s.Agents[0].Obj != a || s.Frameworks[0].Obj != f || s.Offers[0].Obj != o {
		t.Fatal("the snapshot does not hold the informers' objects")
	}
	c.Remove(o)
	if s := c.Snapshot(); len(s.Offers) != 0 || len(s.Agents) != 1 {
		t.Errorf("after removing the offer: %d offers, %d agents", len(s.Offers), len(s.Agents))
	}
}

// TestReserveChargesAnExecutorOncePerAgent: the first task of a custom
// executor on an agent pays for the executor, later ones do not, and what
// a reservation took is gone from the offer.
func TestReserveChargesAnExecutorOncePerAgent(t *testing.T) {
	c, _ := newCache()
	c.Upsert(activeAgent("n-a1", "a1", "cpu", "8", "memory", "1Gi"))
	c.Upsert(activeAgent("n-a2", "a2", "cpu", "8", "memory", "1Gi"))
	c.Upsert(testOffer("o1", "a1", "cpu", "8", "memory", "512Mi"))
	c.Upsert(testOffer("o2", "a2", "cpu", "8", "memory", "512Mi"))
	for _, tc := range []struct {
		task *kmv1.Task
		want string
	}{
		{withExecutor(newTask("t1", "o1").Resources("cpu", "1"), "e"), "cpu=1500m,memory=64Mi"}, // the first task pays for the executor
		{withExecutor(newTask("t2", "o1").Resources("cpu", "1"), "e"), "cpu=1"},                 // the same executor, the same agent
		{withExecutor(newTask("t3", "o2").Resources("cpu", "1"), "e"), "cpu=1500m,memory=64Mi"}, // another agent: another pod
		{withExecutor(newTask("t4", "o1").Resources("cpu", "1"), "f"), "cpu=1500m,memory=64Mi"}, // another executor
		{newTask("t5", "o1").Resources("cpu", "1").Command("img").Obj(), "cpu=1"},
	} {
		v := c.Reserve(tc.task)
		if v.State != kmv1.TaskStaging {
			t.Fatalf("%s: %s %s", tc.task.Name, v.State, v.Message)
		}
		if got := resources.String(v.Need); got != tc.want {
			t.Errorf("%s: charged %s, want %s", tc.task.Name, got, tc.want)
		}
	}
	// o1 had 8 cpu and 512Mi; t1, t2, t4 and t5 took 1.5 + 1 + 1.5 + 1 cpu
	// and 2 × 64Mi.
	s := c.Snapshot()
	for _, o := range s.Offers {
		if got := resources.String(s.Names.ResourceList(o.Rest)); o.Obj.Name == "o1" && got != "cpu=3,memory=384Mi" {
			t.Errorf("o1 has %s left, want cpu=3,memory=384Mi", got)
		}
	}
	if got := used(c, "a1"); got != "cpu=5,memory=128Mi" {
		t.Errorf("a1 is charged %s, want cpu=5,memory=128Mi", got)
	}
}

// TestOffersListTheirExecutors: an offer made while a framework's executor
// runs a task on the agent lists the executor and leaves out its room; a
// task of that executor then takes only its own resources from the offer,
// even once the executor's last task has ended (the agent is charged the
// executor again), where an offer that does not list it must hold the
// executor's resources too. A new leader takes the same from the offers.
func TestOffersListTheirExecutors(t *testing.T) {
	c, _ := newCache()
	for _, id := range []string{"a1", "a2"} {
		c.Upsert(activeAgent("n-"+id, id, "cpu", "4", "memory", "1Gi"))
	}
	running := func(uid, agentID string, state kmv1.TaskState) *kmv1.Task {
		tk := liveTask(uid, state)
		tk.Status.AgentID = agentID
		tk.Spec.Executor = withExecutor(newTask(uid), "e").Spec.Executor
		return tk
	}
	c.Upsert(running("r1", "a1", kmv1.TaskRunning))
	for _, a := range c.Snapshot().Agents {
		want := map[types.NamespacedName][]string(nil)
		if a.Obj.Status.AgentID == "a1" {
			want = map[types.NamespacedName][]string{{Namespace: "ns", Name: "fw"}: {"e"}}
		}
		if fmt.Sprint(a.Executors) != fmt.Sprint(want) {
			t.Errorf("agent %s: executors %v, want %v", a.Obj.Status.AgentID, a.Executors, want)
		}
	}
	listing := testOffer("o1", "a1", "cpu", "2500m", "memory", "512Mi")
	listing.Spec.ExecutorIDs = []string{"e"}
	c.Upsert(listing)
	c.Upsert(testOffer("o2", "a2", "cpu", "2500m", "memory", "512Mi"))
	c.Upsert(running("r1", "a1", kmv1.TaskFinished))
	if got := used(c, "a1"); got != "" {
		t.Fatalf("with its executor's last task ended a1 is charged %q, want nothing", got)
	}
	v := c.Reserve(withExecutor(newTask("t1", "o1").Resources("cpu", "2500m"), "e"))
	if v.State != kmv1.TaskStaging {
		t.Fatalf("a task of a listed executor within the offer: %s %s", v.State, v.Message)
	}
	if got := resources.String(v.Need); got != "cpu=3,memory=64Mi" {
		t.Errorf("the agent is charged %s for it, want cpu=3,memory=64Mi (the executor again)", got)
	}
	v = c.Reserve(withExecutor(newTask("t2", "o2").Resources("cpu", "2500m"), "e"))
	if v.State != kmv1.TaskError || !strings.Contains(v.Message, "needs more than its offers have left") {
		t.Errorf("a task of an executor that its offer does not list, with no room for the executor: %s %s", v.State, v.Message)
	}
	s := c.Snapshot()
	for _, o := range s.Offers {
		if got := resources.String(s.Names.ResourceList(o.Rest)); o.Obj.Name == "o1" && got != "memory=512Mi" {
			t.Errorf("o1 has %s left, want memory=512Mi", got)
		}
	}

	rebuilt, _ := newCache()
	unlisted := testOffer("o2", "a2", "cpu", "2500m", "memory", "512Mi")
	staged := func(uid, offer, agentID string) *kmv1.Task {
		tk := withExecutor(newTask(uid, offer).Resources("cpu", "2"), "e")
		tk.Status.State, tk.Status.AgentID = kmv1.TaskStaging, agentID
		return tk
	}
	for _, o := range []any{activeAgent("n-a1", "a1", "cpu", "4"), activeAgent("n-a2", "a2", "cpu", "4"), listing, unlisted} {
		rebuilt.Upsert(o)
	}
	rebuilt.Rebuild([]*kmv1.Offer{listing, unlisted}, []*kmv1.Task{staged("t1", "o1", "a1"), staged("t3", "o2", "a2")})
	rest := map[string]string{}
	s = rebuilt.Snapshot()
	for _, o := range s.Offers {
		rest[o.Obj.Name] = resources.String(s.Names.ResourceList(o.Rest))
	}
	if want := map[string]string{"o1": "cpu=500m,memory=512Mi", "o2": "memory=448Mi"}; fmt.Sprint(rest) != fmt.Sprint(want) {
		t.Errorf("after a rebuild the offers have %v left, want %v", rest, want)
	}
}

func TestReserveRefusesWhatDoesNotFit(t *testing.T) {
	c, _ := newCache()
	c.Upsert(activeAgent("n-a1", "a1", "cpu", "8"))
	c.Upsert(activeAgent("n-a2", "a2", "cpu", "8"))
	c.Upsert(testOffer("o1", "a1", "cpu", "2"))
	c.Upsert(testOffer("o2", "a2", "cpu", "2"))
	c.Upsert(testOffer("gone", "a1", "cpu", "2"))
	if !c.BeginDelete(types.NamespacedName{Namespace: "ns", Name: "gone"}) {
		t.Fatal("a first deletion was refused")
	}
	other := testOffer("other", "a1", "cpu", "2")
	other.Spec.Framework = "other"
	c.Upsert(other)
	for _, tc := range []struct {
		task  *kmv1.Task
		state kmv1.TaskState
		says  string
	}{
		{newTask("big", "o1").Resources("cpu", "3").Obj(), kmv1.TaskError, "needs more than its offers have left"},
		{newTask("twice", "o1", "o1").Resources("cpu", "1").Obj(), kmv1.TaskError, "named twice"},
		{newTask("split", "o1", "o2").Resources("cpu", "1").Obj(), kmv1.TaskError, "different agents"},
		{newTask("theirs", "other").Resources("cpu", "1").Obj(), kmv1.TaskError, "belongs to framework"},
		{newTask("deleting", "gone").Resources("cpu", "1").Obj(), kmv1.TaskDropped, "no longer exists"},
		{newTask("unknown", "nope").Resources("cpu", "1").Obj(), kmv1.TaskDropped, "no longer exists"},
		{newTask("pinned", "o1").Agent("a2").Resources("cpu", "1").Obj(), kmv1.TaskError, "does not match"},
		{newTask("fits", "o1").Resources("cpu", "2").Obj(), kmv1.TaskStaging, ""},
		{newTask("late", "o1").Resources("cpu", "1").Obj(), kmv1.TaskError, "needs more than its offers have left"},
	} {
		v := c.Reserve(tc.task)
		if v.State != tc.state || !strings.Contains(v.Message, tc.says) {
			t.Errorf("%s: %s %q, want %s %q", tc.task.Name, v.State, v.Message, tc.state, tc.says)
		}
	}
	unreachable := activeAgent("n-a2", "a2", "cpu", "8")
	unreachable.Status.Phase = kmv1.AgentUnreachable
	c.Upsert(unreachable)
	if v := c.Reserve(newTask("lost", "o2").Resources("cpu", "1").Obj()); v.State != kmv1.TaskDropped {
		t.Errorf("a task on an unreachable agent: %s %s", v.State, v.Message)
	}
}

// TestAssumeConfirmForget: a reservation is charged until the informer
// shows the task admitted (then the task is charged once, not twice), a
// failed write gives the offer back, and an unclear one is forgotten after
// Grace while what it took from its offer stays taken.
func TestAssumeConfirmForget(t *testing.T) {
	c, clk := newCache()
	c.Upsert(activeAgent("n-a1", "a1", "cpu", "8"))
	c.Upsert(testOffer("o1", "a1", "cpu", "4"))
	rest := func() int64 {
		for _, o := range c.Snapshot().Offers {
			if o.Obj.Name == "o1" {
				return o.Rest[0]
			}
		}
		return -1
	}
	tk := newTask("t1", "o1").Resources("cpu", "1").Obj()
	if v := c.Reserve(tk); v.State != kmv1.TaskStaging {
		t.Fatal(v.Message)
	}
	if v := c.Reserve(tk); v.State != "" {
		t.Errorf("a second reservation of the same task: %s", v.State)
	}
	if u := used(c, "a1"); u != "cpu=1" || rest() != 3000 {
		t.Fatalf("reserved: agent charged %s, offer rest %d", u, rest())
	}
	assumed := func(want ...string) {
		t.Helper()
		var got []string
		for _, k := range c.Assumed("a1") {
			got = append(got, k.Name)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("assumed on a1: %v, want %v", got, want)
		}
		if other := c.Assumed("a2"); len(other) != 0 {
			t.Errorf("assumed on a2: %v, want none", other)
		}
	}
	assumed("t1")
	seen := tk.DeepCopy()
	seen.Status.State, seen.Status.AgentID = kmv1.TaskStaging, "a1"
	c.Upsert(seen)
	assumed()
	s := c.Snapshot()
	if got := s.Agents[0].Used[0]; got != 1000 {
		t.Errorf("confirmed by the informer: agent charged %dm cpu, want 1000m", got)
	}

	failed := newTask("t2", "o1").Resources("cpu", "1").Obj()
	c.Reserve(failed)
	assumed("t2")
	c.Forget(failed.UID)
	assumed()
	if rest() != 3000 || c.Snapshot().Agents[0].Used[0] != 1000 {
		t.Errorf("after a failed write: offer rest %d, agent %d", rest(), c.Snapshot().Agents[0].Used[0])
	}

	unclear := newTask("t3", "o1").Resources("cpu", "1").Obj()
	c.Reserve(unclear)
	assumed("t3")
	clk.Step(Grace + time.Second)
	if c.Snapshot(); len(c.Assumed("a1")) != 1 {
		t.Error("a reservation whose write has not come back was dropped")
	}
	c.Wrote(unclear.UID)
	clk.Step(Grace + time.Second)
	if got := c.Snapshot().Agents[0].Used[0]; got != 1000 || rest() != 2000 {
		t.Errorf("an unclear write past its grace: agent %dm, offer rest %d; want 1000m and 2000", got, rest())
	}
	assumed()
}

// TestCommitRefusesAStalePlan: a plan made before a reservation is not
// committed; one made after is.
func TestCommitRefusesAStalePlan(t *testing.T) {
	c, _ := newCache()
	c.Upsert(activeAgent("n-a1", "a1", "cpu", "8"))
	c.Upsert(testOffer("o1", "a1", "cpu", "4"))
	key := types.NamespacedName{Namespace: "ns", Name: "o1"}
	s := c.Snapshot()
	c.Reserve(newTask("t1", "o1").Resources("cpu", "1").Obj())
	if c.Commit(s.Generation, []types.NamespacedName{key}, nil) {
		t.Fatal("a plan made before a reservation was committed")
	}
	made := testOffer("o2", "a1", "cpu", "4")
	if !c.Commit(c.Snapshot().Generation, []types.NamespacedName{key}, []*kmv1.Offer{made}) {
		t.Fatal("a current plan was refused")
	}
	s = c.Snapshot()
	if len(s.Offers) != 1 || s.Offers[0].Obj.Name != "o2" || !s.Offers[0].Made {
		t.Fatalf("offers %+v, want only o2, made and not shown yet", s.Offers)
	}
	if v := c.Reserve(newTask("t2", "o2").Resources("cpu", "1").Obj()); v.State != kmv1.TaskStaging {
		t.Errorf("a task on an offer made but not shown yet: %s %s", v.State, v.Message)
	}
	c.Upsert(made) // the informer shows it
	if s := c.Snapshot(); len(s.Offers) != 1 || s.Offers[0].Made {
		t.Errorf("offers %+v after the informer showed o2", s.Offers)
	}
	c.Undelete(key)
	if s := c.Snapshot(); len(s.Offers) != 2 {
		t.Errorf("a failed deletion left %d offers, want 2", len(s.Offers))
	}
}

// TestDeletedOfferFates: an offer deleted by the master is removed, one
// used by tasks is used, any other was declined and filters its pair.
func TestDeletedOfferFates(t *testing.T) {
	c, clk := newCache()
	var fates []Fate
	c.OfferDeleted = func(_ *kmv1.Offer, f Fate) { fates = append(fates, f) }
	c.RefuseFor = func(_ *kmv1.Offer, fw *kmv1.Framework) (time.Duration, bool) {
		if fw == nil {
			t.Error("the decline's framework is not passed")
		}
		return 5 * time.Second, true
	}
	c.Upsert(b.MakeFramework("fw", "ns").Obj())
	c.Upsert(activeAgent("n-a1", "a1", "cpu", "8"))
	mine, usedOne, declined := testOffer("mine", "a1", "cpu", "1"), testOffer("used", "a1", "cpu", "1"), testOffer("declined", "a1", "cpu", "1")
	for _, o := range []*kmv1.Offer{mine, usedOne, declined} {
		c.Upsert(o)
	}
	c.BeginDelete(types.NamespacedName{Namespace: "ns", Name: "mine"})
	c.Reserve(newTask("t", "used").Resources("cpu", "1").Obj())
	for _, o := range []*kmv1.Offer{mine, usedOne, declined} {
		c.Remove(o)
	}
	if fmt.Sprint(fates) != fmt.Sprint([]Fate{Removed, Used, Declined}) {
		t.Errorf("fates %v", fates)
	}
	fw := types.NamespacedName{Namespace: "ns", Name: "fw"}
	clk.Step(5*time.Second - time.Nanosecond)
	if !c.Snapshot().Filtered("a1", fw) {
		t.Error("the declined pair is not filtered just before its filter ends")
	}
	clk.Step(time.Nanosecond)
	if c.Snapshot().Filtered("a1", fw) {
		t.Error("an ended filter is still in force")
	}
}

// TestUsedOfferFiltersWhenAsked: a used offer filters its pair only when
// it carries the refuse-seconds annotation (a Mesos ACCEPT's filters).
func TestUsedOfferFiltersWhenAsked(t *testing.T) {
	c, _ := newCache()
	c.RefuseFor = func(*kmv1.Offer, *kmv1.Framework) (time.Duration, bool) { return time.Minute, true }
	c.Upsert(b.MakeFramework("fw", "ns").Obj())
	c.Upsert(activeAgent("n-a1", "a1", "cpu", "8"))
	c.Upsert(activeAgent("n-a2", "a2", "cpu", "8"))
	plain, asked := testOffer("plain", "a1", "cpu", "1"), testOffer("asked", "a2", "cpu", "1")
	asked.Annotations = map[string]string{kmv1.AnnotationRefuseSeconds: "60"}
	for _, o := range []*kmv1.Offer{plain, asked} {
		c.Upsert(o)
	}
	c.Reserve(newTask("t1", "plain").Resources("cpu", "1").Obj())
	c.Reserve(newTask("t2", "asked").Resources("cpu", "1").Agent("a2").Obj())
	c.Remove(plain)
	c.Remove(asked)
	fw := types.NamespacedName{Namespace: "ns", Name: "fw"}
	if s := c.Snapshot(); s.Filtered("a1", fw) || !s.Filtered("a2", fw) {
		t.Errorf("filtered: a1 %v (want false), a2 %v (want true)", s.Filtered("a1", fw), s.Filtered("a2", fw))
	}
}

// TestFiltersFollowFrameworkSlots: a filter is kept per framework slot
// and agent, the longest wins, and a deleted framework's filters go with
// its slot, which the next framework reuses unfiltered.
func TestFiltersFollowFrameworkSlots(t *testing.T) {
	c, clk := newCache()
	one, two := b.MakeFramework("one", "ns").Obj(), b.MakeFramework("two", "ns").Obj()
	c.Upsert(one)
	c.Upsert(two)
	k1, k2 := client.ObjectKeyFromObject(one), client.ObjectKeyFromObject(two)
	c.Filter(Pair{Framework: k1, AgentID: "a1"}, start.Add(10*time.Second))
	c.Filter(Pair{Framework: k1, AgentID: "a1"}, start.Add(time.Second)) // shorter: ignored
	c.Filter(Pair{Framework: k2, AgentID: "a2"}, start.Add(time.Second))
	c.Filter(Pair{Framework: types.NamespacedName{Namespace: "ns", Name: "unknown"}, AgentID: "a1"}, start.Add(time.Hour))
	clk.Step(2 * time.Second)
	s := c.Snapshot()
	if !s.Filtered("a1", k1) || s.Filtered("a2", k2) || s.Filtered("a1", k2) || len(s.Filters) != 1 {
		t.Errorf("after 2s: one/a1 %v (want true), two/a2 %v, two/a1 %v (want false); agents filtered %d (want 1)",
			s.Filtered("a1", k1), s.Filtered("a2", k2), s.Filtered("a1", k2), len(s.Filters))
	}
	c.Remove(one)
	three := b.MakeFramework("three", "ns").Obj()
	c.Upsert(three)
	s = c.Snapshot()
	if len(s.Frameworks) != 2 || s.Filtered("a1", client.ObjectKeyFromObject(three)) || len(s.Filters) != 0 {
		t.Errorf("a new framework in a reused slot: %d slots (want 2), filtered %v, agents filtered %d",
			len(s.Frameworks), s.Filtered("a1", client.ObjectKeyFromObject(three)), len(s.Filters))
	}
}

// TestClearFilters: a revive drops the framework's filters on every agent
// and no other framework's.
func TestClearFilters(t *testing.T) {
	c, _ := newCache()
	one, two := b.MakeFramework("one", "ns").Obj(), b.MakeFramework("two", "ns").Obj()
	c.Upsert(one)
	c.Upsert(two)
	k1, k2 := client.ObjectKeyFromObject(one), client.ObjectKeyFromObject(two)
	for _, a := range []string{"a1", "a2"} {
		c.Filter(Pair{Framework: k1, AgentID: a}, start.Add(time.Hour))
		c.Filter(Pair{Framework: k2, AgentID: a}, start.Add(time.Hour))
	}
	c.ClearFilters(k1)
	c.ClearFilters(types.NamespacedName{Namespace: "ns", Name: "unknown"})
	s := c.Snapshot()
	if s.Filtered("a1", k1) || s.Filtered("a2", k1) || !s.Filtered("a1", k2) || !s.Filtered("a2", k2) {
		t.Errorf("after clearing one's filters: one %v %v (want false), two %v %v (want true)",
			s.Filtered("a1", k1), s.Filtered("a2", k1), s.Filtered("a1", k2), s.Filtered("a2", k2))
	}
}

// TestRebuildCountsEveryAdmittedTaskOnce: after a leader start, what
// tasks took from offers that still exist is taken again, the executor
// once per agent, and tasks never admitted take nothing.
func TestRebuildCountsEveryAdmittedTaskOnce(t *testing.T) {
	c, _ := newCache()
	c.Upsert(activeAgent("n-a1", "a1", "cpu", "8", "memory", "1Gi"))
	o := testOffer("o1", "a1", "cpu", "4", "memory", "512Mi")
	c.Upsert(o)
	staged := func(w *b.TaskWrapper, exec string, state kmv1.TaskState, at time.Duration) *kmv1.Task {
		tk := withExecutor(w.Resources("cpu", "1"), exec)
		tk.Status.State, tk.Status.AgentID = state, "a1"
		tk.Status.StagingTime = &metav1.Time{Time: start.Add(at)}
		return tk
	}
	tasks := []*kmv1.Task{
		staged(newTask("second", "o1"), "e", kmv1.TaskFinished, time.Second),
		staged(newTask("first", "o1"), "e", kmv1.TaskRunning, 0),
		staged(newTask("refused", "o1"), "e", kmv1.TaskError, 0),
		staged(newTask("elsewhere", "gone"), "e", kmv1.TaskRunning, 0),
	}
	c.Rebuild([]*kmv1.Offer{o}, tasks)
	s := c.Snapshot()
	if !c.Rebuilt() || len(s.Offers) != 1 {
		t.Fatalf("rebuilt %v, offers %+v", c.Rebuilt(), s.Offers)
	}
	// The accept window runs from the latest admission on the offer.
	if got, want := s.Offers[0].LastUse, start.Add(time.Second); !got.Equal(want) {
		t.Errorf("rebuilt last use %v, want %v (the later task's staging)", got, want)
	}
	// 1 + 0.5 (executor) + 1 cpu, 64Mi memory taken from 4 cpu, 512Mi.
	if got := s.Names.ResourceList(s.Offers[0].Rest); got.Cpu().MilliValue() != 1500 || got.Memory().Value() != 448<<20 {
		t.Errorf("rest %v, want cpu 1500m and memory 448Mi", got)
	}
}

// BenchmarkSnapshot10000EndedTasks is the cycle's read with 10,000 ended
// tasks, 100 live ones and 3 agents (the measurement setting):
// ended tasks cost nothing per cycle.
func BenchmarkSnapshot10000EndedTasks(bm *testing.B) {
	c, _ := newCache()
	for i := 0; i < 10000; i++ {
		c.Upsert(liveTask(fmt.Sprintf("done-%d", i), kmv1.TaskFinished))
	}
	for i := 0; i < 100; i++ {
		c.Upsert(liveTask(fmt.Sprintf("live-%d", i), kmv1.TaskRunning))
	}
	for i := 0; i < 3; i++ {
		c.Upsert(activeAgent(fmt.Sprintf("node-%d", i), fmt.Sprintf("a%d", i), "cpu", "64"))
	}
	bm.ReportAllocs()
	for bm.Loop() {
		if s := c.Snapshot(); len(s.Agents) != 3 {
			bm.Fatal(len(s.Agents))
		}
	}
}

// TestConcurrentReservationsNeverOverbook: many admissions at once on
// one offer take exactly what it holds, no more.
func TestConcurrentReservationsNeverOverbook(t *testing.T) {
	c, _ := newCache()
	c.Upsert(activeAgent("n-a1", "a1", "cpu", "16"))
	c.Upsert(testOffer("o1", "a1", "cpu", "10"))
	var wg sync.WaitGroup
	staged := make(chan string, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk := newTask(fmt.Sprintf("t%d", i), "o1").Resources("cpu", "1").Obj()
			if v := c.Reserve(tk); v.State == kmv1.TaskStaging {
				staged <- tk.Name
			}
		}()
	}
	wg.Wait()
	close(staged)
	if n := len(staged); n != 10 {
		t.Errorf("%d tasks of 1 cpu reserved on an offer of 10 cpu, want 10", n)
	}
}

// TestReserveHoldsTheAgentToWhatItHasNow: an agent whose resources shrank
// under its offers (its node's other pods grew) admits no task past what
// it has now, whatever its offers still say; what its live tasks and
// their executors take counts, and what ended gives its share back.
func TestReserveHoldsTheAgentToWhatItHasNow(t *testing.T) {
	c, _ := newCache()
	c.Upsert(activeAgent("n-a1", "a1", "cpu", "4", "memory", "1Gi"))
	c.Upsert(testOffer("o1", "a1", "cpu", "4", "memory", "512Mi"))
	if v := c.Reserve(withExecutor(newTask("t1", "o1").Resources("cpu", "1"), "e")); v.State != kmv1.TaskStaging {
		t.Fatalf("the first task: %+v", v)
	}
	// The agent shrinks to 2 CPU: the executor (500m) and t1 (1) leave 500m.
	c.Upsert(activeAgent("n-a1", "a1", "cpu", "2", "memory", "1Gi"))
	v := c.Reserve(withExecutor(newTask("t2", "o1").Resources("cpu", "1"), "e"))
	if v.State != kmv1.TaskDropped || v.Reason != kmv1.ReasonInvalidOffers || !strings.Contains(v.Message, "no longer has what its offers promised") ||
		!strings.Contains(v.Message, "cpu") {
		t.Fatalf("a task past the shrunk agent: %+v, want TASK_DROPPED naming the shortfall", v)
	}
	if v := c.Reserve(withExecutor(newTask("t3", "o1").Resources("cpu", "500m"), "e")); v.State != kmv1.TaskStaging {
		t.Fatalf("a task within what the agent has left: %+v", v)
	}
	if got := used(c, "a1"); got != "cpu=2,memory=64Mi" {
		t.Errorf("the agent is charged %s, want cpu=2,memory=64Mi", got)
	}
	// t1 and t3 end: the executor's share goes with them.
	for _, uid := range []string{"t1", "t3"} {
		done := liveTask(uid, kmv1.TaskFinished)
		done.Spec.Executor = withExecutor(newTask(uid), "e").Spec.Executor
		c.Upsert(done)
	}
	if got := used(c, "a1"); got != "" {
		t.Errorf("with every task ended the agent is charged %q, want nothing", got)
	}
	if v := c.Reserve(newTask("t4", "o1").Resources("cpu", "2").Obj()); v.State != kmv1.TaskStaging {
		t.Fatalf("a task of the whole shrunk agent once the others ended: %+v", v)
	}
}

// TestHeldIsNotPromised: what an agent's pods hold beyond their live
// tasks (spec.held) is neither in the agent's total for the cycle nor
// admitted into.
func TestHeldIsNotPromised(t *testing.T) {
	c, _ := newCache()
	a := activeAgent("n-a1", "a1", "cpu", "4", "memory", "1Gi")
	a.Spec.Held = b.Resources("cpu", "3")
	c.Upsert(a)
	c.Upsert(testOffer("o1", "a1", "cpu", "4", "memory", "512Mi"))
	s := c.Snapshot()
	if got := resources.String(s.Names.ResourceList(s.Agents[0].Total)); got != "cpu=1,memory=1Gi" {
		t.Errorf("the agent's total for the cycle is %s, want cpu=1,memory=1Gi", got)
	}
	if v := c.Reserve(newTask("t1", "o1").Resources("cpu", "2").Obj()); v.State != kmv1.TaskDropped {
		t.Errorf("a task of 2 cpu where 1 is not held: %+v, want TASK_DROPPED", v)
	}
	if v := c.Reserve(newTask("t2", "o1").Resources("cpu", "1").Obj()); v.State != kmv1.TaskStaging {
		t.Errorf("a task within what is not held: %+v, want TASK_STAGING", v)
	}
}

func TestOffersCountTheTasksWaitingForAdmission(t *testing.T) {
	c, _ := newCache()
	c.Upsert(activeAgent("n-a1", "a1", "cpu", "8"))
	c.Upsert(testOffer("o1", "a1", "cpu", "4"))
	waiting := func() int {
		for _, o := range c.Snapshot().Offers {
			if o.Obj.Name == "o1" {
				return o.Waiting
			}
		}
		t.Fatal("offer o1 is not in the snapshot")
		return -1
	}
	t1 := newTask("t1", "o1").Resources("cpu", "1").Obj()
	t2 := newTask("t2", "o1").Resources("cpu", "1").Obj()
	c.Upsert(t1)
	c.Upsert(t2)
	c.Upsert(t2) // an update before admission counts once
	if n := waiting(); n != 2 {
		t.Fatalf("two tasks launched on o1, not admitted: waiting %d", n)
	}
	staged := t1.DeepCopy()
	staged.Status.State, staged.Status.AgentID = kmv1.TaskStaging, "a1"
	c.Upsert(staged)
	if n := waiting(); n != 1 {
		t.Errorf("one admitted: waiting %d, want 1", n)
	}
	c.Remove(t2)
	if n := waiting(); n != 0 {
		t.Errorf("the other deleted: waiting %d, want 0", n)
	}
}

// TestAcceptWindowRunsFromTheLatestUse: an offer's accept window runs
// from its latest admission, so a launch whose tasks reach the master
// slowly keeps its offer while they keep coming; a forgotten reservation
// gives the window back to the use before it, and the offer is unused
// again once none is left.
func TestAcceptWindowRunsFromTheLatestUse(t *testing.T) {
	c, clk := newCache()
	c.Upsert(activeAgent("n-a1", "a1", "cpu", "8"))
	c.Upsert(testOffer("o1", "a1", "cpu", "4"))
	lastUse := func() time.Time {
		t.Helper()
		s := c.Snapshot()
		if len(s.Offers) != 1 {
			t.Fatalf("offers %+v, want o1", s.Offers)
		}
		return s.Offers[0].LastUse
	}
	if !lastUse().IsZero() {
		t.Fatal("an offer no task used has a last use")
	}
	reserve := func(uid string) *kmv1.Task {
		t.Helper()
		tk := newTask(uid, "o1").Resources("cpu", "1").Obj()
		if v := c.Reserve(tk); v.State != kmv1.TaskStaging {
			t.Fatalf("%s: %+v", uid, v)
		}
		return tk
	}
	t1 := reserve("t1")
	clk.Step(1500 * time.Millisecond)
	t2 := reserve("t2")
	if got, want := lastUse(), start.Add(1500*time.Millisecond); !got.Equal(want) {
		t.Errorf("after the second admission: last use %v, want %v", got, want)
	}
	clk.Step(time.Second)
	t3 := reserve("t3")
	// Admissions end in any order: the window runs from the latest use
	// left, whichever were forgotten.
	c.Forget(t2.UID)
	if got, want := lastUse(), start.Add(2500*time.Millisecond); !got.Equal(want) {
		t.Errorf("the second reservation forgotten: last use %v, want the third's %v", got, want)
	}
	c.Forget(t3.UID)
	if got := lastUse(); !got.Equal(start) {
		t.Errorf("the later reservations forgotten: last use %v, want the first's %v", got, start)
	}
	c.Forget(t1.UID)
	if got := lastUse(); !got.IsZero() {
		t.Errorf("every reservation forgotten: last use %v, want none", got)
	}
}

// TestALaunchCompletesItsOffer: an offer whose launch says how many tasks
// it creates (kmv1.AnnotationLaunchTasks) is complete once that many are
// reserved, and LaunchAdmitted is called once the informer shows them all
// admitted; a reservation forgotten makes it incomplete again, and tasks
// that say nothing never complete it (the accept window decides). It is
// partial while fewer of the launch's tasks exist than it said, a task
// refused at admission counting as one.
func TestALaunchCompletesItsOffer(t *testing.T) {
	c, _ := newCache()
	called := 0
	c.LaunchAdmitted = func() { called++ }
	c.Upsert(activeAgent("n-a1", "a1", "cpu", "8"))
	c.Upsert(testOffer("o1", "a1", "cpu", "4"))
	c.Upsert(testOffer("o2", "a1", "cpu", "4"))
	view := func(name string) Offer {
		for _, o := range c.Snapshot().Offers {
			if o.Obj.Name == name {
				return o
			}
		}
		t.Fatalf("offer %s is not in the snapshot", name)
		return Offer{}
	}
	complete := func(name string) bool { return view(name).Complete }
	launched := func(uid, offer, n string) *kmv1.Task {
		tk := newTask(uid, offer).Resources("cpu", "1").Obj()
		if n != "" {
			tk.Annotations = map[string]string{kmv1.AnnotationLaunchTasks: n}
		}
		c.Upsert(tk)
		return tk
	}
	t1 := launched("t1", "o1", "2")
	if !view("o1").Partial {
		t.Error("one task of a launch of 2 created: o1 not partial")
	}
	t2 := launched("t2", "o1", "2")
	if view("o1").Partial {
		t.Error("both tasks of a launch of 2 created: o1 still partial")
	}
	for _, tk := range []*kmv1.Task{t1, t2} {
		if complete("o1") {
			t.Fatalf("o1 complete before %s was reserved", tk.Name)
		}
		if v := c.Reserve(tk); v.State != kmv1.TaskStaging {
			t.Fatalf("%s: %+v", tk.Name, v)
		}
	}
	if !complete("o1") {
		t.Fatal("both tasks of a launch of 2 reserved, o1 not complete")
	}
	c.Forget(t2.UID)
	if complete("o1") {
		t.Fatal("a reservation forgotten, o1 still complete")
	}
	if v := c.Reserve(t2); v.State != kmv1.TaskStaging {
		t.Fatalf("t2 again: %+v", v)
	}
	for i, tk := range []*kmv1.Task{t1, t2} {
		staged := tk.DeepCopy()
		staged.Status.State, staged.Status.AgentID = kmv1.TaskStaging, "a1"
		c.Upsert(staged)
		if want := i; called != want {
			t.Errorf("after %s was seen admitted LaunchAdmitted was called %d times, want %d", tk.Name, called, want)
		}
	}
	for _, tk := range []*kmv1.Task{launched("u1", "o2", ""), launched("u2", "o2", "zero")} {
		if v := c.Reserve(tk); v.State != kmv1.TaskStaging {
			t.Fatalf("%s: %+v", tk.Name, v)
		}
	}
	if o := view("o2"); o.Complete || o.Partial {
		t.Errorf("tasks that do not say how many they are left o2 complete %t, partial %t; want neither", o.Complete, o.Partial)
	}
	// A task of a launch that admission refuses counts as created: the
	// offer does not wait for it.
	c.Upsert(activeAgent("n-a2", "a2", "cpu", "8"))
	c.Upsert(testOffer("o3", "a2", "cpu", "4"))
	r1 := launched("r1", "o3", "2")
	if v := c.Reserve(r1); v.State != kmv1.TaskStaging {
		t.Fatalf("r1: %+v", v)
	}
	if !view("o3").Partial {
		t.Error("one task of a launch of 2 created and admitted: o3 not partial")
	}
	// Another framework's task that names the offer is none of its launch.
	foreign := newTask("x1", "o3").Resources("cpu", "1").State(kmv1.TaskError).Obj()
	foreign.Spec.Framework = "other"
	foreign.Annotations = map[string]string{kmv1.AnnotationLaunchTasks: "2"}
	c.Upsert(foreign)
	if !view("o3").Partial {
		t.Error("another framework's task named o3: o3 no longer partial")
	}
	r2 := newTask("r2", "o3").Resources("cpu", "1").State(kmv1.TaskError).Obj()
	r2.Annotations = map[string]string{kmv1.AnnotationLaunchTasks: "2"}
	c.Upsert(r2)
	if o := view("o3"); o.Complete || o.Partial {
		t.Errorf("a launch of 2, one admitted and one refused: o3 complete %t, partial %t; want neither (its window decides)", o.Complete, o.Partial)
	}
}

// TestAReservationPastItsGraceIsTakenOnce: a reservation is kept while its
// write is on its way and for Grace after it came back unclear; past that
// it keeps what it took from its offer, and the task,
// still without a state, is reserved again in its place, never on top of
// it; a write that then fails gives it back, one that was applied keeps it.
func TestAReservationPastItsGraceIsTakenOnce(t *testing.T) {
	c, clk := newCache()
	c.Upsert(activeAgent("n-a1", "a1", "cpu", "8"))
	c.Upsert(testOffer("o1", "a1", "cpu", "4"))
	offer := func() (int64, bool) {
		for _, o := range c.Snapshot().Offers {
			if o.Obj.Name == "o1" {
				return o.Rest[0], o.Complete
			}
		}
		t.Fatal("o1 is not in the snapshot")
		return 0, false
	}
	launched := func(uid string) *kmv1.Task {
		tk := newTask(uid, "o1").Resources("cpu", "1").Obj()
		tk.Annotations = map[string]string{kmv1.AnnotationLaunchTasks: "3"}
		c.Upsert(tk)
		return tk
	}
	// reserve reserves a task whose write then comes back unclear.
	reserve := func(tk *kmv1.Task) {
		t.Helper()
		if v := c.Reserve(tk); v.State != kmv1.TaskStaging {
			t.Fatalf("%s: %+v", tk.Name, v)
		}
		c.Wrote(tk.UID)
	}
	t1, t2, t3 := launched("t1"), launched("t2"), launched("t3")
	if v := c.Reserve(t1); v.State != kmv1.TaskStaging {
		t.Fatalf("t1: %+v", v)
	}
	// Its write on its way for longer than Grace: never expired.
	clk.Step(Grace + time.Second)
	if v := c.Reserve(t1); v.State != "" || v.Wait != Grace {
		t.Errorf("t1, its write on its way: %+v, want no state and a wait of %v", v, Grace)
	}
	if u := used(c, "a1"); u != "cpu=1" {
		t.Errorf("t1, its write on its way: agent charged %q, want cpu=1", u)
	}
	c.Wrote(t1.UID)
	clk.Step(10 * time.Second)
	if v := c.Reserve(t1); v.State != "" || v.Wait != Grace-10*time.Second {
		t.Errorf("t1 reserved 10 s ago: %+v, want no state and a wait of %v", v, Grace-10*time.Second)
	}
	// Past its grace, before any snapshot settled it: reserved anew.
	clk.Step(Grace)
	reserve(t1)
	if rest, complete := offer(); rest != 3000 || complete {
		t.Errorf("t1 reserved again past its grace: o1 rest %dm, complete %v; want 3000m, not complete (1 of 3)", rest, complete)
	}
	if u := used(c, "a1"); u != "cpu=1" {
		t.Errorf("agent charged %s, want cpu=1", u)
	}
	// Settled by a snapshot, then its write fails clearly.
	reserve(t2)
	clk.Step(Grace + time.Second)
	if rest, _ := offer(); rest != 2000 {
		t.Errorf("t1 and t2 settled: o1 rest %dm, want 2000m (what they took stays taken)", rest)
	}
	if u := used(c, "a1"); u != "" {
		t.Errorf("t1 and t2 settled: agent charged %q, want nothing", u)
	}
	c.Forget(t2.UID)
	if rest, _ := offer(); rest != 3000 {
		t.Errorf("t2's write failed past its grace: o1 rest %dm, want 3000m", rest)
	}
	// Settled, then shown admitted: what it took stays taken, once.
	staged := t1.DeepCopy()
	staged.Status.State, staged.Status.AgentID = kmv1.TaskStaging, "a1"
	c.Upsert(staged)
	c.Forget(t1.UID)
	if rest, _ := offer(); rest != 3000 {
		t.Errorf("t1 shown admitted past its grace: o1 rest %dm, want 3000m", rest)
	}
	reserve(t2)
	reserve(t3)
	if rest, complete := offer(); rest != 1000 || !complete {
		t.Errorf("all three reserved: o1 rest %dm, complete %v; want 1000m, complete", rest, complete)
	}
}

// TestAnUnclearDeleteStaysTheMasters: an offer whose deletion came back
// unclear is still the master's own removal when the informer shows it
// gone (not a decline), and outstanding again after Grace if it does not;
// an offer declined meanwhile is not recorded as being deleted.
func TestAnUnclearDeleteStaysTheMasters(t *testing.T) {
	c, clk := newCache()
	var fates []Fate
	c.OfferDeleted = func(_ *kmv1.Offer, f Fate) { fates = append(fates, f) }
	c.Upsert(b.MakeFramework("fw", "ns").Obj())
	c.Upsert(activeAgent("n-a1", "a1", "cpu", "8"))
	o1, o2, o3 := testOffer("o1", "a1", "cpu", "1"), testOffer("o2", "a1", "cpu", "1"), testOffer("o3", "a1", "cpu", "1")
	for _, o := range []*kmv1.Offer{o1, o2, o3} {
		c.Upsert(o)
	}
	key := func(o *kmv1.Offer) types.NamespacedName { return types.NamespacedName{Namespace: "ns", Name: o.Name} }
	for _, o := range []*kmv1.Offer{o1, o2} {
		if !c.BeginDelete(key(o)) {
			t.Fatalf("%s: not deleted", o.Name)
		}
		c.DeleteUnclear(key(o))
	}
	c.Remove(o1)
	clk.Step(Grace + time.Second)
	c.Snapshot()
	if !c.BeginDelete(key(o2)) {
		t.Error("o2, whose unclear deletion the informer never showed, is not outstanding again after Grace")
	}
	c.Undelete(key(o2))
	c.Remove(o2)
	if fmt.Sprint(fates) != fmt.Sprint([]Fate{Removed, Declined}) {
		t.Errorf("fates %v, want [removed declined]", fates)
	}
	// o3 is declined between a cycle's snapshot and its commit.
	s := c.Snapshot()
	c.Remove(o3)
	if !c.Commit(s.Generation, []types.NamespacedName{key(o3)}, nil) {
		t.Fatal("the plan was refused")
	}
	if c.BeginDelete(key(o3)) {
		t.Error("BeginDelete of a gone offer reported true")
	}
	if len(c.deleting) != 0 {
		t.Errorf("deleting holds %v, want nothing", c.deleting)
	}
}

// TestRebuildChargesAnExecutorAgainAfterItWentIdle: as Reserve does, the
// rebuild charges a custom executor's resources to the offer of each task
// staged while the executor had no live task on the agent, not only to its
// first task ever.
func TestRebuildChargesAnExecutorAgainAfterItWentIdle(t *testing.T) {
	c, _ := newCache()
	c.Upsert(activeAgent("n-a1", "a1", "cpu", "8"))
	o := testOffer("o1", "a1", "cpu", "8", "memory", "512Mi")
	c.Upsert(o)
	staged := func(name string, state kmv1.TaskState, at, ended time.Duration) *kmv1.Task {
		tk := withExecutor(newTask(name, "o1").Resources("cpu", "1"), "e")
		tk.Status.State, tk.Status.AgentID = state, "a1"
		tk.Status.StagingTime = &metav1.Time{Time: start.Add(at)}
		if state.IsTerminal() {
			tk.Status.CompletionTime = &metav1.Time{Time: start.Add(ended)}
		}
		return tk
	}
	c.Rebuild([]*kmv1.Offer{o}, []*kmv1.Task{
		staged("first", kmv1.TaskFinished, 0, time.Second),
		staged("beside", kmv1.TaskFinished, 500*time.Millisecond, 2*time.Second),
		staged("again", kmv1.TaskRunning, 10*time.Second, 0),
	})
	// 3 tasks of 1 cpu, and the executor (500m, 64Mi) twice: at 0 and at
	// 10 s, when it had no live task.
	s := c.Snapshot()
	if got := s.Names.ResourceList(s.Offers[0].Rest); got.Cpu().MilliValue() != 4000 || got.Memory().Value() != 384<<20 {
		t.Errorf("rest %v, want cpu 4 and memory 384Mi", got)
	}
}

// TestAdmissionsTheRebuildMissedAreCounted: after a rebuild, a task the
// informer shows admitted for the first time that this master did not
// reserve (the previous leader admitted it just before it lost the Lease,
// and the informers had not shown it yet) is charged to its offer, once;
// one the rebuild counted before its event came, and this master's own,
// are not charged again.
func TestAdmissionsTheRebuildMissedAreCounted(t *testing.T) {
	c, _ := newCache()
	c.Upsert(activeAgent("n-a1", "a1", "cpu", "16"))
	o := testOffer("o1", "a1", "cpu", "8")
	c.Upsert(o)
	pending := func(uid string) *kmv1.Task { return newTask(uid, "o1").Resources("cpu", "1").Obj() }
	staged := func(uid string) *kmv1.Task {
		tk := pending(uid)
		tk.Status.State, tk.Status.AgentID = kmv1.TaskStaging, "a1"
		tk.Status.StagingTime = &metav1.Time{Time: start}
		return tk
	}
	c.Upsert(staged("early")) // seen admitted before the rebuild
	c.Upsert(pending("listed"))
	c.Upsert(pending("late"))
	c.Rebuild([]*kmv1.Offer{o}, []*kmv1.Task{staged("early"), staged("listed")})
	c.Upsert(staged("listed")) // its event after the rebuild that counted it
	c.Upsert(staged("late"))   // admitted by the previous leader, missed
	mine := pending("mine")
	c.Upsert(mine)
	if v := c.Reserve(mine); v.State != kmv1.TaskStaging {
		t.Fatalf("mine: %+v", v)
	}
	c.Upsert(staged("mine"))
	c.Upsert(staged("late")) // a later event of the same task
	s := c.Snapshot()
	if got := s.Names.ResourceList(s.Offers[0].Rest); got.Cpu().MilliValue() != 4000 {
		t.Errorf("o1 has cpu %s left, want 4 (four tasks of 1 cpu, each charged once)", got.Cpu())
	}
	if u := used(c, "a1"); u != "cpu=4" {
		t.Errorf("a1 charged %s, want cpu=4", u)
	}
	if len(c.counted) != 0 {
		t.Errorf("counted still holds %v", c.counted)
	}
}

// TestAnOfferRecordsAtMostTheLargestLaunch: the tasks an offer records as
// launched on it are bounded by the largest launch, however many refused
// tasks name it.
func TestAnOfferRecordsAtMostTheLargestLaunch(t *testing.T) {
	c, _ := newCache()
	c.Upsert(activeAgent("n-a1", "a1", "cpu", "8"))
	c.Upsert(testOffer("o1", "a1", "cpu", "4"))
	for i := range kmv1.MaxLaunchTasks + 10 {
		c.Upsert(newTask(fmt.Sprintf("r%d", i), "o1").Resources("cpu", "1").State(kmv1.TaskError).Obj())
	}
	if n := len(c.launched[types.NamespacedName{Namespace: "ns", Name: "o1"}]); n != kmv1.MaxLaunchTasks {
		t.Errorf("o1 records %d launched tasks, want %d", n, kmv1.MaxLaunchTasks)
	}
}

// restOf returns what offer name has left in the snapshot, as a string.
func restOf(c *Cache, name string) string {
	s := c.Snapshot()
	for _, o := range s.Offers {
		if o.Obj.Name == name {
			return resources.String(s.Names.ResourceList(o.Rest))
		}
	}
	return "no offer"
}

// TestMadeUpResourceNamesAreRefusedUnindexed: a task that needs a
// resource no agent has offered is refused before its name enters the
// cache's table, and a name of a zero quantity takes no place in it, so
// that tenants' made-up names cannot grow it (and every vector and
// snapshot with it).
func TestMadeUpResourceNamesAreRefusedUnindexed(t *testing.T) {
	c, _ := newCache()
	c.Upsert(activeAgent("n-a1", "a1", "cpu", "8", "memory", "8Gi"))
	c.Upsert(testOffer("o1", "a1", "cpu", "4", "memory", "4Gi"))
	names := c.Snapshot().Names.Len()
	for i := range 50 {
		tk := newTask(fmt.Sprintf("made-up-%d", i), "o1").Resources("cpu", "1m", fmt.Sprintf("x.io/r%d", i), "1").Obj()
		if v := c.Reserve(tk); v.State != kmv1.TaskError || !strings.Contains(v.Message, "no agent offers x.io/r") {
			t.Fatalf("a task needing x.io/r%d: %s %q, want TASK_ERROR naming it", i, v.State, v.Message)
		}
	}
	exec := withExecutor(newTask("made-up-exec", "o1").Resources("cpu", "1m"), "e")
	exec.Spec.Executor.Resources["x.io/executor"] = b.Resources("x.io/executor", "1")["x.io/executor"]
	if v := c.Reserve(exec); v.State != kmv1.TaskError || !strings.Contains(v.Message, "no agent offers x.io/executor") {
		t.Errorf("an executor needing x.io/executor: %s %q, want TASK_ERROR naming it", v.State, v.Message)
	}
	zero := newTask("zero", "o1").Resources("cpu", "1", "x.io/none", "0").Obj()
	if v := c.Reserve(zero); v.State != kmv1.TaskStaging {
		t.Fatalf("a task with a zero quantity of a made-up name: %s %q, want TASK_STAGING", v.State, v.Message)
	}
	if got := c.Snapshot().Names.Len(); got != names {
		t.Errorf("the names table has %d names after made-up ones, want %d", got, names)
	}
	if got := restOf(c, "o1"); got != "cpu=3,memory=4Gi" {
		t.Errorf("o1 has %s left, want cpu=3,memory=4Gi", got)
	}
}

// TestAnAdmittedTaskIsNotReservedAgain: admission read the task before the
// informer showed it admitted (by an earlier write, or the leader before
// this one); its reservation must not be taken again, or its offer's use
// would be counted twice and a launch of two read as complete.
func TestAnAdmittedTaskIsNotReservedAgain(t *testing.T) {
	c, _ := newCache()
	c.Upsert(activeAgent("n-a1", "a1", "cpu", "8"))
	o1 := testOffer("o1", "a1", "cpu", "6")
	c.Upsert(o1)
	c.Rebuild([]*kmv1.Offer{o1}, nil)
	pending := newTask("t1", "o1").Resources("cpu", "2").Obj()
	pending.Annotations = map[string]string{kmv1.AnnotationLaunchTasks: "2"}
	c.Upsert(pending)
	staged := pending.DeepCopy()
	staged.Status.State, staged.Status.AgentID, staged.Status.NodeName = kmv1.TaskStaging, "a1", "n-a1"
	c.Upsert(staged) // the other leader's admission, seen after admission read the task
	if got := restOf(c, "o1"); got != "cpu=4" {
		t.Fatalf("o1 has %s left once t1 was admitted, want cpu=4", got)
	}
	if v := c.Reserve(pending); v.State != "" || v.Wait != 0 {
		t.Errorf("reserving the admitted task again: %s %q (wait %s), want nothing to do", v.State, v.Message, v.Wait)
	}
	if got := restOf(c, "o1"); got != "cpu=4" {
		t.Errorf("o1 has %s left after a second reservation of t1, want cpu=4", got)
	}
	if got := used(c, "a1"); got != "cpu=2" {
		t.Errorf("agent a1 is charged %s, want cpu=2", got)
	}
	for _, o := range c.Snapshot().Offers {
		if o.Obj.Name == "o1" && !o.Partial {
			t.Errorf("o1 reads as a complete launch of 2 with one task admitted")
		}
	}
}

// TestAnAdmissionBetweenTheListAndTheRebuildIsCounted: the rebuild lists
// with the cache locked, so an admission the informers deliver while it
// lists (the old leader's late TASK_STAGING of a task listed without a
// state) is handled after the rebuild, and counted: before, its event
// could come between the list and the rebuild, when it was not counted
// as an admission after the rebuild, and the rebuild counted the stale
// listed copy as pending.
func TestAnAdmissionBetweenTheListAndTheRebuildIsCounted(t *testing.T) {
	c, _ := newCache()
	c.Upsert(activeAgent("n-a1", "a1", "cpu", "16"))
	o := testOffer("o1", "a1", "cpu", "8")
	c.Upsert(o)
	pending := newTask("t1", "o1").Resources("cpu", "2").Obj()
	c.Upsert(pending)
	staged := pending.DeepCopy()
	staged.Status.State, staged.Status.AgentID = kmv1.TaskStaging, "a1"
	staged.Status.StagingTime = &metav1.Time{Time: start}
	delivered := make(chan struct{})
	err := c.RebuildFrom(func() ([]*kmv1.Offer, []*kmv1.Task, error) {
		// The informer stores t1 admitted just after this list read it
		// pending, and hands the event to the cache.
		go func() {
			defer close(delivered)
			c.Upsert(staged)
		}()
		time.Sleep(50 * time.Millisecond)
		return []*kmv1.Offer{o}, []*kmv1.Task{pending.DeepCopy()}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	<-delivered
	if got := restOf(c, "o1"); got != "cpu=6" {
		t.Errorf("o1 has %s left, want cpu=6: t1's admission counted once", got)
	}
	if c.Snapshot().Offers[0].LastUse.IsZero() {
		t.Error("o1 has no use: its accept window never starts")
	}
}

// TestAnOfferBeingCreatedStaysMade: an offer committed for creation stays
// in the snapshots while its create is on its way, however long a busy API
// server takes (past Grace here), so that the next cycle does not offer
// its resources again; once the create came back (Created) and the
// informer still does not show it, it goes after Grace.
func TestAnOfferBeingCreatedStaysMade(t *testing.T) {
	c, clk := newCache()
	c.Upsert(activeAgent("n-a1", "a1", "cpu", "8"))
	made := testOffer("slow", "a1", "cpu", "8")
	if !c.Commit(c.Snapshot().Generation, nil, []*kmv1.Offer{made}) {
		t.Fatal("the plan was refused")
	}
	clk.Step(2 * Grace)
	if s := c.Snapshot(); len(s.Offers) != 1 || !s.Offers[0].Made {
		t.Fatalf("%d offers %+v while the create is on its way past Grace, want the made offer", len(s.Offers), s.Offers)
	}
	c.Created(client.ObjectKeyFromObject(made))
	clk.Step(Grace / 2)
	if s := c.Snapshot(); len(s.Offers) != 1 {
		t.Fatalf("%d offers within Grace of the create's answer, want the made offer", len(s.Offers))
	}
	clk.Step(Grace)
	if s := c.Snapshot(); len(s.Offers) != 0 {
		t.Errorf("%d offers past Grace of the create's answer with no informer event, want none", len(s.Offers))
	}
}

// handlerRegistration is a registration whose sync the test sets.
type handlerRegistration struct {
	toolscache.ResourceEventHandlerRegistration
	synced atomic.Bool
}

func (r *handlerRegistration) HasSynced() bool { return r.synced.Load() }

// TestWaitHandledWaitsForTheHandlers: a new leader's rebuild waits until
// the cache's handlers have taken in their informers' first lists, and
// the handlers go on meanwhile (the wait holds no lock).
func TestWaitHandledWaitsForTheHandlers(t *testing.T) {
	c, _ := newCache()
	reg := &handlerRegistration{}
	c.handled = []toolscache.ResourceEventHandlerRegistration{reg}
	done := make(chan bool)
	go func() { done <- c.WaitHandled(context.Background()) }()
	c.Upsert(activeAgent("n-a1", "a1", "cpu", "8")) // a handler at work
	select {
	case <-done:
		t.Fatal("WaitHandled returned before the handler took in its first list")
	case <-time.After(300 * time.Millisecond):
	}
	reg.synced.Store(true)
	if !<-done {
		t.Error("WaitHandled = false once the handler synced, want true")
	}
	ctx, cancel := context.WithCancel(context.Background())
	reg.synced.Store(false)
	cancel()
	if c.WaitHandled(ctx) {
		t.Error("WaitHandled = true with the handler not synced and its context ended")
	}
}

// TestAnOfferShownAfterItsTasksIsCharged: the informer of a new leader may
// show an offer after the tasks the old leader admitted on it (in the
// rebuild's list, or as a late admission); what they took is charged to
// the offer when it appears, not offered again. A task admitted longer
// ago than lateUseWindow is not waited for: its offer is long gone.
func TestAnOfferShownAfterItsTasksIsCharged(t *testing.T) {
	c, clk := newCache()
	c.Upsert(activeAgent("n-a1", "a1", "cpu", "16"))
	staged := func(uid string, at time.Time, offers ...string) *kmv1.Task {
		tk := newTask(uid, offers...).Resources("cpu", "1").Obj()
		tk.Status.State, tk.Status.AgentID = kmv1.TaskStaging, "a1"
		tk.Status.StagingTime = &metav1.Time{Time: at}
		return tk
	}
	listed, old := staged("listed", start, "o1"), staged("old", start.Add(-3*lateUseWindow), "o2")
	c.Upsert(listed)
	c.Upsert(old)
	c.Rebuild(nil, []*kmv1.Task{listed, old})
	clk.Step(time.Second)
	c.Upsert(staged("late", start, "o1")) // the old leader's, shown after the rebuild
	c.Upsert(testOffer("o1", "a1", "cpu", "8"))
	c.Upsert(testOffer("o2", "a1", "cpu", "8"))
	if got := restOf(c, "o1"); got != "cpu=6" {
		t.Errorf("o1, shown after its two tasks: %s left, want cpu=6", got)
	}
	if got := restOf(c, "o2"); got != "cpu=8" {
		t.Errorf("o2, whose task was admitted long ago: %s left, want cpu=8", got)
	}
	if len(c.lateUses) != 0 {
		t.Errorf("lateUses still holds %d tasks", len(c.lateUses))
	}

	// A task whose offer never appears is forgotten after the window.
	c.Upsert(staged("orphan", clk.Now(), "o3"))
	if len(c.lateUses) != 1 {
		t.Fatalf("lateUses holds %d tasks, want the orphan", len(c.lateUses))
	}
	clk.Step(lateUseWindow + time.Second)
	c.Snapshot()
	if len(c.lateUses) != 0 {
		t.Errorf("lateUses holds %d tasks past the window, want none", len(c.lateUses))
	}
}
