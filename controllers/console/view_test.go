package console

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers"
	"github.com/kubemesos/kubemesos/controllers/allocator"
	"github.com/kubemesos/kubemesos/controllers/schedcache"
	b "github.com/kubemesos/kubemesos/internal/builders"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// secrets are the names of namespace beta's objects and of what only a
// reader of every namespace may see: a viewer of alpha must meet none.
var secrets = []string{"beta", "fb-secret", "secret-role", "secret-task", "hidden-weight-role", "o-secret"}

func activeAgent(name, id string, pairs ...string) *kmv1.Agent {
	a := b.MakeAgent(name).Resources(pairs...).Obj()
	a.Status.AgentID, a.Status.Phase = id, kmv1.AgentActive
	return a
}

func registered(fw *kmv1.Framework, id string) *kmv1.Framework {
	fw.Status.FrameworkID, fw.Status.Phase = id, kmv1.FrameworkActive
	return fw
}

func task(ns, name, fw, agentID string, state kmv1.TaskState, cpu string) *kmv1.Task {
	t := b.MakeTask(name, ns).Framework(fw).Resources("cpu", cpu).Obj()
	t.Status.State, t.Status.AgentID = state, agentID
	if state != "" {
		t.Status.StagingTime = &metav1.Time{Time: now.Add(-time.Minute)}
		t.Status.LastUpdateTime = &metav1.Time{Time: now.Add(-30 * time.Second)}
		t.Status.Source, t.Status.Reason, t.Status.Message = kmv1.SourceExecutor, "", "running"
	}
	return t
}

// fixture is one cycle: agent n1 (active, 8 cpu) and n2 (unreachable);
// in namespace alpha framework fa (role r1, 1 cpu of tasks) and fc (not
// registered); in namespace beta framework fb-secret (role secret-role,
// 2 cpu of tasks and an offer of 5 cpu). Role r1 has weight 2, and the
// operator also weighs hidden-weight-role.
func fixture() (*controllers.Cycle, []*kmv1.Task) {
	names := allocator.NewNames()
	vec := func(cpu string) allocator.Vector {
		return names.Vector(corev1.ResourceList{corev1.ResourceCPU: resourceQ(cpu), corev1.ResourceMemory: resourceQ("0")})
	}
	n1 := activeAgent("n1", "a1", "cpu", "8")
	n2 := b.MakeAgent("n2").Resources("cpu", "4").Obj()
	n2.Status.AgentID, n2.Status.Phase = "a2", kmv1.AgentUnreachable
	fa := registered(b.MakeFramework("fa", "alpha").Role("r1").Obj(), "id-fa")
	fb := registered(b.MakeFramework("fb-secret", "beta").Role("secret-role").Obj(), "id-fb")
	fc := b.MakeFramework("fc", "alpha").Obj()
	offer := b.MakeOffer("o-secret", "beta").Framework("fb-secret", "id-fb").Agent("a1", "n1").Resources("cpu", "5").Obj()
	snap := &schedcache.Snapshot{
		Names:      names,
		Agents:     []schedcache.Agent{{Obj: n1, Total: vec("8"), Used: vec("3")}, {Obj: n2, Total: vec("4"), Used: vec("0")}},
		Frameworks: []schedcache.Framework{{Obj: fa, Used: vec("1")}, {Obj: fb, Used: vec("2")}, {Obj: fc}},
		Offers:     []schedcache.Offer{{Obj: offer, Framework: types.NamespacedName{Namespace: "beta", Name: "fb-secret"}, FrameworkSlot: 1, Rest: vec("5")}},
	}
	in := &allocator.Input{
		Names:   names,
		Agents:  []allocator.Agent{{ID: "a1", Node: "n1", Total: vec("8"), Used: vec("3"), Offered: vec("5")}},
		Weights: map[string]float64{"r1": 2, "hidden-weight-role": 3},
		Frameworks: []allocator.Framework{
			{Key: "alpha/fa", Role: "r1", Eligible: true, Allocated: vec("1")},
			{Key: "beta/fb-secret", Role: "secret-role", Eligible: true, Allocated: vec("7")},
			{Allocated: vec("0")},
		},
	}
	c := &controllers.Cycle{Seq: 7, At: now, Snapshot: snap, Input: in, Agents: []*kmv1.Agent{n1}, Frameworks: []*kmv1.Framework{fa, fb, nil}}
	tasks := []*kmv1.Task{
		task("beta", "secret-task", "fb-secret", "a1", kmv1.TaskRunning, "2"),
		task("alpha", "t1", "fa", "a1", kmv1.TaskRunning, "1"),
		task("alpha", "t2", "fa", "", "", "1"),
	}
	return c, tasks
}

func filtersOf(fw types.NamespacedName) func() []Filter {
	return func() []Filter {
		if fw.Namespace == "beta" {
			return []Filter{{AgentID: "a1", Until: now.Add(time.Minute)}}
		}
		return []Filter{}
	}
}

