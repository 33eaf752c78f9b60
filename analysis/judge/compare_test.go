package judge

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/onsi/gomega"
)

// normal draws n samples of N(mu, sd) from a fixed seed.
func normal(seed uint64, n int, mu, sd float64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 99))
	v := make([]float64, n)
	for i := range v {
		v[i] = mu + sd*rng.NormFloat64()
	}
	return v
}

func scaled(v []float64, f float64) []float64 {
	out := make([]float64, len(v))
	for i := range v {
		out[i] = v[i] * f
	}
	return out
}

func TestCompareDecisions(t *testing.T) {
	base := normal(1, 300, 100, 5)
	same := normal(2, 300, 100, 5)
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []struct {
		name             string
		baseline, canary []float64
		o                Options
		class            Classification
		failed           bool
		msg              string // substring of Message
		check            func(g Gomega, r MetricResult)
	}{
		{name: "clear increase fails by default", baseline: base, canary: normal(3, 300, 130, 5),
			class: ClassHigh, failed: true, msg: "higher than allowed",
			check: func(g Gomega, r MetricResult) {
				g.Expect(r.Shift).To(BeNumerically("~", 30, 1.5))
				g.Expect(r.Lower).To(BeNumerically(">", 25))
				g.Expect(r.Effect).To(BeNumerically("~", 0.3, 0.02))
				g.Expect(r.PValue).To(BeNumerically("<", 1e-12))
			}},
		{name: "clear decrease fails for Decrease", baseline: base, canary: normal(3, 300, 70, 5),
			o: Options{Direction: Decrease}, class: ClassLow, failed: true, msg: "lower than allowed"},
		{name: "decrease is an improvement for Increase", baseline: base, canary: normal(3, 300, 70, 5),
			o: Options{Direction: Increase}, class: ClassLow, failed: false, msg: "not a failure for direction Increase"},
		{name: "increase is an improvement for Decrease", baseline: base, canary: normal(3, 300, 130, 5),
			o: Options{Direction: Decrease}, class: ClassHigh, failed: false},
		{name: "Either fails on increase", baseline: base, canary: normal(3, 300, 130, 5),
			o: Options{Direction: Either}, class: ClassHigh, failed: true},
		{name: "Either fails on decrease", baseline: base, canary: normal(3, 300, 70, 5),
			o: Options{Direction: Either}, class: ClassLow, failed: true},
		{name: "unknown direction reads as Either", baseline: base, canary: normal(3, 300, 70, 5),
			o: Options{Direction: "Sideways"}, class: ClassLow, failed: true},
		{name: "no change passes", baseline: base, canary: same,
			class: ClassPass, msg: "no significant difference",
			check: func(g Gomega, r MetricResult) {
				g.Expect(r.Lower).To(BeNumerically("<=", 0))
				g.Expect(r.Upper).To(BeNumerically(">=", 0))
				g.Expect(r.PValue).To(BeNumerically(">", 0.02))
			}},
		{name: "small significant effect within the allowed 10%", baseline: base, canary: scaled(base, 1.05),
			o: Options{AllowedEffectSize: 0.1}, class: ClassPass, msg: "higher, but within the allowed 10%",
			check: func(g Gomega, r MetricResult) {
				g.Expect(r.Lower).To(BeNumerically(">", 0))
				g.Expect(r.Effect).To(BeNumerically("~", 0.05, 0.005))
			}},
		{name: "the same effect beyond an allowed 1%", baseline: base, canary: scaled(base, 1.05),
			o: Options{AllowedEffectSize: 0.01}, class: ClassHigh, failed: true},
		{name: "negative allowed effect reads as 0", baseline: base, canary: scaled(base, 1.05),
			o: Options{AllowedEffectSize: -3}, class: ClassHigh, failed: true},
		{name: "zero baseline median: absolute effect", baseline: []float64{0, 0, 0, 0, 0, 0, 0.01, 0}, canary: []float64{0.05, 0.06, 0.05, 0.07, 0.05, 0.06, 0.05, 0.06},
			o: Options{AllowedEffectSize: 0.1, Confidence: 0.9}, class: ClassPass, msg: "within the allowed 0.1",
			check: func(g Gomega, r MetricResult) {
				g.Expect(r.Relative).To(BeFalse())
				g.Expect(r.Effect).To(Equal(r.Shift))
				g.Expect(r.Lower).To(BeNumerically(">", 0))
			}},
		{name: "zero baseline median beyond an absolute 0.01", baseline: []float64{0, 0, 0, 0, 0, 0, 0.01, 0}, canary: []float64{0.05, 0.06, 0.05, 0.07, 0.05, 0.06, 0.05, 0.06},
			o: Options{AllowedEffectSize: 0.01, Confidence: 0.9}, class: ClassHigh, failed: true},
		{name: "NaN and Inf are dropped and counted", baseline: append([]float64{nan, inf, -inf}, base...), canary: append([]float64{nan}, normal(3, 300, 130, 5)...),
			class: ClassHigh, failed: true, msg: "dropped 4 non-finite samples",
			check: func(g Gomega, r MetricResult) {
				g.Expect(r.Dropped).To(Equal(4))
				g.Expect(r.BaselineN).To(Equal(300))
				g.Expect(r.CanaryN).To(Equal(300))
			}},
		{name: "all NaN is NoData", baseline: []float64{nan, nan, nan, nan}, canary: base,
			class: ClassNoData, msg: "0 baseline and 300 canary samples usable",
			check: func(g Gomega, r MetricResult) {
				g.Expect(r.Dropped).To(Equal(4))
				g.Expect(r.PValue).To(Equal(1.0))
				g.Expect([]float64{r.Shift, r.Lower, r.Upper, r.BaselineMedian}).To(Equal([]float64{0, 0, 0, 0}))
			}},
		{name: "two samples are too few", baseline: []float64{1, 2}, canary: []float64{1, 2, 3},
			class: ClassNoData, failed: false, msg: "need at least 3 each"},
		{name: "too few with MustHaveData fails", baseline: []float64{1, 2}, canary: []float64{1, 2, 3},
			o: Options{MustHaveData: true}, class: ClassNoData, failed: true, msg: "must have data"},
		{name: "empty canary", baseline: base, canary: nil, class: ClassNoData},
		{name: "constant samples pass", baseline: []float64{7, 7, 7, 7}, canary: []float64{7, 7, 7},
			class: ClassPass, check: func(g Gomega, r MetricResult) {
				g.Expect([]float64{r.Shift, r.Lower, r.Upper, r.PValue}).To(Equal([]float64{0, 0, 0, 1}))
			}},
		// The baseline's quartiles (numpy.percentile(o, [25, 75]) = 2.5, 4.5,
		// testdata/reference.py) put its k=3 fences at [-3.5, 10.5], so the
		// 30 is dropped; the canary has no outlier.
		{name: "outlier dropped by the default fences", baseline: []float64{1, 2, 2.5, 3, 3.5, 4, 4.5, 5, 30}, canary: []float64{1, 2, 3, 4, 5, 6},
			class: ClassPass, msg: "dropped 1 outlier samples",
			check: func(g Gomega, r MetricResult) {
				g.Expect(r.Outliers).To(Equal(1))
				g.Expect(r.BaselineN).To(Equal(8))
				g.Expect(r.BaselineMedian).To(Equal(3.25))
			}},
		{name: "outlier kept with NoOutlierFilter", baseline: []float64{1, 2, 2.5, 3, 3.5, 4, 4.5, 5, 30}, canary: []float64{1, 2, 3, 4, 5, 6},
			o: Options{OutlierK: NoOutlierFilter}, class: ClassPass,
			check: func(g Gomega, r MetricResult) {
				g.Expect(r.Outliers).To(Equal(0))
				g.Expect(r.BaselineN).To(Equal(9))
			}},
		{name: "a tighter k drops more", baseline: []float64{1, 2, 2.5, 3, 3.5, 4, 4.5, 5, 9}, canary: []float64{1, 2, 3, 4, 5, 6},
			o: Options{OutlierK: 1.5}, class: ClassPass,
			check: func(g Gomega, r MetricResult) { g.Expect(r.Outliers).To(Equal(1)) }},
		{name: "zero IQR is never fenced", baseline: []float64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, canary: []float64{0, 0, 0, 0, 0, 0, 0, 0, 5, 9},
			class: ClassPass, check: func(g Gomega, r MetricResult) {
				g.Expect(r.Outliers).To(Equal(0))
				g.Expect(r.CanaryN).To(Equal(10))
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			r := Compare("latency", c.baseline, c.canary, c.o)
			g.Expect(r.Class).To(Equal(c.class), r.Message)
			g.Expect(r.Failed).To(Equal(c.failed), r.Message)
			g.Expect(r.Message).To(ContainSubstring(c.msg))
			g.Expect(r.Name).To(Equal("latency"))
			g.Expect(r.Group).To(Equal("latency"))
			g.Expect(r.Lower).To(BeNumerically("<=", r.Shift))
			g.Expect(r.Shift).To(BeNumerically("<=", r.Upper))
			if c.check != nil {
				c.check(g, r)
			}
		})
	}
}

