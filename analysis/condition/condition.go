// Package condition decides whether a measured value is good or bad: it
// compiles a metric's successCondition and failureCondition, CEL expressions
// over the measured value, together with the min and max sugar, and evaluates
// them against a measurement.
//
// # The CEL environment
//
// Two variables are declared:
//
//   - result is the value as the query returned it: a double when the query
//     returned one value (a scalar, or a vector or matrix with exactly one
//     sample), and a list(double) when it returned several (one value per
//     series of a vector, or every sample of a range query). It is declared
//     dyn, so "result < 0.01" and "result.all(x, x < 0.01)" both compile; the
//     one that does not fit the value's shape is an evaluation error (an
//     Error measurement whose message explains the shape), never a panic.
//   - results is always a list(double): [v] for one value, every value for
//     several. A condition that must work whatever the number of series is
//     written over results: "results.all(x, x < 0.01)",
//     "math.greatest(results) < 0.5", "results.size() == 3".
//
// Doubles compare with ints ("result < 1", "result == 0"), and CEL's math
// extension is available: math.greatest, math.least, math.abs, math.isNaN,
// math.isInf, math.ceil, math.floor, math.round.
//
// min and max are sugar for "every value >= min" and "every value <= max"
// (for one value, simply result >= min and result <= max). They are checked in
// Go, exactly, and ANDed with successCondition when both are given.
//
// # Verdicts
//
//   - failureCondition true → Failed;
//   - otherwise, when there is a success test (successCondition, min or max):
//     true → Successful, false → Failed;
//   - otherwise (only a failureCondition, and it is false) → Successful;
//   - an evaluation error (a list where a double was expected, a condition
//     that does not yield a bool, the cost limit) → Error, with a message.
//
// An empty result (no series) is not a value: the caller applies the metric's
// noDataPolicy instead of evaluating; Evaluate reports Error if asked to
// evaluate no values.
package condition

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// CostLimit bounds the work one evaluation may do, in CEL's cost units
// (roughly one per operation). A condition over a thousand series that visits
// each value a few times stays far below it; nested comprehensions over many
// values do not, and end as an Error measurement.
const CostLimit = 1_000_000

// maxSourceLen is the longest condition compiled; admission caps both
// conditions at 1024 characters already.
const maxSourceLen = 4096

// Field names, as they appear in CompileError.Field.
const (
	FieldSuccessCondition = "successCondition"
	FieldFailureCondition = "failureCondition"
	FieldMin              = "min"
	FieldMax              = "max"
)

// CompileError says why a metric's condition cannot be compiled. Its message
// names the metric, the field and the expression, and carries CEL's own
// explanation with the position of the problem.
type CompileError struct {
	// Metric is the metric's name.
	Metric string
	// Field is successCondition, failureCondition, min or max; empty when
	// the metric has no condition at all.
	Field string
	// Expression is the text that failed.
	Expression string
	// Reason is the explanation (CEL's error text for a condition).
	Reason string
}

func (e *CompileError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("metric %q: %s", e.Metric, e.Reason)
	}
	return fmt.Sprintf("metric %q: %s %q is invalid: %s", e.Metric, e.Field, e.Expression, e.Reason)
}

// Conditions are a metric's compiled conditions. They are immutable and safe
// for concurrent use.
type Conditions struct {
	metric  string
	success *program
	failure *program
	min     *float64
	max     *float64
	minText string
	maxText string
}

type program struct {
	source string
	prg    cel.Program
}

// Verdict is the outcome of evaluating a metric's conditions on one value.
type Verdict struct {
	// Phase is Successful, Failed or Error.
	Phase v1alpha1.AnalysisPhase
	// Message explains the phase: which condition decided it, or what went
	// wrong evaluating it.
	Message string
	// FailureMet is whether the failureCondition held; nil when the metric
	// has none or its evaluation failed.
	FailureMet *bool
	// SuccessMet is whether the success test (successCondition and min/max
	// together) held; nil when the metric has none, or it was not evaluated
	// because the failureCondition already held, or its evaluation failed.
	SuccessMet *bool
}

var environment = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("result", cel.DynType),
		cel.Variable("results", cel.ListType(cel.DoubleType)),
		cel.CrossTypeNumericComparisons(true),
		ext.Math(ext.MathVersion(3)),
		cel.ParserExpressionSizeLimit(maxSourceLen),
		cel.ParserRecursionLimit(100),
	)
})

