package judge

import (
	"math"
	"slices"
)

// exactMaxN is the largest pooled sample size for which MannWhitney computes
// the exact null distribution of U (when there are no ties). The counts of
// that distribution are the coefficients of a Gaussian binomial coefficient,
// at most C(50,25) ≈ 1.3e14, so they stay exact in int64 and the work,
// O(min(n,m)·n·m), is trivial. Beyond it the normal approximation is good:
// at n = m = 25 its error in p is a few percent of p itself.
const exactMaxN = 50

// MannWhitney runs the two-sided Mann-Whitney U test (Wilcoxon rank-sum test)
// of x (the baseline) against y (the canary). Non-finite values are ignored.
//
// u is the U statistic of y: the number of pairs (x_i, y_j) with y_j > x_i,
// plus one half for each pair with y_j = x_i. It is n·m/2 under no change and
// grows when y tends to be larger; it equals scipy's
// mannwhitneyu(y, x).statistic.
//
// p is the two-sided p-value:
//   - exact when there are no ties in the pooled sample and
//     n + m ≤ 50: p = min(1, 2·P(U ≥ max(u, nm−u))) under the exact null
//     distribution of U (all C(n+m, n) orderings equally likely);
//   - otherwise from the normal approximation with the tie correction
//     Var U = nm/12 · ((N+1) − Σ(t³−t)/(N(N−1))), N = n+m, t running over
//     the sizes of the groups of equal values, and a continuity correction
//     of 1/2: z = (|u − nm/2| − 1/2)/√Var U, p = min(1, 2(1−Φ(z))).
//
// With an empty side, or when all values are equal, there is no evidence of a
// difference: u is 0 or nm/2 and p is 1.
func MannWhitney(x, y []float64) (u, p float64) {
	xs, _ := finiteSorted(x)
	ys, _ := finiteSorted(y)
	s := rankSums(xs, ys)
	return s.u, s.pValue(len(xs), len(ys))
}

// uStats is what one merge of the two sorted samples yields.
type uStats struct {
	u       float64 // U of y, see MannWhitney
	tieTerm float64 // Σ(t³−t) over the groups of equal values in the pooled sample
	ties    bool    // some value occurs more than once in the pooled sample
}

// rankSums computes U and the tie statistics from sorted x and y in one merge,
// O(n+m): each distinct value v contributes, for the c_y copies of v in y,
// the #{x < v} pairs it beats and half of the c_x pairs it ties. This is the
// rank-sum definition (midranks for ties) without forming ranks.
func rankSums(x, y []float64) uStats {
	var s uStats
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		var v float64
		switch {
		case j == len(y):
			v = x[i]
		case i == len(x):
			v = y[j]
		default:
			v = min(x[i], y[j])
		}
		below := i
		for i < len(x) && x[i] == v {
			i++
		}
		j0 := j
		for j < len(y) && y[j] == v {
			j++
		}
		cx, cy := float64(i-below), float64(j-j0)
		s.u += cy * (float64(below) + cx/2)
		if t := cx + cy; t > 1 {
			s.tieTerm += t*t*t - t
			s.ties = true
		}
	}
	return s
}

// pValue is the two-sided p-value for samples of sizes n and m, as documented
// on MannWhitney.
func (s uStats) pValue(n, m int) float64 {
	if n == 0 || m == 0 {
		return 1
	}
	nm := float64(n) * float64(m)
	if !s.ties && n+m <= exactMaxN {
		return exactPValue(s.u, n, m)
	}
	big := float64(n + m)
	variance := nm / 12 * ((big + 1) - s.tieTerm/(big*(big-1)))
	if !(variance > 0) {
		return 1 // every value equal: nothing to test
	}
	z := (math.Abs(s.u-nm/2) - 0.5) / math.Sqrt(variance)
	if !(z > 0) {
		return 1
	}
	// 2(1−Φ(z)) = erfc(z/√2), computed without cancellation in the tail.
	return min(1, math.Erfc(z/math.Sqrt2))
}

