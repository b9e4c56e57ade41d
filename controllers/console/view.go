package console

import (
	"cmp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers/allocator"
	"github.com/kubemesos/kubemesos/internal/resources"
)

// access is what one viewer may read: the agents (cluster scoped), and
// the frameworks, tasks and offers of some namespaces or of all.
type access struct {
	agents bool
	all    bool
	ns     map[string]bool
}

// sees reports whether the viewer may read namespace ns.
func (a *access) sees(ns string) bool { return a.all || a.ns[ns] }

// PageSize is how many rows a page of a list holds.
const PageSize = 50

// Page is a page of a list: its rows and where it sits.
type Page[T any] struct {
	// Items are the rows of this page.
	Items []T `json:"items"`
	// Page is this page's number, from 1; Pages how many there are, and
	// Total how many rows match.
	Page  int `json:"page"`
	Pages int `json:"pages"`
	Total int `json:"total"`
}

// paginate returns page p (from 1) of n rows, made by row.
func paginate[T any](n, p int, row func(i int) T) Page[T] {
	pages := max(1, (n+PageSize-1)/PageSize)
	p = min(max(p, 1), pages)
	out := Page[T]{Page: p, Pages: pages, Total: n, Items: []T{}}
	for i := (p - 1) * PageSize; i < min(n, p*PageSize); i++ {
		out.Items = append(out.Items, row(i))
	}
	return out
}

// Overview is the console's first page: counts, and the allocation over
// time. A viewer sees agents only with the right to list them, and counts
// tasks and frameworks of their namespaces only.
type Overview struct {
	// Cycle is the allocation cycle the figures are from.
	Cycle uint64    `json:"cycle"`
	At    time.Time `json:"at"`
	// AgentsByPhase is empty for a viewer who may not list agents.
	AgentsByPhase     map[string]int `json:"agentsByPhase,omitempty"`
	TasksByState      map[string]int `json:"tasksByState"`
	FrameworksByPhase map[string]int `json:"frameworksByPhase"`
	// Total, Allocated and Offered are the cluster's (active agents),
	// for a viewer who may list agents; else Allocated is the sum of the
	// viewer's frameworks' allocations.
	Total     Resources `json:"total,omitempty"`
	Allocated Resources `json:"allocated,omitempty"`
	Offered   Resources `json:"offered,omitempty"`
	// History is the allocation over time, oldest first.
	History []Sample `json:"history"`
}

// buildOverview is the overview for a viewer.
func buildOverview(m *model, a *access, h *history) Overview {
	o := Overview{Cycle: m.seq, At: m.at, TasksByState: map[string]int{}, FrameworksByPhase: map[string]int{}}
	if a.agents {
		o.AgentsByPhase = map[string]int{}
		var alloc, offered allocator.Vector
		for _, r := range m.agents {
			o.AgentsByPhase[phaseOr(string(r.obj.Status.Phase), "Registering")]++
			if r.active {
				alloc, offered = alloc.Add(r.used), offered.Add(r.offered)
			}
		}
		o.Total, o.Allocated, o.Offered = m.resources(m.total), m.resources(alloc), m.resources(offered)
	} else {
		var alloc allocator.Vector
		for _, f := range m.frameworks {
			if a.sees(f.obj.Namespace) {
				alloc = alloc.Add(f.allocated)
			}
		}
		o.Allocated = m.resources(alloc)
	}
	for _, f := range m.frameworks {
		if a.sees(f.obj.Namespace) {
			o.FrameworksByPhase[phaseOr(string(f.obj.Status.Phase), string(kmv1.FrameworkPending))]++
		}
	}
	for _, t := range m.tasks {
		if a.sees(t.obj.Namespace) {
			o.TasksByState[stateName(t.obj.Status.State)]++
		}
	}
	o.History = h.view(a)
	return o
}

func phaseOr(p, def string) string {
	if p == "" {
		return def
	}
	return p
}

// stateName is a task's state, "PENDING" before admission.
func stateName(s kmv1.TaskState) string {
	if s == "" {
		return "PENDING"
	}
	return string(s)
}

// FrameworkSummary is one framework in the list.
type FrameworkSummary struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	ID        string `json:"id,omitempty"`
	Role      string `json:"role"`
	Phase     string `json:"phase"`
	// Suppressed is set while it asks for no offers.
	Suppressed bool `json:"suppressed,omitempty"`
	// DRFRank is its place among the viewer's frameworks in the last
	// cycle's DRF order, from 1; 0 when it took no part (not registered,
	// not connected or suppressing offers).
	DRFRank int `json:"drfRank,omitempty"`
	// DominantShare is its dominant share as DRF ranked it.
	DominantShare float64   `json:"dominantShare"`
	Allocated     Resources `json:"allocated,omitempty"`
	// OutstandingOffers counts its offers; FilteredAgents the agents it
	// refuses now after declining their offers.
	OutstandingOffers int             `json:"outstandingOffers"`
	FilteredAgents    int             `json:"filteredAgents"`
	Tasks             kmv1.TaskCounts `json:"tasks"`
}

