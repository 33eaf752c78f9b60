package condition

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

func num(s string) *v1alpha1.Number { n := v1alpha1.Number(s); return &n }

func TestEvaluate(t *testing.T) {
	const (
		ok   = v1alpha1.AnalysisSuccessful
		bad  = v1alpha1.AnalysisFailed
		oops = v1alpha1.AnalysisError
	)
	tests := []struct {
		name    string
		metric  v1alpha1.Metric
		values  []float64
		want    v1alpha1.AnalysisPhase
		message string // substring of the verdict's message
	}{
		{"scalar success", v1alpha1.Metric{SuccessCondition: "result < 0.01"}, []float64{0.001}, ok, `successCondition "result < 0.01" held`},
		{"scalar success false is Failed", v1alpha1.Metric{SuccessCondition: "result < 0.01"}, []float64{0.09}, bad, `successCondition "result < 0.01" is false`},
		{"int literal compares with a double", v1alpha1.Metric{SuccessCondition: "result < 1"}, []float64{0.5}, ok, ""},
		{"equality with an int literal", v1alpha1.Metric{SuccessCondition: "result == 0"}, []float64{0}, ok, ""},
		{"failure true is Failed", v1alpha1.Metric{FailureCondition: "result > 0.05"}, []float64{0.09}, bad, `failureCondition "result > 0.05" is true`},
		{"failure false alone is Successful", v1alpha1.Metric{FailureCondition: "result > 0.05"}, []float64{0.01}, ok, `failureCondition "result > 0.05" is false`},
		{"failure wins over success", v1alpha1.Metric{SuccessCondition: "result < 1", FailureCondition: "result > 0.5"}, []float64{0.7}, bad, "failureCondition"},
		{"both given, neither true is Failed", v1alpha1.Metric{SuccessCondition: "result < 0.1", FailureCondition: "result > 0.5"}, []float64{0.3}, bad, "successCondition"},
		{"both given, success true", v1alpha1.Metric{SuccessCondition: "result < 0.1", FailureCondition: "result > 0.5"}, []float64{0.05}, ok, ""},
		{"min holds", v1alpha1.Metric{Min: num("0.5")}, []float64{0.5}, ok, "min 0.5 held"},
		{"below min", v1alpha1.Metric{Min: num("0.5")}, []float64{0.49}, bad, "below min 0.5"},
		{"above max", v1alpha1.Metric{Max: num("250")}, []float64{251}, bad, "above max 250"},
		{"min and max hold", v1alpha1.Metric{Min: num("1"), Max: num("2")}, []float64{1.5}, ok, "min 1 and max 2 held"},
		{"max ANDed with successCondition: condition false", v1alpha1.Metric{Max: num("10"), SuccessCondition: "result > 5"}, []float64{3}, bad, "successCondition"},
		{"max ANDed with successCondition: max false", v1alpha1.Metric{Max: num("10"), SuccessCondition: "result > 5"}, []float64{11}, bad, "above max"},
		{"max applies to every series", v1alpha1.Metric{Max: num("0.1")}, []float64{0.01, 0.2, 0.3}, bad, "2 of 3 values are above max 0.1"},
		{"min with NaN fails", v1alpha1.Metric{Min: num("0")}, []float64{math.NaN()}, bad, ""},
		{"+Inf is a value", v1alpha1.Metric{SuccessCondition: "result < 0.5"}, []float64{math.Inf(1)}, bad, ""},
		{"-Inf is a value", v1alpha1.Metric{SuccessCondition: "result < 0.5"}, []float64{math.Inf(-1)}, ok, ""},
		{"math.isInf", v1alpha1.Metric{FailureCondition: "math.isInf(result)"}, []float64{math.Inf(1)}, bad, ""},
		{"list with all()", v1alpha1.Metric{SuccessCondition: "result.all(x, x < 0.01)"}, []float64{0.001, 0.002}, ok, ""},
		{"list with all() false", v1alpha1.Metric{SuccessCondition: "result.all(x, x < 0.01)"}, []float64{0.001, 0.2}, bad, ""},
		{"results works for one value", v1alpha1.Metric{SuccessCondition: "results.all(x, x < 0.01)"}, []float64{0.001}, ok, ""},
		{"results works for several", v1alpha1.Metric{SuccessCondition: "results.exists(x, x > 1)"}, []float64{0, 2}, ok, ""},
		{"math.greatest over results", v1alpha1.Metric{SuccessCondition: "math.greatest(results) < 0.5"}, []float64{0.1, 0.4}, ok, ""},
		{"size of results", v1alpha1.Metric{FailureCondition: "size(results) < 3"}, []float64{1, 2}, bad, ""},
		{"scalar condition on a list is Error", v1alpha1.Metric{SuccessCondition: "result < 0.01"}, []float64{0.001, 0.002}, oops, "result is a list of 2 values"},
		{"list condition on a scalar is Error", v1alpha1.Metric{SuccessCondition: "result.all(x, x < 0.01)"}, []float64{0.001}, oops, "result is a single double"},
		{"dyn condition yielding a double is Error", v1alpha1.Metric{SuccessCondition: "result"}, []float64{1}, oops, "must yield a bool"},
		{"runtime division by zero is Error", v1alpha1.Metric{SuccessCondition: "1 / int(result) == 1"}, []float64{0}, oops, "division by zero"},
		{"no values is Error", v1alpha1.Metric{SuccessCondition: "result < 1"}, nil, oops, "no data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.metric.Name = "m"
			c, err := Compile(tt.metric)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			v := c.Evaluate(tt.values)
			if v.Phase != tt.want {
				t.Fatalf("phase %s, want %s (message %q)", v.Phase, tt.want, v.Message)
			}
			if !strings.Contains(v.Message, tt.message) {
				t.Fatalf("message %q does not contain %q", v.Message, tt.message)
			}
		})
	}
}

