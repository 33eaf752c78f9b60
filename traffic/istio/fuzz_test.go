package istio

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// bytesource hands out fuzz bytes as small choices; past the end it returns
// zeros, so every input is a valid program. Rare choices are the highest
// values, so that the zero tail picks the common case.
type bytesource struct {
	b []byte
	i int
}

func (s *bytesource) next() int {
	if s.i >= len(s.b) {
		return 0
	}
	s.i++
	return int(s.b[s.i-1])
}

func (s *bytesource) pick(n int) int { return s.next() % n }
func (s *bytesource) flip() bool     { return s.next()%2 == 1 }

var (
	fuzzNames = []string{"a", "b", "c", "d", "x", "", "sluice-abtest-a", "sluice-preview-b", "sluice-test-c", "sluice-abtest-zz", "sluice-preview-a"}
	fuzzDests = []map[string]any{
		{"host": "h", "subset": "stable"},
		{"host": "h", "subset": "canary", "port": map[string]any{"number": 80}},
		{"host": "h", "subset": "baseline"},
		{"host": "other"},
		{"host": "h.ns.svc.cluster.local", "subset": "stable"},
	}
	fuzzMatches = []map[string]any{
		{"uri": map[string]any{"prefix": "/a"}},
		{"headers": map[string]any{"x-beta": map[string]any{"exact": "yes"}}},
		{"headers": map[string]any{"x-beta": map[string]any{"exact": "no"}}},
		{"method": map[string]any{"exact": "GET"}},
	}
	fuzzRequested = []v1alpha1.HTTPMatch{
		{Headers: map[string]v1alpha1.StringMatch{"x-beta": {Exact: ptrTo("yes")}}},
		{URI: &v1alpha1.StringMatch{Prefix: ptrTo("/b")}},
		{Cookie: &v1alpha1.CookieMatch{Name: "c", Value: "1"}},
		{QueryParams: map[string]v1alpha1.StringMatch{"q": {Regex: ptrTo(".*")}}},
	}
	fuzzWeights = []any{nil, 0, 100, 50, 7, 2.5, "x"}
)

// fuzzVirtualService builds a VirtualService and a desired state from fuzz
// bytes.
func fuzzVirtualService(data []byte) (doc map[string]any, tgt VirtualServiceTarget, d Desired) {
	s := &bytesource{b: data}
	var http []any
	used := map[string]bool{}
	for n := 1 + s.pick(9); n > 0; n-- {
		r := map[string]any{}
		// Names are mostly unique; a duplicate now and then.
		if name := fuzzNames[s.pick(len(fuzzNames))]; (name != "" || s.flip()) && (!used[name] || s.pick(8) == 7) {
			r["name"] = name
			used[name] = true
		}
		var dests []any
		k := 1 + s.pick(3)
		if s.pick(10) == 9 {
			k = 0
		}
		for ; k > 0; k-- {
			dst := fuzzDests[s.pick(len(fuzzDests))]
			if len(dests) == 0 && s.pick(4) != 3 {
				dst = fuzzDests[0] // usually a valid route: stable first
			}
			e := map[string]any{"destination": dst}
			if w := fuzzWeights[s.pick(len(fuzzWeights))]; w != nil {
				e["weight"] = w
			}
			dests = append(dests, e)
		}
		if len(dests) > 0 {
			r["route"] = dests
		}
		switch s.pick(12) {
		case 1:
			r["mirror"] = map[string]any{"host": "h", "subset": "canary"}
			r["mirrorPercentage"] = map[string]any{"value": 3}
		case 2:
			r["mirror"] = map[string]any{"host": "shadow"}
		case 3:
			r["directResponse"] = map[string]any{"status": 204}
		}
		var ms []any
		for k := s.pick(3); k > 0; k-- {
			ms = append(ms, fuzzMatches[s.pick(len(fuzzMatches))])
		}
		if ms != nil {
			r["match"] = ms
		}
		if s.flip() {
			r["timeout"] = "3s"
			r["unknownField"] = map[string]any{"n": 1.25}
		}
		http = append(http, r)
	}
	doc = map[string]any{
		"metadata": map[string]any{"name": "vs", "namespace": "ns", "resourceVersion": "1"},
		"spec":     map[string]any{"hosts": []any{"h"}, "gateways": []any{"mesh"}, "http": http},
	}
	tgt = VirtualServiceTarget{Key: frontend}
	tgt.Key.Namespace = "ns"
	present := map[string]bool{}
	for _, r := range http {
		present[lookupString(r, "name")] = true
	}
	for _, r := range []string{"a", "b", "c", "d"} {
		if (present[r] && s.pick(4) != 3) || s.pick(24) == 23 {
			tgt.Routes = append(tgt.Routes, r)
		}
	}
	if len(tgt.Routes) == 0 {
		tgt.Routes = []string{"a"}
	}
	d = Desired{StableSubset: "stable", CanarySubset: "canary"}
	d.CanaryWeight = int32(s.pick(101))
	if s.flip() {
		d.BaselineSubset = "baseline"
		d.BaselineWeight = int32(s.pick(int(101 - d.CanaryWeight)))
	}
	d.MirrorPercent = []float64{0, 0, 0.5, 10, 100}[s.pick(5)]
	if k := s.pick(4); k > 0 {
		d.MatchRoute = &MatchRoute{Kind: matchKinds[k-1]}
		for n := 1 + s.pick(3); n > 0; n-- {
			d.MatchRoute.Matches = append(d.MatchRoute.Matches, fuzzRequested[s.pick(len(fuzzRequested))])
		}
		if s.flip() {
			d.MatchRoute.Fault = &v1alpha1.FaultStep{Duration: "1m", Abort: &v1alpha1.FaultAbort{Percent: "50", HTTPStatus: 503}}
		}
	}
	d.AllowMissingRoutes = s.flip()
	return doc, tgt, d
}

