package portrange_test

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/kubemesos/kubemesos/internal/portrange"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in, want string
		count    uint64
	}{
		{"[31000-32000]", "[31000-32000]", 1001},
		{"[31000-31099,32000-32099]", "[31000-31099,32000-32099]", 200},
		{" [ 32000-32099 , 31000-31099 ] ", "[31000-31099,32000-32099]", 200},
		{"[1-5,3-9,10-10]", "[1-10]", 10},
		{"[80-80]", "[80-80]", 1},
		{"[0-65535]", "[0-65535]", 65536},
		{"[]", "[]", 0},
		{"[ ]", "[]", 0},
	} {
		s, err := portrange.Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if got := s.String(); got != c.want || s.Count() != c.count {
			t.Errorf("Parse(%q) = %s (%d ports), want %s (%d)", c.in, got, s.Count(), c.want, c.count)
		}
	}
	for _, bad := range []string{"", "31000-32000", "[31000-32000", "31000-32000]", "[31000]", "[a-b]", "[-1-5]", "[+1-5]",
		"[1_0-20]", "[5-1]", "[1-65536]", "[1-2,]", "[,1-2]", "[1-2-3]", "[99999999999999999999-1]", "[1 2-3]"} {
		if s, err := portrange.Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %s, want an error", bad, s)
		}
	}
}

// set builds a Set from pairs.
func set(pairs ...uint64) portrange.Set {
	var rs []portrange.Range
	for i := 0; i+1 < len(pairs); i += 2 {
		rs = append(rs, portrange.Range{Begin: pairs[i], End: pairs[i+1]})
	}
	return portrange.Normalize(rs)
}

func TestArithmetic(t *testing.T) {
	a := set(31000, 31010, 31020, 31030)
	if got := a.Minus(set(31005, 31022)).String(); got != "[31000-31004,31023-31030]" {
		t.Errorf("Minus = %s", got)
	}
	if got := a.Minus(set(31000, 31000, 31010, 31010, 31030, 31030)).String(); got != "[31001-31009,31020-31029]" {
		t.Errorf("Minus of the ends = %s", got)
	}
	if got := a.Minus(set(0, 65535)); len(got) != 0 {
		t.Errorf("Minus of everything = %s", got)
	}
	if got := a.Lowest(13).String(); got != "[31000-31010,31020-31021]" {
		t.Errorf("Lowest(13) = %s", got)
	}
	if got := a.Lowest(1000); !reflect.DeepEqual(got, a) {
		t.Errorf("Lowest(1000) = %s, want all of %s", got, a)
	}
	if got := a.Lowest(0); len(got) != 0 {
		t.Errorf("Lowest(0) = %s", got)
	}
	if !a.Contains(set(31001, 31002, 31030, 31030)) || a.Contains(set(31010, 31011)) || !a.Contains(nil) {
		t.Error("Contains is wrong")
	}
	if !a.Overlaps(set(31030, 40000)) || a.Overlaps(set(31011, 31019)) || a.Overlaps(nil) {
		t.Error("Overlaps is wrong")
	}
	if got := a.Union(set(31011, 31019)).String(); got != "[31000-31030]" {
		t.Errorf("Union = %s", got)
	}
	full := portrange.Normalize([]portrange.Range{{Begin: 0, End: ^uint64(0)}})
	if full.Count() != ^uint64(0) || full.Minus(set(0, 0)).Count() != ^uint64(0) {
		t.Errorf("the range of every uint64 counts %d", full.Count())
	}
}

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		rs   []portrange.Range
		want error
	}{
		{nil, nil},
		{[]portrange.Range{{5, 9}, {1, 4}}, nil},
		{[]portrange.Range{{5, 4}}, portrange.ErrBeginAfterEnd},
		{[]portrange.Range{{1, 5}, {5, 9}}, portrange.ErrOverlap},
		{[]portrange.Range{{0, 1 << 63}, {1<<63 + 1, ^uint64(0)}}, nil},
		{[]portrange.Range{{10, 20}, {1, 30}}, portrange.ErrOverlap},
	} {
		if got := portrange.Check(c.rs); got != c.want {
			t.Errorf("Check(%v) = %v, want %v", c.rs, got, c.want)
		}
	}
}

