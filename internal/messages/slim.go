package messages

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// maxField bounds each label and annotation a message is read from (a
// sender, an executor or agent ID): Mesos IDs are at most 255 bytes.
const maxField = 1024

// annotationOversized marks, in a cache only, an Event that Slim found
// to carry more than a message holds.
const annotationOversized = "kubemesos.io/message-oversized"

// kept are the labels and annotations Parse reads. The mark of an
// oversized Event is kept too: an informer may slim an object twice (a
// watch-list's objects pass its temporary store, then its queue).
var (
	keptLabels      = []string{kmv1.LabelMessage, kmv1.LabelFramework, kmv1.LabelAgent}
	keptAnnotations = []string{kmv1.AnnotationMessageSender, kmv1.AnnotationMessageSequence, kmv1.AnnotationExecutorID, kmv1.AnnotationAgentID, annotationOversized}
)

// Slim is the cache transform of message Events, for the master's and the
// agents' informers. Anyone who may create Events in a namespace can label
// one as a message, and an Event can hold a megabyte of annotations and
// (through core/v1) of note: cached whole, a tenant's Events could take a
// reader's memory. Slim keeps only what Parse and the readers read (the
// name, namespace, UID, resource version and times; the message's labels
// and annotations; the note; the regarded object's UID), and an Event
// with a note over MaxDataLength (which an Event written through the
// older core/v1 API can have) or a label or annotation of those over 1 KiB
// keeps none of its contents, marked so that Parse refuses it (the
// readers then drop it and delete it, as any malformed message).
func Slim(obj any) (any, error) {
	e, ok := obj.(*eventsv1.Event)
	if !ok {
		return obj, nil
	}
	out := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: e.Name, Namespace: e.Namespace, UID: e.UID, ResourceVersion: e.ResourceVersion,
			CreationTimestamp: e.CreationTimestamp, DeletionTimestamp: e.DeletionTimestamp,
			Labels: pick(e.Labels, keptLabels), Annotations: pick(e.Annotations, keptAnnotations)},
		EventTime: e.EventTime,
		Note:      e.Note,
		Regarding: corev1.ObjectReference{UID: e.Regarding.UID},
	}
	oversized := len(e.Note) > MaxDataLength
	for _, m := range []map[string]string{out.Labels, out.Annotations} {
		for _, v := range m {
			oversized = oversized || len(v) > maxField
		}
	}
	if oversized {
		out.Note = ""
		out.Annotations = map[string]string{annotationOversized: "true"}
		// The labels stay, so that the readers' selectors find it to
		// drop it; the API server keeps a label value to 63 bytes.
	}
	return out, nil
}

// pick returns the entries of m under keys, or nil when there are none.
func pick(m map[string]string, keys []string) map[string]string {
	var out map[string]string
	for _, k := range keys {
		if v, ok := m[k]; ok {
			if out == nil {
				out = make(map[string]string, len(keys))
			}
			out[k] = v
		}
	}
	return out
}

// oversizedError is Parse's refusal of an Event that Slim marked.
func oversizedError(e *eventsv1.Event) error {
	return fmt.Errorf("event %s/%s carries more than a framework message holds (a note over %d bytes, or a label or annotation over %d)",
		e.Namespace, e.Name, MaxDataLength, maxField)
}
