package controllers

import (
	"testing"
	"time"

	"golang.org/x/time/rate"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// TestLimitUsage: the usage writes of all agents stay within their rate,
// the agents never written first, then those written longest ago; no
// limiter keeps them all.
func TestLimitUsage(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	due := func() []agentUsage {
		var d []agentUsage
		for _, a := range []struct {
			name string
			ago  time.Duration // 0: never written
		}{{"b", 30 * time.Second}, {"never-1", 0}, {"c", 10 * time.Second}, {"a", 60 * time.Second}, {"never-2", 0}} {
			u := agentUsage{agent: &kmv1.Agent{}}
			u.agent.Name = a.name
			if a.ago > 0 {
				u.last = now.Add(-a.ago)
			}
			d = append(d, u)
		}
		return d
	}
	names := func(us []agentUsage) []string {
		var n []string
		for _, u := range us {
			n = append(n, u.agent.Name)
		}
		return n
	}
	if got := names(limitUsage(due(), nil, now)); len(got) != 5 {
		t.Errorf("without a limit: %v, want all five", got)
	}
	lim := newUsageLimiter(2) // 2 a second, 2 at once
	steps := []struct {
		at   time.Duration
		want []string
	}{
		{0, []string{"never-1", "never-2"}},
		{0, nil}, // the same instant: the burst is spent
		{500 * time.Millisecond, []string{"never-1"}},
		{2 * time.Second, []string{"never-1", "never-2"}},
	}
	for _, s := range steps {
		got := names(limitUsage(due(), lim, now.Add(s.at)))
		if len(got) != len(s.want) {
			t.Fatalf("at +%v: %v, want %v", s.at, got, s.want)
		}
		for i := range got {
			if got[i] != s.want[i] {
				t.Fatalf("at +%v: %v, want %v", s.at, got, s.want)
			}
		}
	}
	// Once the never-written are gone, the oldest write goes first.
	lim = newUsageLimiter(1)
	d := due()
	d = append(d[:1], d[2:]...)
	d = append(d[:3], d[4:]...) // b, c, a
	if got := names(limitUsage(d, lim, now)); len(got) != 1 || got[0] != "a" {
		t.Errorf("written 60s, 30s and 10s ago, one allowed: %v, want [a]", got)
	}
	if newUsageLimiter(0) != nil || newUsageLimiter(-1) != nil {
		t.Error("a rate of 0 or less is no limit")
	}
	if l := newUsageLimiter(0.5); l.Burst() != 1 || l.Limit() != rate.Limit(0.5) {
		t.Errorf("0.5 a second: burst %d, limit %v; want 1 and 0.5", l.Burst(), l.Limit())
	}
}

// TestPruneWritten: the record of usage writes forgets the agents that are
// gone, so that removed nodes leave nothing behind, and keeps the others'
// however long ago they were written (it orders them).
func TestPruneWritten(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	written := map[string]time.Time{"recent": now.Add(-time.Minute), "gone": now.Add(-time.Minute), "long-ago": now.Add(-time.Hour)}
	pruneWritten(written, map[string]bool{"recent": true, "long-ago": true, "never": true})
	if _, ok := written["gone"]; ok || len(written) != 2 {
		t.Errorf("left %v, want recent and long-ago", written)
	}
}
