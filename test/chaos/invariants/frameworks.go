package invariants

import (
	"fmt"
)

// checkFrameworksEnd holds every framework the run expected something of
// (an Expect entry) to the phase it expected: the framework's last state
// in the record has that phase (a DELETED entry carries the last state, so
// a framework deleted after it ended has reached it). A framework the
// record never saw has not. MonteCarloExact judges the result.
func checkFrameworksEnd(h *history) (int, []Violation) {
	var out []Violation
	for _, key := range h.expectKeys {
		exp := h.expects[key]
		last, ok := h.lastFramework(key)
		switch {
		case !ok:
			out = append(out, Violation{At: exp.At, Subject: "framework " + key, Message: fmt.Sprintf(
				"the record has no state of it; expected phase %s", exp.Expect.Phase)})
		case last.e.Framework.Phase != exp.Expect.Phase:
			msg := fmt.Sprintf("ended %s (resourceVersion %s), expected %s", orNone(last.e.Framework.Phase), last.e.ResourceVersion, exp.Expect.Phase)
			if m := last.e.Framework.Message; m != "" {
				msg += ": " + m
			}
			out = append(out, Violation{At: last.e.At, Subject: "framework " + key, Message: msg})
		}
	}
	return len(h.expectKeys), out
}
