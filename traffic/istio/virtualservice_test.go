package istio

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	istioapi "istio.io/api/networking/v1alpha3"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

func ptrTo[T any](v T) *T { return &v }

// render renders d against doc, applies the patch and checks that rendering
// again changes nothing and that the result verifies.
func render(t *testing.T, doc []byte, tgt VirtualServiceTarget, d Desired) (Patch, []byte) {
	t.Helper()
	p, err := RenderVirtualService(decode(t, doc), tgt, d)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	out := mustApply(t, doc, p)
	again, err := RenderVirtualService(decode(t, out), tgt, d)
	if err != nil {
		t.Fatalf("render against the result: %v", err)
	}
	if len(again) != 0 {
		t.Fatalf("not idempotent: rendering against the result gives %s\nresult: %s", again, out)
	}
	if err := VerifyVirtualService(decode(t, out), tgt, d); err != nil {
		t.Fatalf("verify: %v", err)
	}
	assertIstioDecodes(t, out)
	return p, out
}

// assertIstioDecodes decodes spec with Istio's own JSON decoder (protobuf
// JSON), which refuses shapes istiod would refuse (a "1m" duration, a
// string weight, ...).
func assertIstioDecodes(t *testing.T, doc []byte) {
	t.Helper()
	var vs istioapi.VirtualService
	if err := vs.UnmarshalJSON([]byte(rawAt(t, doc, "spec"))); err != nil {
		t.Fatalf("Istio cannot decode the result: %v\n%s", err, rawAt(t, doc, "spec"))
	}
}

// sameRaw asserts that paths hold the same bytes in a and b.
func sameRaw(t *testing.T, a, b []byte, paths ...[]any) {
	t.Helper()
	for _, p := range paths {
		if x, y := rawAt(t, a, p...), rawAt(t, b, p...); x != y {
			t.Errorf("%v changed:\n was %s\n now %s", p, x, y)
		}
	}
}

func untouchedRest(t *testing.T, in, out []byte) {
	t.Helper()
	sameRaw(t, in, out,
		[]any{"metadata"}, []any{"apiVersion"}, []any{"kind"},
		[]any{"spec", "hosts"}, []any{"spec", "gateways"}, []any{"spec", "futureSpecField"})
	for _, name := range []string{"health", "legacy"} {
		if routeByName(t, in, name) != routeByName(t, out, name) {
			t.Errorf("unmanaged route %s changed:\n was %s\n now %s", name, routeByName(t, in, name), routeByName(t, out, name))
		}
	}
}

func TestRenderWeights(t *testing.T) {
	in := canonical(t, fixtureVS)
	p, out := render(t, in, vsTarget("api", "web"), subsets(20))

	// api had one destination without a weight: the canary is appended and
	// both weights are explicit.
	if got := rawAt(t, out, "spec", "http", 1, "route", 0, "weight"); got != "80" {
		t.Errorf("api stable weight %s, want 80", got)
	}
	wantCanary := `{"destination":{"host":"frontend","port":{"number":8080},"subset":"canary"},"weight":20}`
	if got := rawAt(t, out, "spec", "http", 1, "route", 1); got != wantCanary {
		t.Errorf("api canary destination\n got %s\nwant %s", got, wantCanary)
	}
	sameRaw(t, in, out, []any{"spec", "http", 1, "route", 0, "destination"}, []any{"spec", "http", 1, "route", 0, "headers"})
	for _, k := range []string{"name", "match", "retries", "timeout", "headers", "fault", "corsPolicy", "futureRouteField"} {
		sameRaw(t, in, out, []any{"spec", "http", 1, k})
	}
	// web: only the two numbers change.
	if a, b := rawAt(t, out, "spec", "http", 2, "route", 0, "weight"), rawAt(t, out, "spec", "http", 2, "route", 1, "weight"); a != "80" || b != "20" {
		t.Errorf("web weights %s/%s, want 80/20", a, b)
	}
	sameRaw(t, in, out, []any{"spec", "http", 2, "timeout"}, []any{"spec", "http", 2, "route", 0, "destination"}, []any{"spec", "http", 2, "route", 1, "destination"})
	untouchedRest(t, in, out)
	if got, want := routeNames(t, out), []string{"health", "api", "web", "legacy"}; !reflect.DeepEqual(got, want) {
		t.Errorf("route order %v, want %v", got, want)
	}

	// Every mutation is guarded; only weights and the added destination are written.
	var mutated []string
	for _, o := range p {
		if o.Op != OpTest {
			mutated = append(mutated, o.Op+" "+o.Path)
		}
	}
	want := []string{
		"replace /spec/http/2/route/0/weight", "replace /spec/http/2/route/1/weight",
		"add /spec/http/1/route/0/weight", "add /spec/http/1/route/1",
	}
	if !reflect.DeepEqual(mutated, want) {
		t.Errorf("mutations %v, want %v", mutated, want)
	}
	if p[0].Op != OpTest || p[0].Path != "/spec/http/2/name" || p[0].Value != "web" {
		t.Errorf("first operation %+v, want a test of /spec/http/2/name", p[0])
	}

	// Back to stable: weights only; the canary destination stays at 0.
	_, back := render(t, out, vsTarget("api", "web"), subsets(20).Restored())
	if got := rawAt(t, back, "spec", "http", 1, "route"); got != `[{"destination":{"host":"frontend","port":{"number":8080},"subset":"stable"},"headers":{"request":{"add":{"x-b":"1"}}},"weight":100},{"destination":{"host":"frontend","port":{"number":8080},"subset":"canary"},"weight":0}]` {
		t.Errorf("api after restore: %s", got)
	}
	if routeByName(t, back, "web") != routeByName(t, in, "web") {
		t.Errorf("web after restore differs from the original:\n%s\n%s", routeByName(t, back, "web"), routeByName(t, in, "web"))
	}
}

