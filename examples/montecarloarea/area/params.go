package area

import (
	"errors"
	"fmt"
	"math"
)

// Methods accepted in [Params.Method].
const (
	// MethodGrid counts the points of the regular grid of the Java
	// executor loop.
	MethodGrid = "grid"
	// MethodRandom counts uniformly distributed random points.
	MethodRandom = "random"
)

// MaxPoints is the largest accepted [Params.Points].
const MaxPoints = 1_000_000

// Params describes one area computation.
type Params struct {
	// Expr is the curve f.
	Expr Expression
	// XLow and XHigh bound the rectangle horizontally (XLow < XHigh).
	XLow, XHigh float64
	// YLow and YHigh bound the rectangle vertically (YLow < YHigh).
	YLow, YHigh float64
	// Points is the number of grid steps per axis (the Java n), in
	// [1, MaxPoints]. The grid has about Points+1 columns and rows; the
	// random method draws Points*Points samples.
	Points int
	// Tasks is the number of pieces the work is split into, in
	// [1, Points+1].
	Tasks int
	// Method is MethodGrid or MethodRandom.
	Method string
	// Seed seeds the random method; it is ignored by the grid method.
	Seed int64
}

// Validate reports the first problem with p, or nil. It checks that the
// expression has at least one term, that all bounds and their
// differences are finite, that XLow < XHigh and YLow < YHigh, that
// 1 <= Points <= MaxPoints, that 1 <= Tasks <= Points+1, that Method is
// "grid" or "random", and that the accumulated grid of the Java loop is
// well formed: every step must advance x (and y) despite rounding, which
// fails when the range is too narrow for its magnitude (for example
// x in [1e15, 1e15+1] with a million points), where the Java loop would
// never end.
func (p Params) Validate() error {
	_, _, err := p.check()
	return err
}

// check validates p and returns the accumulated column and row values.
func (p Params) check() (cols, rows []float64, err error) {
	if err := p.checkScalars(); err != nil {
		return nil, nil, fmt.Errorf("invalid parameters: %w", err)
	}
	cols, err = accumulate(p.XLow, p.XHigh, p.Points)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid parameters: x grid: %w", err)
	}
	rows, err = accumulate(p.YLow, p.YHigh, p.Points)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid parameters: y grid: %w", err)
	}
	return cols, rows, nil
}

// checkScalars validates everything except the grid accumulation.
func (p Params) checkScalars() error {
	if len(p.Expr.Terms) == 0 {
		return errors.New("expression has no terms")
	}
	for _, b := range []struct {
		name string
		v    float64
	}{{"xLow", p.XLow}, {"xHigh", p.XHigh}, {"yLow", p.YLow}, {"yHigh", p.YHigh}} {
		if math.IsNaN(b.v) || math.IsInf(b.v, 0) {
			return fmt.Errorf("%s must be finite, got %v", b.name, b.v)
		}
	}
	if !(p.XLow < p.XHigh) {
		return fmt.Errorf("xLow (%g) must be less than xHigh (%g)", p.XLow, p.XHigh)
	}
	if !(p.YLow < p.YHigh) {
		return fmt.Errorf("yLow (%g) must be less than yHigh (%g)", p.YLow, p.YHigh)
	}
	if math.IsInf(p.XHigh-p.XLow, 0) {
		return fmt.Errorf("x range xHigh-xLow overflows (%g - %g)", p.XHigh, p.XLow)
	}
	if math.IsInf(p.YHigh-p.YLow, 0) {
		return fmt.Errorf("y range yHigh-yLow overflows (%g - %g)", p.YHigh, p.YLow)
	}
	if p.Points < 1 || p.Points > MaxPoints {
		return fmt.Errorf("points must be between 1 and %d, got %d", MaxPoints, p.Points)
	}
	if p.Tasks < 1 || p.Tasks > p.Points+1 {
		return fmt.Errorf("tasks must be between 1 and points+1 (%d), got %d", p.Points+1, p.Tasks)
	}
	if p.Method != MethodGrid && p.Method != MethodRandom {
		return fmt.Errorf("method must be %q or %q, got %q", MethodGrid, MethodRandom, p.Method)
	}
	return nil
}

// accumulate enumerates v = lo, v += (hi-lo)/n while v <= hi, exactly as
// the Java loop does. It stops with an error, returning the values so
// far, when a step does not advance v (the Java loop would not
// terminate) or when the sequence grows past 2n+2 values; for n outside
// [1, MaxPoints] it returns nil and an error.
func accumulate(lo, hi float64, n int) ([]float64, error) {
	if n < 1 || n > MaxPoints {
		return nil, fmt.Errorf("points must be between 1 and %d, got %d", MaxPoints, n)
	}
	step := (hi - lo) / float64(n)
	limit := 2*n + 2
	vals := make([]float64, 0, n+2)
	for v := lo; v <= hi; v += step {
		if len(vals) == limit {
			return vals, fmt.Errorf("more than %d values accumulated from %g to %g with step %g", limit, lo, hi, step)
		}
		vals = append(vals, v)
		if !(v+step > v) {
			return vals, fmt.Errorf("step %g is lost to rounding at %g (range [%g, %g] too narrow for its magnitude with %d points)", step, v, lo, hi, n)
		}
	}
	return vals, nil
}

// Columns returns the x values of the grid columns in order: x_0 = XLow,
// x_{i+1} = x_i + (XHigh-XLow)/Points, for as long as x_i <= XHigh. The
// step is accumulated with floating-point addition exactly as in the
// Java loop, so there are Points or Points+1 columns (occasionally
// another count for ranges that are narrow for their magnitude), and
// the last one need not equal XHigh. Column indices used by
// [OracleCount], [GridCount] and [Split] index this slice. For
// parameters that fail [Params.Validate] the result may be truncated or
// nil.
func Columns(p Params) []float64 {
	cols, _ := accumulate(p.XLow, p.XHigh, p.Points)
	return cols
}

// Rows returns the y values of the grid rows in ascending order, built
// by the same accumulation rule as [Columns]: y_0 = YLow,
// y_{j+1} = y_j + (YHigh-YLow)/Points, while y_j <= YHigh. For
// parameters that fail [Params.Validate] the result may be truncated or
// nil.
func Rows(p Params) []float64 {
	rows, _ := accumulate(p.YLow, p.YHigh, p.Points)
	return rows
}
