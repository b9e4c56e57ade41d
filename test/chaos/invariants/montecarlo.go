package invariants

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// parseFields reads a line of space-separated key=value fields, as a
// MonteCarloArea result ("area=… under=… total=… method=… pieces=…
// exact=…", Result.String in examples/montecarloarea/area/compute.go) and a
// piece's count ("under=U total=T", Count.String in
// examples/montecarloarea/framework/params.go) are written. Every field
// must have a key and an "=", and no key may repeat.
func parseFields(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range strings.Fields(s) {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("field %q is not key=value", f)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("field %q appears twice", k)
		}
		out[k] = v
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no fields in %q", s)
	}
	return out, nil
}

// count is what points a piece (or a whole run) counted.
type count struct{ under, total int64 }

func (c count) String() string { return fmt.Sprintf("under=%d total=%d", c.under, c.total) }

// parseCount reads the under and total fields of fields, which must be
// integers with 0 <= under <= total and total > 0, as ParseCount in
// examples/montecarloarea/framework/params.go requires of a piece.
func parseCount(fields map[string]string) (count, error) {
	u, err := strconv.ParseInt(fields["under"], 10, 64)
	if err != nil {
		return count{}, fmt.Errorf("under: %w", err)
	}
	t, err := strconv.ParseInt(fields["total"], 10, 64)
	if err != nil {
		return count{}, fmt.Errorf("total: %w", err)
	}
	if u < 0 || t <= 0 || u > t {
		return count{}, fmt.Errorf("under=%d total=%d: want 0 <= under <= total and total > 0", u, t)
	}
	return count{u, t}, nil
}

// parsePieceCount reads a finished piece's task data, "under=U total=T"
// and nothing else.
func parsePieceCount(data string) (count, error) {
	f, err := parseFields(data)
	if err != nil {
		return count{}, err
	}
	if len(f) != 2 {
		return count{}, fmt.Errorf("%q is not \"under=U total=T\"", data)
	}
	return parseCount(f)
}

// pieceIndex returns the piece that task name is an attempt of, for the
// MonteCarloArea framework fw: its scheduler names attempt a of piece i
// "<fw>-piece-<i>-<a>" (taskID in examples/montecarloarea/framework/scheduler.go).
func pieceIndex(name, fw string) (int, bool) {
	rest, ok := strings.CutPrefix(name, fw+"-piece-")
	if !ok {
		return 0, false
	}
	i, a, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(i)
	if err != nil || n < 0 || strconv.Itoa(n) != i {
		return 0, false
	}
	if m, err := strconv.Atoi(a); err != nil || m < 0 || strconv.Itoa(m) != a {
		return 0, false
	}
	return n, true
}

// checkMonteCarloExact holds each framework with an expected result to
// it: its last result equals the expected one exactly. For a
// MonteCarloArea result it also checks, from the record alone, that no
// piece was counted twice or lost: the pieces' tasks that reached
// TASK_FINISHED cover every piece 0..pieces-1 and no other; the attempts
// of one piece that finished agree (the counts are deterministic: a grid
// column range, or a seeded draw per piece); and the pieces' counts add up
// to the result's under and total. That is the sum the scheduler should
// have made, each piece once, whatever attempts failed, were lost or
// finished twice.
func checkMonteCarloExact(h *history, notes *[]string) (int, []Violation) {
	var out []Violation
	checked := 0
	for _, key := range h.expectKeys {
		exp := h.expects[key]
		if exp.Expect.Result == "" {
			continue
		}
		checked++
		subject := "framework " + key
		last, ok := h.lastFramework(key)
		if !ok {
			out = append(out, Violation{At: exp.At, Subject: subject, Message: "the record has no state of it; expected result " + strconv.Quote(exp.Expect.Result)})
			continue
		}
		if got := last.e.Framework.Result; got != exp.Expect.Result {
			out = append(out, Violation{At: last.e.At, Subject: subject, Message: fmt.Sprintf("result %q, expected %q", got, exp.Expect.Result)})
		}
		fields, err := parseFields(exp.Expect.Result)
		if err != nil {
			*notes = append(*notes, fmt.Sprintf("%s: the expected result is not key=value fields (%v); its pieces were not checked", subject, err))
			continue
		}
		want, err := parseCount(fields)
		if err != nil {
			*notes = append(*notes, fmt.Sprintf("%s: the expected result has no MonteCarloArea count (%v); its pieces were not checked", subject, err))
			continue
		}
		pieces, err := strconv.Atoi(fields["pieces"])
		if err != nil || pieces <= 0 {
			*notes = append(*notes, fmt.Sprintf("%s: the expected result has no piece count; its pieces were not checked", subject))
			continue
		}
		out = append(out, checkPieces(h, key, last.e.Namespace, last.e.Name, want, pieces, last.e.At, notes)...)
	}
	return checked, out
}

// checkPieces checks the finished pieces of framework ns/name against the
// expected count and number of pieces; at is when the framework was last
// seen, the time of what is found amiss with them.
func checkPieces(h *history, key, ns, name string, want count, pieces int, at time.Time, notes *[]string) []Violation {
	subject := "framework " + key
	var out []Violation
	counts := map[int]map[count][]string{}
	for _, k := range h.tasksOf(ns, name) {
		for _, it := range h.tasks[k] {
			t := it.e.Task
			if kmv1.TaskState(t.State) != kmv1.TaskFinished {
				continue
			}
			i, ok := pieceIndex(it.e.Name, name)
			if !ok {
				break
			}
			c, err := parsePieceCount(t.Data)
			if err != nil {
				out = append(out, Violation{At: it.e.At, Subject: taskSubject(it.e), Message: fmt.Sprintf("finished with data that is not a piece's count: %v", err)})
				break
			}
			if counts[i] == nil {
				counts[i] = map[count][]string{}
			}
			counts[i][c] = append(counts[i][c], it.e.Name)
			break // a terminal state's data never changes
		}
	}
	if len(counts) == 0 {
		*notes = append(*notes, fmt.Sprintf("%s: the record has no finished piece task; its pieces were not checked", subject))
		return out
	}
	var sum count
	summed := true
	for i := 0; i < pieces; i++ {
		cs := counts[i]
		switch len(cs) {
		case 0:
			out = append(out, Violation{At: at, Subject: subject, Message: fmt.Sprintf("piece %d of %d never finished: it was lost", i, pieces)})
			summed = false
		case 1:
			for c := range cs {
				sum.under += c.under
				sum.total += c.total
			}
		default:
			var seen []string
			for c, names := range cs {
				seen = append(seen, fmt.Sprintf("%s by %s", c, strings.Join(names, ", ")))
			}
			sort.Strings(seen)
			out = append(out, Violation{At: at, Subject: subject, Message: fmt.Sprintf("piece %d finished with different counts: %s", i, strings.Join(seen, "; "))})
			summed = false
		}
	}
	var extra []int
	for i := range counts {
		if i >= pieces {
			extra = append(extra, i)
		}
	}
	sort.Ints(extra)
	for _, i := range extra {
		out = append(out, Violation{At: at, Subject: subject, Message: fmt.Sprintf("piece %d finished, but the result has only %d pieces", i, pieces)})
	}
	if summed && sum != want {
		out = append(out, Violation{At: at, Subject: subject, Message: fmt.Sprintf("its %d pieces add up to %s, but the expected result says %s: a piece was counted twice or lost", pieces, sum, want)})
	}
	return out
}
