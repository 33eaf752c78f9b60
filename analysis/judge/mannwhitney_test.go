package judge

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	. "github.com/onsi/gomega"
)

// Hand-computed: x = [1 2 4] (baseline), y = [3 5 6] (canary).
// Pooled and ranked: 1x:1 2x:2 3y:3 4x:4 5y:5 6y:6, so R_y = 3+5+6 = 14 and
// U_y = R_y − m(m+1)/2 = 14 − 6 = 8 (pairs y>x: 2+3+3). No ties, so the p
// value is exact: of the C(6,3) = 20 equally likely orderings, U ≥ 8 for
// exactly 2 (yyy on top: U=9; the lowest y swapped with the highest x: U=8),
// so p = 2·2/20 = 0.2. scipy agrees: mannwhitneyu([3,5,6],[1,2,4],
// method="exact") = (8.0, 0.2) (testdata/reference.py).
func TestMannWhitneyHandExact(t *testing.T) {
	g := NewWithT(t)
	u, p := MannWhitney([]float64{1, 2, 4}, []float64{3, 5, 6})
	g.Expect(u).To(Equal(8.0))
	g.Expect(p).To(BeNumerically("~", 0.2, 1e-15))

	// Swapping the samples mirrors U (nm − U) and keeps p.
	u, p = MannWhitney([]float64{3, 5, 6}, []float64{1, 2, 4})
	g.Expect(u).To(Equal(1.0))
	g.Expect(p).To(BeNumerically("~", 0.2, 1e-15))
}

// Hand-computed with ties, normal approximation:
// x = [1 2 2 3 4 5 5 5 8] (n=9), y = [3 3 4 5 6 7 7 9 9 10] (m=10).
// Midranks: 1→1; 2,2→2.5; 3,3,3→5; 4,4→7.5; 5×4→10.5; 6→13; 7,7→14.5;
// 8→16; 9,9→17.5; 10→19. R_y = 5+5+7.5+10.5+13+14.5+14.5+17.5+17.5+19 = 124,
// U_y = 124 − 55 = 69. Tie groups 2,3,2,4,2,2 give Σ(t³−t) = 108, N = 19:
// Var U = 90/12·(20 − 108/342) = 147.6316, z = (|69−45| − 0.5)/12.1504 =
// 1.93410, p = 2(1−Φ(z)) = 0.05310. scipy: mannwhitneyu(y, x,
// method="asymptotic") = (69.0, 0.05310121440240597).
func TestMannWhitneyTiesAsymptotic(t *testing.T) {
	g := NewWithT(t)
	x := []float64{1, 2, 2, 3, 4, 5, 5, 5, 8}
	y := []float64{3, 3, 4, 5, 6, 7, 7, 9, 9, 10}
	s := rankSums(x, y)
	g.Expect(s.u).To(Equal(69.0))
	g.Expect(s.tieTerm).To(Equal(108.0))
	g.Expect(s.ties).To(BeTrue())
	u, p := MannWhitney(x, y)
	g.Expect(u).To(Equal(69.0))
	g.Expect(p).To(BeNumerically("~", 0.05310121440240597, 1e-12))
}

// scipy references on distinct data (testdata/reference.py):
// n=20, m=25 is within the exact range (n+m ≤ 50):
// mannwhitneyu(refY, refX, method="exact") = (399.0, 0.0004500848976055244);
// n=40, m=60 is beyond it:
// mannwhitneyu(bigY, bigX, method="asymptotic") = (1129.0, 0.6198688221136186).
func TestMannWhitneyScipy(t *testing.T) {
	g := NewWithT(t)
	u, p := MannWhitney(refX, refY)
	g.Expect(u).To(Equal(399.0))
	g.Expect(p).To(BeNumerically("~", 0.0004500848976055244, 1e-15))

	// The asymptotic formula on the same data: scipy method="asymptotic"
	// gives 0.0006938975067202533.
	s := rankSums(sortedCopy(refX), sortedCopy(refY))
	s.ties = true // force the normal approximation; no tie term is present
	g.Expect(s.tieTerm).To(Equal(0.0))
	g.Expect(s.pValue(len(refX), len(refY))).To(BeNumerically("~", 0.0006938975067202533, 1e-12))

	u, p = MannWhitney(bigX, bigY)
	g.Expect(u).To(Equal(1129.0))
	g.Expect(p).To(BeNumerically("~", 0.6198688221136186, 1e-12))
}

