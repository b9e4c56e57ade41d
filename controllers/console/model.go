package console

import (
	"cmp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers"
	"github.com/kubemesos/kubemesos/controllers/allocator"
)

// Resources are amounts by resource name, as Kubernetes writes them
// ("cpu": "1500m"); zero amounts are left out.
type Resources map[string]string

// model is the console's view of one allocation cycle, built at most once
// per cycle and shared, read only, by every request until the next. Its
// strings and objects are the informers'; nothing here is copied per
// request.
type model struct {
	seq uint64
	at  time.Time
	// agents by name; frameworks and tasks by namespace, then name.
	agents     []agentRow
	frameworks []frameworkRow
	tasks      []taskRow
	offers     []offerRow
	// namespaces are those of the frameworks and tasks, sorted.
	namespaces []string
	// roles are the roles of the registered frameworks and of the weights,
	// sorted; weights are the operator's role weights.
	roles   []string
	weights map[string]float64
	// total is the active agents' total, the basis of every share.
	total allocator.Vector
	names *allocator.Names
	// frameworkIndex and agentIndex find rows by key.
	frameworkIndex map[types.NamespacedName]int
	agentIndex     map[string]int
	agentByID      map[string]int
	// tasksByAgent holds each agent's task rows (by agentID).
	tasksByAgent map[string][]int
}

// agentRow is one agent.
type agentRow struct {
	obj *kmv1.Agent
	// active agents take part in allocation; only they have these.
	active               bool
	total, used, offered allocator.Vector
	free                 allocator.Vector
	offers               []int // offer rows
}

// frameworkRow is one framework.
type frameworkRow struct {
	obj *kmv1.Framework
	// rank is the framework's place in the cycle's DRF order (0 first),
	// -1 when it takes no part (unregistered or ineligible).
	rank int
	// share is its dominant share as the cycle's DRF ranked it.
	share     float64
	allocated allocator.Vector
	offers    []int // offer rows
	filtered  int   // agents it refuses now
}

// taskRow is one task, from the master's slim cache.
type taskRow struct {
	obj *kmv1.Task
}

// offerRow is one outstanding offer.
type offerRow struct {
	obj       *kmv1.Offer
	framework types.NamespacedName
	rest      allocator.Vector
}

// buildModel builds the model of cycle c, with the cached tasks and the
// count of agents each framework refuses.
func buildModel(c *controllers.Cycle, tasks []*kmv1.Task, filtered map[types.NamespacedName]int) *model {
	snap, in := c.Snapshot, c.Input
	m := &model{
		seq: c.Seq, at: c.At, names: in.Names, weights: in.Weights,
		frameworkIndex: map[types.NamespacedName]int{}, agentIndex: map[string]int{}, agentByID: map[string]int{},
		tasksByAgent: map[string][]int{},
	}
	m.total = in.Names.Zero()
	for i := range in.Agents {
		m.total = m.total.Add(in.Agents[i].Total)
	}
	// Agents: every agent of the snapshot; the active ones as the
	// allocator saw them (offers just made included).
	active := make(map[string]int, len(in.Agents))
	for i := range in.Agents {
		active[in.Agents[i].ID] = i
	}
	for _, a := range snap.Agents {
		r := agentRow{obj: a.Obj, total: a.Total, used: a.Used}
		if i, ok := active[a.Obj.Status.AgentID]; ok && a.Obj.Status.AgentID != "" {
			ia := &in.Agents[i]
			r.active, r.used, r.offered, r.free = true, ia.Used, ia.Offered, ia.Free()
		}
		m.agents = append(m.agents, r)
	}
	slices.SortFunc(m.agents, func(a, b agentRow) int { return strings.Compare(a.obj.Name, b.obj.Name) })
	for i, a := range m.agents {
		m.agentIndex[a.obj.Name] = i
		if a.obj.Status.AgentID != "" {
			m.agentByID[a.obj.Status.AgentID] = i
		}
	}
	// Frameworks: every framework of the snapshot, with the cycle's
	// allocation for those that took part.
	nsSet := map[string]bool{}
	roleSet := map[string]bool{}
	for r := range in.Weights {
		roleSet[r] = true
	}
	for slot, f := range snap.Frameworks {
		if f.Obj == nil {
			continue
		}
		r := frameworkRow{obj: f.Obj, rank: -1, allocated: f.Used, filtered: filtered[key(f.Obj.Namespace, f.Obj.Name)]}
		if slot < len(c.Frameworks) && c.Frameworks[slot] != nil {
			r.allocated = in.Frameworks[slot].Allocated
			r.share = allocator.DominantShare(r.allocated, m.total)
		}
		m.frameworks = append(m.frameworks, r)
		nsSet[f.Obj.Namespace] = true
		roleSet[roleOf(f.Obj)] = true
	}
	slices.SortFunc(m.frameworks, func(a, b frameworkRow) int { return cmpKey(a.obj.Namespace, a.obj.Name, b.obj.Namespace, b.obj.Name) })
	for i, f := range m.frameworks {
		m.frameworkIndex[key(f.obj.Namespace, f.obj.Name)] = i
	}
	m.rankFrameworks(c)
	// Offers, on their agents and frameworks.
	for _, o := range snap.Offers {
		if o.Obj == nil || o.Obj.DeletionTimestamp != nil {
			continue
		}
		m.offers = append(m.offers, offerRow{obj: o.Obj, framework: o.Framework, rest: o.Rest})
	}
	slices.SortFunc(m.offers, func(a, b offerRow) int { return cmpKey(a.obj.Namespace, a.obj.Name, b.obj.Namespace, b.obj.Name) })
	for i, o := range m.offers {
		if fi, ok := m.frameworkIndex[o.framework]; ok {
			m.frameworks[fi].offers = append(m.frameworks[fi].offers, i)
		}
		if ai, ok := m.agentByID[o.obj.Spec.AgentID]; ok {
			m.agents[ai].offers = append(m.agents[ai].offers, i)
		}
	}
	// Tasks.
	m.tasks = make([]taskRow, 0, len(tasks))
	for _, t := range tasks {
		m.tasks = append(m.tasks, taskRow{obj: t})
		nsSet[t.Namespace] = true
	}
	slices.SortFunc(m.tasks, func(a, b taskRow) int { return cmpKey(a.obj.Namespace, a.obj.Name, b.obj.Namespace, b.obj.Name) })
	for i, t := range m.tasks {
		if id := t.agentID(); id != "" {
			m.tasksByAgent[id] = append(m.tasksByAgent[id], i)
		}
	}
	for ns := range nsSet {
		m.namespaces = append(m.namespaces, ns)
	}
	slices.Sort(m.namespaces)
	for r := range roleSet {
		m.roles = append(m.roles, r)
	}
	slices.Sort(m.roles)
	return m
}

