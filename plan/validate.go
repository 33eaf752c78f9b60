package plan

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// FieldError is a spec value Build cannot compile. Field is the path from
// the Rollout's root ("spec.strategy.canary.steps[2].setWeight"), so the
// message tells the user what to change.
type FieldError struct {
	Field  string
	Detail string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Detail }

func fieldErrorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Detail: fmt.Sprintf(format, args...)}
}

// duration parses d itself because Duration.Get turns malformed values into
// 0, which would make a typo an instant pause instead of an error.
func duration(field string, d v1alpha1.Duration) (time.Duration, error) {
	v, err := time.ParseDuration(string(d))
	if err != nil {
		return 0, fieldErrorf(field, "must be a duration such as 30s, 5m or 1h30m, got %q", string(d))
	}
	if v < 0 {
		return 0, fieldErrorf(field, "must not be negative, got %q", string(d))
	}
	return d.Get(), nil
}

// percent parses p itself for the same reason as duration, and because
// ParseFloat accepts "NaN", which Percent.Float lets through.
func percent(field string, p v1alpha1.Percent) (float64, error) {
	v, err := strconv.ParseFloat(string(p), 64)
	if err != nil || math.IsNaN(v) || v < 0 || v > 100 {
		return 0, fieldErrorf(field, "must be a percentage from 0 to 100, such as 10 or 0.5, got %q", string(p))
	}
	return p.Float() + 0, nil // + 0 turns "-0" into 0
}

func validateAnalysis(field string, a *v1alpha1.AnalysisStep) error {
	if len(a.Templates) == 0 {
		return fieldErrorf(field+".templates", "needs at least one template")
	}
	for i, t := range a.Templates {
		if t.Name == "" {
			return fieldErrorf(fmt.Sprintf("%s.templates[%d].name", field, i), "must not be empty")
		}
	}
	for i, arg := range a.Args {
		if arg.Name == "" {
			return fieldErrorf(fmt.Sprintf("%s.args[%d].name", field, i), "must not be empty")
		}
	}
	return nil
}

func validateApproval(field string, a *v1alpha1.ApprovalStep) error {
	if len(approverNames(a.Approvers)) == 0 {
		return fieldErrorf(field+".approvers", "must name at least one user, group, Slack user or Slack user group; an approval nobody may give would never pass")
	}
	if n := a.MinApprovals; n != nil && (*n < 1 || *n > 10) {
		return fieldErrorf(field+".minApprovals", "must be from 1 to 10, got %d", *n)
	}
	if a.Timeout != nil {
		if _, err := duration(field+".timeout", *a.Timeout); err != nil {
			return err
		}
	}
	switch a.OnTimeout {
	case "", "Abort", "StayPaused":
	default:
		return fieldErrorf(field+".onTimeout", "must be Abort or StayPaused, got %q", a.OnTimeout)
	}
	return nil
}

// validateFault returns the fault's duration.
func validateFault(field string, f *v1alpha1.FaultStep) (time.Duration, error) {
	d, err := duration(field+".duration", f.Duration)
	if err != nil {
		return 0, err
	}
	if f.Delay == nil && f.Abort == nil {
		return 0, fieldErrorf(field, "needs delay, abort or both")
	}
	if f.Delay != nil {
		if _, err := percent(field+".delay.percent", f.Delay.Percent); err != nil {
			return 0, err
		}
		if _, err := duration(field+".delay.fixedDelay", f.Delay.FixedDelay); err != nil {
			return 0, err
		}
	}
	if f.Abort != nil {
		if _, err := percent(field+".abort.percent", f.Abort.Percent); err != nil {
			return 0, err
		}
		if s := f.Abort.HTTPStatus; s < 200 || s > 599 {
			return 0, fieldErrorf(field+".abort.httpStatus", "must be an HTTP status from 200 to 599, got %d", s)
		}
	}
	return d, nil
}

// validateMatchRoute checks what keeps a match route from catching more than
// meant: an empty match or string match would send every request to the new
// revision.
func validateMatchRoute(field string, r *v1alpha1.MatchRoute) error {
	if (len(r.Matches) > 0) == (r.Host != "") {
		return fieldErrorf(field, "set exactly one of matches or host")
	}
	for i := range r.Matches {
		if err := validateHTTPMatch(fmt.Sprintf("%s.matches[%d]", field, i), &r.Matches[i]); err != nil {
			return err
		}
	}
	return nil
}

func validateHTTPMatch(field string, m *v1alpha1.HTTPMatch) error {
	if len(m.Headers) == 0 && len(m.QueryParams) == 0 && m.URI == nil && m.Method == nil && len(m.SourceLabels) == 0 && m.Cookie == nil {
		return fieldErrorf(field, "a match needs at least one of headers, queryParams, uri, method, sourceLabels or cookie; an empty match would catch every request")
	}
	for _, group := range []struct {
		name string
		m    map[string]v1alpha1.StringMatch
	}{{"headers", m.Headers}, {"queryParams", m.QueryParams}} {
		for _, k := range sortedKeys(group.m) {
			if err := validateStringMatch(fmt.Sprintf("%s.%s[%q]", field, group.name, k), group.m[k]); err != nil {
				return err
			}
		}
	}
	if m.URI != nil {
		if err := validateStringMatch(field+".uri", *m.URI); err != nil {
			return err
		}
	}
	if m.Method != nil {
		if err := validateStringMatch(field+".method", *m.Method); err != nil {
			return err
		}
	}
	if m.Cookie != nil && m.Cookie.Name == "" {
		return fieldErrorf(field+".cookie.name", "must not be empty")
	}
	return nil
}

func validateStringMatch(field string, s v1alpha1.StringMatch) error {
	n := 0
	for _, p := range []*string{s.Exact, s.Prefix, s.Regex} {
		if p != nil {
			n++
		}
	}
	if n != 1 {
		return fieldErrorf(field, "a string match sets exactly one of exact, prefix or regex")
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// approverNames lists everyone named in a, in spec order.
func approverNames(a v1alpha1.Approvers) []string {
	return slices.Concat(a.Users, a.Groups, a.SlackUsers, a.SlackUserGroups)
}
