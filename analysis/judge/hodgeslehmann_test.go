package judge

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	. "github.com/onsi/gomega"
)

// Hand-computed: x = [1 2 4], y = [3 5 6]. The nine differences y_j − x_i:
// 3−1=2 3−2=1 3−4=−1 5−1=4 5−2=3 5−4=1 6−1=5 6−2=4 6−4=2, sorted
// −1 1 1 2 2 3 4 4 5; the median (5th) is 2.
// Interval ranks: nm = 9, σ = √(9·7/12) = 2.2913.
//   - 90%: z = 1.6449, C = ⌊4.5 − 3.7690 + 0.5⌋ = 1 → [D(1), D(9)] = [−1, 5].
//   - 50%: z = 0.6745, C = ⌊4.5 − 1.5455 + 0.5⌋ = 3 → [D(3), D(7)] = [1, 4].
//   - 20%: z = 0.2533, C = ⌊4.5 − 0.5805 + 0.5⌋ = 4 → [D(4), D(6)] = [2, 3].
func TestHodgesLehmannHand(t *testing.T) {
	g := NewWithT(t)
	x, y := []float64{1, 2, 4}, []float64{3, 5, 6}
	for _, c := range []struct{ conf, est, lo, hi float64 }{
		{0.90, 2, -1, 5},
		{0.50, 2, 1, 4},
		{0.20, 2, 2, 3},
	} {
		est, lo, hi := HodgesLehmann(x, y, c.conf)
		g.Expect([]float64{est, lo, hi}).To(Equal([]float64{c.est, c.lo, c.hi}), "confidence %v", c.conf)
	}
	// Even nm: x = [0 10], y = [1 2]: differences −9 −8 1 2, median (−8+1)/2.
	est, _, _ := HodgesLehmann([]float64{0, 10}, []float64{1, 2}, 0.5)
	g.Expect(est).To(Equal(-3.5))
}

// Hand-computed ranks C for larger samples, against the formula's pieces:
// n = m = 10, 98%: σ = √(100·21/12) = 13.2288, z = 2.3263,
// nm/2 − zσ + 1/2 = 50 − 30.774 + 0.5 = 19.73 → C = 19.
// n = m = 3 at 98%: 4.5 − 5.33 + 0.5 < 1 → clamped to 1.
func TestCIRank(t *testing.T) {
	g := NewWithT(t)
	g.Expect(ciRank(10, 10, 0.98)).To(Equal(int64(19)))
	g.Expect(ciRank(3, 3, 0.98)).To(Equal(int64(1)))
	g.Expect(ciRank(3, 3, MaxConfidence)).To(Equal(int64(1)))
	g.Expect(ciRank(100, 100, 1e-9)).To(Equal(int64(5000))) // z ≈ 0: the median
}

// scipy/numpy references (testdata/reference.py): the estimate is
// numpy.median(numpy.subtract.outer(y, x)) and the intervals are found by
// inverting scipy's asymptotic, continuity-corrected Mann-Whitney test over
// every gap between sorted differences: the bounds are the differences at the
// ends of the run of shifts that the test does not reject at 1−confidence.
// That is the definition of the Moses interval, reached without our rank
// formula. Our differences are the same IEEE float64 subtractions, so the
// values match exactly.
func TestHodgesLehmannScipy(t *testing.T) {
	g := NewWithT(t)
	for _, c := range []struct {
		name         string
		x, y         []float64
		conf         float64
		est, lo, upp float64
	}{
		{"n20m25 98%", refX, refY, 0.98, 2.2699999999999996, 0.7839999999999989, 3.7169999999999996},
		{"n20m25 90%", refX, refY, 0.90, 2.2699999999999996, 1.1050000000000004, 3.2720000000000002},
		{"n20m25 50%", refX, refY, 0.5, 2.2699999999999996, 1.6639999999999997, 2.612},
		{"n40m60 98%", bigX, bigY, 0.98, -1.3699999999999974, -8.688999999999993, 5.904000000000011},
		{"n40m60 95%", bigX, bigY, 0.95, -1.3699999999999974, -7.585000000000008, 4.936000000000007},
	} {
		est, lo, hi := HodgesLehmann(c.x, c.y, c.conf)
		g.Expect(est).To(Equal(c.est), c.name)
		g.Expect(lo).To(Equal(c.lo), c.name)
		g.Expect(hi).To(Equal(c.upp), c.name)
	}
	// With ties: x = [1 2 2 3 4 5 5 5 8], y = [3 3 4 5 6 7 7 9 9 10];
	// numpy.median(numpy.subtract.outer(y, x)) = 2.0.
	est, _, _ := HodgesLehmann([]float64{1, 2, 2, 3, 4, 5, 5, 5, 8}, []float64{3, 3, 4, 5, 6, 7, 7, 9, 9, 10}, 0.98)
	g.Expect(est).To(Equal(2.0))
}