// visibleFrameworks returns the rows of the viewer's frameworks, and
// their DRF ranks among themselves.
func visibleFrameworks(m *model, a *access) ([]int, map[int]int) {
	var rows, ranked []int
	for i, f := range m.frameworks {
		if a.sees(f.obj.Namespace) {
			rows = append(rows, i)
			if f.rank >= 0 {
				ranked = append(ranked, i)
			}
		}
	}
	slices.SortFunc(ranked, func(x, y int) int { return cmp.Compare(m.frameworks[x].rank, m.frameworks[y].rank) })
	ranks := make(map[int]int, len(ranked))
	for r, i := range ranked {
		ranks[i] = r + 1
	}
	return rows, ranks
}

func (m *model) frameworkSummary(i, rank int) FrameworkSummary {
	f := &m.frameworks[i]
	return FrameworkSummary{
		Namespace: f.obj.Namespace, Name: f.obj.Name, ID: f.obj.Status.FrameworkID, Role: roleOf(f.obj),
		Phase: phaseOr(string(f.obj.Status.Phase), string(kmv1.FrameworkPending)), Suppressed: f.obj.Spec.SuppressOffers,
		DRFRank: rank, DominantShare: f.share, Allocated: m.resources(f.allocated),
		OutstandingOffers: len(f.offers), FilteredAgents: f.filtered, Tasks: f.obj.Status.Tasks,
	}
}

// listFrameworks is page p of the viewer's frameworks whose namespace or
// name holds q, by namespace and name.
func listFrameworks(m *model, a *access, q string, p int) Page[FrameworkSummary] {
	rows, ranks := visibleFrameworks(m, a)
	rows = slices.DeleteFunc(rows, func(i int) bool {
		f := m.frameworks[i].obj
		return q != "" && !strings.Contains(f.Namespace+"/"+f.Name, q)
	})
	return paginate(len(rows), p, func(i int) FrameworkSummary { return m.frameworkSummary(rows[i], ranks[rows[i]]) })
}

// OfferView is one outstanding offer.
type OfferView struct {
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	Framework string    `json:"framework"`
	AgentID   string    `json:"agentID"`
	Node      string    `json:"node"`
	Resources Resources `json:"resources,omitempty"`
	// Left is what its tasks have left of it.
	Left    Resources `json:"left,omitempty"`
	Created time.Time `json:"created"`
}

func (m *model) offerView(i int) OfferView {
	o := &m.offers[i]
	return OfferView{Namespace: o.obj.Namespace, Name: o.obj.Name, Framework: o.framework.Name, AgentID: o.obj.Spec.AgentID,
		Node: o.obj.Spec.NodeName, Resources: fromList(o.obj.Spec.Resources.Core()), Left: m.resources(o.rest), Created: o.obj.CreationTimestamp.Time}
}

// Filter is a decline filter: the framework refuses the agent's offers
// until Until.
type Filter struct {
	AgentID string    `json:"agentID"`
	Node    string    `json:"node,omitempty"`
	Until   time.Time `json:"until"`
}

// FrameworkDetail is one framework's page.
type FrameworkDetail struct {
	FrameworkSummary
	// Conditions, Message and Result are the framework's status.
	Conditions []ConditionView `json:"conditions,omitempty"`
	Message    string          `json:"message,omitempty"`
	Offers     []OfferView     `json:"offers"`
	Filters    []Filter        `json:"filters"`
}

// ConditionView is a status condition.
type ConditionView struct {
	Type    string    `json:"type"`
	Status  string    `json:"status"`
	Reason  string    `json:"reason,omitempty"`
	Message string    `json:"message,omitempty"`
	Since   time.Time `json:"since"`
}

