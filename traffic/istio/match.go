package istio

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// Istio HTTPMatchRequest fields whose value is a map keyed by a name that
// each entry constrains separately; two matches merge key by key.
var keyedMatchFields = map[string]bool{
	"headers":        true,
	"queryParams":    true,
	"withoutHeaders": true,
	"sourceLabels":   true,
}

// CookieRegex is the header regex a v1alpha1.CookieMatch becomes: the Cookie
// header holds a cookie named name whose value is exactly value.
func CookieRegex(name, value string) string {
	return `^(.*?;\s*)?` + regexp.QuoteMeta(name) + `=` + regexp.QuoteMeta(value) + `(;.*)?$`
}

func renderStringMatch(what string, s v1alpha1.StringMatch) (map[string]any, error) {
	out := map[string]any{}
	if s.Exact != nil {
		out["exact"] = *s.Exact
	}
	if s.Prefix != nil {
		out["prefix"] = *s.Prefix
	}
	if s.Regex != nil {
		out["regex"] = *s.Regex
	}
	if len(out) != 1 {
		return nil, invalid("%s must set exactly one of exact, prefix or regex", what)
	}
	return out, nil
}

// RenderHTTPMatch turns a v1alpha1.HTTPMatch into an Istio HTTPMatchRequest
// as raw JSON. Header names are lower-cased (Istio requires it); a cookie
// becomes a regex match on the cookie header.
func RenderHTTPMatch(m v1alpha1.HTTPMatch) (map[string]any, error) {
	out := map[string]any{}
	stringMatches := func(field string, in map[string]v1alpha1.StringMatch, lower bool) error {
		if len(in) == 0 {
			return nil
		}
		ms := map[string]any{}
		for k, v := range in {
			if lower {
				k = strings.ToLower(k)
			}
			sm, err := renderStringMatch(field+"."+k, v)
			if err != nil {
				return err
			}
			if prev, dup := ms[k]; dup && !jsonEqual(prev, sm) {
				return invalid("%s names %q twice with different values", field, k)
			}
			ms[k] = sm
		}
		out[field] = ms
		return nil
	}
	if err := stringMatches("headers", m.Headers, true); err != nil {
		return nil, err
	}
	if err := stringMatches("queryParams", m.QueryParams, false); err != nil {
		return nil, err
	}
	if m.Cookie != nil {
		hs, _ := out["headers"].(map[string]any)
		if hs == nil {
			hs = map[string]any{}
			out["headers"] = hs
		}
		if _, dup := hs["cookie"]; dup {
			return nil, &ConfigError{Code: ReasonUnsatisfiableMatch, Message: fmt.Sprintf(
				"a match sets both cookie %q and headers.cookie; Istio matches one condition per header: move the cookie condition into headers.cookie or drop one", m.Cookie.Name)}
		}
		hs["cookie"] = map[string]any{"regex": CookieRegex(m.Cookie.Name, m.Cookie.Value)}
	}
	for _, f := range []struct {
		name string
		v    *v1alpha1.StringMatch
	}{{"uri", m.URI}, {"method", m.Method}} {
		if f.v == nil {
			continue
		}
		sm, err := renderStringMatch(f.name, *f.v)
		if err != nil {
			return nil, err
		}
		out[f.name] = sm
	}
	if len(m.SourceLabels) > 0 {
		sl := map[string]any{}
		for k, v := range m.SourceLabels {
			sl[k] = v
		}
		out["sourceLabels"] = sl
	}
	if len(out) == 0 {
		return nil, invalid("an empty match would catch every request; set headers, queryParams, uri, method, sourceLabels or cookie")
	}
	return out, nil
}

// MergeMatches is the conjunction of two Istio HTTPMatchRequests (raw
// JSON): the union of their fields. Keyed fields (headers, queryParams,
// withoutHeaders, sourceLabels) merge key by key. When both set the same
// condition (the same header, the uri, the method, ...) to different values,
// one HTTPMatchRequest cannot express both, and ok is false. Neither input
// is modified.
func MergeMatches(base, extra map[string]any) (merged map[string]any, ok bool) {
	out := copyMap(base)
	for k, ev := range extra {
		bv, has := base[k]
		if !has {
			out[k] = ev
			continue
		}
		if jsonEqual(bv, ev) {
			continue
		}
		bm, bok := asMap(bv)
		em, eok := asMap(ev)
		if !keyedMatchFields[k] || !bok || !eok {
			return nil, false
		}
		m := copyMap(bm)
		for name, v := range em {
			if prev, dup := m[name]; dup && !jsonEqual(prev, v) {
				return nil, false
			}
			m[name] = v
		}
		out[k] = m
	}
	return out, true
}

