package judge

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Direction is the change of a metric that counts as bad. The values are the
// strings of the ComparisonMetric.direction enum in the CRD, so the
// controller converts with a plain Direction(s).
type Direction string

const (
	// Increase: a canary that is higher fails (latency, error rate).
	Increase Direction = "Increase"
	// Decrease: a canary that is lower fails (throughput, success rate).
	Decrease Direction = "Decrease"
	// Either: any significant change fails.
	Either Direction = "Either"
)

// Classification is what Compare found for one metric.
type Classification string

const (
	// ClassPass: no significant change beyond the allowed effect size.
	ClassPass Classification = "Pass"
	// ClassHigh: the canary is significantly higher, beyond the allowed effect.
	ClassHigh Classification = "High"
	// ClassLow: the canary is significantly lower, beyond the allowed effect.
	ClassLow Classification = "Low"
	// ClassNoData: too few usable samples on either side to judge.
	ClassNoData Classification = "NoData"
)

// Defaults and limits of Options.
const (
	// DefaultConfidence is the CRD's default confidence.
	DefaultConfidence = 0.98
	// MaxConfidence caps a confidence of 1 or more, which would ask for an
	// interval that covers every possible shift.
	MaxConfidence = 0.9999
	// DefaultOutlierK is the Tukey fence factor used when Options.OutlierK
	// is 0. k = 3 ("far out" in Tukey's terms) drops only values that are
	// extreme for their own side, such as a scrape glitch.
	DefaultOutlierK = 3
	// NoOutlierFilter, as Options.OutlierK, keeps every finite sample.
	NoOutlierFilter = -1
	// MinSamples is the fewest usable samples per side that Compare judges;
	// with fewer the metric is NoData.
	MinSamples = 3
)

// Options of one comparison. The zero value is usable: Direction Increase,
// confidence 0.98, no allowed effect, outlier fences at k = 3.
type Options struct {
	// Direction that is bad. "" means Increase (the CRD's default); an
	// unknown value means Either, the cautious reading of a value this
	// version does not understand.
	Direction Direction
	// Confidence of the shift's interval, in (0, 1). NaN or ≤ 0 means
	// DefaultConfidence; ≥ 1 means MaxConfidence.
	Confidence float64
	// AllowedEffectSize is the change tolerated even when significant,
	// relative to the baseline median (0.1 = 10%); in the metric's unit when
	// the baseline median is 0. NaN or negative means 0.
	AllowedEffectSize float64
	// OutlierK is the Tukey fence factor k: each side drops values outside
	// [Q1 − k·IQR, Q3 + k·IQR] of its own quartiles. 0 (or NaN) means
	// DefaultOutlierK; a negative value (NoOutlierFilter) disables the
	// filter. A side whose IQR is 0 is never filtered (see the package doc).
	OutlierK float64
	// Group the metric is scored in; "" means the metric's name.
	Group string
	// Critical: a failure of this metric scores the whole judgement 0.
	Critical bool
	// MustHaveData: NoData counts as a failure.
	MustHaveData bool
}

// MetricResult is the outcome of Compare for one metric, with every number a
// message or a status needs. No float field is ever NaN.
type MetricResult struct {
	Name  string
	Group string
	Class Classification
	// Failed: the metric counts as failed in scoring (High or Low in the
	// bad direction, or NoData with MustHaveData).
	Failed bool
	// U and PValue are the Mann-Whitney statistic (of the canary) and its
	// two-sided p-value; PValue is 1 for NoData.
	U, PValue float64
	// Shift is the Hodges-Lehmann estimate of canary − baseline; Lower and
	// Upper bound its interval at Confidence (the confidence actually used,
	// after defaults and clamping). All 0 for NoData.
	Shift, Lower, Upper, Confidence float64
	// Effect is Shift/|BaselineMedian|, or Shift itself when the baseline
	// median is 0 (then Relative is false). 0 for NoData.
	Effect   float64
	Relative bool
	// Medians of the usable samples (0 for an empty side).
	BaselineMedian, CanaryMedian float64
	// Dropped counts the NaN and ±Inf samples dropped, Outliers the samples
	// outside the fences; both over the two sides. BaselineN and CanaryN are
	// the samples that were used.
	Dropped, Outliers, BaselineN, CanaryN int
	// Message explains the result to a person, e.g. "canary median 0.052 vs
	// baseline 0.011: shift +0.04 (+364%), 98% CI [0.031, 0.049],
	// p=3.1e-09: higher than allowed".
	Message string
	// Critical and MustHaveData are copied from the Options for Score.
	Critical, MustHaveData bool
}

// Compare judges one metric's canary samples against its baseline samples;
// the steps are described in the package documentation. The input slices are
// not modified.
func Compare(name string, baseline, canary []float64, o Options) MetricResult {
	dir := normDirection(o.Direction)
	conf := clampConfidence(o.Confidence)
	allowed := o.AllowedEffectSize
	if !(allowed > 0) {
		allowed = 0
	}
	r := MetricResult{
		Name:         name,
		Group:        o.Group,
		PValue:       1,
		Confidence:   conf,
		Critical:     o.Critical,
		MustHaveData: o.MustHaveData,
	}
	if r.Group == "" {
		r.Group = name
	}

	b, droppedB := finiteSorted(baseline)
	c, droppedC := finiteSorted(canary)
	r.Dropped = droppedB + droppedC
	b, outB := trimOutliers(b, o.OutlierK)
	c, outC := trimOutliers(c, o.OutlierK)
	r.Outliers = outB + outC
	r.BaselineN, r.CanaryN = len(b), len(c)
	r.BaselineMedian, r.CanaryMedian = median(b), median(c)

	if len(b) < MinSamples || len(c) < MinSamples {
		r.Class = ClassNoData
		r.Failed = o.MustHaveData
		r.Message = fmt.Sprintf("no data: %d baseline and %d canary samples usable, need at least %d each",
			len(b), len(c), MinSamples) + droppedNote(r)
		if o.MustHaveData {
			r.Message += "; fails because the metric must have data"
		}
		return r
	}

	s := rankSums(b, c)
	r.U, r.PValue = s.u, s.pValue(len(b), len(c))
	r.Shift, r.Lower, r.Upper = newDiffMatrix(b, c).hodgesLehmann(conf)
	if r.BaselineMedian != 0 {
		r.Effect, r.Relative = r.Shift/math.Abs(r.BaselineMedian), true
	} else {
		r.Effect = r.Shift
	}

	switch {
	case r.Lower > 0 && r.Effect > allowed:
		r.Class = ClassHigh
		r.Failed = dir != Decrease
	case r.Upper < 0 && -r.Effect > allowed:
		r.Class = ClassLow
		r.Failed = dir != Increase
	default:
		r.Class = ClassPass
	}
	r.Message = message(r, dir, allowed) + droppedNote(r)
	return r
}

