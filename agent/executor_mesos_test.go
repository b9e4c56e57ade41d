package agent

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	executorv1 "github.com/kubemesos/kubemesos/api/mesos/v1/executor"
	"github.com/kubemesos/kubemesos/internal/mesosjson"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
	"github.com/kubemesos/kubemesos/internal/recordio"
)

// TestMesosStreamHeartbeats: a stream in the Mesos form gets HEARTBEAT
// events at the server's interval, as Mesos sends them to HTTP executors.
func TestMesosStreamHeartbeats(t *testing.T) {
	s := &ExecutorServer{Hooks: &floodHooks{}, Log: logr.Discard(), Clock: clock.RealClock{},
		Limits: ServerLimits{MesosHeartbeatInterval: 50 * time.Millisecond}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	body := `{"type":"SUBSCRIBE","framework_id":{"value":"fw-uid"},"executor_id":{"value":"e1"},"subscribe":{}}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+executorapi.Path, strings.NewReader(body))
	req.Header.Set("Content-Type", mesoswire.MediaJSON)
	req.Header.Set("Authorization", "Bearer exec-e1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("SUBSCRIBE: %s", resp.Status)
	}
	rr := recordio.NewReader(resp.Body, 1<<20)
	var got []executorv1.Event_Type
	for len(got) < 3 {
		rec, err := rr.ReadRecord()
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		var e executorv1.Event
		if err := mesosjson.Unmarshal(rec, &e); err != nil {
			t.Fatal(err)
		}
		got = append(got, e.GetType())
	}
	if got[0] != executorv1.Event_SUBSCRIBED || got[1] != executorv1.Event_HEARTBEAT || got[2] != executorv1.Event_HEARTBEAT {
		t.Errorf("events %v, want SUBSCRIBED and then HEARTBEATs", got)
	}
}
