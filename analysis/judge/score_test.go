package judge

import (
	"math"
	"testing"

	. "github.com/onsi/gomega"
)

// Helpers that build results as Compare would.
func passed(name, group string) MetricResult {
	return MetricResult{Name: name, Group: group, Class: ClassPass, Message: "fine"}
}

func failed(name, group string) MetricResult {
	return MetricResult{Name: name, Group: group, Class: ClassHigh, Failed: true, Message: "higher than allowed"}
}

func noData(name, group string, must bool) MetricResult {
	return MetricResult{Name: name, Group: group, Class: ClassNoData, Failed: must, MustHaveData: must, Message: "no data"}
}

func critical(r MetricResult) MetricResult { r.Critical = true; return r }

func TestScore(t *testing.T) {
	for _, c := range []struct {
		name           string
		results        []MetricResult
		weights        map[string]int32
		pass, marginal float64
		score          float64
		verdict        Verdict
		reason         string
		groupWeights   map[string]float64 // effective weights, when checked
		groupScores    map[string]float64
	}{
		{name: "all pass", results: []MetricResult{passed("a", ""), passed("b", "")},
			score: 100, verdict: VerdictPass, reason: "score 100: Pass (pass ≥ 95, marginal ≥ 75)"},
		{name: "no results fail", score: 0, verdict: VerdictFail, reason: "no metrics to judge"},
		// Groups default to the metric name; with no weights they are equal:
		// 3 of 4 pass → 75 → Marginal at the default thresholds.
		{name: "equal groups", results: []MetricResult{passed("a", ""), passed("b", ""), passed("c", ""), failed("d", "")},
			score: 75, verdict: VerdictMarginal, reason: "failed: d (higher than allowed)",
			groupWeights: map[string]float64{"a": 25, "b": 25, "c": 25, "d": 25}},
		// A group score is pass/(pass+fail) of its metrics: latency 1/2, errors 2/2.
		// Listed latency 60, unlisted errors gets the remaining 40:
		// 0.6·50 + 0.4·100 = 70.
		{name: "weights and the remaining share", weights: map[string]int32{"latency": 60},
			results: []MetricResult{passed("p50", "latency"), failed("p99", "latency"), passed("5xx", "errors"), passed("4xx", "errors")},
			score:   70, verdict: VerdictFail,
			groupWeights: map[string]float64{"latency": 60, "errors": 40},
			groupScores:  map[string]float64{"latency": 50, "errors": 100}},
		// Unlisted groups share what is left equally: 50 → 25 + 25;
		// a fails: 0.5·0 + 0.25·100 + 0.25·100 = 50.
		{name: "unlisted share equally", weights: map[string]int32{"a": 50, "absent": 30},
			results: []MetricResult{failed("a", ""), passed("b", ""), passed("c", "")},
			score:   50, verdict: VerdictFail,
			groupWeights: map[string]float64{"a": 50, "b": 25, "c": 25}},
		// Listed weights of 100 or more leave nothing to unlisted groups.
		{name: "listed weights take all", weights: map[string]int32{"a": 70, "b": 50},
			results: []MetricResult{passed("a", ""), failed("b", ""), passed("c", "")},
			score:   100 * 70.0 / 120, verdict: VerdictFail,
			groupWeights: map[string]float64{"a": 100 * 70.0 / 120, "b": 100 * 50.0 / 120, "c": 0}},
		// Weights that do not add up to 100 are normalised.
		{name: "weights normalised", weights: map[string]int32{"a": 1, "b": 3},
			results: []MetricResult{failed("a", ""), passed("b", "")},
			score:   75, verdict: VerdictMarginal},
		{name: "negative weight is 0", weights: map[string]int32{"a": -5, "b": 10},
			results: []MetricResult{failed("a", ""), passed("b", "")},
			score:   100, verdict: VerdictPass},
		{name: "all weights zero: equal", weights: map[string]int32{"a": 0, "b": 0},
			results: []MetricResult{failed("a", ""), passed("b", "")},
			score:   50, verdict: VerdictFail},
		// Three equal groups: 100·(1/3)·3 must still be exactly 100.
		{name: "exact 100 at pass 100", results: []MetricResult{passed("a", ""), passed("b", ""), passed("c", "")},
			pass: 100, marginal: 100, score: 100, verdict: VerdictPass},
		{name: "critical failure forces 0", results: []MetricResult{passed("a", ""), passed("b", ""), critical(failed("c", ""))},
			score: 0, verdict: VerdictFail, reason: "critical metric failed: c (higher than allowed)"},
		{name: "critical failure fails even at pass 0", results: []MetricResult{passed("a", ""), critical(failed("c", ""))},
			pass: 0, marginal: 0, score: 0, verdict: VerdictFail},
		{name: "critical metric that passes is fine", results: []MetricResult{critical(passed("a", "")), passed("b", "")},
			score: 100, verdict: VerdictPass},
		{name: "critical NoData with MustHaveData forces 0", results: []MetricResult{passed("a", ""), passed("b", ""), passed("c", ""), critical(noData("d", "", true))},
			score: 0, verdict: VerdictFail, reason: "critical metric failed: d"},
		{name: "half NoData forces 0", results: []MetricResult{passed("a", ""), passed("b", ""), noData("c", "", false), noData("d", "", false)},
			score: 0, verdict: VerdictFail, reason: "2 of 4 metrics had no data (c, d)"},
		// NoData without MustHaveData is left out: a group of only NoData
		// is not scored and its weight goes to the others.
		{name: "NoData left out", weights: map[string]int32{"c": 50},
			results: []MetricResult{passed("a", ""), passed("b", ""), noData("c", "", false)},
			score:   100, verdict: VerdictPass, reason: "no data: c",
			groupWeights: map[string]float64{"a": 50, "b": 50, "c": 0}},
		{name: "NoData left out of its group's denominator",
			results: []MetricResult{passed("p50", "lat"), noData("p99", "lat", false), passed("x", ""), passed("y", "")},
			score:   100, verdict: VerdictPass, groupScores: map[string]float64{"lat": 100}},
		{name: "MustHaveData NoData counts as failure",
			results: []MetricResult{passed("p50", "lat"), noData("p99", "lat", true), passed("x", ""), passed("y", "")},
			score:   100 * (0.5 + 1 + 1) / 3, verdict: VerdictMarginal, groupScores: map[string]float64{"lat": 50}},
		// A change in the harmless direction is reported High but is not a failure.
		{name: "harmless direction passes", results: []MetricResult{{Name: "tput", Class: ClassHigh, Failed: false}},
			score: 100, verdict: VerdictPass},
		{name: "custom thresholds: pass", results: []MetricResult{passed("a", ""), passed("b", ""), passed("c", ""), failed("d", "")},
			pass: 75, marginal: 50, score: 75, verdict: VerdictPass},
		{name: "custom thresholds: marginal", results: []MetricResult{passed("a", ""), failed("b", "")},
			pass: 60, marginal: 50, score: 50, verdict: VerdictMarginal},
		{name: "custom thresholds: fail", results: []MetricResult{passed("a", ""), failed("b", ""), failed("c", "")},
			pass: 60, marginal: 50, score: 100.0 / 3, verdict: VerdictFail, reason: "score 33.3: Fail (pass ≥ 60, marginal ≥ 50)"},
		{name: "NaN and negative thresholds are defaults", results: []MetricResult{passed("a", ""), passed("b", ""), passed("c", ""), failed("d", "")},
			pass: math.NaN(), marginal: -1, score: 75, verdict: VerdictMarginal, reason: "(pass ≥ 95, marginal ≥ 75)"},
		{name: "marginal above pass is lowered to pass", results: []MetricResult{passed("a", ""), passed("b", ""), passed("c", ""), failed("d", "")},
			pass: 80, marginal: 90, score: 75, verdict: VerdictFail, reason: "(pass ≥ 80, marginal ≥ 80)"},
		{name: "thresholds above 100 are 100", results: []MetricResult{passed("a", "")},
			pass: 250, marginal: 101, score: 100, verdict: VerdictPass},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := NewWithT(t)
			pass, marginal := c.pass, c.marginal
			if pass == 0 && marginal == 0 && c.name != "critical failure fails even at pass 0" {
				pass, marginal = DefaultPass, DefaultMarginal
			}
			sc := Score(c.results, c.weights, pass, marginal)
			g.Expect(sc.Score).To(BeNumerically("~", c.score, 1e-9), sc.Reason)
			g.Expect(sc.Verdict).To(Equal(c.verdict), sc.Reason)
			g.Expect(sc.Reason).To(ContainSubstring(c.reason))
			g.Expect(sc.Metrics).To(Equal(c.results))
			got := map[string]GroupScore{}
			var sum float64
			for _, gs := range sc.Groups {
				got[gs.Name] = gs
				sum += gs.Weight
			}
			if len(sc.Groups) > 0 && sc.Score > 0 {
				g.Expect(sum).To(BeNumerically("~", 100, 1e-9))
			}
			for name, w := range c.groupWeights {
				g.Expect(got).To(HaveKey(name))
				g.Expect(got[name].Weight).To(BeNumerically("~", w, 1e-9), name)
			}
			for name, s := range c.groupScores {
				g.Expect(got[name].Score).To(BeNumerically("~", s, 1e-9), name)
			}
		})
	}
}

