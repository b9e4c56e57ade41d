package agent

import (
	"net/http"
	"strconv"

	"github.com/kubemesos/kubemesos/internal/metrics"
)

// callRecorder counts one executor API call in
// kubemesos_agent_executor_api_calls_total, by its type and the status of
// its answer, once the answer's header is written: a SUBSCRIBE when its
// stream opens. http.ResponseController reaches the writer beneath it
// (Unwrap) for flushes and deadlines.
type callRecorder struct {
	http.ResponseWriter
	// typ is the call's type once it is read; CallTypeUnknown until then.
	typ     string
	counted bool
	// answering runs once, before the answer's first byte is written.
	answering func()
}

func newCallRecorder(w http.ResponseWriter) *callRecorder {
	return &callRecorder{ResponseWriter: w, typ: metrics.CallTypeUnknown}
}

// WriteHeader counts the call with code, then writes the header.
func (w *callRecorder) WriteHeader(code int) {
	w.count(code)
	w.ResponseWriter.WriteHeader(code)
}

// Write writes body bytes; without a header written first, that is a 200.
func (w *callRecorder) Write(b []byte) (int, error) {
	w.count(http.StatusOK)
	return w.ResponseWriter.Write(b)
}

// Unwrap returns the writer beneath, for http.ResponseController.
func (w *callRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish counts a call whose handler wrote nothing: net/http answers it
// 200.
func (w *callRecorder) finish() { w.count(http.StatusOK) }

func (w *callRecorder) count(code int) {
	if w.counted {
		return
	}
	w.counted = true
	if w.answering != nil {
		w.answering()
	}
	metrics.ExecutorAPICalls.WithLabelValues(w.typ, strconv.Itoa(code)).Inc()
}
