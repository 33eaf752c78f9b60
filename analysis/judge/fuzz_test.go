package judge

import (
	"encoding/binary"
	"math"
	"testing"
)

// fuzzFloats decodes fuzz bytes into a float: a tag byte picks a small grid
// value (ties), a raw IEEE-754 bit pattern (NaN, ±Inf, subnormals, huge
// values) or a moderate value, so the fuzzer reaches ties, specials and
// ordinary data alike. Once the bytes run out it returns ok == false.
type fuzzFloats struct{ b []byte }

func (f *fuzzFloats) next() (float64, bool) {
	if len(f.b) == 0 {
		return 0, false
	}
	tag := f.b[0]
	f.b = f.b[1:]
	switch tag % 4 {
	case 0, 1:
		return float64(int(tag>>2)%9-4) / 2, true
	case 2:
		if len(f.b) < 8 {
			return 0, false
		}
		v := math.Float64frombits(binary.LittleEndian.Uint64(f.b))
		f.b = f.b[8:]
		return v, true
	default:
		if len(f.b) < 2 {
			return 0, false
		}
		v := float64(int16(binary.LittleEndian.Uint16(f.b))) / 64
		f.b = f.b[2:]
		return v, true
	}
}

func (f *fuzzFloats) slice(n int) []float64 {
	var v []float64
	for range n {
		x, ok := f.next()
		if !ok {
			break
		}
		v = append(v, x)
	}
	return v
}

func FuzzCompare(f *testing.F) {
	f.Add(uint8(0), uint8(0), uint8(0), uint8(0), uint8(10), []byte{0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60, 1, 5})
	f.Add(uint8(1), uint8(200), uint8(30), uint8(3), uint8(3), []byte{2, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f, 3, 1, 2, 3, 4, 3, 9, 9, 0, 0, 0})
	f.Add(uint8(2), uint8(255), uint8(255), uint8(255), uint8(1), []byte{2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xef, 0x7f, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xef, 0xff})
	f.Fuzz(func(t *testing.T, dir, conf, allowed, flags, split uint8, data []byte) {
		o := Options{
			Direction:         []Direction{"", Increase, Decrease, Either, "bogus"}[int(dir)%5],
			Confidence:        []float64{0, 0.98, 0.5, 1, -1, math.NaN(), float64(conf) / 255}[int(conf)%7],
			AllowedEffectSize: []float64{0, 0.1, -1, math.Inf(1), math.NaN(), float64(allowed)}[int(allowed)%6],
			OutlierK:          []float64{0, NoOutlierFilter, 1.5, math.Inf(1), math.NaN()}[int(flags>>2)%5],
			Critical:          flags&1 == 1,
			MustHaveData:      flags&2 == 2,
		}
		src := fuzzFloats{data}
		b := src.slice(int(split))
		c := src.slice(1 << 16)
		r := Compare("m", b, c, o)

		for name, v := range map[string]float64{"U": r.U, "PValue": r.PValue, "Shift": r.Shift, "Lower": r.Lower,
			"Upper": r.Upper, "Confidence": r.Confidence, "Effect": r.Effect,
			"BaselineMedian": r.BaselineMedian, "CanaryMedian": r.CanaryMedian} {
			if math.IsNaN(v) {
				t.Fatalf("%s is NaN: %+v", name, r)
			}
		}
		// Medians of finite samples, U, p and the confidence are finite;
		// only the differences (and so the effect) may overflow.
		for name, v := range map[string]float64{"U": r.U, "PValue": r.PValue, "Confidence": r.Confidence,
			"BaselineMedian": r.BaselineMedian, "CanaryMedian": r.CanaryMedian} {
			if math.IsInf(v, 0) {
				t.Fatalf("%s is infinite: %+v", name, r)
			}
		}
		if !(r.Lower <= r.Shift && r.Shift <= r.Upper) {
			t.Fatalf("interval [%v, %v] does not hold the estimate %v", r.Lower, r.Upper, r.Shift)
		}
		if r.PValue < 0 || r.PValue > 1 || r.Confidence <= 0 || r.Confidence >= 1 {
			t.Fatalf("p %v or confidence %v out of range", r.PValue, r.Confidence)
		}
		if r.BaselineN+r.CanaryN+r.Dropped+r.Outliers != len(b)+len(c) {
			t.Fatalf("samples not accounted for: %+v, %d + %d inputs", r, len(b), len(c))
		}
		switch r.Class {
		case ClassNoData:
			if r.BaselineN >= MinSamples && r.CanaryN >= MinSamples {
				t.Fatalf("NoData with enough samples: %+v", r)
			}
			if r.Failed != o.MustHaveData {
				t.Fatalf("NoData failed=%v with MustHaveData=%v", r.Failed, o.MustHaveData)
			}
		case ClassHigh:
			if !(r.Lower > 0) {
				t.Fatalf("High with lower bound %v", r.Lower)
			}
		case ClassLow:
			if !(r.Upper < 0) {
				t.Fatalf("Low with upper bound %v", r.Upper)
			}
		case ClassPass:
			if r.Failed {
				t.Fatalf("a Pass that failed: %+v", r)
			}
		default:
			t.Fatalf("unknown class %q", r.Class)
		}
		if r.Message == "" {
			t.Fatal("no message")
		}
		sc := Score([]MetricResult{r, passed("other", "")}, map[string]int32{"m": int32(conf) - 100}, float64(allowed), float64(flags))
		if math.IsNaN(sc.Score) || sc.Score < 0 || sc.Score > 100 || sc.Reason == "" {
			t.Fatalf("bad scorecard %+v", sc)
		}
	})
}

// FuzzHodgesLehmann checks the selection against brute force for small
// sizes, exactly, including ties, subnormals and overflowing differences.
func FuzzHodgesLehmann(f *testing.F) {
	f.Add(uint8(3), uint8(0), []byte{0, 4, 8, 12, 16, 20, 24, 28})
	f.Add(uint8(2), uint8(1), []byte{2, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0x80})
	f.Add(uint8(1), uint8(2), []byte{2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xef, 0x7f, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xef, 0xff, 0})
	f.Fuzz(func(t *testing.T, split, mode uint8, data []byte) {
		src := fuzzFloats{data}
		x := src.slice(int(split) % 17)
		y := src.slice(16)
		conf := []float64{0.98, 0.9, 0.5, 0.1}[int(mode)%4]
		xs, ys := sortedCopy(x), sortedCopy(y)
		if len(xs) == 0 || len(ys) == 0 {
			est, lo, hi := HodgesLehmann(x, y, conf)
			if !math.IsNaN(est) || !math.IsNaN(lo) || !math.IsNaN(hi) {
				t.Fatalf("empty side gave %v %v %v", est, lo, hi)
			}
			return
		}
		d, est, lo, hi := bruteHodgesLehmann(x, y, conf)
		e2, l2, h2 := HodgesLehmann(x, y, conf)
		if e2 != est || l2 != lo || h2 != hi {
			t.Fatalf("selection (%v, %v, %v) != brute force (%v, %v, %v) for x=%v y=%v", e2, l2, h2, est, lo, hi, x, y)
		}
		m := newDiffMatrix(xs, ys)
		m.budget = int64(mode>>2) % 4
		for k := int64(1); k <= int64(len(d)); k++ {
			if v, _ := m.kth(m.full(), k, false); v != d[k-1] {
				t.Fatalf("kth(%d) = %v, want %v (budget %d) x=%v y=%v", k, v, d[k-1], m.budget, x, y)
			}
		}
	})
}
