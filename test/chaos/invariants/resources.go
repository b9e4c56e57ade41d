package invariants

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/test/chaos/record"
)

// quantities is a resource list as numbers.
type quantities map[string]resource.Quantity

// parseQuantities reads a record's resource list; it returns the
// resources it could not read by name, with why.
func parseQuantities(m map[string]string) (quantities, []string) {
	out := quantities{}
	var bad []string
	for k, v := range m {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s=%q (%v)", k, v, err))
			continue
		}
		out[k] = q
	}
	sort.Strings(bad)
	return out, bad
}

func (q quantities) add(o quantities) {
	for k, v := range o {
		s := q[k]
		s.Add(v)
		q[k] = s
	}
}

func (q quantities) sub(o quantities) {
	for k, v := range o {
		s := q[k]
		s.Sub(v)
		q[k] = s
	}
}

// over returns what q takes beyond total ("cpu 2500m of 2"), sorted; a
// resource that total lacks has none of it.
func (q quantities) over(total quantities) []string {
	var out []string
	for k, v := range q {
		t := total[k]
		if v.Cmp(t) > 0 {
			out = append(out, fmt.Sprintf("%s %s of %s", k, v.String(), t.String()))
		}
	}
	sort.Strings(out)
	return out
}

// executorKey is one custom executor on one agentID: the executor pod
// holds its resources once, however many tasks it runs.
type executorKey struct{ agentID, namespace, framework, executorID string }

// executorUse is how many live tasks an executor has, and the resources
// charged for it, those of the task that started the charge.
type executorUse struct {
	tasks     int
	resources quantities
}

// liveTask is what a live task takes.
type liveTask struct {
	agentID  string
	own      quantities
	executor executorKey
	execRes  quantities
}

// resourceReplay replays the record's Tasks and Agents.
type resourceReplay struct {
	// totals are each agentID's agent's resources (spec.resources) as
	// last seen, and names its agent's name.
	totals map[string]quantities
	names  map[string]string
	live   map[string]*liveTask
	used   map[string]quantities
	execs  map[executorKey]*executorUse
	// over marks the agentIDs whose live tasks take more than they have.
	over    map[string]bool
	unknown map[string]bool
	notes   *[]string
}

