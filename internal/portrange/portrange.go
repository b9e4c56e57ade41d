// Package portrange reads, writes and computes with sets of port ranges in
// Mesos's range syntax, "[31000-31099,32000-32099]": what an agent offers
// as its `ports` resource and what a task holds of them.
package portrange

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// MaxPort is the highest port.
const MaxPort = 65535

// Range is the ports Begin to End, both included.
type Range struct {
	Begin, End uint64
}

// Size is how many ports the range holds (0 for a range whose Begin is
// past its End).
func (r Range) Size() uint64 {
	if r.Begin > r.End {
		return 0
	}
	return r.End - r.Begin + 1
}

// Set is a normalized set of ranges: sorted, none empty, none overlapping
// or adjacent to another. Normalize makes one of any ranges; the zero Set
// is empty.
type Set []Range

// Normalize returns the set of the ports of rs, leaving out empty ranges.
func Normalize(rs []Range) Set {
	var in []Range
	for _, r := range rs {
		if r.Begin <= r.End {
			in = append(in, r)
		}
	}
	slices.SortFunc(in, cmpBegin)
	var out Set
	for _, r := range in {
		if n := len(out); n > 0 && (out[n-1].End == ^uint64(0) || r.Begin <= out[n-1].End+1) {
			out[n-1].End = max(out[n-1].End, r.End)
			continue
		}
		out = append(out, r)
	}
	return out
}

// Parse reads a set in Mesos's range syntax: ranges begin-end between
// brackets, separated by commas, with optional spaces ("[]" is empty).
// Every port is at most MaxPort and every begin at most its end;
// ranges that overlap or touch are merged.
func Parse(s string) (Set, error) {
	t := strings.TrimSpace(s)
	if len(t) < 2 || t[0] != '[' || t[len(t)-1] != ']' {
		return nil, fmt.Errorf("port ranges %q: want [begin-end,...]", s)
	}
	body := strings.TrimSpace(t[1 : len(t)-1])
	if body == "" {
		return nil, nil
	}
	var rs []Range
	for _, item := range strings.Split(body, ",") {
		b, e, ok := strings.Cut(strings.TrimSpace(item), "-")
		if !ok {
			return nil, fmt.Errorf("port ranges %q: %q is not begin-end", s, strings.TrimSpace(item))
		}
		begin, err := parsePort(b)
		if err != nil {
			return nil, fmt.Errorf("port ranges %q: %w", s, err)
		}
		end, err := parsePort(e)
		if err != nil {
			return nil, fmt.Errorf("port ranges %q: %w", s, err)
		}
		if begin > end {
			return nil, fmt.Errorf("port ranges %q: range %d-%d begins after its end", s, begin, end)
		}
		rs = append(rs, Range{Begin: begin, End: end})
	}
	return Normalize(rs), nil
}

func parsePort(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	// Digits only: ParseUint would take a sign or an underscore.
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a port", s)
	}
	p, err := strconv.ParseUint(s, 10, 64)
	if err != nil || p > MaxPort {
		return 0, fmt.Errorf("%q is not a port (0-%d)", s, MaxPort)
	}
	return p, nil
}

// String writes s in Mesos's range syntax, "[31000-31099,32000-32000]".
func (s Set) String() string {
	var b strings.Builder
	b.WriteByte('[')
	for i, r := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(r.Begin, 10))
		b.WriteByte('-')
		b.WriteString(strconv.FormatUint(r.End, 10))
	}
	b.WriteByte(']')
	return b.String()
}

// Count is how many ports s holds, at most ^uint64(0).
func (s Set) Count() uint64 {
	var n uint64
	for _, r := range s {
		sz := r.Size()
		if sz == 0 || n+sz < n {
			// 0: the range of every uint64, whose size wraps.
			return ^uint64(0)
		}
		n += sz
	}
	return n
}

// Union is the ports of s or o.
func (s Set) Union(o Set) Set {
	return Normalize(append(append([]Range(nil), s...), o...))
}

// Minus is the ports of s that are not in o.
func (s Set) Minus(o Set) Set {
	s, o = Normalize(s), Normalize(o)
	var out Set
	for _, r := range s {
		cur := r
		empty := false
		for _, x := range o {
			if x.End < cur.Begin || x.Begin > cur.End {
				continue
			}
			if x.Begin > cur.Begin {
				out = append(out, Range{Begin: cur.Begin, End: x.Begin - 1})
			}
			if x.End >= cur.End {
				empty = true
				break
			}
			cur.Begin = x.End + 1
		}
		if !empty {
			out = append(out, cur)
		}
	}
	return Normalize(out)
}

// Contains reports whether every port of o is in s.
func (s Set) Contains(o Set) bool { return len(o.Minus(s)) == 0 }

// Overlaps reports whether a port is in both s and o.
func (s Set) Overlaps(o Set) bool { return s.Count() != s.Minus(o).Count() }

// Lowest is the n lowest ports of s (all of them when it holds fewer).
func (s Set) Lowest(n uint64) Set {
	var out Set
	for _, r := range s {
		if n == 0 {
			break
		}
		if sz := r.Size(); sz != 0 && sz <= n {
			out = append(out, r)
			n -= sz
			continue
		}
		out = append(out, Range{Begin: r.Begin, End: r.Begin + n - 1})
		n = 0
	}
	return out
}

// Errors of Check.
var (
	// ErrBeginAfterEnd says that a range begins after its end.
	ErrBeginAfterEnd = errors.New("begin > end")
	// ErrOverlap says that two of the ranges share a port.
	ErrOverlap = errors.New("overlapping ranges")
)

// Check says whether rs can be one resource's ranges: each begins at or
// before its end, and no two share a port (they need not be sorted or
// merged).
func Check(rs []Range) error {
	for _, r := range rs {
		if r.Begin > r.End {
			return ErrBeginAfterEnd
		}
	}
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, cmpBegin)
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Begin <= sorted[i-1].End {
			return ErrOverlap
		}
	}
	return nil
}

func cmpBegin(a, b Range) int {
	switch {
	case a.Begin < b.Begin:
		return -1
	case a.Begin > b.Begin:
		return 1
	}
	return 0
}

// FromAPI is the set of an API object's port ranges.
func FromAPI(rs []kmv1.PortRange) Set {
	out := make([]Range, 0, len(rs))
	for _, r := range rs {
		if r.Begin >= 0 && r.End >= 0 {
			out = append(out, Range{Begin: uint64(r.Begin), End: uint64(r.End)})
		}
	}
	return Normalize(out)
}

// API is s as an API object's port ranges; s must hold only ports (at
// most MaxPort), as Parse returns and Contains checks against such a set.
func (s Set) API() []kmv1.PortRange {
	if len(s) == 0 {
		return nil
	}
	out := make([]kmv1.PortRange, 0, len(s))
	for _, r := range s {
		out = append(out, kmv1.PortRange{Begin: int32(min(r.Begin, MaxPort)), End: int32(min(r.End, MaxPort))})
	}
	return out
}
