// Package measure is the state machine of a metric in an analysis run. It is
// pure: given a metric, its result so far, the run's start and the time, it
// says when the next measurement is due, folds a measurement's outcome into
// the result (counters, the last 20 measurements, the metric's phase and a
// message), and aggregates the metrics into the run's phase.
//
// # Counting
//
// Count, Successful, Failed and Inconclusive count measurements that
// produced a value (or a no-data verdict); Count is their sum. An Error
// measurement (Prometheus unreachable, a query error) does not use up the
// metric's count: it is retried at the next interval, counted in Errors and
// ConsecutiveErrors, and any other measurement resets ConsecutiveErrors.
//
// # Phase
//
// After each measurement, in this order:
//
//  1. Failed when Failed > failureLimit (default 0);
//  2. Inconclusive when Inconclusive > inconclusiveLimit (default 0);
//  3. Inconclusive when ConsecutiveErrors > consecutiveErrorLimit (default
//     4): sluice cannot measure, so it neither promotes nor aborts;
//  4. Successful when Count has reached the metric's count (default 1);
//  5. Running otherwise.
//
// Failed, Inconclusive and Successful are final: NextDue is zero and Record
// leaves the result as it is.
//
// # No data
//
// An Outcome with NoData set (an empty result, or only NaN) becomes a
// measurement whose phase the metric's noDataPolicy decides: Fail → Failed,
// Inconclusive (the default, also for an unknown policy) → Inconclusive,
// Pass → Successful. sluice never promotes on missing data unless the metric
// says Pass.
package measure

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-dev/sluice/analysis/condition"
	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// Defaults of a metric's optional fields; they match the CRD's defaults, for
// objects that were created without them (a unit test, an old run).
const (
	DefaultInterval              = time.Minute
	DefaultCount                 = 1
	DefaultConsecutiveErrorLimit = 4
	// MaxMeasurements is how many measurements a MetricResult keeps.
	MaxMeasurements = 20
)

// NoData policies.
const (
	NoDataFail         = "Fail"
	NoDataInconclusive = "Inconclusive"
	NoDataPass         = "Pass"
)

// maxMessage bounds the messages written into status.
const maxMessage = 1024

// Outcome is what one measurement found.
type Outcome struct {
	// Phase is Successful, Failed, Inconclusive or Error (the provider
	// could not measure). It is ignored when NoData is set. Any other phase
	// is recorded as Error.
	Phase v1alpha1.AnalysisPhase
	// Value as text, for Measurement.Value ("0.0123", "[1, 2]", "NaN").
	Value string
	// Message explains the outcome.
	Message string
	// NoData: the query returned nothing usable; noDataPolicy decides.
	NoData bool
}

// Interval is m's interval between measurements.
func Interval(m v1alpha1.Metric) time.Duration {
	if m.Interval != nil {
		if d := m.Interval.Get(); d > 0 {
			return d
		}
	}
	return DefaultInterval
}

// Count is how many measurements m takes.
func Count(m v1alpha1.Metric) int32 {
	if m.Count != nil && *m.Count >= 1 {
		return *m.Count
	}
	return DefaultCount
}

func initialDelay(m v1alpha1.Metric) time.Duration {
	if m.InitialDelay != nil {
		if d := m.InitialDelay.Get(); d > 0 {
			return d
		}
	}
	return 0
}

func consecutiveErrorLimit(m v1alpha1.Metric) int32 {
	if m.ConsecutiveErrorLimit != nil && *m.ConsecutiveErrorLimit >= 0 {
		return *m.ConsecutiveErrorLimit
	}
	return DefaultConsecutiveErrorLimit
}

func nonNegative(n int32) int32 {
	if n < 0 {
		return 0
	}
	return n
}

// Final tells whether a metric or run phase is a verdict: Successful, Failed
// or Inconclusive.
func Final(p v1alpha1.AnalysisPhase) bool {
	switch p {
	case v1alpha1.AnalysisSuccessful, v1alpha1.AnalysisFailed, v1alpha1.AnalysisInconclusive:
		return true
	}
	return false
}

// NextDue is when the next measurement of m is due: startedAt plus
// initialDelay for the first, the previous measurement's start plus the
// interval after that (an Error measurement too: it is retried then). It is
// the zero time when no measurement will be taken any more. A controller
// requeues after NextDue minus now; a time in the past means now.
func NextDue(m v1alpha1.Metric, r v1alpha1.MetricResult, startedAt time.Time) time.Time {
	if Final(r.Phase) || r.Count >= Count(m) {
		return time.Time{}
	}
	if n := len(r.Measurements); n > 0 {
		return r.Measurements[n-1].StartedAt.Add(Interval(m))
	}
	return startedAt.Add(initialDelay(m))
}