// checkAgentResources replays the Tasks and Agents in order and holds
// every agentID to its agent's resources (spec.resources) at every step:
// its live tasks (admitted, state set and not terminal, not deleted), each
// with its spec.resources, plus each custom executor's resources once while
// it has a live task there. That is the master's own rule for what a task
// takes (charge and hold in controllers/schedcache/schedcache.go); a task
// is live once the master staged it (admit in controllers/admission.go)
// and until it reaches a terminal state.
//
// A task admitted onto an agentID whose live tasks then take more than it
// has is a violation. An agent whose resources shrank below what its live
// tasks already held (the agent subtracts what other pods on its node
// request) is noted, not counted: the master cannot undo what it admitted
// before. Tasks on an agentID that no Agent entry carries cannot be judged
// and are noted.
func checkAgentResources(h *history, notes *[]string) (int, []Violation) {
	r := &resourceReplay{totals: map[string]quantities{}, names: map[string]string{}, live: map[string]*liveTask{},
		used: map[string]quantities{}, execs: map[executorKey]*executorUse{}, over: map[string]bool{}, unknown: map[string]bool{}, notes: notes}
	var out []Violation
	checked := 0
	for _, it := range h.objects {
		switch {
		case it.e.Agent != nil && it.e.Kind == record.KindAgent:
			r.agent(it.e)
		case it.e.Task != nil && it.e.Kind == record.KindTask:
			admitted, v := r.task(it.e)
			if admitted {
				checked++
			}
			if v != nil {
				out = append(out, *v)
			}
		}
	}
	if len(r.unknown) > 0 {
		ids := make([]string, 0, len(r.unknown))
		for id := range r.unknown {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		*notes = append(*notes, fmt.Sprintf("%s: tasks on agentIDs that no Agent entry carries were not held to any agent's resources: %s",
			AgentResourcesHeld, strings.Join(ids, ", ")))
	}
	return checked, out
}

func (r *resourceReplay) agent(e *record.Entry) {
	a := e.Agent
	if a.AgentID == "" || e.Type == record.Deleted {
		return
	}
	total, bad := parseQuantities(a.Total)
	if len(bad) > 0 {
		*r.notes = append(*r.notes, fmt.Sprintf("%s: agent %s (resourceVersion %s) has resources that are not quantities: %s",
			AgentResourcesHeld, e.Name, e.ResourceVersion, strings.Join(bad, ", ")))
	}
	r.totals[a.AgentID], r.names[a.AgentID] = total, e.Name
	if over := r.used[a.AgentID].over(total); len(over) > 0 && !r.over[a.AgentID] {
		*r.notes = append(*r.notes, fmt.Sprintf("%s: agent %s's resources shrank (resourceVersion %s) below what the live tasks of agentID %s held: %s",
			AgentResourcesHeld, e.Name, e.ResourceVersion, a.AgentID, strings.Join(over, ", ")))
		r.over[a.AgentID] = true
	} else if len(over) == 0 {
		r.over[a.AgentID] = false
	}
}

// task replays a Task entry: it reports whether the entry admitted the
// task onto an agent, and the violation that admission made, if any.
func (r *resourceReplay) task(e *record.Entry) (bool, *Violation) {
	k := taskKey(e)
	t := e.Task
	s := kmv1.TaskState(t.State)
	nowLive := s != "" && !s.IsTerminal() && e.Type != record.Deleted && t.AgentID != ""
	was := r.live[k]
	switch {
	case was != nil && !nowLive:
		r.release(k, was)
		return false, nil
	case was != nil || !nowLive:
		return false, nil
	}
	lt := &liveTask{agentID: t.AgentID}
	var bad []string
	lt.own, bad = parseQuantities(t.Resources)
	if t.Executor != "" {
		lt.executor = executorKey{agentID: t.AgentID, namespace: e.Namespace, framework: t.Framework, executorID: t.Executor}
		var badExec []string
		lt.execRes, badExec = parseQuantities(t.ExecutorResources)
		bad = append(bad, badExec...)
	}
	if len(bad) > 0 {
		*r.notes = append(*r.notes, fmt.Sprintf("%s: %s has resources that are not quantities, left out: %s",
			AgentResourcesHeld, taskSubject(e), strings.Join(bad, ", ")))
	}
	r.hold(k, lt)
	total, known := r.totals[t.AgentID]
	if !known {
		r.unknown[t.AgentID] = true
		return true, nil
	}
	over := r.used[t.AgentID].over(total)
	wasOver := r.over[t.AgentID]
	r.over[t.AgentID] = len(over) > 0
	if len(over) == 0 || wasOver {
		return true, nil
	}
	return true, &Violation{At: e.At, Subject: taskSubject(e), Message: fmt.Sprintf(
		"admitted (%s, resourceVersion %s) onto agentID %s of agent %s, whose live tasks then take %s",
		t.State, e.ResourceVersion, t.AgentID, r.names[t.AgentID], strings.Join(over, ", "))}
}

func (r *resourceReplay) hold(k string, lt *liveTask) {
	r.live[k] = lt
	used := r.used[lt.agentID]
	if used == nil {
		used = quantities{}
		r.used[lt.agentID] = used
	}
	used.add(lt.own)
	if lt.executor != (executorKey{}) {
		u := r.execs[lt.executor]
		if u == nil {
			u = &executorUse{resources: lt.execRes}
			r.execs[lt.executor] = u
			used.add(u.resources)
		}
		u.tasks++
	}
}

func (r *resourceReplay) release(k string, lt *liveTask) {
	delete(r.live, k)
	used := r.used[lt.agentID]
	used.sub(lt.own)
	if u := r.execs[lt.executor]; u != nil {
		if u.tasks--; u.tasks <= 0 {
			delete(r.execs, lt.executor)
			used.sub(u.resources)
		}
	}
	if total, ok := r.totals[lt.agentID]; ok && len(used.over(total)) == 0 {
		r.over[lt.agentID] = false
	}
}
