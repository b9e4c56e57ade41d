package invariants

import (
	"fmt"
	"sort"
	"time"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// removal is one time the master marked an agent Unreachable.
type removal struct {
	agent string
	at    time.Time
	// timed says At is the master's own unreachableTime, not when the
	// recorder saw it.
	timed bool
}

// unreachableMarks returns every time the record shows an agent marked
// Unreachable, once each, sorted by time. A removal is told apart by its
// status.unreachableTime (remove in controllers/agent_registry.go sets it
// to the master's clock as it marks the agent), so entries of one removal
// seen twice (a watch re-listed after an API server restart) count once,
// and a removal the recorder saw late is still timed when it happened.
// Entries without it are timed by when the recorder saw them. Gone is left
// out: a deleted Node is removed at once, never held back by the limit
// (the AgentActive case of reconcile in controllers/agent_registry.go);
// and an Unreachable agent whose Node is then deleted becomes Gone without
// a second removal.
func unreachableMarks(h *history) []removal {
	var out []removal
	seen := map[removal]bool{}
	for _, name := range sortedKeys(h.agents) {
		prev := ""
		for _, it := range h.agents[name] {
			a := it.e.Agent
			phase := a.Phase
			if kmv1.AgentPhase(phase) == kmv1.AgentUnreachable {
				r := removal{agent: name, at: it.e.At}
				if a.UnreachableTime != nil {
					r.at, r.timed = a.UnreachableTime.UTC(), true
				}
				// Without the master's time, a removal is an entry into
				// the phase.
				if (r.timed && !seen[r]) || (!r.timed && prev != phase) {
					seen[r] = true
					out = append(out, r)
				}
			}
			prev = phase
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}

// checkRemovalRate holds the master to its --agent-removal-rate-limit: no
// more than limits.AgentRemovalLimit agents marked Unreachable within any
// AgentRemovalPeriod. The master's limiter (removalLimiter in
// controllers/removal_limit.go) lets a removal go ahead when fewer than the
// limit happened in the period before it, so every removal that finds the
// limit or more others in the period up to it, (t−period, t], is a
// violation. The times are the master's own (unreachableTime), so the
// check holds whether or not the recorder's watch was cut while the API
// server was down. A removal whose whole Unreachable time fell inside a
// watch's gap is not in the record and not counted.
func checkRemovalRate(h *history, limits Limits, notes *[]string) (int, []Violation) {
	marks := unreachableMarks(h)
	if limits.AgentRemovalLimit <= 0 || limits.AgentRemovalPeriod <= 0 {
		if len(marks) > 0 {
			*notes = append(*notes, fmt.Sprintf("%s: no removal limit was given; %d removals not judged", AgentRemovalRate, len(marks)))
		}
		return 0, nil
	}
	untimed := 0
	var out []Violation
	first := 0
	for i, r := range marks {
		if !r.timed {
			untimed++
		}
		for !marks[first].at.After(r.at.Add(-limits.AgentRemovalPeriod)) {
			first++
		}
		if n := i - first + 1; n > limits.AgentRemovalLimit {
			out = append(out, Violation{At: r.at, Subject: "agent " + r.agent, Message: fmt.Sprintf(
				"marked Unreachable as removal %d within %s (since %s); the limit is %d per %s",
				n, limits.AgentRemovalPeriod, marks[first].at.Format(time.RFC3339Nano), limits.AgentRemovalLimit, limits.AgentRemovalPeriod)})
		}
	}
	if untimed > 0 {
		*notes = append(*notes, fmt.Sprintf("%s: %d removals had no unreachableTime and were timed by when the recorder saw them", AgentRemovalRate, untimed))
	}
	return len(marks), out
}