func TestRenderNoChange(t *testing.T) {
	in := canonical(t, fixtureVS)
	// At weight 0 nothing is added and a single destination is left alone.
	p, err := RenderVirtualService(decode(t, in), vsTarget("api", "web", "legacy"), Desired{StableHost: "legacy", CanaryHost: "legacy-canary"})
	if err == nil {
		t.Fatalf("expected an error: api and web have no destination for host legacy; got %s", p)
	}
	p, err = RenderVirtualService(decode(t, in), vsTarget("api", "web"), subsets(0))
	if err != nil || len(p) != 0 {
		t.Fatalf("at the desired state render must return an empty patch, got %s, %v", p, err)
	}
}

func TestRenderBaselineAndFullShift(t *testing.T) {
	in := canonical(t, fixtureVS)
	d := subsets(10)
	d.BaselineSubset, d.BaselineWeight = "baseline", 10
	_, out := render(t, in, vsTarget("web"), d)
	want := `[{"destination":{"host":"frontend.shop.svc.cluster.local","subset":"stable"},"weight":80},{"destination":{"host":"frontend.shop.svc.cluster.local","subset":"canary"},"weight":10},{"destination":{"host":"frontend.shop.svc.cluster.local","subset":"baseline"},"weight":10}]`
	if got := rawAt(t, out, "spec", "http", 2, "route"); got != want {
		t.Errorf("web\n got %s\nwant %s", got, want)
	}
	d.CanaryWeight, d.BaselineWeight = 100, 0
	_, full := render(t, out, vsTarget("web"), d)
	st := ObserveVirtualService(decode(t, full), vsTarget("web"), d)
	if r := st.Routes[0]; r.Stable != 0 || r.Canary != 100 || r.Baseline != 0 {
		t.Errorf("full shift observed %+v", r)
	}
}

func TestRenderHostRouting(t *testing.T) {
	in := canonical(t, `{"metadata":{"name":"frontend","namespace":"shop"},"spec":{"hosts":["frontend"],"http":[
	  {"name":"web","route":[{"destination":{"host":"web-stable.shop.svc.cluster.local","port":{"number":80}}}]}]}}`)
	d := Desired{StableHost: "web-stable", CanaryHost: "web-canary", CanaryWeight: 30, MirrorPercent: 5}
	_, out := render(t, in, vsTarget("web"), d)
	want := `{"mirror":{"host":"web-canary.shop.svc.cluster.local","port":{"number":80}},"mirrorPercentage":{"value":5},"name":"web","route":[{"destination":{"host":"web-stable.shop.svc.cluster.local","port":{"number":80}},"weight":70},{"destination":{"host":"web-canary.shop.svc.cluster.local","port":{"number":80}},"weight":30}]}`
	if got := canon(t, rawAt(t, out, "spec", "http", 0)); got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
}

