// Package area holds the mathematics of the MonteCarloArea example
// framework: it estimates the area under a polynomial-like curve
// f(x) = sum(c_i * x^e_i) inside an axis-parallel rectangle
// [XLow, XHigh] x [YLow, YHigh].
//
// The package is a faithful Go port of the Java MonteCarloArea code
// (Term.fromString, Expression.fromString and the nested loop of
// MonteCarloExecutor.launchTask):
//
//	for (double x=xLow; x<=xHigh; x+=(xHigh-xLow)/n)
//	    for (double y=yLow; y<=yHigh; y+=(yHigh-yLow)/n) {
//	        if (expression.evaluate(x) >= y) pointsUnderCurve++;
//	        totalPoints++;
//	    }
//	area = (xHigh-xLow)*(yHigh-yLow) * pointsUnderCurve/totalPoints;
//
// Both loop variables accumulate their step with floating-point addition
// and both bounds are inclusive, so the grid has about Points+1 columns
// and Points+1 rows (the exact number depends on rounding). A point
// counts as "under" the curve when y <= f(x), ties included; a NaN f(x)
// (for example a fractional power of a negative x) counts no points.
//
// [OracleCount] is that loop verbatim (restricted to a range of column
// indices); [GridCount] returns bit-for-bit the same counts in
// O(Points log Points) time by binary-searching the precomputed row
// values. [Split] cuts the columns into contiguous pieces, one per task,
// and [Compute] runs the whole computation locally. A Monte Carlo
// variant ([RandomCount], [RandomArea]) and a numerical reference
// ([ExactArea]) are provided as well.
//
// The package uses only the standard library.
package area