func normDirection(d Direction) Direction {
	switch d {
	case "":
		return Increase
	case Increase, Decrease, Either:
		return d
	default:
		return Either
	}
}

func clampConfidence(c float64) float64 {
	switch {
	case !(c > 0):
		return DefaultConfidence
	case c > MaxConfidence:
		return MaxConfidence
	default:
		return c
	}
}

// trimOutliers drops the values of sorted s outside its Tukey fences for
// factor k (see Options.OutlierK) and returns the rest, a subslice, with the
// number dropped. Because s is sorted the outliers are at its ends.
func trimOutliers(s []float64, k float64) ([]float64, int) {
	if math.IsNaN(k) || k == 0 {
		k = DefaultOutlierK
	}
	if k < 0 || len(s) < 2 {
		return s, 0
	}
	q1, q3 := quantile(s, 0.25), quantile(s, 0.75)
	iqr := q3 - q1
	if !(iqr > 0) || math.IsInf(iqr, 0) {
		return s, 0 // no spread (or an overflowing one): nothing is "far out"
	}
	lo, hi := q1-k*iqr, q3+k*iqr // may be ±Inf: then that side keeps all
	from := sort.Search(len(s), func(i int) bool { return s[i] >= lo })
	to := sort.Search(len(s), func(i int) bool { return s[i] > hi })
	return s[from:to], len(s) - (to - from)
}

// quantile is the type-7 (linear interpolation) quantile of sorted, non-empty
// s: with h = (len−1)·p, s[⌊h⌋] + (h−⌊h⌋)·(s[⌊h⌋+1] − s[⌊h⌋]).
func quantile(s []float64, p float64) float64 {
	h := float64(len(s)-1) * p
	i := int(h)
	f := h - float64(i)
	if f == 0 || i+1 >= len(s) {
		return s[i]
	}
	v := s[i] + f*(s[i+1]-s[i])
	if math.IsInf(v, 0) { // the gap overflowed; interpolate without it
		v = s[i]*(1-f) + s[i+1]*f
	}
	return v
}

// median of sorted s, 0 when s is empty.
func median(s []float64) float64 {
	n := len(s)
	switch {
	case n == 0:
		return 0
	case n%2 == 1:
		return s[n/2]
	default:
		return midpoint(s[n/2-1], s[n/2])
	}
}

// message explains a judged (not NoData) result.
func message(r MetricResult, dir Direction, allowed float64) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "canary median %s vs baseline %s: shift %s",
		num(r.CanaryMedian), num(r.BaselineMedian), signed(r.Shift))
	if r.Relative {
		fmt.Fprintf(&sb, " (%s%%)", signed(100*r.Effect))
	}
	fmt.Fprintf(&sb, ", %s%% CI [%s, %s], p=%s: ",
		strconv.FormatFloat(100*r.Confidence, 'g', 4, 64), num(r.Lower), num(r.Upper),
		strconv.FormatFloat(r.PValue, 'g', 2, 64))
	tolerance := num(allowed)
	if r.Relative {
		tolerance = num(100*allowed) + "%"
	}
	switch {
	case r.Class == ClassHigh && r.Failed:
		sb.WriteString("higher than allowed")
	case r.Class == ClassHigh:
		sb.WriteString("higher, which is not a failure for direction " + string(dir))
	case r.Class == ClassLow && r.Failed:
		sb.WriteString("lower than allowed")
	case r.Class == ClassLow:
		sb.WriteString("lower, which is not a failure for direction " + string(dir))
	case r.Lower > 0:
		sb.WriteString("higher, but within the allowed " + tolerance)
	case r.Upper < 0:
		sb.WriteString("lower, but within the allowed " + tolerance)
	default:
		sb.WriteString("no significant difference")
	}
	return sb.String()
}

func droppedNote(r MetricResult) string {
	switch {
	case r.Dropped > 0 && r.Outliers > 0:
		return fmt.Sprintf("; dropped %d non-finite and %d outlier samples", r.Dropped, r.Outliers)
	case r.Dropped > 0:
		return fmt.Sprintf("; dropped %d non-finite samples", r.Dropped)
	case r.Outliers > 0:
		return fmt.Sprintf("; dropped %d outlier samples", r.Outliers)
	}
	return ""
}

// num formats a number for people: three significant digits, without an
// exponent for ordinary magnitudes.
func num(v float64) string {
	if a := math.Abs(v); a >= 1000 && a < 1e9 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func signed(v float64) string {
	if v > 0 && !math.IsInf(v, 1) { // FormatFloat writes +Inf itself
		return "+" + num(v)
	}
	return num(v)
}