// exactPValue is min(1, 2·P(U ≥ max(u, nm−u))) under the exact null
// distribution; the distribution is symmetric about nm/2, so doubling one
// tail is the two-sided p-value.
func exactPValue(u float64, n, m int) float64 {
	counts := uCounts(n, m)
	nm := n * m
	hi := int(math.Round(max(u, float64(nm)-u)))
	var tail, total int64
	for k, c := range counts {
		total += c
		if k >= hi {
			tail += c
		}
	}
	return min(1, 2*float64(tail)/float64(total))
}

// uCounts returns c[k] = the number of orderings of n x's and m y's whose U is
// k, for k = 0..nm. U counts the (x, y) pairs in which y comes later, so these
// are the numbers of lattice paths in an n×m box with k cells under them:
// the coefficients of the Gaussian binomial coefficient
//
//	[n+m choose n]_q = ∏_{i=1..n} (1 − q^(m+i)) / (1 − q^i).
//
// The product is built one factor at a time; after factor i the polynomial is
// [m+i choose i]_q, so every division is exact and every coefficient stays a
// nonnegative integer of at most C(n+m, n) (between the two half-steps at
// most twice that).
func uCounts(n, m int) []int64 {
	if n > m {
		n, m = m, n // same polynomial, fewer factors
	}
	c := make([]int64, n*m+n+1)
	c[0] = 1
	deg := 0
	for i := 1; i <= n; i++ {
		// Multiply by (1 − q^(m+i)).
		top := deg + m + i
		for k := top; k >= m+i; k-- {
			c[k] -= c[k-(m+i)]
		}
		// Divide by (1 − q^i): quotient coefficients satisfy
		// c'[k] = c[k] + c'[k−i].
		deg = top - i
		for k := i; k <= deg; k++ {
			c[k] += c[k-i]
		}
		// The remainder is zero; clear the product's leftover top terms.
		clear(c[deg+1 : top+1])
	}
	return c[:n*m+1]
}

// finiteSorted returns the finite values of v, sorted ascending, in a new
// slice (the caller's slice is never modified), and how many were dropped.
// -0 becomes +0 so that no difference of two samples is ever -0 and
// order statistics compare equal whichever zero a sort puts first.
func finiteSorted(v []float64) (out []float64, dropped int) {
	out = make([]float64, 0, len(v))
	for _, f := range v {
		switch {
		case math.IsNaN(f) || math.IsInf(f, 0):
			dropped++
		case f == 0:
			out = append(out, 0)
		default:
			out = append(out, f)
		}
	}
	sortFloats(out)
	return out, dropped
}

// sortFloats sorts NaN-free v ascending. Sorting is a third of Compare's time
// at 10,000 samples a side, so large inputs get an LSD radix sort on the
// order-preserving integer keys of the floats (orderKey): 8 passes of one
// byte, skipping the bytes that all keys share (the sign and exponent of
// samples of one magnitude), about twice as fast as a comparison sort here.
func sortFloats(v []float64) {
	if len(v) < 512 {
		slices.Sort(v)
		return
	}
	keys := make([]uint64, len(v))
	tmp := make([]uint64, len(v))
	var counts [8][256]int
	for i, f := range v {
		k := orderKey(f)
		keys[i] = k
		for d := range counts {
			counts[d][byte(k>>(8*d))]++
		}
	}
	for d := range counts {
		c := &counts[d]
		shift := 8 * uint(d)
		if c[byte(keys[0]>>shift)] == len(keys) {
			continue // every key has this byte: the pass would not move anything
		}
		sum := 0
		for b, n := range c {
			c[b] = sum
			sum += n
		}
		for _, k := range keys {
			b := byte(k >> shift)
			tmp[c[b]] = k
			c[b]++
		}
		keys, tmp = tmp, keys
	}
	for i, k := range keys {
		v[i] = fromOrderKey(k)
	}
}