func TestCompareDoesNotModifyInput(t *testing.T) {
	g := NewWithT(t)
	b := []float64{3, math.NaN(), 1, 2, 100}
	c := []float64{5, 4, 6}
	Compare("m", b, c, Options{})
	g.Expect(b[0]).To(Equal(3.0))
	g.Expect(math.IsNaN(b[1])).To(BeTrue())
	g.Expect(b[2:]).To(Equal([]float64{1, 2, 100}))
	g.Expect(c).To(Equal([]float64{5, 4, 6}))
}

func TestCompareOptionsAndMessage(t *testing.T) {
	g := NewWithT(t)
	// Error ratio: baseline around 0.011, canary around 0.052.
	b := normal(10, 120, 0.011, 0.002)
	c := normal(11, 120, 0.052, 0.008)
	r := Compare("error-ratio", b, c, Options{Group: "errors", Critical: true, MustHaveData: true, Confidence: 0.98})
	g.Expect(r.Group).To(Equal("errors"))
	g.Expect(r.Critical && r.MustHaveData).To(BeTrue())
	g.Expect(r.Class).To(Equal(ClassHigh))
	g.Expect(r.Message).To(MatchRegexp(`^canary median 0\.05\d* vs baseline 0\.01\d*: shift \+0\.0\d+ \(\+3\d\d%\), 98% CI \[0\.0\d+, 0\.0\d+\], p=.*: higher than allowed$`))

	// Confidence defaults and clamps.
	g.Expect(Compare("m", b, c, Options{}).Confidence).To(Equal(DefaultConfidence))
	g.Expect(Compare("m", b, c, Options{Confidence: -2}).Confidence).To(Equal(DefaultConfidence))
	g.Expect(Compare("m", b, c, Options{Confidence: math.NaN()}).Confidence).To(Equal(DefaultConfidence))
	g.Expect(Compare("m", b, c, Options{Confidence: 1}).Confidence).To(Equal(MaxConfidence))
	g.Expect(Compare("m", b, c, Options{Confidence: 0.9}).Confidence).To(Equal(0.9))
	// A wider interval at higher confidence.
	r90 := Compare("m", b, c, Options{Confidence: 0.9})
	r99 := Compare("m", b, c, Options{Confidence: 0.99})
	g.Expect(r99.Lower).To(BeNumerically("<=", r90.Lower))
	g.Expect(r99.Upper).To(BeNumerically(">=", r90.Upper))
}

