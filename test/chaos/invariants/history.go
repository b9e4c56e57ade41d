package invariants

import (
	"sort"
	"strconv"

	"github.com/kubemesos/kubemesos/test/chaos/record"
)

// Orders of a record (Report.OrderedBy).
const (
	orderResourceVersion = "resourceVersion"
	orderTimeSeen        = "time seen"
)

// item is one object entry of the record, with its place.
type item struct {
	e *record.Entry
	// idx is the entry's line in the record, from 0: the tie-break.
	idx int
	// rv is the resourceVersion as a number, when it is one.
	rv uint64
}

// history is a record sorted out: every object's entries in order, by
// resourceVersion or by time seen (see the package comment).
type history struct {
	byRV bool
	// objects are the Task, Agent, Framework and Lease entries, in order.
	objects []item
	// tasks are each task's entries by taskKey, in order; taskKeys in
	// the order of their first entries.
	tasks    map[string][]item
	taskKeys []string
	// agents are each Agent's entries by name, in order.
	agents map[string][]item
	// frameworks are each Framework's entries by namespace/name, in order.
	frameworks map[string][]item
	leases     []item
	// expects are the Expect entries by framework namespace/name (the
	// last one of each wins), expectKeys in record order.
	expects    map[string]*record.Entry
	expectKeys []string
}

func newHistory(entries []record.Entry) *history {
	h := &history{byRV: true, tasks: map[string][]item{}, agents: map[string][]item{}, frameworks: map[string][]item{},
		expects: map[string]*record.Entry{}}
	for i := range entries {
		e := &entries[i]
		switch e.Kind {
		case record.KindTask, record.KindAgent, record.KindFramework, record.KindLease:
			it := item{e: e, idx: i}
			rv, err := strconv.ParseUint(e.ResourceVersion, 10, 64)
			if err != nil {
				h.byRV = false
			}
			it.rv = rv
			h.objects = append(h.objects, it)
		case record.KindExpect:
			if e.Expect == nil {
				continue
			}
			k := e.Namespace + "/" + e.Name
			if _, seen := h.expects[k]; !seen {
				h.expectKeys = append(h.expectKeys, k)
			}
			h.expects[k] = e
		}
	}
	sort.SliceStable(h.objects, func(i, j int) bool { return h.less(h.objects[i], h.objects[j]) })
	for _, it := range h.objects {
		e := it.e
		switch {
		case e.Kind == record.KindTask && e.Task != nil:
			k := taskKey(e)
			if _, seen := h.tasks[k]; !seen {
				h.taskKeys = append(h.taskKeys, k)
			}
			h.tasks[k] = append(h.tasks[k], it)
		case e.Kind == record.KindAgent && e.Agent != nil:
			h.agents[e.Name] = append(h.agents[e.Name], it)
		case e.Kind == record.KindFramework && e.Framework != nil:
			k := e.Namespace + "/" + e.Name
			h.frameworks[k] = append(h.frameworks[k], it)
		case e.Kind == record.KindLease && e.Lease != nil:
			h.leases = append(h.leases, it)
		}
	}
	return h
}

// less orders a before b: by resourceVersion when every entry has a
// numeric one, else by time seen; then by place in the record.
func (h *history) less(a, b item) bool {
	if h.byRV {
		if a.rv != b.rv {
			return a.rv < b.rv
		}
	} else if !a.e.At.Equal(b.e.At) {
		return a.e.At.Before(b.e.At)
	}
	return a.idx < b.idx
}

// later reports whether a happened strictly after b. Entries of one
// resourceVersion (or one time seen) happened at once.
func (h *history) later(a, b item) bool {
	if h.byRV {
		return a.rv > b.rv
	}
	return a.e.At.After(b.e.At)
}

func (h *history) orderName() string {
	if h.byRV {
		return orderResourceVersion
	}
	return orderTimeSeen
}

// transitions counts the task state changes, each task's first state
// included.
func (h *history) transitions() int {
	n := 0
	for _, k := range h.taskKeys {
		prev := ""
		for _, it := range h.tasks[k] {
			if s := it.e.Task.State; s != prev {
				if s != "" {
					n++
				}
				prev = s
			}
		}
	}
	return n
}

func (h *history) agentNames() int { return len(h.agents) }

// agentIDs counts the distinct agentIDs the Agents were given.
func (h *history) agentIDs() int {
	ids := map[string]bool{}
	for _, its := range h.agents {
		for _, it := range its {
			if id := it.e.Agent.AgentID; id != "" {
				ids[id] = true
			}
		}
	}
	return len(ids)
}

// tasksOf returns the keys of the tasks of framework ns/name, in order.
func (h *history) tasksOf(ns, framework string) []string {
	var out []string
	for _, k := range h.taskKeys {
		e := h.tasks[k][0].e
		if e.Namespace == ns && e.Task.Framework == framework {
			out = append(out, k)
		}
	}
	return out
}

// lastFramework returns the last state seen of Framework ns/name.
func (h *history) lastFramework(key string) (item, bool) {
	its := h.frameworks[key]
	if len(its) == 0 {
		return item{}, false
	}
	return its[len(its)-1], true
}

// taskKey identifies a task: its UID, since a task deleted and created
// again under its name is another task; its name when the record has no
// UID.
func taskKey(e *record.Entry) string {
	if e.UID != "" {
		return e.UID
	}
	return e.Namespace + "/" + e.Name
}

func taskSubject(e *record.Entry) string {
	s := "task " + e.Namespace + "/" + e.Name
	if e.UID != "" {
		s += " (" + e.UID + ")"
	}
	return s
}

func stateOrNone(s string) string {
	if s == "" {
		return "no state"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// sortedKeys returns m's keys, sorted.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
