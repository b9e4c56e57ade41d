package mesoswire

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strings"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// AnnotationTaskID on a Task keeps the Mesos task ID it was launched with
// through the master's scheduler API; the Task's name derives from it
// (TaskName), and its spec.data is TaskInfo.data in base64.
const AnnotationTaskID = "kubemesos.io/mesos-task-id"

// taskNamePrefix bounds the part of a Task's name taken from its task ID.
const taskNamePrefix = 40

var notDNSRun = regexp.MustCompile(`[^a-z0-9]+`)

// TaskName is the name of the Task of a framework's Mesos task ID: a
// DNS-1123 form of the ID's start, "-", and 12 hex digits of the SHA-256 of
// the framework ID and the task ID, so that two IDs that read alike, or one
// ID in two frameworks of a namespace (Mesos task IDs are unique per
// framework), get different names.
func TaskName(frameworkID, taskID string) string {
	sum := sha256.Sum256([]byte(frameworkID + "/" + taskID))
	s := notDNSRun.ReplaceAllString(strings.ToLower(taskID), "-")
	if len(s) > taskNamePrefix {
		s = s[:taskNamePrefix]
	}
	s = strings.Trim(s, "-")
	if s == "" {
		s = "task"
	}
	return s + "-" + hex.EncodeToString(sum[:6])
}

// IsMesosTask reports whether t was launched through the master's
// scheduler API (it keeps its Mesos task ID).
func IsMesosTask(t *kmv1.Task) bool {
	_, ok := t.Annotations[AnnotationTaskID]
	return ok
}

// TaskID is the Mesos task ID of t: the one it was launched with through
// the scheduler API, else its name (a task of a kubemesos framework).
func TaskID(t *kmv1.Task) string {
	if id, ok := t.Annotations[AnnotationTaskID]; ok {
		return id
	}
	return t.Name
}

// SpecData is the spec.data of a Task launched through the scheduler API
// with TaskInfo.data d: base64, since a Task holds text.
func SpecData(d []byte) string {
	if len(d) == 0 {
		return ""
	}
	return base64.StdEncoding.EncodeToString(d)
}

// TaskData is TaskInfo.data of t as an executor receives it: spec.data
// decoded for a task launched through the scheduler API, spec.data itself
// for a task of a kubemesos framework.
func TaskData(t *kmv1.Task) []byte {
	if IsMesosTask(t) && t.Spec.Data != "" {
		if d, err := base64.StdEncoding.DecodeString(t.Spec.Data); err == nil {
			return d
		}
	}
	if t.Spec.Data == "" {
		return nil
	}
	return []byte(t.Spec.Data)
}