// Compile compiles the conditions of m. A metric without any of
// successCondition, failureCondition, min and max is an error, as is a
// condition that does not parse, refers to anything but result and results,
// or cannot yield a bool.
func Compile(m v1alpha1.Metric) (*Conditions, error) {
	env, err := environment()
	if err != nil {
		return nil, fmt.Errorf("building the CEL environment: %w", err)
	}
	c := &Conditions{metric: m.Name}
	if m.SuccessCondition == "" && m.FailureCondition == "" && m.Min == nil && m.Max == nil {
		return nil, &CompileError{Metric: m.Name, Reason: "no successCondition, failureCondition, min or max is set, so no value could fail; set at least one"}
	}
	if m.SuccessCondition != "" {
		if c.success, err = compileOne(env, m.Name, FieldSuccessCondition, m.SuccessCondition); err != nil {
			return nil, err
		}
	}
	if m.FailureCondition != "" {
		if c.failure, err = compileOne(env, m.Name, FieldFailureCondition, m.FailureCondition); err != nil {
			return nil, err
		}
	}
	if m.Min != nil {
		if c.min, err = parseNumber(m.Name, FieldMin, *m.Min); err != nil {
			return nil, err
		}
		c.minText = string(*m.Min)
	}
	if m.Max != nil {
		if c.max, err = parseNumber(m.Name, FieldMax, *m.Max); err != nil {
			return nil, err
		}
		c.maxText = string(*m.Max)
	}
	if c.min != nil && c.max != nil && *c.min > *c.max {
		return nil, &CompileError{Metric: m.Name, Field: FieldMin, Expression: c.minText,
			Reason: fmt.Sprintf("min is above max %s, so no value could succeed", c.maxText)}
	}
	return c, nil
}

func compileOne(env *cel.Env, metric, field, src string) (*program, error) {
	fail := func(reason string) error {
		return &CompileError{Metric: metric, Field: field, Expression: src, Reason: reason}
	}
	if len(src) > maxSourceLen {
		return nil, fail(fmt.Sprintf("longer than %d characters", maxSourceLen))
	}
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, fail(oneLine(iss.Err().Error()) + `; the variables are result (a double, or a list of doubles for several series) and results (always a list of doubles)`)
	}
	if t := ast.OutputType(); t.Kind() != types.BoolKind && t.Kind() != types.DynKind {
		return nil, fail(fmt.Sprintf("it yields %s, but a condition must yield a bool (for example result < 0.01)", t))
	}
	prg, err := env.Program(ast, cel.CostLimit(CostLimit))
	if err != nil {
		return nil, fail(oneLine(err.Error()))
	}
	return &program{source: src, prg: prg}, nil
}

func parseNumber(metric, field string, n v1alpha1.Number) (*float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(string(n)), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, &CompileError{Metric: metric, Field: field, Expression: string(n), Reason: "not a finite number such as 0.01 or 250"}
	}
	return &v, nil
}

// oneLine folds CEL's multi-line error text (which points at the column with
// a caret on its own line) into one line for a condition message.
func oneLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || strings.Trim(l, ".^| ") == "" {
			continue // the caret line and the echoed source add nothing on one line
		}
		if strings.HasPrefix(l, "| ") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "; ")
}

// Describe is the effective condition of m in one line, for messages:
// "result < 0.01", "result >= 0.5 && result <= 2", "failure when result > 0.1".
// It does not compile anything; an empty string means no condition.
func Describe(m v1alpha1.Metric) string {
	var success []string
	if m.SuccessCondition != "" {
		success = append(success, m.SuccessCondition)
	}
	if m.Min != nil {
		success = append(success, "result >= "+string(*m.Min))
	}
	if m.Max != nil {
		success = append(success, "result <= "+string(*m.Max))
	}
	var parts []string
	if len(success) > 0 {
		parts = append(parts, strings.Join(success, " && "))
	}
	if m.FailureCondition != "" {
		parts = append(parts, "failure when "+m.FailureCondition)
	}
	return strings.Join(parts, ", ")
}

// Evaluate judges values: one value is result as a double, several are
// result as a list. It never panics; see the package documentation for the
// verdicts.
func (c *Conditions) Evaluate(values []float64) Verdict {
	if len(values) == 0 {
		return Verdict{Phase: v1alpha1.AnalysisError, Message: "no value to evaluate (an empty result is no data, which noDataPolicy decides)"}
	}
	vars := map[string]any{"results": values}
	if len(values) == 1 {
		vars["result"] = values[0]
	} else {
		vars["result"] = values
	}

	var v Verdict
	if c.failure != nil {
		met, err := c.failure.eval(vars, len(values))
		if err != nil {
			return Verdict{Phase: v1alpha1.AnalysisError, Message: fmt.Sprintf("failureCondition %q: %s", c.failure.source, err)}
		}
		v.FailureMet = &met
		if met {
			v.Phase = v1alpha1.AnalysisFailed
			v.Message = fmt.Sprintf("failureCondition %q is true", c.failure.source)
			return v
		}
	}

	if c.success == nil && c.min == nil && c.max == nil {
		v.Phase = v1alpha1.AnalysisSuccessful
		v.Message = fmt.Sprintf("failureCondition %q is false", c.failure.source)
		return v
	}
	met, why, err := c.successMet(vars, values)
	if err != nil {
		v.Phase = v1alpha1.AnalysisError
		v.Message = err.Error()
		return v
	}
	v.SuccessMet = &met
	if met {
		v.Phase = v1alpha1.AnalysisSuccessful
	} else {
		v.Phase = v1alpha1.AnalysisFailed
	}
	v.Message = why
	return v
}

