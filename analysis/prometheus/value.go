package prometheus

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
)

// Value is what a query measured, reduced to what a condition evaluates.
//
//   - A scalar, or a vector with one series, is one value.
//   - A vector with several series is one value per series, ordered by the
//     series' label sets; Message lists the label sets (bounded).
//   - A matrix (a range query, or an instant query of a range selector) is
//     every sample of every series, series by series in label order and
//     oldest first within a series; one sample is one value.
//   - NaN values are left out and counted in Message. A result with no value
//     left is NoData: an empty vector or matrix ("no series"), or only NaN
//     ("NaN (no samples in the window? e.g. 0/0)"), which is what a rate
//     ratio gives when there was no traffic.
//   - +Inf and -Inf are values: they compare as infinities, so "result <
//     0.5" is false for +Inf, and a histogram_quantile above the highest
//     finite bucket fails a latency bound as it should. Message says so.
type Value struct {
	// Values are the values a condition sees: result is Values[0] when
	// there is one, the list otherwise. Empty when NoData.
	Values []float64
	// NoData is set when there is no value to judge; the caller applies the
	// metric's noDataPolicy.
	NoData bool
	// Text is the value for Measurement.Value: "0.0123", "[0.01, 0.2]",
	// "NaN", or "" for no series.
	Text string
	// Message explains the result: the series, NaN left out, infinities.
	Message string
	// Series is how many series the result had (1 for a scalar).
	Series int
	// NaN is how many NaN values were left out.
	NaN int
	// Warnings Prometheus returned with the result.
	Warnings []string
}

// Bounds of the text a Value carries into the AnalysisRun's status.
const (
	maxTextValues = 20
	maxMessageLen = 1024
	maxLabelsLen  = 200
)

// NaNMessage is the message of a result that is only NaN.
const NaNMessage = "NaN (no samples in the window? e.g. 0/0)"

// Interpret turns a query result into a Value; see Value for the rules. A
// string result or native histograms cannot be judged and are a
// ProviderError with ReasonUnsupportedResult.
func Interpret(v model.Value, warnings []string) (Value, error) {
	var out Value
	var labels []string // label sets, for the message
	switch v := v.(type) {
	case *model.Scalar:
		out.Series = 1
		out.add(float64(v.Value))
	case model.Vector:
		out.Series = len(v)
		sorted := append(model.Vector(nil), v...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].Metric.String() < sorted[j].Metric.String() })
		for _, s := range sorted {
			if s.Histogram != nil {
				return Value{}, unsupported("the query returns native histograms; wrap it in histogram_quantile(), histogram_count() or histogram_sum()")
			}
			out.add(float64(s.Value))
			labels = append(labels, seriesText(s.Metric, float64(s.Value)))
		}
	case model.Matrix:
		out.Series = len(v)
		sorted := append(model.Matrix(nil), v...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].Metric.String() < sorted[j].Metric.String() })
		for _, s := range sorted {
			if len(s.Histograms) > 0 {
				return Value{}, unsupported("the query returns native histograms; wrap it in histogram_quantile(), histogram_count() or histogram_sum()")
			}
			for _, p := range s.Values {
				out.add(float64(p.Value))
			}
			labels = append(labels, fmt.Sprintf("%s (%d samples)", boundedLabels(s.Metric), len(s.Values)))
		}
	case *model.String:
		return Value{}, unsupported("the query returns a string; a metric needs a number")
	case nil:
		// no result at all reads as no series
	default:
		return Value{}, unsupported(fmt.Sprintf("the query returns %s; a metric needs a number", v.Type()))
	}
	out.Warnings = warnings
	out.describe(v, labels)
	return out, nil
}

func unsupported(msg string) error {
	return &ProviderError{Reason: ReasonUnsupportedResult, Message: msg}
}

func (v *Value) add(x float64) {
	if math.IsNaN(x) {
		v.NaN++
		return
	}
	v.Values = append(v.Values, x)
}