// The exact null distribution for small n, m, counted by hand: for n = m = 2
// the 6 orderings xxyy xyxy xyyx yxxy yxyx yyxx have U_y = 4,3,2,2,1,0; for
// n = m = 3 the counts are the partitions fitting in a 3×3 box,
// 1 1 2 3 3 3 3 2 1 1 (sum 20 = C(6,3)).
func TestUCounts(t *testing.T) {
	g := NewWithT(t)
	g.Expect(uCounts(2, 2)).To(Equal([]int64{1, 1, 2, 1, 1}))
	g.Expect(uCounts(3, 3)).To(Equal([]int64{1, 1, 2, 3, 3, 3, 3, 2, 1, 1}))
	g.Expect(uCounts(1, 4)).To(Equal([]int64{1, 1, 1, 1, 1}))
	g.Expect(uCounts(4, 1)).To(Equal([]int64{1, 1, 1, 1, 1}))
	// Every size in the exact range: counts are symmetric and sum to
	// C(n+m, n).
	for n := 1; n < exactMaxN; n++ {
		for m := 1; n+m <= exactMaxN; m++ {
			c := uCounts(n, m)
			g.Expect(c).To(HaveLen(n*m + 1))
			var sum int64
			for k := range c {
				g.Expect(c[k]).To(BeNumerically(">", 0))
				g.Expect(c[k]).To(Equal(c[n*m-k]))
				sum += c[k]
			}
			g.Expect(sum).To(Equal(binomial(n+m, n)), "n=%d m=%d", n, m)
		}
	}
}

func TestMannWhitneyEdges(t *testing.T) {
	g := NewWithT(t)
	u, p := MannWhitney(nil, []float64{1, 2})
	g.Expect(u).To(Equal(0.0))
	g.Expect(p).To(Equal(1.0))
	u, p = MannWhitney([]float64{math.NaN(), math.Inf(1)}, []float64{1, 2})
	g.Expect(u).To(Equal(0.0))
	g.Expect(p).To(Equal(1.0))
	// All equal: U = nm/2, p = 1.
	u, p = MannWhitney([]float64{5, 5, 5, 5}, []float64{5, 5, 5})
	g.Expect(u).To(Equal(6.0))
	g.Expect(p).To(Equal(1.0))
	// Complete separation with 60 per side: a tiny but positive p.
	x, y := make([]float64, 60), make([]float64, 60)
	for i := range x {
		x[i], y[i] = float64(i), float64(i+1000)
	}
	u, p = MannWhitney(x, y)
	g.Expect(u).To(Equal(3600.0))
	g.Expect(p).To(BeNumerically(">", 0))
	g.Expect(p).To(BeNumerically("<", 1e-15))
	// -0 and +0 are the same value: a tie.
	s := rankSums([]float64{0}, []float64{math.Copysign(0, -1)})
	g.Expect(s.u).To(Equal(0.5))
	g.Expect(s.ties).To(BeTrue())
}

func binomial(n, k int) int64 {
	r := int64(1)
	for i := 1; i <= k; i++ {
		r = r * int64(n-k+i) / int64(i)
	}
	return r
}

func sortedCopy(v []float64) []float64 {
	s, _ := finiteSorted(v)
	return s
}

func TestSortFloats(t *testing.T) {
	g := NewWithT(t)
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 100, 511, 512, 513, 5000} {
		for mode := range 4 {
			v := make([]float64, n)
			for i := range v {
				switch mode {
				case 0:
					v[i] = rng.NormFloat64() * 1e3
				case 1:
					v[i] = float64(rng.IntN(5)) // ties, one byte differs
				case 2:
					v[i] = math.Float64frombits(rng.Uint64()) // any bits
					if math.IsNaN(v[i]) {
						v[i] = math.Inf(int(rng.IntN(2))*2 - 1)
					}
				default:
					v[i] = 42
				}
			}
			want := slices.Clone(v)
			slices.Sort(want)
			sortFloats(v)
			g.Expect(v).To(Equal(want), "n=%d mode=%d", n, mode)
		}
	}
}
