package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers/schedcache"
	"github.com/kubemesos/kubemesos/internal/metrics"
)

// TestOfferFate decides, on a fake clock, whether an outstanding offer
// stays, is consumed or is rescinded.
func TestOfferFate(t *testing.T) {
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	o := DefaultOptions()
	o.AcceptWindow = time.Second
	o.OfferTimeout = 5 * time.Minute
	m := New(nil, clocktesting.NewFakeClock(start), nil, o)
	offer := func(created time.Time, agentID string) *kmv1.Offer {
		return &kmv1.Offer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "o", CreationTimestamp: metav1.NewTime(created)},
			Spec: kmv1.OfferSpec{Framework: "fw", AgentID: agentID, NodeName: "n1"}}
	}
	active := map[string]*kmv1.Agent{"n1": {ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: kmv1.AgentStatus{AgentID: "a1", Phase: kmv1.AgentActive}}}
	unreachable := map[string]*kmv1.Agent{"n1": {ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: kmv1.AgentStatus{AgentID: "a1", Phase: kmv1.AgentUnreachable}}}
	fwKey := types.NamespacedName{Namespace: "ns", Name: "fw"}
	activeFw := map[types.NamespacedName]*kmv1.Framework{fwKey: {Status: kmv1.FrameworkStatus{Phase: kmv1.FrameworkActive}}}
	disconnected := map[types.NamespacedName]*kmv1.Framework{fwKey: {Status: kmv1.FrameworkStatus{Phase: kmv1.FrameworkDisconnected}}}

	for _, tc := range []struct {
		name    string
		offer   *kmv1.Offer
		agents  map[string]*kmv1.Agent
		fws     map[types.NamespacedName]*kmv1.Framework
		lastUse time.Duration // before now; 0 for unused
		waiting int           // tasks launched on it, not admitted yet
		partial bool          // its launch said it has more tasks than were admitted
		want    string
	}{
		{"fresh and unused", offer(start.Add(-time.Minute), "a1"), active, activeFw, 0, 0, false, ""},
		{"used within the accept window", offer(start.Add(-time.Minute), "a1"), active, activeFw, 500 * time.Millisecond, 0, false, ""},
		{"used, the window passed", offer(start.Add(-time.Minute), "a1"), active, activeFw, time.Second, 0, false, metrics.OfferConsumed},
		{"the agent is unreachable", offer(start.Add(-time.Minute), "a1"), unreachable, activeFw, 0, 0, false, metrics.OfferRescinded},
		{"the agent was re-admitted", offer(start.Add(-time.Minute), "a0"), active, activeFw, 0, 0, false, metrics.OfferRescinded},
		{"the framework disconnected", offer(start.Add(-time.Minute), "a1"), active, disconnected, 0, 0, false, metrics.OfferRescinded},
		{"unused past --offer-timeout", offer(start.Add(-5*time.Minute), "a1"), active, activeFw, 0, 0, false, metrics.OfferRescinded},
		{"used in time, old", offer(start.Add(-10*time.Minute), "a1"), active, activeFw, 100 * time.Millisecond, 0, false, ""},
		{"used, the window passed, a task still waits for admission", offer(start.Add(-time.Minute), "a1"), active, activeFw, time.Second, 1, false, ""},
		{"unused past --offer-timeout, a task waits for admission", offer(start.Add(-5*time.Minute), "a1"), active, activeFw, 0, 1, false, ""},
		{"a task waits, but the agent is unreachable", offer(start.Add(-time.Minute), "a1"), unreachable, activeFw, time.Second, 1, false, metrics.OfferRescinded},
		{"the window passed, more of its launch to come", offer(start.Add(-time.Minute), "a1"), active, activeFw, time.Second, 0, true, ""},
		{"four windows passed, more of its launch to come", offer(start.Add(-time.Minute), "a1"), active, activeFw, 4 * time.Second, 0, true, ""},
		{"five windows passed, the rest of its launch never came", offer(start.Add(-time.Minute), "a1"), active, activeFw, 5 * time.Second, 0, true, metrics.OfferConsumed},
	} {
		o := &schedcache.Offer{Obj: tc.offer, Framework: fwKey, Waiting: tc.waiting, Partial: tc.partial}
		if tc.lastUse > 0 {
			o.LastUse = start.Add(-tc.lastUse)
		}
		if got, why := m.offerFate(o, tc.agents, tc.fws, start); got != tc.want {
			t.Errorf("%s: fate %q (%s), want %q", tc.name, got, why, tc.want)
		}
	}
}