// successMet checks min, max and the successCondition, in that order, and
// says which one decided.
func (c *Conditions) successMet(vars map[string]any, values []float64) (bool, string, error) {
	var held []string
	if c.min != nil {
		if n := countWhere(values, func(x float64) bool { return !(x >= *c.min) }); n > 0 {
			return false, boundMessage("below min", c.minText, n, len(values)), nil
		}
		held = append(held, "min "+c.minText)
	}
	if c.max != nil {
		if n := countWhere(values, func(x float64) bool { return !(x <= *c.max) }); n > 0 {
			return false, boundMessage("above max", c.maxText, n, len(values)), nil
		}
		held = append(held, "max "+c.maxText)
	}
	if c.success != nil {
		met, err := c.success.eval(vars, len(values))
		if err != nil {
			return false, "", fmt.Errorf("successCondition %q: %s", c.success.source, err)
		}
		if !met {
			return false, fmt.Sprintf("successCondition %q is false", c.success.source), nil
		}
		held = append(held, fmt.Sprintf("successCondition %q", c.success.source))
	}
	return true, strings.Join(held, " and ") + " held", nil
}

func countWhere(values []float64, bad func(float64) bool) int {
	n := 0
	for _, x := range values {
		if bad(x) {
			n++
		}
	}
	return n
}

func boundMessage(what, bound string, n, total int) string {
	if total == 1 {
		return fmt.Sprintf("the value is %s %s", what, bound)
	}
	return fmt.Sprintf("%d of %d values are %s %s", n, total, what, bound)
}

func (p *program) eval(vars map[string]any, n int) (met bool, err error) {
	// cel-go reports evaluation problems as errors; the recover is a last
	// line of defence so that a bug there becomes an Error measurement
	// instead of taking the controller down.
	defer func() {
		if r := recover(); r != nil {
			met, err = false, fmt.Errorf("evaluation failed: %v", r)
		}
	}()
	out, _, evalErr := p.prg.Eval(vars)
	if evalErr != nil {
		return false, explain(evalErr, n)
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("yields %s %s, but a condition must yield a bool", out.Type().TypeName(), truncate(fmt.Sprint(out.Value()), 64))
	}
	return bool(b), nil
}

// explain adds to CEL's evaluation error what the value's shape was, which is
// what a user needs to fix the most common mistake: a scalar condition on a
// multi-series result, or a list condition on a single value.
func explain(err error, n int) error {
	msg := oneLine(err.Error())
	shapeMismatch := strings.Contains(msg, "no such overload") || strings.Contains(msg, "no matching overload") ||
		strings.Contains(msg, "expected iterable") || strings.Contains(msg, "unsupported index")
	switch {
	case strings.Contains(msg, "cost limit exceeded"):
		return fmt.Errorf("evaluation stopped at the cost limit (%d): %s", CostLimit, msg)
	case n > 1 && shapeMismatch:
		return fmt.Errorf("%s: result is a list of %d values here (the query returned several series or samples); write the condition over the list, e.g. results.all(x, x < 0.01) or math.greatest(results) < 0.01, or aggregate the query to one series", msg, n)
	case shapeMismatch:
		return fmt.Errorf("%s: result is a single double here; use results for a list that works for any number of series", msg)
	case n > 1:
		return fmt.Errorf("%s (result was a list of %d values)", msg, n)
	}
	return fmt.Errorf("%s (result was a double)", msg)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Cache keeps compiled conditions so that a reconcile does not recompile the
// same expressions; it is safe for concurrent use and bounded. The zero value
// is ready to use.
type Cache struct {
	mu      sync.Mutex
	entries map[cacheKey]cacheEntry
}

type cacheKey struct {
	name, success, failure, min, max string
	hasMin, hasMax                   bool
}

type cacheEntry struct {
	c   *Conditions
	err error
}

// cacheSize bounds a Cache; when full it starts again empty, which costs a
// recompile of the live metrics and nothing else.
const cacheSize = 1024

// Compile is Compile(m) through the cache.
func (c *Cache) Compile(m v1alpha1.Metric) (*Conditions, error) {
	k := cacheKey{name: m.Name, success: m.SuccessCondition, failure: m.FailureCondition}
	if m.Min != nil {
		k.min, k.hasMin = string(*m.Min), true
	}
	if m.Max != nil {
		k.max, k.hasMax = string(*m.Max), true
	}
	c.mu.Lock()
	e, ok := c.entries[k]
	c.mu.Unlock()
	if ok {
		return e.c, e.err
	}
	cond, err := Compile(m)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= cacheSize {
		c.entries = make(map[cacheKey]cacheEntry)
	}
	c.entries[k] = cacheEntry{c: cond, err: err}
	return cond, err
}
