package agent_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/inprocess"
)

// watchRecorder records the paths of the watch requests sent through it.
type watchRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	urls []string
}

func (r *watchRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Query().Get("watch") == "true" {
		r.mu.Lock()
		r.urls = append(r.urls, req.URL.Path+"?"+req.URL.RawQuery)
		r.mu.Unlock()
	}
	return r.next.RoundTrip(req)
}

// eventWatches are the recorded watches of events.k8s.io Events.
func (r *watchRecorder) eventWatches() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, u := range r.urls {
		if strings.HasPrefix(u, "/apis/events.k8s.io/") {
			out = append(out, u)
		}
	}
	return out
}

// TestMessageWatchesFollowTheExecutors: the agent watches the scheduler
// messages to its node only in the namespaces where its executors run,
// never across all namespaces: the API server keeps no watch cache of
// Events, so a watch across all namespaces would have it decode every
// Event of the cluster for every agent. (TestFrameworkMessages in
// sdk/scheduler sends the messages through them.)
func TestMessageWatchesFollowTheExecutors(t *testing.T) {
	startTestMaster(t, 5*time.Second)
	addNode(t, "msgwatch-node")
	rec := &watchRecorder{}
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { rec.next = rt; return rec })
	inprocess.RunAgent(t, cfg, inprocess.AgentConfig{Node: "msgwatch-node"})
	ns := frameworkWithScheduler(t, "msgwatchfw")

	time.Sleep(time.Second)
	if w := rec.eventWatches(); len(w) != 0 {
		t.Errorf("with no executor on its node the agent watches Events: %v", w)
	}

	tk := b.MakeTask("t", "").Resources("cpu", "1").Executor("mw", "img").Obj()
	launchOnOffer(t, ns, "msgwatchfw", "msgwatch-node", tk)
	pod := podOf(t, ns, map[string]string{kmv1.LabelExecutor: "mw"})
	kubelet(t, pod, corev1.PodRunning, 0)
	want := "/apis/events.k8s.io/v1/namespaces/" + ns + "/events"
	eventually(t, "a watch of the messages in "+ns, func() bool {
		for _, u := range rec.eventWatches() {
			if strings.HasPrefix(u, want+"?") && strings.Contains(u, "labelSelector=") {
				return true
			}
		}
		return false
	})
	for _, u := range rec.eventWatches() {
		if !strings.HasPrefix(u, want+"?") {
			t.Errorf("the agent watches Events outside its executors' namespace %s: %s", ns, u)
		}
	}
}