// CrossMatches ANDs a route's own matches with requested ones. Istio ORs
// the entries of a match list, so the result is the cross product: every
// base entry merged with every requested entry, base-major, duplicates and
// contradictions (see MergeMatches) dropped. An empty base list matches
// everything, so the result is the requested list. ok is false when every
// pair contradicts itself.
func CrossMatches(base, requested []map[string]any) (out []map[string]any, ok bool) {
	if len(base) == 0 {
		return requested, len(requested) > 0
	}
	seen := map[string]bool{}
	for _, b := range base {
		for _, r := range requested {
			m, ok := MergeMatches(b, r)
			if !ok {
				continue
			}
			key, _ := json.Marshal(m)
			if seen[string(key)] {
				continue
			}
			seen[string(key)] = true
			out = append(out, m)
		}
	}
	return out, len(out) > 0
}

// requestedMatches renders the MatchRoute's own matches (before crossing
// with the base route's).
func requestedMatches(m *MatchRoute) ([]map[string]any, error) {
	var out []map[string]any
	for _, hm := range m.Matches {
		r, err := RenderHTTPMatch(hm)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if m.Host != "" {
		authority := map[string]any{"authority": map[string]any{"exact": m.Host}}
		if len(out) == 0 {
			return []map[string]any{authority}, nil
		}
		for i, r := range out {
			merged, ok := MergeMatches(r, authority)
			if !ok {
				return nil, &ConfigError{Code: ReasonUnsatisfiableMatch, Message: fmt.Sprintf(
					"the preview host %q cannot be combined with match %d", m.Host, i)}
			}
			out[i] = merged
		}
	}
	return out, nil
}

// hostServed reports whether a VirtualService with these hosts receives
// requests for host (an exact entry, "*" or a "*.suffix" wildcard).
func hostServed(hosts []any, host string) bool {
	for _, h := range hosts {
		s := asString(h)
		switch {
		case s == host || s == "*":
			return true
		case strings.HasPrefix(s, "*.") && strings.HasSuffix(host, s[1:]) && len(host) > len(s)-1:
			return true
		}
	}
	return false
}

// RenderFault turns a FaultStep into an Istio HTTPFaultInjection (raw JSON).
func RenderFault(f *v1alpha1.FaultStep) (map[string]any, error) {
	if err := validateFault(f); err != nil {
		return nil, err
	}
	if f == nil {
		return nil, nil
	}
	out := map[string]any{}
	if f.Delay != nil {
		p, _ := parsePercent(f.Delay.Percent)
		d, _ := time.ParseDuration(string(f.Delay.FixedDelay))
		out["delay"] = map[string]any{
			"percentage": map[string]any{"value": p},
			"fixedDelay": protoDuration(d),
		}
	}
	if f.Abort != nil {
		p, _ := parsePercent(f.Abort.Percent)
		out["abort"] = map[string]any{
			"percentage": map[string]any{"value": p},
			"httpStatus": int64(f.Abort.HTTPStatus),
		}
	}
	return out, nil
}

// protoDuration formats d the way protobuf's JSON mapping of
// google.protobuf.Duration requires (Istio decodes its CRDs with it):
// seconds with an "s" suffix, such as "5s" or "0.250s". Go's "1m30s" form
// passes the CRD's CEL check but istiod would refuse it.
func protoDuration(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	s := strconv.FormatInt(int64(d/time.Second), 10)
	if ns := int64(d % time.Second); ns != 0 {
		frac := strings.TrimRight(fmt.Sprintf("%09d", ns), "0")
		s += "." + frac
	}
	if neg {
		s = "-" + s
	}
	return s + "s"
}

// parsePercent parses a v1alpha1.Percent strictly (0-100).
func parsePercent(p v1alpha1.Percent) (float64, error) {
	f, err := strconv.ParseFloat(string(p), 64)
	if err != nil || f < 0 || f > 100 {
		return 0, fmt.Errorf("%q is not a percentage from 0 to 100", string(p))
	}
	return f, nil
}

// sortedKeys returns m's keys in order, for deterministic messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