func TestScoreGroupBreakdown(t *testing.T) {
	g := NewWithT(t)
	sc := Score([]MetricResult{
		passed("p50", "latency"), failed("p99", "latency"), noData("p999", "latency", false),
		passed("5xx", "errors"),
	}, nil, DefaultPass, DefaultMarginal)
	g.Expect(sc.Groups).To(Equal([]GroupScore{
		{Name: "latency", Weight: 50, Score: 50, Scored: true, Metrics: 3, Passed: 1, Failed: 1, NoData: 1},
		{Name: "errors", Weight: 50, Score: 100, Scored: true, Metrics: 1, Passed: 1},
	}))
	g.Expect(sc.Score).To(Equal(75.0))
	g.Expect(sc.Verdict).To(Equal(VerdictMarginal))
	g.Expect(sc.Reason).To(Equal("score 75: Marginal (pass ≥ 95, marginal ≥ 75); failed: p99 (higher than allowed); no data: p999"))
}

// Compare and Score together on real comparisons.
func TestCompareThenScore(t *testing.T) {
	g := NewWithT(t)
	base := normal(21, 200, 0.2, 0.02)
	results := []MetricResult{
		Compare("latency-p50", base, normal(22, 200, 0.2, 0.02), Options{Group: "latency"}),
		Compare("latency-p99", base, normal(23, 200, 0.3, 0.03), Options{Group: "latency"}),
		Compare("success-rate", normal(24, 200, 0.99, 0.002), normal(25, 200, 0.995, 0.002), Options{Direction: Decrease, Group: "errors"}),
		Compare("saturation", []float64{math.NaN()}, nil, Options{}),
	}
	g.Expect(results[1].Failed).To(BeTrue())
	g.Expect(results[2].Class).To(Equal(ClassHigh))
	g.Expect(results[2].Failed).To(BeFalse())
	sc := Score(results, map[string]int32{"latency": 80}, DefaultPass, DefaultMarginal)
	// Configured weights: latency 80, the unlisted errors and saturation 10
	// each. Saturation is NoData and left out, so the others are renormalised
	// in proportion, 80:10: latency 1/2 = 50 and errors 100 give
	// (80·50 + 10·100)/90 = 55.56.
	g.Expect(sc.Score).To(BeNumerically("~", 500.0/9, 1e-9))
	g.Expect(sc.Verdict).To(Equal(VerdictFail))
}