// Due tells whether a measurement of m should be taken at now. After a long
// outage of the controller one measurement is due, not one per missed
// interval: the next is then an interval after it.
func Due(m v1alpha1.Metric, r v1alpha1.MetricResult, startedAt, now time.Time) bool {
	next := NextDue(m, r, startedAt)
	return !next.IsZero() && !now.Before(next)
}

// Record folds outcome o of a measurement of m, started at started and
// finished at finished, into r and returns the new result; r itself is not
// modified. A result already final is returned unchanged.
func Record(m v1alpha1.Metric, r v1alpha1.MetricResult, o Outcome, started, finished time.Time) v1alpha1.MetricResult {
	out := r
	out.Measurements = append([]v1alpha1.Measurement(nil), r.Measurements...)
	if out.Name == "" {
		out.Name = m.Name
	}
	if Final(r.Phase) {
		return out
	}

	phase, message := measurementPhase(m, o)
	fin := metav1.NewTime(finished)
	out.Measurements = append(out.Measurements, v1alpha1.Measurement{
		Phase:      phase,
		Value:      o.Value,
		Message:    bound(message),
		StartedAt:  metav1.NewTime(started),
		FinishedAt: &fin,
	})
	if n := len(out.Measurements); n > MaxMeasurements {
		out.Measurements = out.Measurements[n-MaxMeasurements:]
	}

	switch phase {
	case v1alpha1.AnalysisError:
		out.Errors++
		out.ConsecutiveErrors++
	default:
		out.ConsecutiveErrors = 0
		out.Count++
		switch phase {
		case v1alpha1.AnalysisSuccessful:
			out.Successful++
		case v1alpha1.AnalysisFailed:
			out.Failed++
		case v1alpha1.AnalysisInconclusive:
			out.Inconclusive++
		}
	}
	out.Phase, out.Message = metricPhase(m, out)
	out.Message = bound(out.Message)
	return out
}

// measurementPhase is the phase a measurement records, and its message.
func measurementPhase(m v1alpha1.Metric, o Outcome) (v1alpha1.AnalysisPhase, string) {
	if o.NoData {
		policy := m.NoDataPolicy
		phase := v1alpha1.AnalysisInconclusive
		switch policy {
		case NoDataFail:
			phase = v1alpha1.AnalysisFailed
		case NoDataPass:
			phase = v1alpha1.AnalysisSuccessful
		case NoDataInconclusive:
		default:
			policy = NoDataInconclusive + " (the default)"
		}
		msg := "no data"
		if o.Message != "" {
			msg += ": " + o.Message
		}
		return phase, fmt.Sprintf("%s; noDataPolicy %s makes it %s", msg, policy, phase)
	}
	switch o.Phase {
	case v1alpha1.AnalysisSuccessful, v1alpha1.AnalysisFailed, v1alpha1.AnalysisInconclusive, v1alpha1.AnalysisError:
		return o.Phase, o.Message
	}
	return v1alpha1.AnalysisError, fmt.Sprintf("internal error: a measurement reported phase %q: %s", o.Phase, o.Message)
}

// metricPhase decides the phase of r after a measurement, and says why.
func metricPhase(m v1alpha1.Metric, r v1alpha1.MetricResult) (v1alpha1.AnalysisPhase, string) {
	count := Count(m)
	failureLimit := nonNegative(m.FailureLimit)
	inconclusiveLimit := nonNegative(m.InconclusiveLimit)
	errorLimit := consecutiveErrorLimit(m)
	last := r.Measurements[len(r.Measurements)-1]

	switch {
	case r.Failed > failureLimit:
		msg := fmt.Sprintf("failed %d of %d measurements (limit %d): %s", r.Failed, r.Count, failureLimit, lastText(last))
		if c := condition.Describe(m); c != "" {
			msg += ", condition " + c
		}
		return v1alpha1.AnalysisFailed, msg
	case r.Inconclusive > inconclusiveLimit:
		return v1alpha1.AnalysisInconclusive, fmt.Sprintf("inconclusive %d of %d measurements (limit %d): %s", r.Inconclusive, r.Count, inconclusiveLimit, lastText(last))
	case r.ConsecutiveErrors > errorLimit:
		return v1alpha1.AnalysisInconclusive, fmt.Sprintf("%d measurements in a row could not be taken (consecutiveErrorLimit %d): %s", r.ConsecutiveErrors, errorLimit, last.Message)
	case r.Count >= count:
		return v1alpha1.AnalysisSuccessful, tally(r, count, failureLimit, inconclusiveLimit)
	}
	msg := tally(r, count, failureLimit, inconclusiveLimit)
	if last.Phase == v1alpha1.AnalysisError {
		msg += fmt.Sprintf("; the last measurement could not be taken (%d in a row, limit %d), retried in %s: %s", r.ConsecutiveErrors, errorLimit, Interval(m), last.Message)
	}
	return v1alpha1.AnalysisRunning, msg
}