// FuzzRenderVirtualService: rendering never panics; it fails only with a
// typed configuration error; a rendered patch applies to its input, brings
// every managed route to weights summing to 100 with the desired split,
// leaves every other route's bytes alone, and rendering again changes
// nothing.
func FuzzRenderVirtualService(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 20})
	f.Add([]byte("\x05\x00\x02\x00\x01\x01\x02\x02\x00\x00\x01\x01\x01\x01\x01\x01\x00\x30\x01\x05\x02\x02\x01\x00"))
	f.Add([]byte("sluice routes everywhere, weights and mirrors"))
	f.Add([]byte{8, 6, 2, 0, 1, 1, 2, 0, 0, 0, 0, 7, 1, 0, 2, 0, 0, 0, 8, 2, 0, 0, 0, 0, 1, 1, 1, 1, 60, 1, 20, 2, 3, 2, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		obj, tgt, d := fuzzVirtualService(data)
		raw, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		in := canonical(t, string(raw))
		p, err := RenderVirtualService(decode(t, in), tgt, d)
		if err != nil {
			if _, ok := StalledReason(err); !ok {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		out, err := applyPatch(in, p)
		if err != nil {
			t.Fatalf("patch does not apply to its own input: %v\npatch %s\ninput %s", err, p, in)
		}
		after := decode(t, out)
		again, err := RenderVirtualService(after, tgt, d)
		if err != nil || len(again) != 0 {
			t.Fatalf("not idempotent: %s, %v\ninput %s\noutput %s", again, err, in, out)
		}
		if err := VerifyVirtualService(after, tgt, d); err != nil {
			t.Fatalf("verify: %v\ninput %s\noutput %s", err, in, out)
		}
		st := ObserveVirtualService(after, tgt, d)
		for _, r := range st.Routes {
			if !r.Found {
				continue
			}
			if sum := r.Stable + r.Canary + r.Baseline + r.Other; sum != 100 || r.Other != 0 {
				t.Fatalf("route %s weights %+v do not sum to 100 on owned destinations\noutput %s", r.Route, r, out)
			}
			if r.Canary != d.CanaryWeight || r.Baseline != d.BaselineWeight {
				t.Fatalf("route %s weights %+v, want canary %d baseline %d", r.Route, r, d.CanaryWeight, d.BaselineWeight)
			}
			if (r.MatchRoute != "") != (d.MatchRoute != nil) {
				t.Fatalf("route %s match route %q, want %v", r.Route, r.MatchRoute, d.MatchRoute != nil)
			}
		}
		// Routes that are neither managed nor sluice routes of the managed
		// ones keep their bytes and their order.
		if a, b := foreignRoutes(t, in, tgt), foreignRoutes(t, out, tgt); a != b {
			t.Fatalf("unmanaged routes changed:\n was %s\n now %s", a, b)
		}
		sameRawFuzz(t, in, out, "metadata")
		if rawAt(t, in, "spec", "hosts") != rawAt(t, out, "spec", "hosts") || rawAt(t, in, "spec", "gateways") != rawAt(t, out, "spec", "gateways") {
			t.Fatal("hosts or gateways changed")
		}
	})
}

func sameRawFuzz(t *testing.T, a, b []byte, key string) {
	t.Helper()
	if rawAt(t, a, key) != rawAt(t, b, key) {
		t.Fatalf("%s changed", key)
	}
}

// foreignRoutes joins the raw bytes of the routes rendering must not touch.
func foreignRoutes(t *testing.T, doc []byte, tgt VirtualServiceTarget) string {
	t.Helper()
	managed := map[string]bool{}
	for _, r := range tgt.Routes {
		managed[r] = true
	}
	var parts []string
	for i, n := range routeNames(t, doc) {
		if managed[n] {
			continue
		}
		owned := false
		for _, k := range matchKinds {
			if base, ok := strings.CutPrefix(n, MatchRouteName(k, "")); ok && managed[base] {
				owned = true
			}
		}
		if !owned {
			parts = append(parts, fmt.Sprintf("%d:%s", len(parts), rawAt(t, doc, "spec", "http", i)))
		}
	}
	return strings.Join(parts, "\n")
}
