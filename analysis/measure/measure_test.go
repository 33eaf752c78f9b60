package measure

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func i32(n int32) *int32              { return &n }
func dur(s string) *v1alpha1.Duration { d := v1alpha1.Duration(s); return &d }
func num(s string) *v1alpha1.Number   { n := v1alpha1.Number(s); return &n }
func at(d time.Duration) time.Time    { return t0.Add(d) }
func measured(d time.Duration) v1alpha1.Measurement {
	return v1alpha1.Measurement{Phase: v1alpha1.AnalysisSuccessful, StartedAt: metav1.NewTime(at(d))}
}

const (
	S  = v1alpha1.AnalysisSuccessful
	F  = v1alpha1.AnalysisFailed
	I  = v1alpha1.AnalysisInconclusive
	E  = v1alpha1.AnalysisError
	R  = v1alpha1.AnalysisRunning
	P  = v1alpha1.AnalysisPending
	ND = v1alpha1.AnalysisPhase("NoData") // test shorthand for an Outcome with NoData
)

func TestNextDue(t *testing.T) {
	m := v1alpha1.Metric{Name: "m", Interval: dur("30s"), Count: i32(3), InitialDelay: dur("1m")}
	tests := []struct {
		name   string
		metric v1alpha1.Metric
		result v1alpha1.MetricResult
		want   time.Time
	}{
		{"first waits for the initial delay", m, v1alpha1.MetricResult{}, at(time.Minute)},
		{"pending waits for the initial delay", m, v1alpha1.MetricResult{Phase: P}, at(time.Minute)},
		{"no initial delay: at start", v1alpha1.Metric{Name: "m"}, v1alpha1.MetricResult{}, t0},
		{"then an interval after the last start", m, v1alpha1.MetricResult{Phase: R, Count: 1, Measurements: []v1alpha1.Measurement{measured(70 * time.Second)}}, at(100 * time.Second)},
		{"an error is retried an interval later", m, v1alpha1.MetricResult{Phase: R, Errors: 1, ConsecutiveErrors: 1, Measurements: []v1alpha1.Measurement{{Phase: E, StartedAt: metav1.NewTime(at(time.Minute))}}}, at(90 * time.Second)},
		{"default interval is 1m", v1alpha1.Metric{Name: "m", Count: i32(2)}, v1alpha1.MetricResult{Phase: R, Count: 1, Measurements: []v1alpha1.Measurement{measured(0)}}, at(time.Minute)},
		{"count reached: never", m, v1alpha1.MetricResult{Phase: R, Count: 3, Measurements: []v1alpha1.Measurement{measured(0)}}, time.Time{}},
		{"final: never", m, v1alpha1.MetricResult{Phase: F, Count: 1, Measurements: []v1alpha1.Measurement{measured(0)}}, time.Time{}},
		{"inconclusive: never", m, v1alpha1.MetricResult{Phase: I}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NextDue(tt.metric, tt.result, t0); !got.Equal(tt.want) {
				t.Fatalf("NextDue = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDue(t *testing.T) {
	m := v1alpha1.Metric{Name: "m", Interval: dur("30s"), Count: i32(3), InitialDelay: dur("10s")}
	r := v1alpha1.MetricResult{}
	if Due(m, r, t0, at(9*time.Second)) {
		t.Fatal("due before the initial delay")
	}
	if !Due(m, r, t0, at(10*time.Second)) {
		t.Fatal("not due at the initial delay")
	}
	r = Record(m, r, Outcome{Phase: S, Value: "1"}, at(10*time.Second), at(11*time.Second))
	if Due(m, r, t0, at(39*time.Second)) || !Due(m, r, t0, at(40*time.Second)) {
		t.Fatal("the interval counts from the previous measurement's start")
	}
	// A controller that was down for ten minutes takes one measurement,
	// then waits an interval.
	r = Record(m, r, Outcome{Phase: S, Value: "1"}, at(11*time.Minute), at(11*time.Minute))
	if Due(m, r, t0, at(11*time.Minute+29*time.Second)) {
		t.Fatal("a burst of measurements after an outage")
	}
	r = Record(m, r, Outcome{Phase: S, Value: "1"}, at(12*time.Minute), at(12*time.Minute))
	if r.Phase != S || Due(m, r, t0, at(time.Hour)) {
		t.Fatalf("phase %s after the count; still due", r.Phase)
	}
}

// run records outcomes one interval apart, as a controller would.
func run(m v1alpha1.Metric, outcomes []v1alpha1.AnalysisPhase) v1alpha1.MetricResult {
	var r v1alpha1.MetricResult
	for i, p := range outcomes {
		o := Outcome{Phase: p, Value: fmt.Sprintf("0.0%d", i+1), Message: fmt.Sprintf("measurement %d", i+1)}
		if p == ND {
			o = Outcome{NoData: true, Message: "no series (empty vector)"}
		}
		if p == E {
			o.Value = ""
			o.Message = "prometheus http://prom:9090: unreachable: connection refused"
		}
		r = Record(m, r, o, at(time.Duration(i)*time.Minute), at(time.Duration(i)*time.Minute+time.Second))
	}
	return r
}

func TestRecord(t *testing.T) {
	base := v1alpha1.Metric{Name: "error-rate", Count: i32(5), SuccessCondition: "result < 0.01"}
	with := func(f func(*v1alpha1.Metric)) v1alpha1.Metric { m := base; f(&m); return m }
	tests := []struct {
		name     string
		metric   v1alpha1.Metric
		outcomes []v1alpha1.AnalysisPhase
		phase    v1alpha1.AnalysisPhase
		counts   [6]int32 // count, successful, failed, inconclusive, errors, consecutiveErrors
		message  string
	}{
		{"all successful", base, []v1alpha1.AnalysisPhase{S, S, S, S, S}, S, [6]int32{5, 5, 0, 0, 0, 0}, "5 of 5 measurements successful"},
		{"still running", base, []v1alpha1.AnalysisPhase{S, S}, R, [6]int32{2, 2, 0, 0, 0, 0}, "2 of 5 measurements successful"},
		{"one failure fails at limit 0", base, []v1alpha1.AnalysisPhase{S, F}, F, [6]int32{2, 1, 1, 0, 0, 0}, "failed 1 of 2 measurements (limit 0): last value 0.02, condition result < 0.01"},
		{"failures within the limit succeed", with(func(m *v1alpha1.Metric) { m.FailureLimit = 1 }), []v1alpha1.AnalysisPhase{S, F, S, S, S}, S, [6]int32{5, 4, 1, 0, 0, 0}, "4 of 5 measurements successful, 1 failed (limit 1)"},
		{"failures past the limit fail early", with(func(m *v1alpha1.Metric) { m.FailureLimit = 1 }), []v1alpha1.AnalysisPhase{F, S, F}, F, [6]int32{3, 1, 2, 0, 0, 0}, "failed 2 of 3 measurements (limit 1): last value 0.03"},
		{"inconclusive past the limit", base, []v1alpha1.AnalysisPhase{S, I}, I, [6]int32{2, 1, 0, 1, 0, 0}, "inconclusive 1 of 2 measurements (limit 0)"},
		{"inconclusive within the limit", with(func(m *v1alpha1.Metric) { m.InconclusiveLimit = 2 }), []v1alpha1.AnalysisPhase{I, S, I, S, S}, S, [6]int32{5, 3, 0, 2, 0, 0}, "2 inconclusive (limit 2)"},
		{"errors do not use up the count", base, []v1alpha1.AnalysisPhase{E, S, E, S, S, S, S}, S, [6]int32{5, 5, 0, 0, 2, 0}, "2 could not be taken"},
		{"an error streak that recovers at the limit", base, []v1alpha1.AnalysisPhase{S, E, E, E, E, S}, R, [6]int32{2, 2, 0, 0, 4, 0}, "2 of 5 measurements successful, 4 could not be taken"},
		{"an error streak past the default limit 4", base, []v1alpha1.AnalysisPhase{S, E, E, E, E, E}, I, [6]int32{1, 1, 0, 0, 5, 5}, "5 measurements in a row could not be taken (consecutiveErrorLimit 4): prometheus http://prom:9090: unreachable: connection refused"},
		{"two streaks under the limit", base, []v1alpha1.AnalysisPhase{E, E, E, E, S, E, E, E, E, S}, R, [6]int32{2, 2, 0, 0, 8, 0}, ""},
		{"running during a streak says so", base, []v1alpha1.AnalysisPhase{S, E, E}, R, [6]int32{1, 1, 0, 0, 2, 2}, "the last measurement could not be taken (2 in a row, limit 4), retried in 1m0s"},
		{"consecutiveErrorLimit 0", with(func(m *v1alpha1.Metric) { m.ConsecutiveErrorLimit = i32(0) }), []v1alpha1.AnalysisPhase{E}, I, [6]int32{0, 0, 0, 0, 1, 1}, "consecutiveErrorLimit 0"},
		{"consecutiveErrorLimit 1", with(func(m *v1alpha1.Metric) { m.ConsecutiveErrorLimit = i32(1) }), []v1alpha1.AnalysisPhase{E, S, E, E}, I, [6]int32{1, 1, 0, 0, 3, 2}, ""},
		{"no data is inconclusive by default", base, []v1alpha1.AnalysisPhase{ND}, I, [6]int32{1, 0, 0, 1, 0, 0}, "inconclusive 1 of 1 measurements (limit 0): last: no data: no series (empty vector); noDataPolicy Inconclusive (the default) makes it Inconclusive"},
		{"noDataPolicy Fail", with(func(m *v1alpha1.Metric) { m.NoDataPolicy = NoDataFail }), []v1alpha1.AnalysisPhase{ND}, F, [6]int32{1, 0, 1, 0, 0, 0}, "noDataPolicy Fail makes it Failed"},
		{"noDataPolicy Pass", with(func(m *v1alpha1.Metric) { m.NoDataPolicy = NoDataPass; m.Count = i32(2) }), []v1alpha1.AnalysisPhase{ND, S}, S, [6]int32{2, 2, 0, 0, 0, 0}, ""},
		{"noDataPolicy unknown is Inconclusive", with(func(m *v1alpha1.Metric) { m.NoDataPolicy = "Maybe" }), []v1alpha1.AnalysisPhase{ND}, I, [6]int32{1, 0, 0, 1, 0, 0}, ""},
		{"no data resets an error streak", base, []v1alpha1.AnalysisPhase{E, E, E, E, ND}, I, [6]int32{1, 0, 0, 1, 4, 0}, "inconclusive"},
		{"an invalid outcome phase is an error", base, []v1alpha1.AnalysisPhase{R}, R, [6]int32{0, 0, 0, 0, 1, 1}, "internal error"},
		{"count defaults to 1", v1alpha1.Metric{Name: "m", Max: num("1")}, []v1alpha1.AnalysisPhase{S}, S, [6]int32{1, 1, 0, 0, 0, 0}, "1 of 1 measurements successful"},
		{"nothing is recorded after a verdict", base, []v1alpha1.AnalysisPhase{F, S, S}, F, [6]int32{1, 0, 1, 0, 0, 0}, "failed 1 of 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(tt.metric, tt.outcomes)
			got := [6]int32{r.Count, r.Successful, r.Failed, r.Inconclusive, r.Errors, r.ConsecutiveErrors}
			if r.Phase != tt.phase || got != tt.counts {
				t.Fatalf("phase %s counts %v, want %s %v (message %q)", r.Phase, got, tt.phase, tt.counts, r.Message)
			}
			if !strings.Contains(r.Message, tt.message) {
				t.Fatalf("message %q does not contain %q", r.Message, tt.message)
			}
			if r.Name != tt.metric.Name {
				t.Fatalf("name %q", r.Name)
			}
		})
	}
}

func TestRecordKeepsTheLast20(t *testing.T) {
	m := v1alpha1.Metric{Name: "m", Count: i32(100), FailureLimit: 100}
	var r v1alpha1.MetricResult
	for i := 0; i < 30; i++ {
		r = Record(m, r, Outcome{Phase: S, Value: fmt.Sprint(i)}, at(time.Duration(i)*time.Minute), at(time.Duration(i)*time.Minute))
	}
	if len(r.Measurements) != MaxMeasurements || r.Measurements[0].Value != "10" || r.Measurements[19].Value != "29" || r.Count != 30 {
		t.Fatalf("kept %d, first %q last %q, count %d", len(r.Measurements), r.Measurements[0].Value, r.Measurements[len(r.Measurements)-1].Value, r.Count)
	}
	if next := NextDue(m, r, t0); !next.Equal(at(30 * time.Minute)) {
		t.Fatalf("NextDue %v", next)
	}
}

func TestRecordDoesNotModifyItsInput(t *testing.T) {
	m := v1alpha1.Metric{Name: "m", Count: i32(5)}
	r := Record(m, v1alpha1.MetricResult{}, Outcome{Phase: S}, t0, t0)
	r.Measurements = append(make([]v1alpha1.Measurement, 0, 10), r.Measurements...)
	before := r.Measurements[0]
	a := Record(m, r, Outcome{Phase: F, Value: "a"}, at(time.Minute), at(time.Minute))
	b := Record(m, r, Outcome{Phase: S, Value: "b"}, at(time.Minute), at(time.Minute))
	if len(r.Measurements) != 1 || r.Measurements[0] != before || r.Count != 1 {
		t.Fatal("the input was modified")
	}
	if a.Measurements[1].Value != "a" || b.Measurements[1].Value != "b" {
		t.Fatal("two results share a backing array")
	}
}

func TestMeasurementFields(t *testing.T) {
	m := v1alpha1.Metric{Name: "m", Count: i32(2)}
	r := Record(m, v1alpha1.MetricResult{}, Outcome{Phase: S, Value: "0.5", Message: strings.Repeat("x", 5000)}, t0, at(2*time.Second))
	got := r.Measurements[0]
	if got.Phase != S || got.Value != "0.5" || !got.StartedAt.Time.Equal(t0) || got.FinishedAt == nil || !got.FinishedAt.Time.Equal(at(2*time.Second)) {
		t.Fatalf("measurement %+v", got)
	}
	if len(got.Message) > maxMessage+len("…") {
		t.Fatalf("message of %d bytes", len(got.Message))
	}
}

func TestRunPhase(t *testing.T) {
	failed := run(v1alpha1.Metric{Name: "error-rate", Count: i32(5), FailureLimit: 1, SuccessCondition: "result < 0.01"}, []v1alpha1.AnalysisPhase{S, F, S, S, F})
	if failed.Phase != F {
		t.Fatalf("setup: %s %s", failed.Phase, failed.Message)
	}
	errored := run(v1alpha1.Metric{Name: "latency", Count: i32(5)}, []v1alpha1.AnalysisPhase{E, E, E, E, E})
	ok := run(v1alpha1.Metric{Name: "ok", Count: i32(1)}, []v1alpha1.AnalysisPhase{S})
	ok2 := run(v1alpha1.Metric{Name: "ok2", Count: i32(1)}, []v1alpha1.AnalysisPhase{S})
	running := run(v1alpha1.Metric{Name: "slow", Count: i32(3)}, []v1alpha1.AnalysisPhase{S})
	pending := v1alpha1.MetricResult{Name: "later", Phase: P}
	tests := []struct {
		name    string
		results []v1alpha1.MetricResult
		phase   v1alpha1.AnalysisPhase
		message string
	}{
		{"a failure decides", []v1alpha1.MetricResult{ok, errored, failed}, F, `metric "error-rate" failed 2 of 5 measurements (limit 1): last value 0.05, condition result < 0.01`},
		{"several failures", []v1alpha1.MetricResult{failed, run(v1alpha1.Metric{Name: "b", SuccessCondition: "x"}, []v1alpha1.AnalysisPhase{F})}, F, `; also failed: "b"`},
		{"inconclusive when nothing failed", []v1alpha1.MetricResult{ok, errored, running}, I, `metric "latency" inconclusive: 5 measurements in a row could not be taken`},
		{"a metric in phase Error is inconclusive", []v1alpha1.MetricResult{ok, {Name: "x", Phase: E, Message: "broken"}}, I, `metric "x" inconclusive: broken`},
		{"all successful", []v1alpha1.MetricResult{ok, ok2}, S, "all 2 metrics successful"},
		{"one successful", []v1alpha1.MetricResult{ok}, S, `metric "ok" successful: 1 of 1 measurements successful`},
		{"running", []v1alpha1.MetricResult{ok, running, pending}, R, `waiting for 2 of 3 metrics: "slow" (1 of 3 measurements successful); "later" (pending)`},
		{"nothing yet", nil, R, "no metric results yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			phase, msg := RunPhase(tt.results)
			if phase != tt.phase || !strings.Contains(msg, tt.message) {
				t.Fatalf("got %s %q, want %s containing %q", phase, msg, tt.phase, tt.message)
			}
		})
	}
}

func TestAlign(t *testing.T) {
	metrics := []v1alpha1.Metric{{Name: "a"}, {Name: "b"}}
	got := Align(metrics, []v1alpha1.MetricResult{{Name: "b", Phase: S}, {Name: "gone", Phase: F}})
	if len(got) != 2 || got[0].Name != "a" || got[0].Phase != P || got[1].Name != "b" || got[1].Phase != S {
		t.Fatalf("got %+v", got)
	}
	if phase, _ := RunPhase(got); phase != R {
		t.Fatalf("a pending metric leaves the run %s", phase)
	}
}

func TestFinal(t *testing.T) {
	for p, want := range map[v1alpha1.AnalysisPhase]bool{S: true, F: true, I: true, E: false, R: false, P: false, "": false} {
		if Final(p) != want {
			t.Errorf("Final(%q) = %v", p, !want)
		}
	}
}
