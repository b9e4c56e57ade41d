package area

import (
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestParseTerm(t *testing.T) {
	tests := []struct {
		in   string
		want Term
	}{
		{"2x2", Term{2, 2}},
		{"3x", Term{3, 1}},
		{"x3", Term{1, 3}},
		{"7", Term{7, 0}},
		{"x", Term{1, 1}},
		{"-0.5x1.5", Term{-0.5, 1.5}},
		{" 2 x 2 ", Term{2, 2}},
		{"\t-3 x -1 ", Term{-3, -1}},
		{"1e3x.5", Term{1000, 0.5}},
		{"0x4", Term{0, 4}},
	}
	for _, tt := range tests {
		got, err := ParseTerm(tt.in)
		if err != nil {
			t.Errorf("ParseTerm(%q): unexpected error: %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseTerm(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseTermErrors(t *testing.T) {
	tests := []struct {
		in      string
		wantIs  error
		wantSub string
	}{
		{"", ErrEmptyTerm, `term "": empty term`},
		{"  ", ErrEmptyTerm, `term "": empty term`},
		{"3y", nil, `term "3y": coefficient: strconv.ParseFloat: parsing "3y": invalid syntax`},
		{"2xx", ErrMultipleX, `term "2xx": more than one 'x'`},
		{"2x1y", nil, `term "2x1y": exponent:`},
		{"NaN", ErrNotFinite, `term "NaN": coefficient:`},
		{"2xInf", ErrNotFinite, `term "2xInf": exponent:`},
		{"-x2", nil, `term "-x2": coefficient:`},
	}
	for _, tt := range tests {
		_, err := ParseTerm(tt.in)
		if err == nil {
			t.Errorf("ParseTerm(%q): expected an error", tt.in)
			continue
		}
		if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
			t.Errorf("ParseTerm(%q) error %q is not %v", tt.in, err, tt.wantIs)
		}
		if !strings.Contains(err.Error(), tt.wantSub) {
			t.Errorf("ParseTerm(%q) error %q does not contain %q", tt.in, err, tt.wantSub)
		}
	}
}

func TestParseExpression(t *testing.T) {
	tests := []struct {
		in   string
		want []Term
	}{
		{"2x2", []Term{{2, 2}}},
		{"3x", []Term{{3, 1}}},
		{"x3", []Term{{1, 3}}},
		{"7", []Term{{7, 0}}},
		{"-0.5x1.5", []Term{{-0.5, 1.5}}},
		{"2x2 + 3x", []Term{{2, 2}, {3, 1}}},
		{" 2 x 2 + 3 x ", []Term{{2, 2}, {3, 1}}},
		{"x+x+1", []Term{{1, 1}, {1, 1}, {1, 0}}},
		{"2x2 + -3x + -0.25", []Term{{2, 2}, {-3, 1}, {-0.25, 0}}},
	}
	for _, tt := range tests {
		got, err := ParseExpression(tt.in)
		if err != nil {
			t.Errorf("ParseExpression(%q): unexpected error: %v", tt.in, err)
			continue
		}
		if len(got.Terms) != len(tt.want) {
			t.Errorf("ParseExpression(%q) = %v, want %v", tt.in, got.Terms, tt.want)
			continue
		}
		for i := range tt.want {
			if got.Terms[i] != tt.want[i] {
				t.Errorf("ParseExpression(%q) term %d = %+v, want %+v", tt.in, i+1, got.Terms[i], tt.want[i])
			}
		}
	}
}

func TestParseExpressionErrors(t *testing.T) {
	tests := []struct {
		in      string
		wantIs  error
		wantSub string
	}{
		{"", ErrEmptyExpression, "empty expression"},
		{"   ", ErrEmptyExpression, "empty expression"},
		{"2x2++3x", ErrEmptyTerm, `term 2 "": empty term`},
		{"2x2 + + 3", ErrEmptyTerm, `term 2 "": empty term`},
		{"2x2 +", ErrEmptyTerm, `term 2 "": empty term`},
		{"+2x2", ErrEmptyTerm, `term 1 "": empty term`},
		{"2x2 + 3y", nil, `term 2 "3y": coefficient: strconv.ParseFloat: parsing "3y": invalid syntax`},
		{"3y", nil, `term 1 "3y": coefficient:`},
		{"2xx", ErrMultipleX, `term 1 "2xx": more than one 'x'`},
		{"1 + x2x", ErrMultipleX, `term 2 "x2x": more than one 'x'`},
		{"abc", nil, `term 1 "abc": coefficient:`},
		{"1e400", nil, `term 1 "1e400": coefficient: strconv.ParseFloat: parsing "1e400": value out of range`},
		{"x + 2x1e400", nil, `term 2 "2x1e400": exponent:`},
		{"1 + 2 + NaNx", ErrNotFinite, `term 3 "NaNx": coefficient:`},
		{"x-Inf", ErrNotFinite, `term 1 "x-Inf": exponent:`},
		{"2 3x", nil, `term 1 "2 3x": coefficient:`},
	}
	for _, tt := range tests {
		e, err := ParseExpression(tt.in)
		if err == nil {
			t.Errorf("ParseExpression(%q) = %v, expected an error", tt.in, e)
			continue
		}
		if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
			t.Errorf("ParseExpression(%q) error %q is not %v", tt.in, err, tt.wantIs)
		}
		if !strings.Contains(err.Error(), tt.wantSub) {
			t.Errorf("ParseExpression(%q) error %q does not contain %q", tt.in, err, tt.wantSub)
		}
	}
}

func TestEvaluateAndString(t *testing.T) {
	tests := []struct {
		in     string
		str    string
		x      float64
		want   float64
		wantOK func(float64) bool
	}{
		{in: "2x2 + 3x", str: "2x2 + 3x", x: 10, want: 230},
		{in: " 2 x 2 + 3 x ", str: "2x2 + 3x", x: -1, want: -1},
		{in: "x3", str: "1x3", x: 2, want: 8},
		{in: "7", str: "7", x: 123, want: 7},
		{in: "-0.5x1.5", str: "-0.5x1.5", x: 4, want: -4},
		{in: "1e21x-1e-7", str: "1e21x-1e-07", x: 1, want: 1e21},
		{in: "x0.5", str: "1x0.5", x: -1, wantOK: math.IsNaN},
		{in: "x-1", str: "1x-1", x: 0, wantOK: func(v float64) bool { return math.IsInf(v, 1) }},
	}
	for _, tt := range tests {
		e := MustParseExpression(tt.in)
		if got := e.String(); got != tt.str {
			t.Errorf("%q.String() = %q, want %q", tt.in, got, tt.str)
		}
		got := e.Evaluate(tt.x)
		if tt.wantOK != nil {
			if !tt.wantOK(got) {
				t.Errorf("%q.Evaluate(%g) = %g: unexpected", tt.in, tt.x, got)
			}
		} else if got != tt.want {
			t.Errorf("%q.Evaluate(%g) = %g, want %g", tt.in, tt.x, got, tt.want)
		}
	}
}

func sampleParams() Params {
	return Params{
		Expr:   MustParseExpression("2x2 + 3x"),
		XLow:   0,
		XHigh:  10,
		YLow:   0,
		YHigh:  230,
		Points: 1000,
		Tasks:  4,
		Method: MethodGrid,
	}
}

func TestValidate(t *testing.T) {
	good := sampleParams()
	if err := good.Validate(); err != nil {
		t.Fatalf("sample params: unexpected error: %v", err)
	}
	tests := []struct {
		name    string
		mod     func(*Params)
		wantSub string
	}{
		{"no terms", func(p *Params) { p.Expr = Expression{} }, "expression has no terms"},
		{"x reversed", func(p *Params) { p.XLow, p.XHigh = 10, 0 }, "xLow (10) must be less than xHigh (0)"},
		{"x equal", func(p *Params) { p.XLow, p.XHigh = 1, 1 }, "xLow (1) must be less than xHigh (1)"},
		{"y reversed", func(p *Params) { p.YLow = 300 }, "yLow (300) must be less than yHigh (230)"},
		{"NaN", func(p *Params) { p.YHigh = math.NaN() }, "yHigh must be finite, got NaN"},
		{"Inf", func(p *Params) { p.XLow = math.Inf(-1) }, "xLow must be finite, got -Inf"},
		{"overflow", func(p *Params) { p.XLow, p.XHigh = -1e308, 1e308 }, "x range xHigh-xLow overflows"},
		{"points 0", func(p *Params) { p.Points = 0 }, "points must be between 1 and 1000000, got 0"},
		{"points big", func(p *Params) { p.Points = MaxPoints + 1 }, "points must be between 1 and 1000000, got 1000001"},
		{"tasks 0", func(p *Params) { p.Tasks = 0 }, "tasks must be between 1 and points+1 (1001), got 0"},
		{"tasks big", func(p *Params) { p.Tasks = 1002 }, "tasks must be between 1 and points+1 (1001), got 1002"},
		{"method", func(p *Params) { p.Method = "mc" }, `method must be "grid" or "random", got "mc"`},
		{"stall", func(p *Params) { p.XLow, p.XHigh, p.Points = 1e15, 1e15+1, 1_000_000 }, "x grid: step 1e-06 is lost to rounding"},
		{"y stall", func(p *Params) { p.YLow, p.YHigh = 0, 5e-324 }, "y grid: step 0 is lost to rounding"},
	}
	for _, tt := range tests {
		p := sampleParams()
		tt.mod(&p)
		err := p.Validate()
		if err == nil {
			t.Errorf("%s: expected an error", tt.name)
			continue
		}
		if !strings.Contains(err.Error(), tt.wantSub) || !strings.HasPrefix(err.Error(), "invalid parameters: ") {
			t.Errorf("%s: error %q does not contain %q", tt.name, err, tt.wantSub)
		}
		if _, cerr := Compute(p); cerr == nil || !strings.HasPrefix(cerr.Error(), "compute area: invalid parameters: ") {
			t.Errorf("%s: Compute error = %v", tt.name, cerr)
		}
		if u, n := GridCount(p, 0, 10); u != 0 || n != 0 {
			t.Errorf("%s: GridCount on invalid params = %d, %d", tt.name, u, n)
		}
		if Split(p) != nil {
			t.Errorf("%s: Split on invalid params is not nil", tt.name)
		}
	}
}

// literalSequence enumerates lo, lo+step, ... <= hi the Java way.
func literalSequence(lo, hi float64, n int) []float64 {
	var out []float64
	for v := lo; v <= hi; v += (hi - lo) / float64(n) {
		out = append(out, v)
	}
	return out
}

func TestColumnsAndRows(t *testing.T) {
	tests := []struct {
		lo, hi   float64
		n        int
		wantLen  int
		wantLast float64
	}{
		{0, 1, 10, 11, 0.9999999999999999}, // 0.1 accumulated ten times stays below 1
		{0, 1, 3, 4, 1},
		{0, 7, 6, 6, 5.8333333333333339},  // the 7th value overshoots 7: no column at xHigh
		{0, 1, 9, 9, 0.88888888888888906}, // likewise 1/9 accumulated nine times exceeds 1
		{0, 10, 1, 2, 10},
		{-2, 2, 4, 5, 2},
	}
	for _, tt := range tests {
		p := Params{XLow: tt.lo, XHigh: tt.hi, YLow: tt.lo, YHigh: tt.hi, Points: tt.n}
		cols, rows := Columns(p), Rows(p)
		lit := literalSequence(tt.lo, tt.hi, tt.n)
		if !equalFloats(cols, lit) || !equalFloats(rows, lit) {
			t.Errorf("[%g,%g]/%d: Columns %v, Rows %v, literal loop %v", tt.lo, tt.hi, tt.n, cols, rows, lit)
		}
		if len(cols) != tt.wantLen || cols[len(cols)-1] != tt.wantLast {
			t.Errorf("[%g,%g]/%d: %d columns ending at %.17g, want %d ending at %.17g",
				tt.lo, tt.hi, tt.n, len(cols), cols[len(cols)-1], tt.wantLen, tt.wantLast)
		}
	}
	p := sampleParams()
	if got, want := Columns(p), literalSequence(p.XLow, p.XHigh, p.Points); !equalFloats(got, want) {
		t.Errorf("sample Columns differ from the literal loop")
	}
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// randomParams draws grid parameters covering negative coefficients,
// fractional exponents (with x >= 0), curves leaving the rectangle above
// and below, and, in "dyadic" mode, exactly representable grids where
// y == f(x) ties are frequent.
func randomParams(r *rand.Rand) Params {
	p := Params{Method: MethodGrid}
	mode := r.IntN(3)
	nTerms := 1 + r.IntN(3)
	for range nTerms {
		var t Term
		switch mode {
		case 0: // integer polynomial on any x range
			t = Term{float64(r.IntN(11) - 5), float64(r.IntN(4))}
		case 1: // fractional coefficients and exponents, x >= 0
			t = Term{r.Float64()*10 - 5, []float64{0, 1, 2, 0.5, 1.5, 2.5, r.Float64() * 3}[r.IntN(7)]}
		default: // dyadic: small integer coefficients and exponents
			t = Term{float64(r.IntN(7) - 3), float64(r.IntN(3))}
		}
		p.Expr.Terms = append(p.Expr.Terms, t)
	}
	switch mode {
	case 0:
		p.XLow = r.Float64()*10 - 5
		p.XHigh = p.XLow + 0.1 + r.Float64()*5
		p.Points = 1 + r.IntN(150)
	case 1:
		p.XLow = r.Float64() * 3
		p.XHigh = p.XLow + 0.1 + r.Float64()*5
		p.Points = 1 + r.IntN(150)
	default:
		p.XLow = float64(r.IntN(5) - 2)
		p.XHigh = p.XLow + float64(1+r.IntN(4))
		p.Points = 1 << r.IntN(8)
	}
	// Pick the y range around the curve's values so that it usually
	// crosses yLow and/or yHigh.
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := 0; i <= 20; i++ {
		v := p.Expr.Evaluate(p.XLow + (p.XHigh-p.XLow)*float64(i)/20)
		lo, hi = min(lo, v), max(hi, v)
	}
	span := max(hi-lo, 1)
	if mode == 2 {
		p.YLow = math.Floor(lo + span*(r.Float64()-0.3))
		p.YHigh = p.YLow + math.Ceil(span*(0.2+r.Float64()))
	} else {
		p.YLow = lo + span*(r.Float64()-0.3)
		p.YHigh = p.YLow + span*(0.2+r.Float64())
	}
	p.Tasks = 1 + r.IntN(min(p.Points+1, 9))
	return p
}

// ties counts grid points with y == f(x) exactly.
func ties(p Params) int {
	n := 0
	rows := Rows(p)
	for _, x := range Columns(p) {
		v := p.Expr.Evaluate(x)
		for _, y := range rows {
			if y == v {
				n++
			}
		}
	}
	return n
}

func checkGridAgainstOracle(t *testing.T, name string, p Params, r *rand.Rand) {
	t.Helper()
	if err := p.Validate(); err != nil {
		t.Fatalf("%s: invalid params %+v: %v", name, p, err)
	}
	n := len(Columns(p))
	ou, ot := OracleCount(p, 0, n)
	gu, gt := GridCount(p, 0, n)
	if ou != gu || ot != gt {
		t.Fatalf("%s: f=%v x=[%g,%g] y=[%g,%g] points=%d: grid %d/%d, oracle %d/%d",
			name, p.Expr, p.XLow, p.XHigh, p.YLow, p.YHigh, p.Points, gu, gt, ou, ot)
	}
	if want := int64(n) * int64(len(Rows(p))); ot != want {
		t.Fatalf("%s: oracle total %d, want columns*rows %d", name, ot, want)
	}
	// A random sub-range, possibly empty or reaching past the ends.
	a, b := r.IntN(n+3)-1, r.IntN(n+3)-1
	if a > b {
		a, b = b, a
	}
	ou, ot = OracleCount(p, a, b)
	gu, gt = GridCount(p, a, b)
	if ou != gu || ot != gt {
		t.Fatalf("%s: columns [%d,%d): grid %d/%d, oracle %d/%d", name, a, b, gu, gt, ou, ot)
	}
	// The pieces of Split add up to the single piece.
	pieces := Split(p)
	if len(pieces) != p.Tasks || pieces[0][0] != 0 || pieces[len(pieces)-1][1] != n {
		t.Fatalf("%s: Split = %v for %d columns, %d tasks", name, pieces, n, p.Tasks)
	}
	var su, st int64
	for i, pc := range pieces {
		if i > 0 && pc[0] != pieces[i-1][1] {
			t.Fatalf("%s: Split pieces not contiguous: %v", name, pieces)
		}
		u, tot := GridCount(p, pc[0], pc[1])
		su += u
		st += tot
	}
	if fu, ft := GridCount(p, 0, n); su != fu || st != ft {
		t.Fatalf("%s: pieces sum to %d/%d, single piece %d/%d", name, su, st, fu, ft)
	}
}

func TestGridMatchesOracleRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(20240601, 7))
	totalTies := 0
	for i := range 300 {
		p := randomParams(r)
		checkGridAgainstOracle(t, "case "+strconv.Itoa(i), p, r)
		totalTies += ties(p)
	}
	if totalTies == 0 {
		t.Errorf("random cases produced no y == f(x) ties; the tie path is untested")
	}
	t.Logf("300 random cases, %d exact ties", totalTies)
}

func TestGridMatchesOracleSpecial(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	base := Params{Method: MethodGrid, Tasks: 3}
	constAtRow := func() Params {
		p := base
		p.XLow, p.XHigh, p.YLow, p.YHigh, p.Points = 0, 1, 0, 1, 10
		p.Expr = Expression{Terms: []Term{{Rows(p)[7], 0}}} // f == y_7 in every column
		return p
	}
	tests := []struct {
		name     string
		p        Params
		minTies  int
		wantUnd  int64 // -1: do not check
		wantTies bool
	}{
		{name: "diagonal f=x", p: with(base, "x", 0, 10, 0, 10, 300), wantUnd: -1, wantTies: true},
		{name: "diagonal 0.1 steps", p: with(base, "x", 0, 1, 0, 1, 10), wantUnd: 66, wantTies: true},
		{name: "constant at a row", p: constAtRow(), wantUnd: 11 * 8, wantTies: true},
		{name: "sqrt NaN for x<0", p: with(base, "x0.5", -1, 1, 0, 1, 50), wantUnd: -1},
		{name: "1/x Inf at 0", p: with(base, "x-1", 0, 2, 0, 5, 64), wantUnd: -1},
		{name: "-1/x -Inf at 0", p: with(base, "-1x-1", 0, 2, -5, 0, 64), wantUnd: -1},
		{name: "0*Inf NaN at 0", p: with(base, "0x-1 + 1", 0, 1, 0, 2, 8), wantUnd: 8 * 5},
		{name: "all above", p: with(base, "100", 0, 1, 0, 1, 20), wantUnd: 20 * 20}, // 0.05 steps overshoot 1: 20x20 grid
		{name: "all below", p: with(base, "-100", 0, 1, 0, 1, 20), wantUnd: 0},
		{name: "narrow range", p: with(base, "x2 + -2000x", 1000, 1001, -1.0001e6, -0.9999e6, 997), wantUnd: -1},
		{name: "one point", p: with(base, "x", 0, 1, 0, 1, 1), wantUnd: 3},
	}
	for _, tt := range tests {
		checkGridAgainstOracle(t, tt.name, tt.p, r)
		n := len(Columns(tt.p))
		u, _ := GridCount(tt.p, 0, n)
		if tt.wantUnd >= 0 && u != tt.wantUnd {
			t.Errorf("%s: under = %d, want %d", tt.name, u, tt.wantUnd)
		}
		if tt.wantTies && ties(tt.p) == 0 {
			t.Errorf("%s: expected y == f(x) ties", tt.name)
		}
	}
}

func with(base Params, expr string, xl, xh, yl, yh float64, points int) Params {
	p := base
	p.Expr = MustParseExpression(expr)
	p.XLow, p.XHigh, p.YLow, p.YHigh, p.Points = xl, xh, yl, yh, points
	p.Tasks = min(p.Tasks, points+1)
	return p
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct{ points, tasks int }{{1, 1}, {1, 2}, {10, 3}, {10, 11}, {1000, 4}, {7, 7}} {
		p := with(Params{Method: MethodGrid, Tasks: tc.tasks}, "x", 0, 1, 0, 1, tc.points)
		pieces := Split(p)
		n := len(Columns(p))
		if len(pieces) != tc.tasks {
			t.Fatalf("points=%d tasks=%d: %d pieces", tc.points, tc.tasks, len(pieces))
		}
		next, lo, hi := 0, n, 0
		for _, pc := range pieces {
			if pc[0] != next || pc[1] < pc[0] {
				t.Fatalf("points=%d tasks=%d: bad pieces %v", tc.points, tc.tasks, pieces)
			}
			next = pc[1]
			lo, hi = min(lo, pc[1]-pc[0]), max(hi, pc[1]-pc[0])
		}
		if next != n || hi-lo > 1 {
			t.Fatalf("points=%d tasks=%d (%d columns): pieces %v", tc.points, tc.tasks, n, pieces)
		}
	}
}

func TestSampleCase(t *testing.T) {
	p := sampleParams()
	res, err := Compute(p)
	if err != nil {
		t.Fatal(err)
	}
	n := len(Columns(p))
	ou, ot := OracleCount(p, 0, n)
	if res.Under != ou || res.Total != ot {
		t.Fatalf("Compute counts %d/%d, oracle %d/%d", res.Under, res.Total, ou, ot)
	}
	if want := Area(p, ou, ot); res.Area != want {
		t.Fatalf("Compute area %v, oracle area %v", res.Area, want)
	}
	// The same split on the oracle adds up too.
	var su, st int64
	for _, pc := range Split(p) {
		u, tot := OracleCount(p, pc[0], pc[1])
		su += u
		st += tot
	}
	if su != ou || st != ot {
		t.Fatalf("oracle pieces sum to %d/%d, single piece %d/%d", su, st, ou, ot)
	}
	if want := 2000.0/3 + 150; math.Abs(res.Exact-want) > 1e-9*want {
		t.Errorf("ExactArea = %v, want %v", res.Exact, want)
	}
	if rel := math.Abs(res.Area-res.Exact) / res.Exact; rel > 0.01 {
		t.Errorf("grid area %v is %.3g%% away from exact %v", res.Area, 100*rel, res.Exact)
	}
	if res.Method != MethodGrid || res.Pieces != 4 || res.StdErr != 0 {
		t.Errorf("unexpected result fields: %+v", res)
	}
	s := res.String()
	for _, want := range []string{
		"area=" + formatFloat(res.Area) + " under=" + itoa(ou) + " total=" + itoa(ot),
		" method=grid pieces=4 exact=" + formatFloat(res.Exact),
	} {
		if !strings.Contains(s, want) {
			t.Errorf("Result.String() = %q, missing %q", s, want)
		}
	}
	if strings.Contains(s, "stderr") {
		t.Errorf("grid Result.String() = %q mentions stderr", s)
	}
	t.Log(s)
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func TestExactAreaClamped(t *testing.T) {
	tests := []struct {
		p    Params
		want float64
	}{
		// x on [0,2] clamped to [0,1]: 0.5 + 1.
		{with(Params{}, "x", 0, 2, 0, 1, 1), 1.5},
		// -x on [0,1] is below yLow=0 everywhere.
		{with(Params{}, "-1x", 0, 1, 0, 1, 1), 0},
		// sqrt is NaN on [-1,0] and integrates to 2/3 on [0,1].
		{with(Params{}, "x0.5", -1, 1, 0, 5, 1), 2.0 / 3},
		// 3 - x shifted: yLow=1 so the integrand is 2 - x on [0,2].
		{with(Params{}, "3 + -1x", 0, 2, 1, 10, 1), 2},
	}
	for _, tt := range tests {
		if got := ExactArea(tt.p); math.Abs(got-tt.want) > 1e-6 {
			t.Errorf("ExactArea(%v on [%g,%g]x[%g,%g]) = %v, want %v",
				tt.p.Expr, tt.p.XLow, tt.p.XHigh, tt.p.YLow, tt.p.YHigh, got, tt.want)
		}
	}
}

func TestRandomMethod(t *testing.T) {
	cases := []Params{sampleParams(), with(Params{Tasks: 3}, "x0.5 + -0.5x1.5", 0, 3, -1, 1, 300)}
	for _, p := range cases {
		p.Method = MethodRandom
		p.Points = 300
		for seed := range int64(4) {
			p.Seed = seed
			a, err := Compute(p)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := Compute(p)
			if a != b {
				t.Fatalf("seed %d: not reproducible: %v vs %v", seed, a, b)
			}
			if a.Total != int64(p.Points)*int64(p.Points) || a.Pieces != p.Tasks {
				t.Fatalf("seed %d: %v", seed, a)
			}
			if a.StdErr <= 0 || math.Abs(a.Area-a.Exact) > 5*a.StdErr {
				t.Errorf("seed %d: exact %v not within 5 standard errors of %v", seed, a.Exact, a)
			}
			if !strings.Contains(a.String(), " method=random pieces=") || !strings.HasSuffix(a.String(), " stderr="+formatFloat(a.StdErr)) {
				t.Errorf("Result.String() = %q", a.String())
			}
		}
		p.Seed = 0
		a, _ := Compute(p)
		p.Seed = 1
		b, _ := Compute(p)
		if a.Under == b.Under {
			t.Errorf("seeds 0 and 1 gave the same count %d (suspicious)", a.Under)
		}
	}
	// Pieces are independent streams: the same piece repeats, others differ.
	p := sampleParams()
	u1, _ := RandomCount(p, 1, 10000)
	u1b, _ := RandomCount(p, 1, 10000)
	u2, _ := RandomCount(p, 2, 10000)
	if u1 != u1b || u1 == u2 {
		t.Errorf("RandomCount piece 1: %d, again %d, piece 2: %d", u1, u1b, u2)
	}
	if u, n := RandomCount(p, 0, 0); u != 0 || n != 0 {
		t.Errorf("RandomCount with 0 samples = %d/%d", u, n)
	}
}

func TestSplitSamples(t *testing.T) {
	p := Params{Points: 10, Tasks: 3}
	got := SplitSamples(p)
	if len(got) != 3 || got[0] != 34 || got[1] != 33 || got[2] != 33 {
		t.Errorf("SplitSamples = %v, want [34 33 33]", got)
	}
}

func TestRandomAreaFormula(t *testing.T) {
	p := Params{XLow: 0, XHigh: 2, YLow: 0, YHigh: 5} // rectangle area 10
	area, se := RandomArea(p, 25, 100)
	if area != 2.5 || math.Abs(se-10*math.Sqrt(0.25*0.75/100)) > 1e-15 {
		t.Errorf("RandomArea = %v ± %v", area, se)
	}
}

func FuzzParseExpression(f *testing.F) {
	for _, s := range []string{
		"2x2 + 3x", "2x2", "3x", "x3", "7", "x", "-0.5x1.5", " 2 x 2 + 3 x ",
		"", "2x2++3x", "3y", "2xx", "x2x", "abc", "1e400", "NaN", "x-Inf",
		"0X1P-2x3", "1e21x-1e-7", "-0x-0", "1e-320x2 + -1e308", ".5x.5+5.x5.",
	} {
		f.Add(s)
	}
	xs := []float64{0, 0.5, 1, 2, 3.7, -1, -2.5, 1e-3, 100, 1e10}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpression(s)
		if err != nil {
			if e.Terms != nil {
				t.Fatalf("error %v with non-empty result %v", err, e)
			}
			if !errors.Is(err, ErrEmptyExpression) && !strings.HasPrefix(err.Error(), "term ") {
				t.Fatalf("error %q does not name the term", err)
			}
			return
		}
		str := e.String()
		e2, err := ParseExpression(str)
		if err != nil {
			t.Fatalf("String() %q of %q does not parse: %v", str, s, err)
		}
		if got := e2.String(); got != str {
			t.Fatalf("String() not stable: %q -> %q", str, got)
		}
		if len(e2.Terms) != len(e.Terms) {
			t.Fatalf("%q: %d terms, round trip %d", s, len(e.Terms), len(e2.Terms))
		}
		for i := range e.Terms {
			a, b := e.Terms[i], e2.Terms[i]
			if math.Float64bits(a.Coefficient) != math.Float64bits(b.Coefficient) || a.Exponent != b.Exponent {
				t.Fatalf("%q term %d: %+v round-trips to %+v", s, i+1, a, b)
			}
		}
		for _, x := range xs {
			v1, v2 := e.Evaluate(x), e2.Evaluate(x)
			if math.Float64bits(v1) != math.Float64bits(v2) && !(math.IsNaN(v1) && math.IsNaN(v2)) {
				t.Fatalf("%q at x=%g: %v, round trip %v", s, x, v1, v2)
			}
		}
	})
}

func BenchmarkGridCountPiece(b *testing.B) {
	p := sampleParams()
	p.Tasks = 1
	n := len(Columns(p))
	var points int64
	for b.Loop() {
		_, total := GridCount(p, 0, n)
		points += total
	}
	b.ReportMetric(float64(points)/b.Elapsed().Seconds(), "points/s")
}

func BenchmarkOracleCountPiece(b *testing.B) {
	p := sampleParams()
	p.Tasks = 1
	n := len(Columns(p))
	var points int64
	for b.Loop() {
		_, total := OracleCount(p, 0, n)
		points += total
	}
	b.ReportMetric(float64(points)/b.Elapsed().Seconds(), "points/s")
}