// frameworkDetail is the page of framework ns/name, nil when the viewer
// may not see it or it does not exist (the same answer, so that a viewer
// learns nothing of another namespace).
func frameworkDetail(m *model, a *access, ns, name string, filters func() []Filter) *FrameworkDetail {
	i, ok := m.frameworkIndex[key(ns, name)]
	if !ok || !a.sees(ns) {
		return nil
	}
	_, ranks := visibleFrameworks(m, a)
	f := &m.frameworks[i]
	d := &FrameworkDetail{FrameworkSummary: m.frameworkSummary(i, ranks[i]), Message: f.obj.Status.Message, Offers: []OfferView{}, Filters: filters()}
	for _, c := range f.obj.Status.Conditions {
		d.Conditions = append(d.Conditions, ConditionView{Type: c.Type, Status: string(c.Status), Reason: c.Reason, Message: c.Message, Since: c.LastTransitionTime.Time})
	}
	for _, o := range f.offers {
		d.Offers = append(d.Offers, m.offerView(o))
	}
	for j := range d.Filters {
		if ai, ok := m.agentByID[d.Filters[j].AgentID]; ok {
			d.Filters[j].Node = m.agents[ai].obj.Name
		}
	}
	return d
}

// AgentSummary is one agent in the list.
type AgentSummary struct {
	Name    string `json:"name"`
	AgentID string `json:"agentID,omitempty"`
	Phase   string `json:"phase"`
	// Total, Allocated, Offered and Free are its resources as the last
	// cycle saw them (Free only for an active agent).
	Total     Resources `json:"total,omitempty"`
	Allocated Resources `json:"allocated,omitempty"`
	Offered   Resources `json:"offered,omitempty"`
	Free      Resources `json:"free,omitempty"`
	// Tasks counts the viewer's tasks on it.
	Tasks int `json:"tasks"`
}

func (m *model) agentSummary(i int, a *access) AgentSummary {
	r := &m.agents[i]
	n := 0
	for _, t := range m.tasksByAgent[r.obj.Status.AgentID] {
		if a.sees(m.tasks[t].obj.Namespace) {
			n++
		}
	}
	return AgentSummary{Name: r.obj.Name, AgentID: r.obj.Status.AgentID, Phase: phaseOr(string(r.obj.Status.Phase), "Registering"),
		Total: m.resources(r.total), Allocated: m.resources(r.used), Offered: m.resources(r.offered), Free: m.resources(r.free), Tasks: n}
}

// listAgents is page p of the agents whose name or agentID holds q; only
// for a viewer who may list agents (the caller checks).
func listAgents(m *model, a *access, q string, p int) Page[AgentSummary] {
	var rows []int
	for i, r := range m.agents {
		if q == "" || strings.Contains(r.obj.Name, q) || strings.Contains(r.obj.Status.AgentID, q) {
			rows = append(rows, i)
		}
	}
	return paginate(len(rows), p, func(i int) AgentSummary { return m.agentSummary(rows[i], a) })
}

// AgentDetail is one agent's page: the viewer's tasks and offers on it,
// and what the viewer's frameworks hold of it.
type AgentDetail struct {
	AgentSummary
	Conditions []ConditionView `json:"conditions,omitempty"`
	// TasksByFramework is what the live tasks of each of the viewer's
	// frameworks ask for on this agent (their executors' resources
	// aside), by namespace/name.
	TasksByFramework map[string]Resources `json:"tasksByFramework"`
	Offers           []OfferView          `json:"offers"`
	// Tasks is the first page of the viewer's tasks on the agent; the
	// tasks list filtered by agent pages further.
	TaskPage Page[TaskSummary] `json:"taskPage"`
}

// agentDetail is agent name's page, nil when it does not exist.
func agentDetail(m *model, a *access, name string) *AgentDetail {
	i, ok := m.agentIndex[name]
	if !ok {
		return nil
	}
	r := &m.agents[i]
	d := &AgentDetail{AgentSummary: m.agentSummary(i, a), TasksByFramework: map[string]Resources{}, Offers: []OfferView{}}
	for _, c := range r.obj.Status.Conditions {
		d.Conditions = append(d.Conditions, ConditionView{Type: c.Type, Status: string(c.Status), Reason: c.Reason, Message: c.Message, Since: c.LastTransitionTime.Time})
	}
	for _, o := range r.offers {
		if a.sees(m.offers[o].obj.Namespace) {
			d.Offers = append(d.Offers, m.offerView(o))
		}
	}
	byFw := map[string]corev1.ResourceList{}
	for _, ti := range m.tasksByAgent[r.obj.Status.AgentID] {
		t := m.tasks[ti].obj
		if !a.sees(t.Namespace) || t.Status.State == "" || t.Status.State.IsTerminal() {
			continue
		}
		k := t.Namespace + "/" + string(t.Spec.Framework)
		byFw[k] = resources.Add(byFw[k], t.Spec.Resources.Core())
	}
	for k, rl := range byFw {
		d.TasksByFramework[k] = fromList(rl)
	}
	d.TaskPage = listTasks(m, a, TaskQuery{Agent: r.obj.Status.AgentID, Page: 1})
	return d
}
