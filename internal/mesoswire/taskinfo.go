package mesoswire

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/proto"
	"k8s.io/utils/ptr"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/mesosjson"
)

// What a Task keeps of its TaskInfo beyond its spec, for kubectl users and
// for the executor, which gets it back in LAUNCH and LAUNCH_GROUP as a
// Mesos agent gives it.

// AnnotationTaskLabels on a Task keeps its TaskInfo.labels, as a JSON list
// of {"key", "value"}: Mesos labels are any strings, which Kubernetes
// labels cannot all hold.
const AnnotationTaskLabels = "kubemesos.io/mesos-labels"

// AnnotationExecutorTask on a Task of a custom executor keeps the parts of
// its TaskInfo that only the executor reads and a Task has no field for:
// its name when it is not its ID, and the command of a task of a task
// group (a custom executor runs the tasks of a group as it sees fit), in
// Mesos's JSON.
const AnnotationExecutorTask = "kubemesos.io/mesos-executor-task"

// MaxTaskLabelsBytes bounds AnnotationTaskLabels.
const MaxTaskLabelsBytes = 8 << 10

// MaxExecutorTaskBytes bounds AnnotationExecutorTask.
const MaxExecutorTaskBytes = 32 << 10

// taskLabel is one label of AnnotationTaskLabels.
type taskLabel struct {
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
}

// TaskLabelsAnnotation is the value of AnnotationTaskLabels for ls, or an
// error when it would be longer than MaxTaskLabelsBytes.
func TaskLabelsAnnotation(ls []*mesosv1.Label) (string, error) {
	out := make([]taskLabel, 0, len(ls))
	for _, l := range ls {
		out = append(out, taskLabel{Key: l.GetKey(), Value: l.GetValue()})
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("encoding a task's labels: %w", err)
	}
	if len(b) > MaxTaskLabelsBytes {
		return "", fmt.Errorf("kubemesos keeps at most %d bytes of a task's labels; these take %d", MaxTaskLabelsBytes, len(b))
	}
	return string(b), nil
}

// ParseTaskLabels reads a value of AnnotationTaskLabels.
func ParseTaskLabels(v string) ([]*mesosv1.Label, error) {
	if len(v) > MaxTaskLabelsBytes {
		return nil, fmt.Errorf("%s is %d bytes; at most %d are kept", AnnotationTaskLabels, len(v), MaxTaskLabelsBytes)
	}
	var in []taskLabel
	if err := json.Unmarshal([]byte(v), &in); err != nil {
		return nil, fmt.Errorf("%s is not a JSON list of labels: %w", AnnotationTaskLabels, err)
	}
	out := make([]*mesosv1.Label, 0, len(in))
	for _, l := range in {
		label := &mesosv1.Label{Key: ptr.To(l.Key)}
		if l.Value != "" {
			label.Value = ptr.To(l.Value)
		}
		out = append(out, label)
	}
	return out, nil
}

// ExecutorTaskAnnotation is the value of AnnotationExecutorTask for a task
// launched as ti on a custom executor ("" when there is nothing to keep:
// its name is its ID and it has no command), or an error when it would be
// longer than MaxExecutorTaskBytes.
func ExecutorTaskAnnotation(ti *mesosv1.TaskInfo) (string, error) {
	kept := &mesosv1.TaskInfo{Command: ti.GetCommand()}
	if ti.Name != nil && ti.GetName() != ti.GetTaskId().GetValue() {
		kept.Name = ti.Name
	}
	if kept.Name == nil && kept.Command == nil {
		return "", nil
	}
	b, err := mesosjson.Marshal(kept)
	if err != nil {
		return "", fmt.Errorf("encoding what an executor reads of a task: %w", err)
	}
	if len(b) > MaxExecutorTaskBytes {
		return "", fmt.Errorf("kubemesos keeps at most %d bytes of a task's name and command for its executor; these take %d", MaxExecutorTaskBytes, len(b))
	}
	return string(b), nil
}

// ParseExecutorTask reads a value of AnnotationExecutorTask: a TaskInfo
// with at most a name and a command.
func ParseExecutorTask(v string) (*mesosv1.TaskInfo, error) {
	if len(v) > MaxExecutorTaskBytes {
		return nil, fmt.Errorf("%s is %d bytes; at most %d are kept", AnnotationExecutorTask, len(v), MaxExecutorTaskBytes)
	}
	// The required fields of a TaskInfo are not kept: decode into a
	// message of the two kept fields' shape.
	var raw struct {
		Name    *string         `json:"name"`
		Command json.RawMessage `json:"command"`
	}
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		return nil, fmt.Errorf("%s is not a JSON object: %w", AnnotationExecutorTask, err)
	}
	out := &mesosv1.TaskInfo{Name: raw.Name}
	if len(raw.Command) > 0 && string(raw.Command) != "null" {
		out.Command = &mesosv1.CommandInfo{}
		if err := mesosjson.Unmarshal(raw.Command, out.Command); err != nil {
			return nil, fmt.Errorf("%s has a command that is not a Mesos CommandInfo: %w", AnnotationExecutorTask, err)
		}
	}
	return out, nil
}

// AddExecutorView adds to ti, the TaskInfo of t that an executor gets,
// what t keeps of the TaskInfo it was launched with: its name, labels and
// command. An annotation that does not parse is an error, and ti keeps
// what it has.
func AddExecutorView(t *kmv1.Task, ti *mesosv1.TaskInfo) error {
	var labels []*mesosv1.Label
	if v, ok := t.Annotations[AnnotationTaskLabels]; ok {
		ls, err := ParseTaskLabels(v)
		if err != nil {
			return err
		}
		labels = ls
	}
	var kept *mesosv1.TaskInfo
	if v, ok := t.Annotations[AnnotationExecutorTask]; ok {
		k, err := ParseExecutorTask(v)
		if err != nil {
			return err
		}
		kept = k
	}
	if len(labels) > 0 {
		ti.Labels = &mesosv1.Labels{Labels: labels}
	}
	if kept != nil {
		if kept.Name != nil {
			ti.Name = kept.Name
		}
		if kept.Command != nil {
			ti.Command = proto.Clone(kept.Command).(*mesosv1.CommandInfo)
		}
	}
	return nil
}
