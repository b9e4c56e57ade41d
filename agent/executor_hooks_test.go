package agent

import (
	"context"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/scheme"
)

// TestRanAlready: a task that the cache shows staging is not sent again to
// an executor that subscribes again when an update of it is queued, or the
// API server holds one the cache does not show yet; it is when the API
// server shows it staging too, or cannot be read.
func TestRanAlready(t *testing.T) {
	ctx := context.Background()
	staged := builders.MakeTask("t1", "ns").Executor("ex", "img").Obj()
	staged.UID, staged.Status.State = "uid-1", kmv1.TaskStaging
	running := staged.DeepCopy()
	running.Status.State = kmv1.TaskRunning
	other := staged.DeepCopy()
	other.UID = "uid-2" // the name taken by another Task since

	clk := clocktesting.NewFakeClock(staged.CreationTimestamp.Time)
	for name, tc := range map[string]struct {
		live    *kmv1.Task // what the API server holds; nil for nothing
		queued  bool
		noLive  bool
		already bool
	}{
		"staging everywhere":          {live: staged, already: false},
		"running in the API server":   {live: running, already: true},
		"an update queued":            {live: staged, queued: true, already: true},
		"gone":                        {already: true},
		"another Task of that name":   {live: other, already: true},
		"no API reader: as before it": {noLive: true, already: false},
	} {
		t.Run(name, func(t *testing.T) {
			b := fake.NewClientBuilder().WithScheme(scheme.New())
			if tc.live != nil {
				b = b.WithObjects(tc.live.DeepCopy())
			}
			updates := NewStatusUpdates(t.TempDir(), func(context.Context, Update) error { return nil }, func(context.Context, Update) {}, clk, logr.Discard())
			if tc.queued {
				if err := updates.Enqueue(ctx, Update{UUID: "u1", Task: types.NamespacedName{Namespace: "ns", Name: "t1"}, AgentID: "a1",
					Framework: "fw", ExecutorID: "ex", State: kmv1.TaskRunning, Source: kmv1.SourceExecutor, Timestamp: clk.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			h := &executorHooks{updates: updates}
			if !tc.noLive {
				h.live = client.Reader(b.Build())
			}
			if got := ranAlready(ctx, h.updates, h.live, staged); got != tc.already {
				t.Errorf("ranAlready = %v, want %v", got, tc.already)
			}
		})
	}
}