func TestVerdictFlags(t *testing.T) {
	c, err := Compile(v1alpha1.Metric{Name: "m", SuccessCondition: "result < 1", FailureCondition: "result > 5"})
	if err != nil {
		t.Fatal(err)
	}
	v := c.Evaluate([]float64{0.5})
	if v.FailureMet == nil || *v.FailureMet || v.SuccessMet == nil || !*v.SuccessMet {
		t.Fatalf("flags: failure %v success %v", v.FailureMet, v.SuccessMet)
	}
	v = c.Evaluate([]float64{6})
	if v.FailureMet == nil || !*v.FailureMet || v.SuccessMet != nil {
		t.Fatalf("flags after failure: failure %v success %v", v.FailureMet, v.SuccessMet)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name   string
		metric v1alpha1.Metric
		field  string
		want   []string
	}{
		{"syntax", v1alpha1.Metric{SuccessCondition: "result <"}, FieldSuccessCondition, []string{`metric "error-rate"`, `successCondition "result <" is invalid`, "Syntax error"}},
		{"unknown variable", v1alpha1.Metric{FailureCondition: "value > 1"}, FieldFailureCondition, []string{`failureCondition "value > 1"`, "undeclared reference to 'value'", "the variables are result"}},
		{"not a bool", v1alpha1.Metric{SuccessCondition: "1 + 2"}, FieldSuccessCondition, []string{"yields int", "must yield a bool"}},
		{"string compare", v1alpha1.Metric{SuccessCondition: `results == "x"`}, FieldSuccessCondition, []string{"no matching overload"}},
		{"bad min", v1alpha1.Metric{Min: num("abc")}, FieldMin, []string{`min "abc" is invalid`, "not a finite number"}},
		{"NaN max", v1alpha1.Metric{Max: num("NaN")}, FieldMax, []string{"not a finite number"}},
		{"min above max", v1alpha1.Metric{Min: num("5"), Max: num("1")}, FieldMin, []string{"min is above max 1"}},
		{"no condition", v1alpha1.Metric{}, "", []string{`metric "error-rate": no successCondition, failureCondition, min or max`}},
		{"too long", v1alpha1.Metric{SuccessCondition: strings.Repeat("result < 1 && ", 400) + "true"}, FieldSuccessCondition, []string{"longer than"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.metric.Name = "error-rate"
			_, err := Compile(tt.metric)
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *CompileError", err)
			}
			if ce.Field != tt.field || ce.Metric != "error-rate" {
				t.Fatalf("field %q metric %q", ce.Field, ce.Metric)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q does not contain %q", err.Error(), w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("message spans lines: %q", err.Error())
			}
		})
	}
}