func TestRenderErrors(t *testing.T) {
	in := canonical(t, fixtureVS)
	cases := []struct {
		name   string
		doc    []byte
		routes []string
		d      Desired
		reason string
		msg    string
	}{
		{"route not found", in, []string{"checkout"}, subsets(10), ReasonRouteNotFound,
			`route "checkout" not found in VirtualService shop/frontend (routes: health, api, web, legacy); add name: checkout to the route or fix spec.traffic.istio.virtualServices[0].routes`},
		{"direct response", in, []string{"health"}, subsets(10), ReasonRouteNotWeightable, `route "health" of VirtualService shop/frontend: it has directResponse`},
		{"stable missing", in, []string{"legacy"}, subsets(10), ReasonStableDestinationMissing, "no destination has the stable subset stable"},
		{"unmanaged destination", canonical(t, `{"spec":{"http":[{"name":"web","route":[{"destination":{"host":"a","subset":"stable"},"weight":90},{"destination":{"host":"b"},"weight":10}]}]}}`),
			[]string{"web"}, subsets(10), ReasonUnmanagedDestination, "destination 1 (b) is neither the stable nor the canary; sluice cannot split traffic it does not own"},
		{"ambiguous", canonical(t, `{"spec":{"http":[{"name":"web","route":[{"destination":{"host":"a","subset":"stable"}},{"destination":{"host":"b","subset":"stable"}}]}]}}`),
			[]string{"web"}, subsets(10), ReasonAmbiguousDestination, "destinations 0 and 1 are both the stable"},
		{"duplicate route", canonical(t, `{"spec":{"http":[{"name":"web","route":[{"destination":{"host":"a","subset":"stable"}}]},{"name":"web","route":[{"destination":{"host":"a","subset":"stable"}}]}]}}`),
			[]string{"web"}, subsets(10), ReasonDuplicateRoute, "2 HTTP routes have this name"},
		{"foreign mirror", canonical(t, `{"spec":{"http":[{"name":"web","mirror":{"host":"shadow"},"route":[{"destination":{"host":"a","subset":"stable"}}]}]}}`),
			[]string{"web"}, Desired{StableSubset: "stable", CanarySubset: "canary", MirrorPercent: 10}, ReasonForeignMirror, "it already mirrors to shadow"},
		{"mirrors list", canonical(t, `{"spec":{"http":[{"name":"web","mirrors":[{"destination":{"host":"shadow"}}],"route":[{"destination":{"host":"a","subset":"stable"}}]}]}}`),
			[]string{"web"}, Desired{StableSubset: "stable", CanarySubset: "canary", MirrorPercent: 10}, ReasonForeignMirror, "mirror or mirrors, not both"},
		{"preview host not served", in, []string{"web"}, Desired{StableSubset: "stable", CanarySubset: "canary", MatchRoute: &MatchRoute{Kind: MatchKindPreview, Host: "preview.other.com"}},
			ReasonPreviewHostNotServed, `the preview host "preview.other.com" is not among the hosts of VirtualService shop/frontend (shop.example.com, frontend)`},
		{"unsatisfiable", in, []string{"api"}, Desired{StableSubset: "stable", CanarySubset: "canary", MatchRoute: &MatchRoute{Kind: MatchKindABTest, Matches: []v1alpha1.HTTPMatch{
			{URI: &v1alpha1.StringMatch{Prefix: ptrTo("/v2")}, Headers: map[string]v1alpha1.StringMatch{"x-api": {Exact: ptrTo("2")}}}}}},
			ReasonUnsatisfiableMatch, "would never match"},
		{"weights over 100", in, []string{"web"}, Desired{StableSubset: "stable", CanarySubset: "canary", BaselineSubset: "b", CanaryWeight: 60, BaselineWeight: 50}, ReasonInvalidTraffic, "add up to at most 100"},
		{"reserved name", in, []string{"sluice-abtest-web"}, subsets(10), ReasonInvalidTraffic, "reserved"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := RenderVirtualService(decode(t, c.doc), vsTarget(c.routes...), c.d)
			if err == nil {
				t.Fatal("no error")
			}
			if r, ok := StalledReason(err); !ok || r != c.reason {
				t.Errorf("reason %q (%v), want %q", r, ok, c.reason)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("message %q\nshould contain %q", err, c.msg)
			}
		})
	}
	var rnf *RouteNotFoundError
	_, err := RenderVirtualService(decode(t, in), vsTarget("checkout"), subsets(1))
	if !errors.As(err, &rnf) || !reflect.DeepEqual(rnf.Available, []string{"health", "api", "web", "legacy"}) {
		t.Errorf("RouteNotFoundError %#v", err)
	}
	// Restore skips a route that is gone.
	if p, err := RenderVirtualService(decode(t, in), vsTarget("checkout", "web"), subsets(0).Restored()); err != nil || len(p) != 0 {
		t.Errorf("restore with a missing route: %s, %v", p, err)
	}
}