func (v *Value) describe(result model.Value, labels []string) {
	var msg []string
	_, isMatrix := result.(model.Matrix)
	switch {
	case len(v.Values) == 0 && v.NaN > 0:
		v.NoData = true
		v.Text = "NaN"
		msg = append(msg, NaNMessage)
	case len(v.Values) == 0:
		v.NoData = true
		if isMatrix && v.Series > 0 {
			msg = append(msg, "no samples in the range (empty matrix)")
		} else if isMatrix {
			msg = append(msg, "no series (empty matrix)")
		} else {
			msg = append(msg, "no series (empty vector)")
		}
	default:
		v.Text = FormatValues(v.Values)
	}
	if len(labels) > 1 || (len(labels) == 1 && !noLabels(result)) {
		msg = append(msg, fmt.Sprintf("%d series: %s", len(labels), joinBounded(labels, 600)))
	}
	if v.NaN > 0 && len(v.Values) > 0 {
		unit := "series"
		if isMatrix {
			unit = "samples"
		}
		msg = append(msg, fmt.Sprintf("%d NaN %s left out (no samples in the window? e.g. 0/0)", v.NaN, unit))
	}
	if pos, neg := countInf(v.Values); pos+neg > 0 {
		msg = append(msg, infMessage(pos, neg, len(v.Values)))
	}
	if len(v.Warnings) > 0 {
		msg = append(msg, "Prometheus warned: "+joinBounded(v.Warnings, 300))
	}
	v.Message = strings.Join(msg, "; ")
	if len(v.Message) > maxMessageLen {
		v.Message = v.Message[:maxMessageLen] + "…"
	}
}

func countInf(values []float64) (pos, neg int) {
	for _, x := range values {
		switch {
		case math.IsInf(x, 1):
			pos++
		case math.IsInf(x, -1):
			neg++
		}
	}
	return pos, neg
}

func infMessage(pos, neg, total int) string {
	what := ""
	switch {
	case pos > 0 && neg > 0:
		what = fmt.Sprintf("%d +Inf and %d -Inf", pos, neg)
	case pos > 0:
		what = "+Inf"
	default:
		what = "-Inf"
	}
	if total > 1 {
		if pos > 0 && neg == 0 {
			what = fmt.Sprintf("%d of %d values are +Inf", pos, total)
		} else if neg > 0 && pos == 0 {
			what = fmt.Sprintf("%d of %d values are -Inf", neg, total)
		} else {
			what += " values"
		}
	}
	return what + " (a division by zero, or histogram_quantile above the highest finite bucket); infinities are compared as values"
}

// FormatValue shows one value exactly: the shortest text that reads back as
// the same float64, and NaN, +Inf, -Inf.
func FormatValue(x float64) string {
	switch {
	case math.IsNaN(x):
		return "NaN"
	case math.IsInf(x, 1):
		return "+Inf"
	case math.IsInf(x, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(x, 'g', -1, 64)
}

// FormatValues shows one value as FormatValue does, several as a list,
// bounded to the first 20.
func FormatValues(values []float64) string {
	if len(values) == 1 {
		return FormatValue(values[0])
	}
	var b strings.Builder
	b.WriteByte('[')
	for i, x := range values {
		if i == maxTextValues {
			fmt.Fprintf(&b, ", … %d more", len(values)-maxTextValues)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(FormatValue(x))
	}
	b.WriteByte(']')
	return b.String()
}

func seriesText(m model.Metric, x float64) string {
	return boundedLabels(m) + "=" + FormatValue(x)
}

func boundedLabels(m model.Metric) string {
	s := m.String()
	if len(s) > maxLabelsLen {
		s = s[:maxLabelsLen] + "…}"
	}
	return s
}

// joinBounded joins items with ", " up to about max bytes, then says how
// many were left out.
func joinBounded(items []string, max int) string {
	var b strings.Builder
	for i, it := range items {
		if i > 0 && b.Len()+len(it) > max {
			fmt.Fprintf(&b, ", … %d more", len(items)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(it)
	}
	return b.String()
}

// Samples are the sample values of a range query, for a comparison metric:
// every sample of every series, NaN left out and counted.
type Samples struct {
	// Values are all non-NaN sample values, series by series in label
	// order, oldest first within a series. ±Inf are kept.
	Values []float64
	// Series is how many series the matrix had.
	Series int
	// NaN is how many NaN samples were left out.
	NaN int
	// Warnings Prometheus returned with the result.
	Warnings []string
}

// Flatten collects the sample values of m; see Samples.
func Flatten(m model.Matrix) Samples {
	sorted := append(model.Matrix(nil), m...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Metric.String() < sorted[j].Metric.String() })
	out := Samples{Series: len(m)}
	for _, s := range sorted {
		for _, p := range s.Values {
			if math.IsNaN(float64(p.Value)) {
				out.NaN++
				continue
			}
			out.Values = append(out.Values, float64(p.Value))
		}
	}
	return out
}

// noLabels tells a one-series result without labels (a sum(), say), whose
// label set would add only "{}" to the message.
func noLabels(v model.Value) bool {
	switch v := v.(type) {
	case model.Vector:
		return len(v) == 1 && len(v[0].Metric) == 0
	case model.Matrix:
		return len(v) == 1 && len(v[0].Metric) == 0
	}
	return true
}
