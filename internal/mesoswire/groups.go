package mesoswire

import (
	"encoding/json"
	"fmt"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// LabelTaskGroup on a Task names the task group it was launched in with
// LAUNCH_GROUP: a digest of the framework ID, the agent and the group's
// task IDs, so that each group is its own (a framework may launch many
// groups on one executor ID, and on many agents).
const LabelTaskGroup = "kubemesos.io/mesos-task-group"

// AnnotationTaskGroupTasks on each Task of a task group launched on a
// custom executor (LAUNCH_GROUP) lists the Mesos task IDs of the whole
// group, in the group's order, as a JSON array of strings. The master sets
// it when it creates the Tasks; the agent reads it to send the executor the
// group as one LAUNCH_GROUP event once every task of the group is on the
// agent, as a Mesos agent does.
const AnnotationTaskGroupTasks = "kubemesos.io/mesos-task-group-tasks"

// MaxTaskGroupTasksBytes bounds the annotation AnnotationTaskGroupTasks (it
// is on every task of the group).
const MaxTaskGroupTasksBytes = 16 << 10

// TaskGroupAnnotation is the value of AnnotationTaskGroupTasks for a group
// of taskIDs, or an error when it would be longer than
// MaxTaskGroupTasksBytes.
func TaskGroupAnnotation(taskIDs []string) (string, error) {
	b, err := json.Marshal(taskIDs)
	if err != nil {
		return "", fmt.Errorf("encoding the task IDs of a task group: %w", err)
	}
	if len(b) > MaxTaskGroupTasksBytes {
		return "", fmt.Errorf("kubemesos keeps at most %d bytes of a task group's task IDs; these take %d", MaxTaskGroupTasksBytes, len(b))
	}
	return string(b), nil
}

// ParseTaskGroupTasks reads the value of AnnotationTaskGroupTasks: the
// group's Mesos task IDs, in its order, at least one, none empty or twice.
func ParseTaskGroupTasks(v string) ([]string, error) {
	if len(v) > MaxTaskGroupTasksBytes {
		return nil, fmt.Errorf("%s is %d bytes; at most %d are kept", AnnotationTaskGroupTasks, len(v), MaxTaskGroupTasksBytes)
	}
	var ids []string
	if err := json.Unmarshal([]byte(v), &ids); err != nil {
		return nil, fmt.Errorf("%s is not a JSON array of task IDs: %w", AnnotationTaskGroupTasks, err)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s names no task", AnnotationTaskGroupTasks)
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if id == "" || seen[id] {
			return nil, fmt.Errorf("%s names task %q empty or twice", AnnotationTaskGroupTasks, id)
		}
		seen[id] = true
	}
	return ids, nil
}

// TaskGroupTasks is the Mesos task IDs of the task group of t, in the
// group's order, when t was launched in a group on a custom executor; ok is
// false for any other task. A value that does not parse is an error.
func TaskGroupTasks(t *kmv1.Task) (ids []string, ok bool, err error) {
	v, ok := t.Annotations[AnnotationTaskGroupTasks]
	if !ok {
		return nil, false, nil
	}
	ids, err = ParseTaskGroupTasks(v)
	return ids, true, err
}