func TestRenderMirror(t *testing.T) {
	in := canonical(t, fixtureVS)
	d := Desired{StableSubset: "stable", CanarySubset: "canary", MirrorPercent: 12.5}
	_, out := render(t, in, vsTarget("api", "web"), d)
	if got := rawAt(t, out, "spec", "http", 1, "mirror"); got != `{"host":"frontend","port":{"number":8080},"subset":"canary"}` {
		t.Errorf("api mirror %s", got)
	}
	if got := rawAt(t, out, "spec", "http", 2, "mirrorPercentage"); got != `{"value":12.5}` {
		t.Errorf("web mirrorPercentage %s", got)
	}
	// Weights stay: no canary destination is added for a mirror.
	sameRaw(t, in, out, []any{"spec", "http", 1, "route"}, []any{"spec", "http", 2, "route"})
	untouchedRest(t, in, out)

	d.MirrorPercent = 100
	p, out2 := render(t, out, vsTarget("api", "web"), d)
	for _, o := range p {
		if o.Op != OpTest && !strings.HasSuffix(o.Path, "/mirrorPercentage") {
			t.Errorf("changing the percentage should only touch mirrorPercentage: %+v", o)
		}
	}
	st := ObserveVirtualService(decode(t, out2), vsTarget("api", "web"), d)
	if w := st.Weights(); w.Mirror != "100" || w.Stable != 100 || w.Canary != 0 {
		t.Errorf("weights %+v", w)
	}

	d.MirrorPercent = 0
	_, back := render(t, out2, vsTarget("api", "web"), d)
	if string(back) != string(mustApply(t, in, nil)) {
		t.Errorf("removing the mirror must restore the original bytes:\n got %s\nwant %s", back, in)
	}

	// A user's own mirror to something else is left alone at 0.
	user := canonical(t, `{"spec":{"http":[{"name":"web","mirror":{"host":"shadow"},"mirrorPercentage":{"value":1},"route":[{"destination":{"host":"a","subset":"stable"}}]}]}}`)
	if p, err := RenderVirtualService(decode(t, user), vsTarget("web"), subsets(0)); err != nil || len(p) != 0 {
		t.Errorf("user mirror: %s, %v", p, err)
	}
	st = ObserveVirtualService(decode(t, user), vsTarget("web"), subsets(0))
	if !st.Routes[0].ForeignMirror || st.Routes[0].MirrorPercent != 0 {
		t.Errorf("user mirror observed as %+v", st.Routes[0])
	}
}

func abtest() *MatchRoute {
	return &MatchRoute{Kind: MatchKindABTest, Matches: []v1alpha1.HTTPMatch{
		{Headers: map[string]v1alpha1.StringMatch{"X-Beta": {Exact: ptrTo("yes")}}},
		{Cookie: &v1alpha1.CookieMatch{Name: "beta", Value: "a+b"}},
	}}
}