// everything returns every answer of the API for a viewer, by endpoint.
func everything(m *model, a *access, h *history) map[string]any {
	out := map[string]any{
		"overview":   buildOverview(m, a, h),
		"frameworks": listFrameworks(m, a, "", 1),
		"agents":     listAgents(m, a, "", 1),
		"tasks":      listTasks(m, a, TaskQuery{Page: 1}),
		"roles":      listRoles(m, a),
		"agent n1":   agentDetail(m, a, "n1"),
		"agent n2":   agentDetail(m, a, "n2"),
	}
	for _, fw := range []types.NamespacedName{{Namespace: "alpha", Name: "fa"}, {Namespace: "alpha", Name: "fc"}, {Namespace: "beta", Name: "fb-secret"}} {
		out["framework "+fw.String()] = frameworkDetail(m, a, fw.Namespace, fw.Name, filtersOf(fw))
	}
	for _, t := range m.tasks {
		out["task "+t.obj.Name] = taskDetail(m, a, t.obj.Namespace, t.obj.Name)
	}
	for _, q := range []TaskQuery{{Search: "secret"}, {Namespace: "beta"}, {Framework: "fb-secret"}, {Agent: "n1"}, {Agent: "a1"}, {State: "TASK_RUNNING"}} {
		out[fmt.Sprintf("tasks %+v", q)] = listTasks(m, a, q)
	}
	return out
}

// TestViewerSeesNothingOfAnotherNamespace: a viewer who may read alpha
// (and list agents) finds no name of beta, nor its role, nor a role
// weight beyond its own roles, in any answer or aggregate; and the
// aggregates count alpha only.
func TestViewerSeesNothingOfAnotherNamespace(t *testing.T) {
	c, tasks := fixture()
	m := buildModel(c, tasks, map[types.NamespacedName]int{{Namespace: "beta", Name: "fb-secret"}: 1})
	var h history
	h.record(c)
	a := &access{agents: true, ns: map[string]bool{"alpha": true}}
	for name, v := range everything(m, a, &h) {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if strings.Contains(string(raw), s) {
				t.Errorf("%s shows %q to a viewer of alpha: %s", name, s, raw)
			}
		}
	}
	o := buildOverview(m, a, &h)
	if d := cmp.Diff(map[string]int{"TASK_RUNNING": 1, "PENDING": 1}, o.TasksByState); d != "" {
		t.Errorf("tasks by state (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]int{"Active": 1, "Pending": 1}, o.FrameworksByPhase); d != "" {
		t.Errorf("frameworks by phase (-want +got):\n%s", d)
	}
	if got := o.History[0].Allocated["cpu"]; got != 1 {
		t.Errorf("the history gives alpha's viewer %v cpu allocated, want alpha's 1", got)
	}
	if fws := listFrameworks(m, a, "", 1).Items; len(fws) != 2 || fws[0].Name != "fa" || fws[0].DRFRank != 1 || fws[1].DRFRank != 0 {
		t.Errorf("alpha's frameworks: %+v; want fa ranked 1 and fc unranked", fws)
	}
	d := agentDetail(m, a, "n1")
	if d.Tasks != 1 || len(d.Offers) != 0 || len(d.TasksByFramework) != 1 || d.TasksByFramework["alpha/fa"]["cpu"] != "1" {
		t.Errorf("agent n1 for alpha's viewer: %d tasks, offers %v, by framework %v", d.Tasks, d.Offers, d.TasksByFramework)
	}
	if roles := listRoles(m, a); len(roles) != 2 || roles[0].Name != "*" || roles[1].Name != "r1" || roles[1].Weight != 2 || roles[1].DominantShare != 0.125 {
		t.Errorf("alpha's roles: %+v; want * (fc's) and r1, weight 2, share 1/8", roles)
	}
}