func TestHodgesLehmannEdges(t *testing.T) {
	g := NewWithT(t)
	est, lo, hi := HodgesLehmann(nil, []float64{1}, 0.98)
	g.Expect(math.IsNaN(est) && math.IsNaN(lo) && math.IsNaN(hi)).To(BeTrue())
	est, lo, hi = HodgesLehmann([]float64{math.NaN()}, []float64{1}, 0.98)
	g.Expect(math.IsNaN(est) && math.IsNaN(lo) && math.IsNaN(hi)).To(BeTrue())
	// One pair.
	est, lo, hi = HodgesLehmann([]float64{2}, []float64{5}, 0.98)
	g.Expect([]float64{est, lo, hi}).To(Equal([]float64{3, 3, 3}))
	// Overflowing differences are ±Inf, never NaN; the median of −Inf and
	// +Inf is 0 by definition.
	est, lo, hi = HodgesLehmann([]float64{math.MaxFloat64}, []float64{-math.MaxFloat64}, 0.98)
	g.Expect([]float64{est, lo, hi}).To(Equal([]float64{math.Inf(-1), math.Inf(-1), math.Inf(-1)}))
	est, lo, hi = HodgesLehmann([]float64{-math.MaxFloat64, math.MaxFloat64}, []float64{-math.MaxFloat64, math.MaxFloat64}, 0.98)
	g.Expect([]float64{est, lo, hi}).To(Equal([]float64{0, math.Inf(-1), math.Inf(1)}))
	// Confidence out of range is clamped, not an error.
	for _, c := range []float64{math.NaN(), -1, 0, 1, 7, math.Inf(1)} {
		est, lo, hi = HodgesLehmann([]float64{1, 2, 4}, []float64{3, 5, 6}, c)
		g.Expect([]float64{est, lo, hi}).To(Equal([]float64{2, -1, 5}), "confidence %v", c)
	}
}

// bruteHodgesLehmann materialises and sorts all differences.
func bruteHodgesLehmann(x, y []float64, conf float64) (d []float64, est, lo, hi float64) {
	xs, ys := sortedCopy(x), sortedCopy(y)
	for _, a := range xs {
		for _, b := range ys {
			d = append(d, b-a)
		}
	}
	slices.Sort(d)
	n := len(d)
	if n%2 == 1 {
		est = d[n/2]
	} else {
		est = midpoint(d[n/2-1], d[n/2])
	}
	c := ciRank(len(xs), len(ys), clampConfidence(conf))
	return d, est, d[c-1], d[n-int(c)]
}

// randomSample draws small samples with many ties and duplicates: values from
// a coarse grid, sometimes arbitrary floats, sometimes a constant run.
func randomSample(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	mode := rng.IntN(4)
	for i := range v {
		switch mode {
		case 0:
			v[i] = float64(rng.IntN(7)-3) / 2 // heavy ties
		case 1:
			v[i] = rng.NormFloat64() * 10
		case 2:
			v[i] = 4 // all equal
		default:
			if rng.IntN(2) == 0 {
				v[i] = float64(rng.IntN(3))
			} else {
				v[i] = rng.ExpFloat64() * 1e3
			}
		}
	}
	return v
}