func TestRenderMatchRoutes(t *testing.T) {
	in := canonical(t, fixtureVS)
	d := subsets(0)
	d.MatchRoute = abtest()
	d.MatchRoute.Fault = &v1alpha1.FaultStep{Duration: "5m",
		Delay: &v1alpha1.FaultDelay{Percent: "50", FixedDelay: "1500ms"},
		Abort: &v1alpha1.FaultAbort{Percent: "0.5", HTTPStatus: 503}}
	_, out := render(t, in, vsTarget("api", "web"), d)

	if got, want := routeNames(t, out), []string{"health", "sluice-abtest-api", "api", "sluice-abtest-web", "web", "legacy"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("route order %v, want %v", got, want)
	}
	// The base routes are untouched at weight 0.
	if routeByName(t, out, "api") != routeByName(t, in, "api") || routeByName(t, out, "web") != routeByName(t, in, "web") {
		t.Error("named routes changed although only match routes were wanted")
	}
	untouchedRest(t, in, out)

	api := routeByName(t, out, "sluice-abtest-api")
	// Inherited as written in the named route.
	for _, k := range []string{"retries", "timeout", "headers", "corsPolicy", "futureRouteField"} {
		if got, want := rawAt(t, []byte(api), k), canon(t, rawAt(t, in, "spec", "http", 1, k)); canon(t, got) != want {
			t.Errorf("%s not inherited: %s, want %s", k, got, want)
		}
	}
	// Not inherited: the user's fault is replaced by the step's.
	wantFault := `{"abort":{"httpStatus":503,"percentage":{"value":0.5}},"delay":{"fixedDelay":"1.5s","percentage":{"value":50}}}`
	if got := rawAt(t, []byte(api), "fault"); got != wantFault {
		t.Errorf("fault\n got %s\nwant %s", got, wantFault)
	}
	if got := rawAt(t, []byte(api), "route"); got != `[{"destination":{"host":"frontend","port":{"number":8080},"subset":"canary"}}]` {
		t.Errorf("match route destination %s", got)
	}
	// 2 base matches x 2 requested = 4, base-major.
	wantMatch := canon(t, `[
	  {"uri":{"prefix":"/api"},"headers":{"x-beta":{"exact":"yes"}}},
	  {"uri":{"prefix":"/api"},"headers":{"cookie":{"regex":"^(.*?;\\s*)?beta=a\\+b(;.*)?$"}}},
	  {"headers":{"x-api":{"exact":"1"},"x-beta":{"exact":"yes"}}},
	  {"headers":{"x-api":{"exact":"1"},"cookie":{"regex":"^(.*?;\\s*)?beta=a\\+b(;.*)?$"}}}]`)
	if got := canon(t, rawAt(t, []byte(api), "match")); got != wantMatch {
		t.Errorf("matches\n got %s\nwant %s", got, wantMatch)
	}
	// web has no match: the requested matches as they are.
	if got := canon(t, rawAt(t, []byte(routeByName(t, out, "sluice-abtest-web")), "match")); got != canon(t, `[{"headers":{"x-beta":{"exact":"yes"}}},{"headers":{"cookie":{"regex":"^(.*?;\\s*)?beta=a\\+b(;.*)?$"}}}]`) {
		t.Errorf("web matches %s", got)
	}
	st := ObserveVirtualService(decode(t, out), vsTarget("api", "web"), d)
	if !st.Weights().MatchedRoutes || st.Routes[0].MatchRoute != "sluice-abtest-api" || !st.Routes[0].Fault {
		t.Errorf("observed %+v", st)
	}

	// The fault ends: only the match routes are replaced.
	d.MatchRoute.Fault = nil
	p, noFault := render(t, out, vsTarget("api", "web"), d)
	for _, o := range p {
		if o.Op != OpTest && (o.Op != OpReplace || (o.Path != "/spec/http/1" && o.Path != "/spec/http/3")) {
			t.Errorf("unexpected mutation %s %s", o.Op, o.Path)
		}
	}
	mustNotContain(t, routeByName(t, noFault, "sluice-abtest-api"), `"fault"`)

	// A base field changes in Git: the match route follows.
	edited := mustApply(t, noFault, Patch{replaceOp("/spec/http/2/timeout", "30s")})
	_, followed := render(t, edited, vsTarget("api", "web"), d)
	if got := rawAt(t, []byte(routeByName(t, followed, "sluice-abtest-api")), "timeout"); got != `"30s"` {
		t.Errorf("match route timeout %s, want 30s", got)
	}

	// Removing them restores the original bytes.
	_, back := render(t, out, vsTarget("api", "web"), subsets(0))
	if string(back) != string(in) {
		t.Errorf("removing the match routes must restore the original:\n got %s\nwant %s", back, in)
	}
}