func TestCompareHugeValues(t *testing.T) {
	g := NewWithT(t)
	m := math.MaxFloat64
	r := Compare("m", []float64{-m, -m / 2, 0, m / 2, m}, []float64{-m, 0, m, m, m}, Options{OutlierK: NoOutlierFilter})
	for _, v := range []float64{r.U, r.PValue, r.Shift, r.Lower, r.Upper, r.Effect, r.BaselineMedian, r.CanaryMedian} {
		g.Expect(math.IsNaN(v)).To(BeFalse(), "%+v", r)
	}
	g.Expect(r.Lower).To(BeNumerically("<=", r.Shift))
	g.Expect(r.Shift).To(BeNumerically("<=", r.Upper))
}

// Type-7 quartiles against numpy's default (linear) method:
// numpy.percentile([1, 2, 2.5, 3, 3.5, 4, 4.5, 5, 30], [25, 75]) = [2.5, 4.5]
// (testdata/reference.py); by hand for [1 2 3 4]: h = 3·0.25 = 0.75, so
// Q1 = 1 + 0.75·(2−1) = 1.75 and Q3 = 3 + 0.25·(4−3) = 3.25.
func TestQuantileAndFences(t *testing.T) {
	g := NewWithT(t)
	o := []float64{1, 2, 2.5, 3, 3.5, 4, 4.5, 5, 30}
	g.Expect([]float64{quantile(o, 0.25), quantile(o, 0.75)}).To(Equal([]float64{2.5, 4.5}))
	g.Expect([]float64{quantile([]float64{1, 2, 3, 4}, 0.25), quantile([]float64{1, 2, 3, 4}, 0.75)}).To(Equal([]float64{1.75, 3.25}))
	g.Expect(quantile([]float64{7}, 0.75)).To(Equal(7.0))
	// Fences at k=3 (the default for k=0) are [−3.5, 10.5]: 30 goes.
	kept, dropped := trimOutliers(o, 0)
	g.Expect(dropped).To(Equal(1))
	g.Expect(kept).To(Equal(o[:8]))
	// At k=1.5 they are [−0.5, 7.5]; the bounds themselves stay.
	kept, dropped = trimOutliers([]float64{-0.5, 2, 2.5, 3, 3.5, 4, 4.5, 7.5, 7.6}, 1.5)
	g.Expect(dropped).To(Equal(1), "%v", kept)
	g.Expect(kept).To(Equal([]float64{-0.5, 2, 2.5, 3, 3.5, 4, 4.5, 7.5}))
	// Huge spreads do not overflow into NaN fences.
	m := math.MaxFloat64
	kept, dropped = trimOutliers([]float64{-m, -m, 0, m, m}, 3)
	g.Expect(dropped).To(Equal(0))
	g.Expect(kept).To(HaveLen(5))
}