// Property: every order statistic found by selection equals the sorted brute
// force exactly, for every rank, whatever the listing budget (0 forces pure
// probing to the end; small budgets end by listing small windows), the
// random sample's seed and whether the sample is used at all.
func TestSelectionMatchesBruteForce(t *testing.T) {
	g := NewWithT(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 3000 {
		x := randomSample(rng, 1+rng.IntN(14))
		y := randomSample(rng, 1+rng.IntN(14))
		conf := []float64{0.98, 0.9, 0.5, 0.2}[rng.IntN(4)]
		d, est, lo, hi := bruteHodgesLehmann(x, y, conf)

		e2, l2, h2 := HodgesLehmann(x, y, conf)
		g.Expect([]float64{e2, l2, h2}).To(Equal([]float64{est, lo, hi}), "iter %d x=%v y=%v", iter, x, y)

		m := newDiffMatrix(sortedCopy(x), sortedCopy(y))
		m.budget = []int64{0, 1, 3, 10}[iter%4]
		m.seed = uint64(iter)
		m.noSample = iter%8 >= 4 // then interpolation and bisection only
		for k := int64(1); k <= int64(len(d)); k++ {
			v, next := m.kth(m.full(), k, true)
			g.Expect(v).To(Equal(d[k-1]), "iter %d k=%d x=%v y=%v", iter, k, x, y)
			if k < int64(len(d)) {
				g.Expect(next).To(Equal(d[k]), "next: iter %d k=%d x=%v y=%v", iter, k, x, y)
			}
		}
		e3, l3, h3 := m.hodgesLehmann(clampConfidence(conf))
		g.Expect([]float64{e3, l3, h3}).To(Equal([]float64{est, lo, hi}), "iter %d budget %d", iter, m.budget)
	}
}

// Larger inputs that go through sampling and interpolation with the default
// budget, still checked against brute force at the ranks that matter.
func TestSelectionLargeMatchesBruteForce(t *testing.T) {
	g := NewWithT(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for iter := range 12 {
		x := randomSample(rng, 100+rng.IntN(300))
		y := randomSample(rng, 100+rng.IntN(300))
		d, est, lo, hi := bruteHodgesLehmann(x, y, 0.98)
		e2, l2, h2 := HodgesLehmann(x, y, 0.98)
		g.Expect([]float64{e2, l2, h2}).To(Equal([]float64{est, lo, hi}), "iter %d", iter)
		m := newDiffMatrix(sortedCopy(x), sortedCopy(y))
		for range 40 {
			k := 1 + rng.Int64N(int64(len(d)))
			v, next := m.kth(m.full(), k, true)
			g.Expect(v).To(Equal(d[k-1]), "iter %d k=%d", iter, k)
			if k < int64(len(d)) {
				g.Expect(next).To(Equal(d[k]), "next: iter %d k=%d", iter, k)
			}
		}
		// From a shared bracket, every rank inside it.
		kLo := 1 + rng.Int64N(int64(len(d)))
		kHi := min(kLo+rng.Int64N(int64(len(d))/10+1), int64(len(d)))
		w := m.bracket(kLo, kHi)
		g.Expect(w.cntLo < kLo && kHi <= w.cntHi).To(BeTrue())
		for k := kLo; k <= kHi; k += 1 + (kHi-kLo)/50 {
			v, _ := m.kth(w, k, false)
			g.Expect(v).To(Equal(d[k-1]), "bracketed: iter %d k=%d", iter, k)
		}
		v, _ := m.kth(m.full(), 1, false)
		g.Expect(v).To(Equal(d[0]))
		v, _ = m.kth(m.full(), int64(len(d)), false)
		g.Expect(v).To(Equal(d[len(d)-1]))
	}
}

func TestOrderKey(t *testing.T) {
	g := NewWithT(t)
	vals := []float64{math.Inf(-1), -math.MaxFloat64, -1, -math.SmallestNonzeroFloat64, math.Copysign(0, -1), 0,
		math.SmallestNonzeroFloat64, 1, math.MaxFloat64, math.Inf(1)}
	for i := range vals {
		g.Expect(fromOrderKey(orderKey(vals[i]))).To(Equal(vals[i]))
		if i > 0 {
			g.Expect(orderKey(vals[i-1]) < orderKey(vals[i])).To(BeTrue(), "%v < %v", vals[i-1], vals[i])
		}
		for j := i + 1; j < len(vals); j++ {
			m := keyMidpoint(vals[i], vals[j])
			g.Expect(m >= vals[i] && m <= vals[j] && !math.IsNaN(m)).To(BeTrue(), "mid(%v, %v) = %v", vals[i], vals[j], m)
			g.Expect(orderKey(m) < orderKey(vals[j])).To(BeTrue())
		}
	}
}

func TestSelectKth(t *testing.T) {
	g := NewWithT(t)
	rng := rand.New(rand.NewPCG(5, 6))
	for range 500 {
		a := randomSample(rng, 1+rng.IntN(200))
		s := slices.Clone(a)
		slices.Sort(s)
		k := rng.IntN(len(a))
		g.Expect(selectKth(slices.Clone(a), k)).To(Equal(s[k]))
	}
}

func TestMidpoint(t *testing.T) {
	g := NewWithT(t)
	g.Expect(midpoint(1, 2)).To(Equal(1.5))
	g.Expect(midpoint(math.MaxFloat64, math.MaxFloat64)).To(Equal(math.MaxFloat64))
	g.Expect(midpoint(math.MaxFloat64/2*1.5, math.MaxFloat64)).To(BeNumerically(">", math.MaxFloat64/2))
	g.Expect(midpoint(-math.MaxFloat64, math.MaxFloat64)).To(Equal(0.0))
	g.Expect(midpoint(math.Inf(-1), 3)).To(Equal(math.Inf(-1)))
	g.Expect(midpoint(math.Inf(-1), math.Inf(1))).To(Equal(0.0))
}
