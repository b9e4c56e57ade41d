package area

import (
	"math"
	"math/rand/v2"
)

// RandomCount draws samples points uniformly from the rectangle of p and
// returns how many lie on or under the curve (y <= f(x), the grid
// method's test; a NaN f(x) counts as above) and total = samples.
//
// The generator is a math/rand/v2 PCG whose two seed words are
// splitmix64(p.Seed) and splitmix64(piece ^ 0x9e3779b97f4a7c15), so a
// given (Seed, piece, samples) always gives the same counts and
// different pieces use unrelated streams. Each sample takes x first,
// then y: x = XLow + (XHigh-XLow)*u1, y = YLow + (YHigh-YLow)*u2 with
// u1, u2 from rand.Float64 in [0, 1). A non-positive samples gives
// (0, 0). RandomCount does not validate p.
func RandomCount(p Params, piece, samples int64) (under, total int64) {
	if samples <= 0 {
		return 0, 0
	}
	rng := rand.New(rand.NewPCG(splitmix64(uint64(p.Seed)), splitmix64(uint64(piece)^0x9e3779b97f4a7c15)))
	dx, dy := p.XHigh-p.XLow, p.YHigh-p.YLow
	for range samples {
		// The conversions forbid FMA fusion so results do not depend on
		// the architecture.
		x := p.XLow + float64(dx*rng.Float64())
		y := p.YLow + float64(dy*rng.Float64())
		if p.Expr.Evaluate(x) >= y {
			under++
		}
	}
	return under, samples
}

// splitmix64 is the SplitMix64 finaliser, used to spread seed bits.
func splitmix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// SplitSamples divides the Points*Points samples of the random method
// among p.Tasks pieces: piece k gets Points*Points/Tasks samples plus
// one for the first Points*Points mod Tasks pieces, so the shares sum to
// exactly Points*Points. It returns nil if p.Tasks < 1 or p.Points < 1.
// Note that the random method costs O(Points*Points) evaluations of f,
// unlike the O(Points log Points) grid method.
func SplitSamples(p Params) []int64 {
	if p.Tasks < 1 || p.Points < 1 {
		return nil
	}
	n := int64(p.Points) * int64(p.Points)
	k := int64(p.Tasks)
	out := make([]int64, p.Tasks)
	for i := range out {
		out[i] = n / k
		if int64(i) < n%k {
			out[i]++
		}
	}
	return out
}

// RandomArea turns random-method counts into an estimate and its
// standard error. With A = (XHigh-XLow)*(YHigh-YLow) and
// phat = under/total, the estimate is A*phat (computed as [Area]) and
// the standard error of that binomial proportion estimate is
//
//	stdErr = A * sqrt(phat*(1-phat)/total).
//
// It is 0 when phat is 0 or 1 and both values are NaN when total is 0.
func RandomArea(p Params, under, total int64) (area, stdErr float64) {
	area = Area(p, under, total)
	phat := float64(under) / float64(total)
	rect := (p.XHigh - p.XLow) * (p.YHigh - p.YLow)
	stdErr = rect * math.Sqrt(phat*(1-phat)/float64(total))
	return area, stdErr
}
