package area

import (
	"math"
	"sort"
)

// OracleCount is the Java executor loop verbatim, restricted to the
// column indices [xFrom, xTo):
//
//	for x := XLow; x <= XHigh; x += (XHigh-XLow)/Points      // column i
//	    for y := YLow; y <= YHigh; y += (YHigh-YLow)/Points {
//	        if f(x) >= y { under++ }
//	        total++
//	    }
//
// It costs O(columns * rows) evaluations of f and serves as the oracle
// for [GridCount]. Column indices are those of [Columns]; the range is
// clipped to the existing columns and an empty range counts nothing. If
// p fails [Params.Validate] the result is (0, 0).
func OracleCount(p Params, xFrom, xTo int) (under, total int64) {
	if p.Validate() != nil {
		return 0, 0
	}
	xStep := (p.XHigh - p.XLow) / float64(p.Points)
	yStep := (p.YHigh - p.YLow) / float64(p.Points)
	i := 0
	for x := p.XLow; x <= p.XHigh && i < xTo; x += xStep {
		if i >= xFrom {
			for y := p.YLow; y <= p.YHigh; y += yStep {
				value := p.Expr.Evaluate(x)
				if value >= y {
					under++
				}
				total++
			}
		}
		i++
	}
	return under, total
}

// GridCount returns exactly the counts of [OracleCount] for the same
// arguments in O(Points + (xTo-xFrom) log Points) time: it builds the
// accumulated row values once ([Rows], ascending) and, for each column x
// in [xFrom, xTo), binary-searches the number of rows y with y <= f(x),
// which is the oracle's test f(x) >= y, ties included. A NaN f(x)
// counts no rows, as NaN >= y is false. If p fails [Params.Validate]
// the result is (0, 0).
func GridCount(p Params, xFrom, xTo int) (under, total int64) {
	g, err := newGrid(p)
	if err != nil {
		return 0, 0
	}
	return g.count(xFrom, xTo)
}

// grid caches the accumulated columns and rows of valid parameters.
type grid struct {
	expr Expression
	cols []float64
	rows []float64
}

// newGrid validates p and accumulates its columns and rows.
func newGrid(p Params) (*grid, error) {
	cols, rows, err := p.check()
	if err != nil {
		return nil, err
	}
	return &grid{expr: p.Expr, cols: cols, rows: rows}, nil
}

// count implements GridCount for the columns [xFrom, xTo).
func (g *grid) count(xFrom, xTo int) (under, total int64) {
	xFrom, xTo = clipRange(xFrom, xTo, len(g.cols))
	for _, x := range g.cols[xFrom:xTo] {
		under += int64(countAtOrBelow(g.rows, g.expr.Evaluate(x)))
	}
	return under, int64(xTo-xFrom) * int64(len(g.rows))
}

// countAtOrBelow returns the number of values in the ascending slice ys
// that are <= v, i.e. for which v >= y holds; NaN gives 0.
func countAtOrBelow(ys []float64, v float64) int {
	if math.IsNaN(v) {
		return 0
	}
	return sort.Search(len(ys), func(i int) bool { return ys[i] > v })
}

// clipRange clips [from, to) to [0, n); an empty range becomes [from, from).
func clipRange(from, to, n int) (int, int) {
	from = min(max(from, 0), n)
	to = min(max(to, from), n)
	return from, to
}

// Split cuts the columns of p (see [Columns]) into p.Tasks contiguous
// pieces [from, to) in order. Their union is every column, and their
// sizes differ by at most one (the first len(Columns) mod Tasks pieces
// get the extra column); a piece is empty only when there are fewer
// columns than tasks. Because every column lies in exactly one piece,
// the counts of the pieces add up exactly to the count of all columns.
// If p fails [Params.Validate] the result is nil.
func Split(p Params) [][2]int {
	cols, _, err := p.check()
	if err != nil {
		return nil
	}
	return splitRange(len(cols), p.Tasks)
}

// splitRange cuts [0, n) into k contiguous pieces whose sizes differ by
// at most one.
func splitRange(n, k int) [][2]int {
	pieces := make([][2]int, k)
	base, extra := n/k, n%k
	from := 0
	for i := range pieces {
		size := base
		if i < extra {
			size++
		}
		pieces[i] = [2]int{from, from + size}
		from += size
	}
	return pieces
}

// Area converts counts to an area exactly as the Java executor does:
// (XHigh-XLow)*(YHigh-YLow)*under/total, evaluated left to right. It is
// NaN when total is 0.
func Area(p Params, under, total int64) float64 {
	return (p.XHigh - p.XLow) * (p.YHigh - p.YLow) * float64(under) / float64(total)
}
