package area

import (
	"fmt"
	"math"
	"strconv"
)

// ExactIntervals is the number of subintervals of the composite Simpson
// rule used by [ExactArea].
const ExactIntervals = 200_000

// ExactArea returns a numerical reference for the area the estimators
// converge to: the integral over [XLow, XHigh] of
// clamp(f(x) - YLow, 0, YHigh - YLow), i.e. the area of the part of the
// rectangle on or under the curve. It uses the composite Simpson rule
// with [ExactIntervals] equal subintervals (nodes XLow + i*h, not
// accumulated). Where f(x) is NaN the integrand is 0, matching the
// counting methods; ±Inf clamps to the rectangle's height or 0. The rule
// is exact for polynomials of degree <= 3 that stay inside the
// rectangle; where the curve crosses YLow or YHigh the clamp's kink
// lowers its order, but with this many intervals the error stays far
// below the grid method's discretisation error. p is not validated.
func ExactArea(p Params) float64 {
	height := p.YHigh - p.YLow
	g := func(x float64) float64 {
		v := p.Expr.Evaluate(x) - p.YLow
		switch {
		case math.IsNaN(v) || v <= 0:
			return 0
		case v >= height:
			return height
		default:
			return v
		}
	}
	const n = ExactIntervals
	h := (p.XHigh - p.XLow) / n
	sum := g(p.XLow) + g(p.XHigh)
	for i := 1; i < n; i++ {
		w := 2.0
		if i%2 == 1 {
			w = 4
		}
		sum += w * g(p.XLow+float64(i)*h)
	}
	return sum * h / 3
}

// Result is the outcome of [Compute].
type Result struct {
	// Area is the estimated area under the curve inside the rectangle.
	Area float64
	// Under is the number of counted points on or under the curve.
	Under int64
	// Total is the number of counted points.
	Total int64
	// Method is the method used, MethodGrid or MethodRandom.
	Method string
	// Pieces is the number of pieces (tasks) the work was split into.
	Pieces int
	// Exact is the numerical reference value from [ExactArea].
	Exact float64
	// StdErr is the standard error of Area for the random method (see
	// [RandomArea]); it is 0 for the grid method.
	StdErr float64
}

// String formats r on one line as
//
//	area=<Area> under=<Under> total=<Total> method=<Method> pieces=<Pieces> exact=<Exact>
//
// followed by " stderr=<StdErr>" for the random method. Floats use
// strconv.FormatFloat(v, 'g', -1, 64), the shortest representation that
// parses back to the same value.
func (r Result) String() string {
	s := "area=" + formatFloat(r.Area) +
		" under=" + strconv.FormatInt(r.Under, 10) +
		" total=" + strconv.FormatInt(r.Total, 10) +
		" method=" + r.Method +
		" pieces=" + strconv.Itoa(r.Pieces) +
		" exact=" + formatFloat(r.Exact)
	if r.Method == MethodRandom {
		s += " stderr=" + formatFloat(r.StdErr)
	}
	return s
}

// formatFloat formats v as Result.String documents.
func formatFloat(v float64) string {
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// Compute validates p and runs the whole computation locally, the way
// the distributed framework would, piece by piece:
//
//   - grid: the columns are cut by [Split] into p.Tasks pieces, each
//     counted with [GridCount] (sharing one precomputed grid), and the
//     counts are summed; Area is [Area] of the sums, which equals the
//     single-loop Java result.
//   - random: piece k draws [SplitSamples](p)[k] samples with
//     [RandomCount](p, k, ...), Points*Points in total; the summed
//     counts give Area and StdErr through [RandomArea].
//
// Exact is always filled with [ExactArea].
func Compute(p Params) (Result, error) {
	g, err := newGrid(p) // validates p
	if err != nil {
		return Result{}, fmt.Errorf("compute area: %w", err)
	}
	var under, total int64
	switch p.Method {
	case MethodGrid:
		for _, piece := range splitRange(len(g.cols), p.Tasks) {
			u, t := g.count(piece[0], piece[1])
			under += u
			total += t
		}
	case MethodRandom:
		for k, n := range SplitSamples(p) {
			u, t := RandomCount(p, int64(k), n)
			under += u
			total += t
		}
	}
	return Summarize(p, under, total), nil
}

// Summarize turns the summed counts of all pieces into a Result: the area
// by p.Method ([Area], or [RandomArea] with its standard error) and the
// exact reference. The distributed framework calls it with the counts its
// tasks reported; [Compute] with the counts it made locally, so both give
// the same Result for the same p.
func Summarize(p Params, under, total int64) Result {
	r := Result{Method: p.Method, Pieces: p.Tasks, Under: under, Total: total}
	if p.Method == MethodRandom {
		r.Area, r.StdErr = RandomArea(p, under, total)
	} else {
		r.Area = Area(p, under, total)
	}
	r.Exact = ExactArea(p)
	return r
}
