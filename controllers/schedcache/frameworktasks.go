package schedcache

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers/allocator"
)

// FrameworkTasks is what the cache counts of one framework's Tasks, for
// the framework's status: kept as the informer's events arrive, so that
// the status costs no list of the framework's Tasks.
type FrameworkTasks struct {
	// Counts counts the tasks by state (tasks not yet admitted are left
	// out), as Framework status.tasks does.
	Counts kmv1.TaskCounts
	// Terminal is how many of the tasks have ended.
	Terminal int
	// Allocated is what the live tasks (admitted, not ended) take
	// themselves, their executors left out; nil when nothing.
	Allocated corev1.ResourceList
}

// taskState is what the cache remembers of every task.
type taskState struct {
	state     kmv1.TaskState
	framework types.NamespacedName
}

// frameworkUse is a framework's share of states and live.
type frameworkUse struct {
	// tasks counts its tasks in states, pending ones included: the entry
	// goes when it reaches zero.
	tasks     int
	counts    kmv1.TaskCounts
	terminal  int
	allocated allocator.Vector
}

// FrameworkTasks returns the counts of framework key's tasks; the zero
// FrameworkTasks when it has none.
func (c *Cache) FrameworkTasks(key types.NamespacedName) FrameworkTasks {
	c.mu.Lock()
	defer c.mu.Unlock()
	u := c.byFramework[key]
	if u == nil {
		return FrameworkTasks{}
	}
	out := FrameworkTasks{Counts: u.counts, Terminal: u.terminal}
	if !u.allocated.IsZero() {
		out.Allocated = c.names.ResourceList(u.allocated)
	}
	return out
}

// countState adds n (1 or -1) tasks of framework fw in state s. The
// caller holds the lock.
func (c *Cache) countState(fw types.NamespacedName, s kmv1.TaskState, n int) {
	u := c.byFramework[fw]
	if u == nil {
		u = &frameworkUse{}
		c.byFramework[fw] = u
	}
	u.tasks += n
	if p := countOf(&u.counts, s); p != nil {
		*p += int32(n)
	}
	if s.IsTerminal() {
		u.terminal += n
	}
	if u.tasks <= 0 {
		delete(c.byFramework, fw)
	}
}

// allocate adds (or, with sub, removes) live task t's own resources to its
// framework's. The caller holds the lock; t's state is counted.
func (c *Cache) allocate(t *task, sub bool) {
	u := c.byFramework[t.framework]
	if u == nil {
		return // cannot happen: a live task is counted in states
	}
	if sub {
		u.allocated = u.allocated.Sub(t.own)
	} else {
		u.allocated = u.allocated.Add(t.own)
	}
}

// countOf returns the field of c that counts state s, or nil for a state
// that is not counted ("", a task not yet admitted).
func countOf(c *kmv1.TaskCounts, s kmv1.TaskState) *int32 {
	switch s {
	case kmv1.TaskStaging:
		return &c.Staging
	case kmv1.TaskStarting:
		return &c.Starting
	case kmv1.TaskRunning:
		return &c.Running
	case kmv1.TaskKilling:
		return &c.Killing
	case kmv1.TaskFinished:
		return &c.Finished
	case kmv1.TaskFailed:
		return &c.Failed
	case kmv1.TaskKilled:
		return &c.Killed
	case kmv1.TaskError:
		return &c.Error
	case kmv1.TaskLost:
		return &c.Lost
	case kmv1.TaskDropped:
		return &c.Dropped
	}
	return nil
}
