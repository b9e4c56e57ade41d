package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
)

// The master reads a task's pod log for a viewer who may read it
// themselves (the review below): the grant is the master's, the right the
// viewer's.
//
// +kubebuilder:rbac:groups="",resources=pods/log,verbs=get

// Bounds of a log answer.
const (
	// DefaultLogTail is how many of the last lines a log answer has when
	// the request does not say.
	DefaultLogTail = 500
	// MaxLogTail is the most lines a request may ask for.
	MaxLogTail = 5000
	// MaxLogBytes bounds a log answer: 1 MiB.
	MaxLogBytes = 1 << 20
)

// LogQuery is what a log request asks for.
type LogQuery struct {
	// Tail is how many of the last lines, 1 to MaxLogTail.
	Tail int64
	// Container is the pod's container, empty for its only one.
	Container string
}

// ParseLogQuery reads the query of a log request: tail=N (DefaultLogTail
// when absent, at most MaxLogTail) and container=NAME (a DNS label).
func ParseLogQuery(tail, container string) (LogQuery, error) {
	q := LogQuery{Tail: DefaultLogTail, Container: container}
	if tail != "" {
		n, err := strconv.ParseInt(tail, 10, 64)
		if err != nil || n < 1 {
			return LogQuery{}, fmt.Errorf("tail must be a whole number of lines from 1 to %d", MaxLogTail)
		}
		q.Tail = min(n, MaxLogTail)
	}
	if container != "" {
		if errs := validation.IsDNS1123Label(container); len(errs) > 0 {
			return LogQuery{}, fmt.Errorf("container must be a container's name (a DNS label)")
		}
	}
	return q, nil
}

// taskLog answers GET /api/v1/tasks/{namespace}/{name}/log: the tail of
// the log of the task's pod, read through the API server, as text. A task
// the viewer may not read answers 404; one whose pod log the viewer may
// not get, 403; one without a pod yet, 404.
func (s *Server) taskLog(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	q, err := ParseLogQuery(r.URL.Query().Get("tail"), r.URL.Query().Get("container"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error()+".")
		return
	}
	caller, m, a, ok := s.viewer(w, r)
	if !ok {
		return
	}
	t := m.task(ns, name)
	if t == nil || !a.sees(ns) {
		s.writeErr(w, errNotFound)
		return
	}
	pod := t.Status.PodName
	attrs := mayGetPodLogs
	attrs.Namespace, attrs.Name = ns, pod
	if err := s.auth.Authorize(r.Context(), caller, attrs); err != nil {
		s.writeAuthError(w, err)
		return
	}
	if pod == "" {
		writeError(w, http.StatusNotFound, "The task has no pod yet, so no log.")
		return
	}
	opts := &corev1.PodLogOptions{Container: q.Container, TailLines: &q.Tail, LimitBytes: ptr.To(int64(MaxLogBytes))}
	stream, err := s.logs.Pods(ns).GetLogs(pod, opts).Stream(r.Context())
	if err != nil {
		s.writeLogError(w, ns, pod, err)
		return
	}
	defer stream.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if _, err := io.Copy(flushWriter{w}, io.LimitReader(stream, MaxLogBytes)); err != nil && !errors.Is(err, context.Canceled) {
		s.log.V(2).Info("passing a task's log to a viewer failed", "task", ns+"/"+name, "error", err.Error())
	}
}

// writeLogError answers a log request the API server did not serve: its
// own message for what the viewer asked wrong (a container that is not
// there, a pod not started), which they may read, since they may read the
// log; the master's log for the rest.
func (s *Server) writeLogError(w http.ResponseWriter, ns, pod string, err error) {
	var status apierrors.APIStatus
	switch {
	case apierrors.IsNotFound(err):
		writeError(w, http.StatusNotFound, "The task's pod is gone, and its log with it.")
	case apierrors.IsBadRequest(err) && errors.As(err, &status):
		writeError(w, http.StatusBadRequest, status.Status().Message)
	default:
		s.log.Error(err, "reading a task's pod log", "pod", ns+"/"+pod)
		writeError(w, http.StatusBadGateway, "The Kubernetes API server did not give the pod's log; try again.")
	}
}

// flushWriter sends each write at once, so that a long log starts
// arriving before it is read to the end.
type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}
