package istio

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"k8s.io/apimachinery/pkg/types"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

// canonical re-encodes a fixture the way the apiserver stores and serves a
// custom resource (decoded into unstructured, numbers as int64 or float64,
// encoded by encoding/json), so that test operations compare as they would
// against a real apiserver.
func canonical(t testing.TB, doc string) []byte {
	t.Helper()
	b, err := json.Marshal(decode(t, []byte(doc)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decode reads a document as the controller-runtime client reads an
// unstructured object (apimachinery's JSON decoding: integers as int64,
// other numbers as float64).
func decode(t testing.TB, doc []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := utiljson.Unmarshal(doc, &m); err != nil {
		t.Fatalf("decoding: %v\n%s", err, doc)
	}
	return m
}

// applyPatch applies p to doc with evanphx/json-patch.
func applyPatch(doc []byte, p Patch) ([]byte, error) {
	body, err := p.JSON()
	if err != nil {
		return nil, err
	}
	jp, err := jsonpatch.DecodePatch(body)
	if err != nil {
		return nil, err
	}
	return jp.Apply(doc)
}

func mustApply(t testing.TB, doc []byte, p Patch) []byte {
	t.Helper()
	out, err := applyPatch(doc, p)
	if err != nil {
		t.Fatalf("patch does not apply to the object it was rendered from: %v\npatch: %s\ndoc: %s", err, p, doc)
	}
	return out
}

// rawAt returns the compacted raw bytes at a path of object keys and array
// indices, without re-encoding (json-patch keeps untouched bytes as they
// were, so equal bytes mean an untouched value).
func rawAt(t testing.TB, doc []byte, path ...any) string {
	t.Helper()
	cur := json.RawMessage(doc)
	for _, p := range path {
		switch k := p.(type) {
		case string:
			var m map[string]json.RawMessage
			if err := json.Unmarshal(cur, &m); err != nil {
				t.Fatalf("at %v: %v", path, err)
			}
			v, ok := m[k]
			if !ok {
				return "<absent>"
			}
			cur = v
		case int:
			var a []json.RawMessage
			if err := json.Unmarshal(cur, &a); err != nil {
				t.Fatalf("at %v: %v", path, err)
			}
			if k >= len(a) {
				return "<absent>"
			}
			cur = a[k]
		}
	}
	var b bytes.Buffer
	if err := json.Compact(&b, cur); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// routeNames lists spec.http[*].name.
func routeNames(t testing.TB, doc []byte) []string {
	t.Helper()
	var v struct {
		Spec struct {
			HTTP []struct {
				Name string `json:"name"`
			} `json:"http"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range v.Spec.HTTP {
		out = append(out, r.Name)
	}
	return out
}

// routeByName returns the raw bytes of the route named name.
func routeByName(t testing.TB, doc []byte, name string) string {
	t.Helper()
	for i, n := range routeNames(t, doc) {
		if n == name {
			return rawAt(t, doc, "spec", "http", i)
		}
	}
	return "<absent>"
}

func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// canon re-encodes a JSON text with sorted keys, for comparing values that
// sluice built (whose key order is Go's).
func canon(t testing.TB, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
	return jsonOf(t, v)
}

var frontend = types.NamespacedName{Namespace: "shop", Name: "frontend"}

func vsTarget(routes ...string) VirtualServiceTarget {
	return VirtualServiceTarget{Key: frontend, Routes: routes, SpecPath: "spec.traffic.istio.virtualServices[0]"}
}

func subsets(c int32) Desired {
	return Desired{StableSubset: "stable", CanarySubset: "canary", CanaryWeight: c}
}

// fixtureVS is a gateway-bound VirtualService with a route sluice must not
// touch (health, legacy), managed routes with retries, timeout, headers, a
// user fault rule and a field Istio's structs do not know, and unknown
// fields at several levels.
const fixtureVS = `{
  "apiVersion": "networking.istio.io/v1",
  "kind": "VirtualService",
  "metadata": {"name": "frontend", "namespace": "shop", "resourceVersion": "42",
               "annotations": {"argocd.argoproj.io/tracking-id": "shop:networking.istio.io/VirtualService:shop/frontend"}},
  "spec": {
    "hosts": ["shop.example.com", "frontend"],
    "gateways": ["istio-system/public", "mesh"],
    "futureSpecField": {"keep": [1, 2.5, "three"]},
    "http": [
      {"name": "health", "match": [{"uri": {"exact": "/healthz"}}], "directResponse": {"status": 200, "body": {"string": "ok"}}},
      {"name": "api",
       "match": [{"uri": {"prefix": "/api"}}, {"headers": {"x-api": {"exact": "1"}}}],
       "retries": {"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx,reset"},
       "timeout": "10s",
       "headers": {"request": {"set": {"x-route": "api"}}, "response": {"remove": ["server"]}},
       "fault": {"delay": {"percentage": {"value": 0.1}, "fixedDelay": "1s"}},
       "corsPolicy": {"allowOrigins": [{"exact": "https://shop.example.com"}]},
       "futureRouteField": {"a": "b"},
       "route": [{"destination": {"host": "frontend", "subset": "stable", "port": {"number": 8080}}, "headers": {"request": {"add": {"x-b": "1"}}}}]},
      {"name": "web",
       "route": [
         {"destination": {"host": "frontend.shop.svc.cluster.local", "subset": "stable"}, "weight": 100},
         {"destination": {"host": "frontend.shop.svc.cluster.local", "subset": "canary"}, "weight": 0}],
       "timeout": "5s"},
      {"name": "legacy", "timeout": "1s", "route": [{"destination": {"host": "legacy", "port": {"number": 80}}}]}
    ]
  }
}`

// mustNotContain fails when s contains sub.
func mustNotContain(t testing.TB, s, sub string) {
	t.Helper()
	if strings.Contains(s, sub) {
		t.Errorf("%s\nmust not contain %q", s, sub)
	}
}