// TestArithmeticAgainstBitmaps compares the set operations with the same
// operations on bitmaps of a small universe.
func TestArithmeticAgainstBitmaps(t *testing.T) {
	const universe = 64
	r := rand.New(rand.NewPCG(1, 2))
	random := func() (portrange.Set, uint64) {
		var rs []portrange.Range
		var bits uint64
		for range r.IntN(5) {
			b := r.Uint64N(universe)
			e := min(b+r.Uint64N(8), universe-1)
			rs = append(rs, portrange.Range{Begin: b, End: e})
			for p := b; p <= e; p++ {
				bits |= 1 << p
			}
		}
		return portrange.Normalize(rs), bits
	}
	bitsOf := func(s portrange.Set) uint64 {
		var bits uint64
		for i, x := range s {
			if x.Begin > x.End || (i > 0 && x.Begin <= s[i-1].End+1) {
				t.Fatalf("%v is not normalized", s)
			}
			for p := x.Begin; p <= x.End; p++ {
				bits |= 1 << p
			}
		}
		return bits
	}
	popcount := func(b uint64) uint64 {
		var n uint64
		for ; b != 0; b &= b - 1 {
			n++
		}
		return n
	}
	for range 5000 {
		a, ab := random()
		o, ob := random()
		if bitsOf(a) != ab || a.Count() != popcount(ab) {
			t.Fatalf("Normalize: %s", a)
		}
		if got := bitsOf(a.Minus(o)); got != ab&^ob {
			t.Fatalf("%s minus %s = %s", a, o, a.Minus(o))
		}
		if got := bitsOf(a.Union(o)); got != ab|ob {
			t.Fatalf("%s union %s = %s", a, o, a.Union(o))
		}
		if a.Contains(o) != (ob&^ab == 0) || a.Overlaps(o) != (ab&ob != 0) {
			t.Fatalf("Contains or Overlaps of %s and %s", a, o)
		}
		n := r.Uint64N(universe)
		low := a.Lowest(n)
		if !a.Contains(low) || low.Count() != min(n, a.Count()) {
			t.Fatalf("%s.Lowest(%d) = %s", a, n, low)
		}
		if rest := a.Minus(low); len(rest) > 0 && len(low) > 0 && rest[0].Begin < low[len(low)-1].End {
			t.Fatalf("%s.Lowest(%d) = %s is not the lowest", a, n, low)
		}
	}
}

// FuzzParse: Parse never panics; what it takes is normalized, within
// MaxPort, and reads back the same from its String.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"[31000-32000]", "[31000-31099,32000-32099]", "[]", " [1-5, 3-9] ", "[5-1]", "[0-65535]", "[1-65536]", "[a-b]", "[1-2,,3-4]", "31000-32000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := portrange.Parse(in)
		if err != nil {
			return
		}
		for i, r := range s {
			if r.Begin > r.End || r.End > portrange.MaxPort || (i > 0 && r.Begin <= s[i-1].End+1) {
				t.Fatalf("Parse(%q) = %v: not a normalized set of ports", in, s)
			}
		}
		back, err := portrange.Parse(s.String())
		if err != nil || !reflect.DeepEqual(back, s) {
			t.Fatalf("Parse(%q) = %s, which reads back as %v (%v)", in, s, back, err)
		}
	})
}

func TestAPI(t *testing.T) {
	s := set(31000, 31099, 32000, 32000)
	api := s.API()
	if len(api) != 2 || api[0].Begin != 31000 || api[0].End != 31099 || api[1].Begin != 32000 || api[1].End != 32000 {
		t.Fatalf("API() = %v", api)
	}
	if back := portrange.FromAPI(api); !reflect.DeepEqual(back, s) {
		t.Errorf("FromAPI(API()) = %s, want %s", back, s)
	}
	if portrange.Set(nil).API() != nil {
		t.Error("an empty set is not nil in the API")
	}
}
