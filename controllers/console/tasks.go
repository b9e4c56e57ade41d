package console

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"strings"
	"time"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// TaskQuery selects tasks: each set field must match. Search matches a
// part of the namespace/name.
type TaskQuery struct {
	Search    string
	Namespace string
	Framework string
	State     string
	Agent     string
	Page      int
}

// TaskSummary is one task in a list.
type TaskSummary struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Framework string `json:"framework"`
	// State is the Mesos state, PENDING before admission.
	State   string `json:"state"`
	Reason  string `json:"reason,omitempty"`
	Source  string `json:"source,omitempty"`
	Message string `json:"message,omitempty"`
	AgentID string `json:"agentID,omitempty"`
	Node    string `json:"node,omitempty"`
	// Updated is when its status last changed.
	Updated *time.Time `json:"updated,omitempty"`
}

func taskSummary(t *kmv1.Task) TaskSummary {
	s := TaskSummary{Namespace: t.Namespace, Name: t.Name, Framework: string(t.Spec.Framework), State: stateName(t.Status.State),
		Reason: string(t.Status.Reason), Source: string(t.Status.Source), Message: t.Status.Message,
		AgentID: taskRow{obj: t}.agentID(), Node: t.Status.NodeName}
	if u := t.Status.LastUpdateTime; u != nil {
		s.Updated = &u.Time
	}
	return s
}

// matches reports whether t is one q asks for.
func (q TaskQuery) matches(t *kmv1.Task) bool {
	switch {
	case q.Namespace != "" && t.Namespace != q.Namespace,
		q.Framework != "" && string(t.Spec.Framework) != q.Framework,
		q.State != "" && stateName(t.Status.State) != q.State,
		q.Agent != "" && taskRow{obj: t}.agentID() != q.Agent && t.Status.NodeName != q.Agent:
		return false
	}
	return q.Search == "" || strings.Contains(t.Namespace+"/"+t.Name, q.Search)
}

// listTasks is the page of the viewer's tasks that q selects, by
// namespace and name. A query by agent reads that agent's tasks only.
func listTasks(m *model, a *access, q TaskQuery) Page[TaskSummary] {
	var rows []int
	pick := func(i int) {
		t := m.tasks[i].obj
		if a.sees(t.Namespace) && q.matches(t) {
			rows = append(rows, i)
		}
	}
	if ids, ok := m.tasksOnAgent(q.Agent); ok {
		for _, i := range ids {
			pick(i)
		}
	} else {
		for i := range m.tasks {
			pick(i)
		}
	}
	return paginate(len(rows), q.Page, func(i int) TaskSummary { return taskSummary(m.tasks[rows[i]].obj) })
}

// tasksOnAgent returns the task rows of the agent named by agentID or
// node name, when agent is set.
func (m *model) tasksOnAgent(agent string) ([]int, bool) {
	if agent == "" {
		return nil, false
	}
	if i, ok := m.agentIndex[agent]; ok && m.agents[i].obj.Status.AgentID != "" {
		return m.tasksByAgent[m.agents[i].obj.Status.AgentID], true
	}
	return m.tasksByAgent[agent], true
}

// Transition is one step of a task's history, from its status times: no
// history is stored beyond them.
type Transition struct {
	// Event is "staged", "started", "completed" or "updated" (the last
	// status update).
	Event string    `json:"event"`
	At    time.Time `json:"at"`
	// State, Reason, Source and Message are those of the last update,
	// given with the step they belong to (the last).
	State   string `json:"state,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Source  string `json:"source,omitempty"`
	Message string `json:"message,omitempty"`
}

// TaskDetail is one task's page.
type TaskDetail struct {
	TaskSummary
	ExecutorID string       `json:"executorID,omitempty"`
	Pod        string       `json:"pod,omitempty"`
	Healthy    *bool        `json:"healthy,omitempty"`
	Resources  Resources    `json:"resources,omitempty"`
	Offers     []string     `json:"offers,omitempty"`
	Kill       bool         `json:"killRequested,omitempty"`
	History    []Transition `json:"history"`
}

// taskDetail is the page of task ns/name, nil when the viewer may not see
// it or it does not exist.
func taskDetail(m *model, a *access, ns, name string) *TaskDetail {
	t := m.task(ns, name)
	if t == nil || !a.sees(ns) {
		return nil
	}
	st := &t.Status
	d := &TaskDetail{TaskSummary: taskSummary(t), ExecutorID: st.ExecutorID, Pod: st.PodName, Healthy: st.Healthy,
		Resources: fromList(t.Spec.Resources.Core()), Offers: t.Spec.OfferIDs, Kill: t.Spec.Kill, History: []Transition{}}
	add := func(event string, at *metav1.Time) {
		if at != nil {
			d.History = append(d.History, Transition{Event: event, At: at.Time})
		}
	}
	add("staged", st.StagingTime)
	add("started", st.StartTime)
	add("completed", st.CompletionTime)
	add("updated", st.LastUpdateTime)
	if n := len(d.History); n > 0 {
		last := &d.History[n-1]
		last.State, last.Reason, last.Source, last.Message = stateName(st.State), string(st.Reason), string(st.Source), st.Message
	}
	return d
}

// task finds a task by key, nil when there is none.
func (m *model) task(ns, name string) *kmv1.Task {
	lo, hi := 0, len(m.tasks)
	for lo < hi {
		mid := (lo + hi) / 2
		t := m.tasks[mid].obj
		if cmpKey(t.Namespace, t.Name, ns, name) < 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(m.tasks) && m.tasks[lo].obj.Namespace == ns && m.tasks[lo].obj.Name == name {
		return m.tasks[lo].obj
	}
	return nil
}
