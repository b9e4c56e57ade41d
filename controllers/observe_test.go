package controllers

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers/schedcache"
	"github.com/kubemesos/kubemesos/internal/metrics"
)

// TestObserveFrameworks: the gauge of frameworks by phase counts every
// framework of the snapshot (an unregistered one as Pending), skips free
// slots, and reads zero for a phase that none is in.
func TestObserveFrameworks(t *testing.T) {
	fw := func(p kmv1.FrameworkPhase) schedcache.Framework {
		return schedcache.Framework{Obj: &kmv1.Framework{Status: kmv1.FrameworkStatus{Phase: p}}}
	}
	observe(&schedcache.Snapshot{Frameworks: []schedcache.Framework{
		fw(kmv1.FrameworkActive), fw(kmv1.FrameworkActive), fw(""), {}, fw(kmv1.FrameworkDisconnected),
	}})
	for phase, want := range map[kmv1.FrameworkPhase]float64{
		kmv1.FrameworkActive: 2, kmv1.FrameworkPending: 1, kmv1.FrameworkDisconnected: 1, kmv1.FrameworkFailed: 0,
	} {
		if got := testutil.ToFloat64(metrics.Frameworks.WithLabelValues(string(phase))); got != want {
			t.Errorf("frameworks{phase=%q} = %v, want %v", phase, got, want)
		}
	}
}