// TestRenderIndexShifting mixes routes to insert, keep, replace and remove,
// including sluice routes of another Rollout, which stay.
func TestRenderIndexShifting(t *testing.T) {
	doc := canonical(t, `{"spec":{"hosts":["x"],"http":[
	  {"name":"sluice-preview-a","route":[{"destination":{"host":"h","subset":"canary"}}]},
	  {"name":"x","route":[{"destination":{"host":"other"}}]},
	  {"name":"a","route":[{"destination":{"host":"h","subset":"stable"}}]},
	  {"name":"sluice-abtest-b","route":[{"destination":{"host":"h","subset":"canary"}}]},
	  {"name":"b","route":[{"destination":{"host":"h","subset":"stable"}}]},
	  {"name":"sluice-preview-c","match":[{"headers":{"x-sluice-preview":{"exact":"true"}}}],"route":[{"destination":{"host":"h","subset":"canary"}}]},
	  {"name":"c","route":[{"destination":{"host":"h","subset":"stable"}}]},
	  {"name":"sluice-preview-zzz","route":[{"destination":{"host":"h","subset":"canary"}}]},
	  {"name":"zzz","route":[{"destination":{"host":"h","subset":"stable"}}]},
	  {"name":"d","route":[{"destination":{"host":"h","subset":"stable"}}]},
	  {"name":"sluice-preview-d","route":[{"destination":{"host":"h","subset":"canary"}}]}
	]}}`)
	preview := &MatchRoute{Kind: MatchKindPreview, Matches: []v1alpha1.HTTPMatch{{Headers: map[string]v1alpha1.StringMatch{"x-sluice-preview": {Exact: ptrTo("true")}}}}}
	d := subsets(25)
	d.MatchRoute = preview
	tgt := vsTarget("a", "b", "c", "d")
	_, out := render(t, doc, tgt, d)
	want := []string{"x", "sluice-preview-a", "a", "sluice-preview-b", "b", "sluice-preview-c", "c", "sluice-preview-zzz", "zzz", "sluice-preview-d", "d"}
	if got := routeNames(t, out); !reflect.DeepEqual(got, want) {
		t.Fatalf("routes\n got %v\nwant %v", got, want)
	}
	if routeByName(t, out, "sluice-preview-zzz") != routeByName(t, doc, "sluice-preview-zzz") || routeByName(t, out, "zzz") != routeByName(t, doc, "zzz") {
		t.Error("another Rollout's routes changed")
	}
	// And all the way back.
	_, back := render(t, out, tgt, subsets(0).Restored())
	want = []string{"x", "a", "b", "c", "sluice-preview-zzz", "zzz", "d"}
	if got := routeNames(t, back); !reflect.DeepEqual(got, want) {
		t.Fatalf("after restore\n got %v\nwant %v", got, want)
	}
	st := ObserveVirtualService(decode(t, back), tgt, subsets(0))
	for _, r := range st.Routes {
		if r.Stable != 100 || r.Canary != 0 || r.MatchRoute != "" {
			t.Errorf("after restore %+v", r)
		}
	}
}

// TestStaleReadFails: a patch rendered from an old read fails its test
// operations against an object someone else changed in a way that matters,
// and still applies when they changed something sluice does not depend on.
func TestStaleReadFails(t *testing.T) {
	in := canonical(t, fixtureVS)
	d := subsets(20)
	d.MatchRoute = abtest()
	p, err := RenderVirtualService(decode(t, in), vsTarget("api", "web"), d)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		edit  Patch
		fails bool
	}{
		{"route inserted at the top", Patch{addOp("/spec/http/0", map[string]any{"name": "new", "route": []any{map[string]any{"destination": map[string]any{"host": "n"}}}})}, true},
		{"route removed above", Patch{removeOp("/spec/http/0")}, true},
		{"weight changed by someone else", Patch{replaceOp("/spec/http/2/route/0/weight", 90)}, true},
		{"route renamed", Patch{replaceOp("/spec/http/2/name", "www")}, true},
		{"managed route's timeout edited (the match route copies it)", Patch{replaceOp("/spec/http/1/timeout", "20s")}, true},
		{"canary destination added concurrently", Patch{addOp("/spec/http/1/route/-", map[string]any{"destination": map[string]any{"host": "frontend", "subset": "canary"}, "weight": 0})}, true},
		{"unmanaged route edited", Patch{replaceOp("/spec/http/3/timeout", "2s")}, false},
		{"hosts edited", Patch{addOp("/spec/hosts/-", "new.example.com")}, false},
		{"annotation added", Patch{addOp("/metadata/annotations/x", "y")}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			concurrent := mustApply(t, in, c.edit)
			_, err := applyPatch(concurrent, p)
			if c.fails && err == nil {
				t.Fatal("the stale patch applied")
			}
			if !c.fails && err != nil {
				t.Fatalf("the patch should still apply: %v", err)
			}
		})
	}
}

func TestHostIs(t *testing.T) {
	c := &vsContext{t: VirtualServiceTarget{Key: frontend}}
	for host, want := range map[string]bool{
		"web":                        true,
		"web.shop":                   true,
		"web.shop.svc":               true,
		"web.shop.svc.cluster.local": true,
		"web.shop.svcx":              false,
		"web.other":                  false,
		"web-canary":                 false,
		"webx.shop":                  false,
	} {
		if got := c.hostIs(host, "web"); got != want {
			t.Errorf("%s: %v, want %v", host, got, want)
		}
	}
}