// TestReaderOfEverything: a viewer of every namespace sees both, in the
// cycle's DRF order, with the filters and offers and every weighted role.
func TestReaderOfEverything(t *testing.T) {
	c, tasks := fixture()
	m := buildModel(c, tasks, map[types.NamespacedName]int{{Namespace: "beta", Name: "fb-secret"}: 1})
	a := &access{agents: true, all: true}
	fws := listFrameworks(m, a, "", 1).Items
	var got []string
	for _, f := range fws {
		got = append(got, fmt.Sprintf("%s/%s rank=%d share=%.3f offers=%d filtered=%d", f.Namespace, f.Name, f.DRFRank, f.DominantShare, f.OutstandingOffers, f.FilteredAgents))
	}
	want := []string{
		"alpha/fa rank=1 share=0.125 offers=0 filtered=0",
		"alpha/fc rank=0 share=0.000 offers=0 filtered=0",
		"beta/fb-secret rank=2 share=0.875 offers=1 filtered=1",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("frameworks (-want +got):\n%s", d)
	}
	d := frameworkDetail(m, a, "beta", "fb-secret", filtersOf(types.NamespacedName{Namespace: "beta", Name: "fb-secret"}))
	if len(d.Filters) != 1 || d.Filters[0].Node != "n1" || len(d.Offers) != 1 || d.Offers[0].Resources["cpu"] != "5" {
		t.Errorf("fb-secret's filters %+v and offers %+v", d.Filters, d.Offers)
	}
	var roles []string
	for _, r := range listRoles(m, a) {
		roles = append(roles, fmt.Sprintf("%s w=%g ws=%.4f", r.Name, r.Weight, r.WeightedShare))
	}
	if d := cmp.Diff([]string{"* w=1 ws=0.0000", "hidden-weight-role w=3 ws=0.0000", "r1 w=2 ws=0.0625", "secret-role w=1 ws=0.8750"}, roles); d != "" {
		t.Errorf("roles (-want +got):\n%s", d)
	}
	o := buildOverview(m, a, &history{})
	if d := cmp.Diff(map[string]int{"Active": 1, "Unreachable": 1}, o.AgentsByPhase); d != "" || o.Total["cpu"] != "8" || o.Offered["cpu"] != "5" {
		t.Errorf("overview: agents %v (diff %s), total %v, offered %v", o.AgentsByPhase, d, o.Total, o.Offered)
	}
	n1 := agentDetail(m, a, "n1")
	if n1.Free["cpu"] != "0" && n1.Free != nil {
		t.Errorf("n1 free %v, want nothing (3 used, 5 offered of 8)", n1.Free)
	}
	if n1.Allocated["cpu"] != "3" || n1.Offered["cpu"] != "5" || n1.Tasks != 2 {
		t.Errorf("n1: %+v", n1.AgentSummary)
	}
}

// TestViewerWithoutAgents: without list on agents, the overview has no
// agent figures and the history no cluster totals.
func TestViewerWithoutAgents(t *testing.T) {
	c, tasks := fixture()
	m := buildModel(c, tasks, nil)
	var h history
	h.record(c)
	h.record(c) // the same cycle is recorded once
	a := &access{ns: map[string]bool{"alpha": true}}
	o := buildOverview(m, a, &h)
	if o.AgentsByPhase != nil || o.Total != nil || o.Offered != nil || len(o.History) != 1 || o.History[0].Total != nil {
		t.Errorf("overview without agents: %+v", o)
	}
	if o.Allocated["cpu"] != "1" {
		t.Errorf("allocated %v, want alpha's 1 cpu", o.Allocated)
	}
}

// TestTaskPagesAndHistory: tasks come 50 a page, a page past the end
// gives the last, and a task's history is its status times in order.
func TestTaskPagesAndHistory(t *testing.T) {
	c, _ := fixture()
	var tasks []*kmv1.Task
	for i := range 120 {
		tasks = append(tasks, task("alpha", fmt.Sprintf("t-%03d", i), "fa", "a1", kmv1.TaskRunning, "10m"))
	}
	done := task("alpha", "done", "fa", "a1", kmv1.TaskFailed, "10m")
	done.Status.StartTime = &metav1.Time{Time: now.Add(-50 * time.Second)}
	done.Status.CompletionTime = &metav1.Time{Time: now.Add(-30 * time.Second)}
	done.Status.Reason, done.Status.Message = kmv1.ReasonCommandExecutorFailed, "exit 1"
	tasks = append(tasks, done)
	m := buildModel(c, tasks, nil)
	a := &access{ns: map[string]bool{"alpha": true}}
	p := listTasks(m, a, TaskQuery{Page: 3})
	if p.Pages != 3 || p.Total != 121 || len(p.Items) != 21 || p.Items[0].Name != "t-099" {
		t.Errorf("page 3: %d of %d pages, %d rows, total %d", p.Page, p.Pages, len(p.Items), p.Total)
	}
	if last := listTasks(m, a, TaskQuery{Page: 99}); last.Page != 3 {
		t.Errorf("page 99 gave page %d, want the last, 3", last.Page)
	}
	if s := listTasks(m, a, TaskQuery{Search: "t-11", Page: 1}); s.Total != 10 {
		t.Errorf("search t-11 found %d, want 10", s.Total)
	}
	if s := listTasks(m, a, TaskQuery{State: "TASK_FAILED", Page: 1}); s.Total != 1 || s.Items[0].Name != "done" {
		t.Errorf("state TASK_FAILED: %+v", s)
	}
	d := taskDetail(m, a, "alpha", "done")
	var steps []string
	for _, s := range d.History {
		steps = append(steps, fmt.Sprintf("%s %s %s %s", s.Event, s.At.Sub(now), s.State, s.Reason))
	}
	want := []string{"staged -1m0s  ", "started -50s  ", "completed -30s  ", "updated -30s TASK_FAILED REASON_COMMAND_EXECUTOR_FAILED"}
	if diff := cmp.Diff(want, steps); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	if taskDetail(m, a, "alpha", "missing") != nil || taskDetail(m, &access{}, "alpha", "done") != nil {
		t.Error("a missing task, or one the viewer may not read, has a page")
	}
}

func resourceQ(s string) resource.Quantity { return resource.MustParse(s) }
