package agent

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

// TestSortGroup: a task group is delivered once every task is staged on
// the agent, with the tasks its executor does not have yet; tasks that are
// elsewhere, not staged, or of another group are missing; one that ended
// before delivery stops the group, and says whether it was killed.
func TestSortGroup(t *testing.T) {
	const group = `["a","b","c"]`
	member := func(name string, state kmv1.TaskState, change func(*kmv1.Task)) *kmv1.Task {
		tk := b.MakeTask(name, "ns").Executor("ex", "img").Obj()
		tk.UID = types.UID("uid-" + name)
		tk.Annotations = map[string]string{mesoswire.AnnotationTaskGroupTasks: group}
		tk.Status.State, tk.Status.AgentID = state, "agent-1"
		if change != nil {
			change(tk)
		}
		return tk
	}
	ids := []string{"a", "b", "c"}
	none := func(*kmv1.Task) bool { return false }
	cases := []struct {
		name     string
		members  []*kmv1.Task
		launched func(*kmv1.Task) bool
		deliver  []string
		missing  []string
		ended    []string
		killed   bool
	}{
		{name: "all staged", members: []*kmv1.Task{member("a", kmv1.TaskStaging, nil), member("b", kmv1.TaskStaging, nil), member("c", kmv1.TaskStaging, nil)},
			launched: none, deliver: []string{"a", "b", "c"}},
		{name: "one not in the cache, one not admitted, one on an old agentID", members: []*kmv1.Task{
			nil, member("b", "", nil), member("c", kmv1.TaskStaging, func(tk *kmv1.Task) { tk.Status.AgentID = "agent-0" })},
			launched: none, missing: []string{"a", "b", "c"}},
		{name: "a task of the same name in another group", members: []*kmv1.Task{member("a", kmv1.TaskStaging, nil), member("b", kmv1.TaskStaging, nil),
			member("c", kmv1.TaskStaging, func(tk *kmv1.Task) { tk.Annotations[mesoswire.AnnotationTaskGroupTasks] = `["c"]` })},
			launched: none, deliver: []string{"a", "b"}, missing: []string{"c"}},
		{name: "killed before delivery", members: []*kmv1.Task{member("a", kmv1.TaskStaging, nil),
			member("b", kmv1.TaskKilled, func(tk *kmv1.Task) {
				tk.Status.Source, tk.Status.Reason = kmv1.SourceAgent, kmv1.ReasonTaskKilledDuringLaunch
			}),
			member("c", kmv1.TaskStaging, nil)},
			launched: none, deliver: []string{"a", "c"}, ended: []string{"b (TASK_KILLED)"}, killed: true},
		{name: "a kill asked before delivery", members: []*kmv1.Task{member("a", kmv1.TaskStaging, nil),
			member("b", kmv1.TaskStaging, func(tk *kmv1.Task) { tk.Spec.Kill = true }), member("c", kmv1.TaskStaging, nil)},
			launched: none, deliver: []string{"a", "c"}, killed: true},
		{name: "refused by the agent", members: []*kmv1.Task{member("a", kmv1.TaskError, func(tk *kmv1.Task) { tk.Status.Source = kmv1.SourceAgent }),
			member("b", kmv1.TaskStaging, nil), member("c", kmv1.TaskStaging, nil)},
			launched: none, deliver: []string{"b", "c"}, ended: []string{"a (TASK_ERROR)"}},
		{name: "delivered before: ended, running, or held by the executor", members: []*kmv1.Task{
			member("a", kmv1.TaskFinished, func(tk *kmv1.Task) { tk.Status.Source = kmv1.SourceExecutor }),
			member("b", kmv1.TaskRunning, nil), member("c", kmv1.TaskStaging, nil)},
			launched: func(tk *kmv1.Task) bool { return tk.Name == "c" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := sortGroup(ids, tc.members, group, "agent-1", tc.launched)
			var deliver []string
			for _, tk := range g.deliver {
				deliver = append(deliver, tk.Name)
			}
			if !slices.Equal(deliver, tc.deliver) || !slices.Equal(g.missing, tc.missing) || !slices.Equal(g.ended, tc.ended) || g.killed != tc.killed {
				t.Errorf("deliver %q missing %q ended %q killed %v; want %q %q %q %v", deliver, g.missing, g.ended, g.killed, tc.deliver, tc.missing, tc.ended, tc.killed)
			}
		})
	}
}