func lastText(last v1alpha1.Measurement) string {
	if last.Value != "" && last.Value != "NaN" {
		return "last value " + last.Value
	}
	return "last: " + last.Message
}

// tally: "5 of 5 measurements successful", or with the exceptions and limits.
func tally(r v1alpha1.MetricResult, count, failureLimit, inconclusiveLimit int32) string {
	msg := fmt.Sprintf("%d of %d measurements successful", r.Successful, count)
	var parts []string
	if r.Failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed (limit %d)", r.Failed, failureLimit))
	}
	if r.Inconclusive > 0 {
		parts = append(parts, fmt.Sprintf("%d inconclusive (limit %d)", r.Inconclusive, inconclusiveLimit))
	}
	if r.Errors > 0 {
		parts = append(parts, fmt.Sprintf("%d could not be taken", r.Errors))
	}
	if len(parts) > 0 {
		msg += ", " + strings.Join(parts, ", ")
	}
	return msg
}

func bound(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	return s[:maxMessage] + "…"
}

// Align returns one result per metric, in the metrics' order: the result of
// the same name from results, or a new Pending one. Results of metrics no
// longer listed are dropped.
func Align(metrics []v1alpha1.Metric, results []v1alpha1.MetricResult) []v1alpha1.MetricResult {
	byName := make(map[string]v1alpha1.MetricResult, len(results))
	for _, r := range results {
		byName[r.Name] = r
	}
	out := make([]v1alpha1.MetricResult, 0, len(metrics))
	for _, m := range metrics {
		r, ok := byName[m.Name]
		if !ok {
			r = v1alpha1.MetricResult{Name: m.Name, Phase: v1alpha1.AnalysisPending}
		}
		out = append(out, r)
	}
	return out
}

// RunPhase aggregates the metrics' results into the run's phase: Failed if
// any metric failed, else Inconclusive if any is inconclusive (a metric in
// phase Error counts as inconclusive), else Successful when all are
// successful, else Running. The message names the deciding metric, e.g.
// `metric "error-rate" failed 2 of 5 measurements (limit 1): last value
// 0.09, condition result < 0.01`. Pass one result per metric (see Align);
// with none, the run is Running.
func RunPhase(results []v1alpha1.MetricResult) (v1alpha1.AnalysisPhase, string) {
	var failed, inconclusive, waiting []v1alpha1.MetricResult
	for _, r := range results {
		switch r.Phase {
		case v1alpha1.AnalysisFailed:
			failed = append(failed, r)
		case v1alpha1.AnalysisInconclusive, v1alpha1.AnalysisError:
			inconclusive = append(inconclusive, r)
		case v1alpha1.AnalysisSuccessful:
		default:
			waiting = append(waiting, r)
		}
	}
	switch {
	case len(failed) > 0:
		return v1alpha1.AnalysisFailed, bound(decided(failed, "failed"))
	case len(inconclusive) > 0:
		return v1alpha1.AnalysisInconclusive, bound(decided(inconclusive, "inconclusive"))
	case len(results) == 0:
		return v1alpha1.AnalysisRunning, "no metric results yet"
	case len(waiting) == 0:
		if len(results) == 1 {
			return v1alpha1.AnalysisSuccessful, bound(fmt.Sprintf("metric %q successful: %s", results[0].Name, results[0].Message))
		}
		return v1alpha1.AnalysisSuccessful, fmt.Sprintf("all %d metrics successful", len(results))
	}
	names := make([]string, 0, len(waiting))
	for _, r := range waiting {
		state := "pending"
		if r.Phase == v1alpha1.AnalysisRunning {
			state = r.Message
		}
		names = append(names, fmt.Sprintf("%q (%s)", r.Name, state))
	}
	return v1alpha1.AnalysisRunning, bound(fmt.Sprintf("waiting for %d of %d metrics: %s", len(waiting), len(results), strings.Join(names, "; ")))
}

// decided names the first deciding metric with its message, and the others.
func decided(rs []v1alpha1.MetricResult, verdict string) string {
	first := rs[0]
	msg := fmt.Sprintf("metric %q %s", first.Name, first.Message)
	if !strings.HasPrefix(first.Message, verdict) {
		msg = fmt.Sprintf("metric %q %s: %s", first.Name, verdict, first.Message)
	}
	if len(rs) > 1 {
		others := make([]string, 0, len(rs)-1)
		for _, r := range rs[1:] {
			others = append(others, fmt.Sprintf("%q", r.Name))
		}
		msg += fmt.Sprintf("; also %s: %s", verdict, strings.Join(others, ", "))
	}
	return msg
}