func TestCostLimit(t *testing.T) {
	c, err := Compile(v1alpha1.Metric{Name: "m", SuccessCondition: "results.all(x, results.all(y, results.all(z, x + y + z > -1.0)))"})
	if err != nil {
		t.Fatal(err)
	}
	values := make([]float64, 300)
	v := c.Evaluate(values)
	if v.Phase != v1alpha1.AnalysisError || !strings.Contains(v.Message, "cost limit") {
		t.Fatalf("got %s %q, want Error at the cost limit", v.Phase, v.Message)
	}
	// An ordinary condition over a thousand series is well within it.
	c, err = Compile(v1alpha1.Metric{Name: "m", SuccessCondition: "results.all(x, x < 1.0) && math.greatest(results) < 1.0"})
	if err != nil {
		t.Fatal(err)
	}
	if v := c.Evaluate(make([]float64, 1000)); v.Phase != v1alpha1.AnalysisSuccessful {
		t.Fatalf("got %s %q", v.Phase, v.Message)
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		m    v1alpha1.Metric
		want string
	}{
		{v1alpha1.Metric{SuccessCondition: "result < 0.01"}, "result < 0.01"},
		{v1alpha1.Metric{Min: num("0.5"), Max: num("2")}, "result >= 0.5 && result <= 2"},
		{v1alpha1.Metric{SuccessCondition: "result < 0.01", Max: num("2")}, "result < 0.01 && result <= 2"},
		{v1alpha1.Metric{FailureCondition: "result > 0.1"}, "failure when result > 0.1"},
		{v1alpha1.Metric{SuccessCondition: "a", FailureCondition: "b"}, "a, failure when b"},
		{v1alpha1.Metric{}, ""},
	}
	for _, tt := range tests {
		if got := Describe(tt.m); got != tt.want {
			t.Errorf("Describe = %q, want %q", got, tt.want)
		}
	}
}

func TestCache(t *testing.T) {
	var cache Cache
	m := v1alpha1.Metric{Name: "m", SuccessCondition: "result < 1"}
	a, err := cache.Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := cache.Compile(m)
	if a != b {
		t.Fatal("the cache compiled twice")
	}
	m.Max = num("3")
	if c, _ := cache.Compile(m); c == a {
		t.Fatal("a different max returned the same conditions")
	}
	if _, err := cache.Compile(v1alpha1.Metric{Name: "m", SuccessCondition: "result <"}); err == nil {
		t.Fatal("a bad condition compiled through the cache")
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := cache.Compile(v1alpha1.Metric{Name: "m", SuccessCondition: "result < 1"})
			if err != nil || c.Evaluate([]float64{0}).Phase != v1alpha1.AnalysisSuccessful {
				t.Error("concurrent use failed")
			}
		}()
	}
	wg.Wait()
}

func FuzzEvaluate(f *testing.F) {
	seeds := []string{
		"result < 0.01", "result.all(x, x < 0.01)", "results.exists(x, x > 1)", "result",
		"math.greatest(results) < 0.5", "1 / 0 == 1", "result <", `"a" + result`,
		"results.map(x, results.map(y, x * y)).size() > 0", "[[[[[[[[[[]]]]]]]]]]",
		"math.isNaN(result)", "result == result", "has(result.x)", "result[0] < 1", "",
	}
	for i, s := range seeds {
		f.Add(s, "result > 100", float64(i)/10, math.Inf(1), uint8(i%4))
	}
	f.Add("result < 1", "", math.NaN(), math.Inf(-1), uint8(2))
	f.Fuzz(func(t *testing.T, success, failure string, a, b float64, n uint8) {
		m := v1alpha1.Metric{Name: "fuzz", SuccessCondition: success, FailureCondition: failure}
		c, err := Compile(m)
		if err != nil {
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("compile error %v is not a *CompileError", err)
			}
			return
		}
		values := make([]float64, int(n%5))
		for i := range values {
			if i%2 == 0 {
				values[i] = a
			} else {
				values[i] = b
			}
		}
		v := c.Evaluate(values)
		switch v.Phase {
		case v1alpha1.AnalysisSuccessful, v1alpha1.AnalysisFailed, v1alpha1.AnalysisError:
		default:
			t.Fatalf("phase %q", v.Phase)
		}
		if v.Message == "" {
			t.Fatal("empty message")
		}
	})
}