// rankFrameworks sets each framework's place in the cycle's DRF order:
// roles by weighted dominant share, frameworks within a role by dominant
// share, names breaking ties, eligible frameworks only, as the allocator
// ranks them at the start of a cycle.
func (m *model) rankFrameworks(c *controllers.Cycle) {
	type roleRank struct {
		name    string
		share   float64
		members []int // model framework rows
	}
	in := c.Input
	roles := map[string]*roleRank{}
	var order []*roleRank
	roleAlloc := map[string]allocator.Vector{}
	for slot, fw := range c.Frameworks {
		if fw == nil {
			continue
		}
		f := &in.Frameworks[slot]
		roleAlloc[f.Role] = roleAlloc[f.Role].Add(f.Allocated)
		if !f.Eligible {
			continue
		}
		r := roles[f.Role]
		if r == nil {
			r = &roleRank{name: f.Role}
			roles[f.Role] = r
			order = append(order, r)
		}
		if i, ok := m.frameworkIndex[key(fw.Namespace, fw.Name)]; ok {
			r.members = append(r.members, i)
		}
	}
	for _, r := range order {
		r.share = allocator.DominantShare(roleAlloc[r.name], m.total) / allocator.Weight(in.Weights, r.name)
		slices.SortFunc(r.members, func(a, b int) int {
			fa, fb := &m.frameworks[a], &m.frameworks[b]
			if c := cmp.Compare(fa.share, fb.share); c != 0 {
				return c
			}
			return strings.Compare(fa.obj.Namespace+"/"+fa.obj.Name, fb.obj.Namespace+"/"+fb.obj.Name)
		})
	}
	slices.SortFunc(order, func(a, b *roleRank) int {
		if c := cmp.Compare(a.share, b.share); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	rank := 0
	for _, r := range order {
		for _, i := range r.members {
			m.frameworks[i].rank = rank
			rank++
		}
	}
}

// agentID is the agent the task runs on or was placed on.
func (t taskRow) agentID() string {
	if t.obj.Status.AgentID != "" {
		return t.obj.Status.AgentID
	}
	return t.obj.Spec.AgentID
}

// roleOf is a framework's role, "*" when it names none.
func roleOf(fw *kmv1.Framework) string {
	if fw.Spec.Role == "" {
		return kmv1.DefaultRole
	}
	return fw.Spec.Role
}

func key(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}

func cmpKey(ans, a, bns, b string) int {
	if c := strings.Compare(ans, bns); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// resources converts a vector of the model's names.
func (m *model) resources(v allocator.Vector) Resources {
	if v.IsZero() {
		return nil
	}
	return fromList(m.names.ResourceList(v))
}

func fromList(rl corev1.ResourceList) Resources {
	out := make(Resources, len(rl))
	for n, q := range rl {
		if !q.IsZero() {
			out[string(n)] = q.String()
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
