package agent_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/inprocess"
	"github.com/kubemesos/kubemesos/internal/messages"
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

	// An Event labelled a message to the node's executor that carries more
	// than a message holds is kept slim in the agent's watch
	// (messages.Slim), and the agent drops and deletes it.
	big := messages.Event(ns, "", messages.Message{To: kmv1.MessageToExecutor, Framework: "msgwatchfw", Node: "msgwatch-node", ExecutorID: "mw",
		Sender: strings.Repeat("s", 2048), Sequence: 1, Data: "too big", Time: time.Now()}, messages.ControllerScheduler, "test")
	big.Name = "msgwatchfw.oversized"
	ctx := context.Background()
	if err := env.Client.Create(ctx, big); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the oversized message deleted", func() bool {
		return apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKeyFromObject(big), &eventsv1.Event{}))
	})
}
