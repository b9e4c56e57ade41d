package agent

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kubemesos/kubemesos/internal/metrics"
)

// TestCallRecorder: a call counts once, by its type and the status it was
// answered with (a body without a header is a 200, an empty answer too),
// and a flush reaches the writer beneath.
func TestCallRecorder(t *testing.T) {
	count := func(typ, code string) float64 {
		return testutil.ToFloat64(metrics.ExecutorAPICalls.WithLabelValues(typ, code))
	}
	before := map[string]float64{"u": count("UPDATE", "202"), "x": count(metrics.CallTypeUnknown, "401"),
		"s": count("SUBSCRIBE", "200"), "h": count("HEARTBEAT", "200")}

	rec := newCallRecorder(httptest.NewRecorder())
	rec.typ = "UPDATE"
	rec.WriteHeader(http.StatusAccepted)
	rec.finish()
	rec = newCallRecorder(httptest.NewRecorder())
	http.Error(rec, "no token", http.StatusUnauthorized)
	rec.finish()
	beneath := httptest.NewRecorder()
	rec = newCallRecorder(beneath)
	rec.typ = "SUBSCRIBE"
	if _, err := rec.Write([]byte("event")); err != nil {
		t.Fatal(err)
	}
	if err := http.NewResponseController(rec).Flush(); err != nil || !beneath.Flushed {
		t.Errorf("a flush through the recorder: %v, flushed %v", err, beneath.Flushed)
	}
	rec.WriteHeader(http.StatusOK) // superfluous: not counted again
	rec.finish()
	rec = newCallRecorder(httptest.NewRecorder())
	rec.typ = "HEARTBEAT"
	rec.finish()

	for k, want := range map[string]struct {
		typ, code string
	}{"u": {"UPDATE", "202"}, "x": {metrics.CallTypeUnknown, "401"}, "s": {"SUBSCRIBE", "200"}, "h": {"HEARTBEAT", "200"}} {
		if got := count(want.typ, want.code) - before[k]; got != 1 {
			t.Errorf("%s %s counted %v times, want 1", want.typ, want.code, got)
		}
	}
}
