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
	s := DNSLabelPrefix(taskID, taskNamePrefix)
	if s == "" {
		s = "task"
	}
	return s + "-" + hex.EncodeToString(sum[:6])
}

// DNSLabelPrefix is a readable DNS-1123 form of a Mesos ID, for the start
// of a name or label that a digest of the whole ID then makes unique: lower
// case, each run of other characters one '-', at most max characters, no
// '-' at either end. It is "" when the ID has no letter or digit.
func DNSLabelPrefix(id string, max int) string {
	s := notDNSRun.ReplaceAllString(strings.ToLower(id), "-")
	if len(s) > max {
		s = s[:max]
	}
	return strings.Trim(s, "-")
}

// maxIDLength is the longest ID Mesos takes: NAME_MAX, since its agents
// make directories of IDs.
const maxIDLength = 255

// ValidateID checks a task or executor ID as Mesos's validateID does (any
// characters but control characters and path separators, at most 255
// bytes, not "." or ".."), returning Mesos's message, or "" when it is
// valid. The same rule is the Task API's for spec.executor.executorID.
func ValidateID(id string) string {
	switch {
	case id == "":
		return "ID must not be empty"
	case len(id) > maxIDLength:
		return "ID must not be greater than 255 characters"
	case id == "." || id == "..":
		return "'" + id + "' is disallowed"
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c == 0x7f || c == '/' || c == '\\' {
			return "'" + id + "' contains invalid characters"
		}
	}
	return ""
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
