package judge

import "testing"

// BenchmarkCompare10k is the judge's cost for 2×10,000 samples, the size of
// a long range query at a fine step: cleaning and sorting both sides, the U
// test, and the Hodges-Lehmann estimate with its interval by selection among
// 10⁸ implicit differences.
func BenchmarkCompare10k(b *testing.B) {
	base := normal(1, 10_000, 100, 15)
	canary := normal(2, 10_000, 103, 15)
	b.ReportAllocs()
	for b.Loop() {
		r := Compare("latency", base, canary, Options{})
		if r.Class == ClassNoData {
			b.Fatal(r.Message)
		}
	}
}

// BenchmarkCompare10kTies is the same size with heavy ties (values on a grid
// of 50), the shape of quantised metrics such as histogram quantiles.
func BenchmarkCompare10kTies(b *testing.B) {
	base := normal(3, 10_000, 100, 15)
	canary := normal(4, 10_000, 103, 15)
	for i := range base {
		base[i] = float64(int(base[i]/4)) * 4
		canary[i] = float64(int(canary[i]/4)) * 4
	}
	b.ReportAllocs()
	for b.Loop() {
		Compare("latency", base, canary, Options{})
	}
}

// BenchmarkHodgesLehmann10k isolates the selection (inputs already sorted).
func BenchmarkHodgesLehmann10k(b *testing.B) {
	base := sortedCopy(normal(1, 10_000, 100, 15))
	canary := sortedCopy(normal(2, 10_000, 103, 15))
	b.ReportAllocs()
	for b.Loop() {
		newDiffMatrix(base, canary).hodgesLehmann(DefaultConfidence)
	}
}
