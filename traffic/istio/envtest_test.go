package istio

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// envVS is fixtureVS with numbers whose encoding the whole-route test
// operations depend on (fractions, a tiny float), so the test proves that
// sluice's test values compare equal to what the apiserver serves.
const envVS = `{
  "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
  "metadata": {"name": "frontend", "annotations": {"argocd.argoproj.io/tracking-id": "shop:x"}},
  "spec": {
    "hosts": ["shop.example.com", "frontend"],
    "gateways": ["istio-system/public", "mesh"],
    "http": [
      {"name": "health", "match": [{"uri": {"exact": "/healthz"}}], "directResponse": {"status": 200, "body": {"string": "ok"}}},
      {"name": "api",
       "match": [{"uri": {"prefix": "/api"}}, {"headers": {"x-api": {"exact": "1"}}}],
       "retries": {"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx,reset"},
       "timeout": "10s",
       "headers": {"request": {"set": {"x-route": "api&<more>"}}, "response": {"remove": ["server"]}},
       "fault": {"delay": {"percentage": {"value": 0.0000001}, "fixedDelay": "1.5s"}},
       "corsPolicy": {"allowOrigins": [{"exact": "https://shop.example.com"}], "maxAge": "24h"},
       "route": [{"destination": {"host": "frontend", "subset": "stable", "port": {"number": 8080}}}]},
      {"name": "web", "timeout": "5s",
       "route": [
         {"destination": {"host": "frontend.NS.svc.cluster.local", "subset": "stable"}, "weight": 100},
         {"destination": {"host": "frontend.NS.svc.cluster.local", "subset": "canary"}, "weight": 0}]},
      {"name": "legacy", "timeout": "1s", "route": [{"destination": {"host": "legacy", "port": {"number": 80}}}]}
    ]
  }
}`

const envDR = `{
  "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
  "metadata": {"name": "frontend"},
  "spec": {
    "host": "frontend",
    "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}},
    "subsets": [
      {"name": "v1", "labels": {"version": "v1"}},
      {"name": "stable", "labels": {"app": "frontend", "sluice.dev/revision": "aaa"}}
    ]
  }
}`

// TestAgainstAPIServer writes real VirtualServices and DestinationRules in a
// real kube-apiserver with Istio's CRDs. It fails, never skips, when the
// control plane's binaries are not built (testenv's error says how to build
// them).
func TestAgainstAPIServer(t *testing.T) {
	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		t.Fatalf("starting the envtest control plane (etcd, kube-apiserver, Istio CRDs): %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("stopping the control plane: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := env.Client

	ns, err := env.CreateNamespace(ctx, "istio-traffic")
	if err != nil {
		t.Fatal(err)
	}
	create := func(t *testing.T, doc, name string) types.NamespacedName {
		t.Helper()
		u := &unstructured.Unstructured{Object: decode(t, []byte(strings.ReplaceAll(doc, ".NS.", "."+ns+".")))}
		u.SetNamespace(ns)
		u.SetName(name)
		if err := c.Create(ctx, u); err != nil {
			t.Fatalf("creating %s: %v", name, err)
		}
		return types.NamespacedName{Namespace: ns, Name: name}
	}
	// read returns the object's JSON exactly as the apiserver serves it.
	read := func(t *testing.T, gvk schema.GroupVersionKind, key types.NamespacedName) []byte {
		t.Helper()
		u, err := Get(ctx, c, gvk, key, "")
		if err != nil {
			t.Fatal(err)
		}
		b, err := u.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	target := func(key types.NamespacedName, routes ...string) VirtualServiceTarget {
		return VirtualServiceTarget{Key: key, Routes: routes, SpecPath: "spec.traffic.istio.virtualServices[0]"}
	}
	sameRoutes := func(t *testing.T, before, after []byte, names ...string) {
		t.Helper()
		for _, n := range names {
			if a, b := routeByName(t, before, n), routeByName(t, after, n); a != b {
				t.Errorf("route %s changed:\n was %s\n now %s", n, a, b)
			}
		}
		sameRaw(t, before, after, []any{"spec", "hosts"}, []any{"spec", "gateways"}, []any{"metadata", "annotations"})
	}

	t.Run("weights, match routes, mirror and restore", func(t *testing.T) {
		key := create(t, envVS, "frontend")
		tgt := target(key, "api", "web")
		before := read(t, VirtualServiceGVK, key)

		d := subsets(20)
		d.MatchRoute = abtest()
		d.MatchRoute.Fault = &v1alpha1.FaultStep{Duration: "1m", Abort: &v1alpha1.FaultAbort{Percent: "0.5", HTTPStatus: 503}}
		d.MirrorPercent = 12.5
		res, err := ApplyVirtualService(ctx, c, c, tgt, d)
		if err != nil {
			t.Fatalf("apply: %v\npatch: %s", err, res.Patch)
		}
		if !res.Changed || res.Attempts != 1 {
			t.Errorf("changed %v, attempts %d", res.Changed, res.Attempts)
		}
		after := read(t, VirtualServiceGVK, key)
		if got := routeNames(t, after); strings.Join(got, ",") != "health,sluice-abtest-api,api,sluice-abtest-web,web,legacy" {
			t.Errorf("routes %v", got)
		}
		sameRoutes(t, before, after, "health", "legacy")
		for _, name := range []string{"api", "web"} {
			was, now := []byte(routeByName(t, before, name)), []byte(routeByName(t, after, name))
			for _, k := range []string{"name", "match", "retries", "timeout", "headers", "fault", "corsPolicy"} {
				sameRaw(t, was, now, []any{k})
			}
		}
		if w := res.State.Weights(); w.Stable != 80 || w.Canary != 20 || w.Mirror != "12.5" || !w.MatchedRoutes {
			t.Errorf("state %+v", w)
		}
		if err := VerifyVirtualService(decode(t, after), tgt, d); err != nil {
			t.Error(err)
		}
		managers := map[string]bool{}
		for _, m := range res.Object.GetManagedFields() {
			managers[m.Manager] = true
		}
		if !managers[v1alpha1.FieldManager] {
			t.Errorf("no managedFields entry for %q: %v", v1alpha1.FieldManager, managers)
		}

		// Already there: nothing is sent, the resourceVersion stays.
		res, err = ApplyVirtualService(ctx, c, c, tgt, d)
		if err != nil || res.Changed || res.Patch != nil {
			t.Errorf("second apply: changed %v, patch %s, %v", res.Changed, res.Patch, err)
		}
		if res.Object.GetResourceVersion() != (&unstructured.Unstructured{Object: decode(t, after)}).GetResourceVersion() {
			t.Error("a no-op apply changed the resourceVersion")
		}

		// Abort: back to stable, sluice's routes and mirror gone. Only the
		// canary destination sluice added to api stays, at weight 0.
		res, err = ApplyVirtualService(ctx, c, c, tgt, d.Restored())
		if err != nil {
			t.Fatalf("restore: %v", err)
		}
		restored := read(t, VirtualServiceGVK, key)
		if got := routeNames(t, restored); strings.Join(got, ",") != "health,api,web,legacy" {
			t.Errorf("routes after restore %v", got)
		}
		sameRoutes(t, before, restored, "health", "web", "legacy")
		if got := rawAt(t, restored, "spec", "http", 1, "route", 1, "weight"); got != "0" {
			t.Errorf("api canary weight after restore %s", got)
		}
		for _, r := range res.State.Routes {
			if r.Stable != 100 || r.Canary != 0 || r.MirrorPercent != 0 || r.MatchRoute != "" {
				t.Errorf("after restore %+v", r)
			}
		}
	})

	t.Run("another writer between read and write", func(t *testing.T) {
		key := create(t, envVS, "concurrent")
		var refusals []error
		patches := 0
		wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
		if err != nil {
			t.Fatal(err)
		}
		racing := interceptor.NewClient(wc, interceptor.Funcs{
			Patch: func(ctx context.Context, cl client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
				patches++
				if patches == 1 {
					// Someone (Argo CD, a person) inserts a route at the top
					// and edits web after sluice read the object.
					other := `[{"op":"add","path":"/spec/http/0","value":{"name":"maintenance","match":[{"headers":{"x-maint":{"exact":"1"}}}],"directResponse":{"status":503}}},
					           {"op":"replace","path":"/spec/http/3/timeout","value":"7s"}]`
					u := &unstructured.Unstructured{}
					u.SetGroupVersionKind(VirtualServiceGVK)
					u.SetNamespace(key.Namespace)
					u.SetName(key.Name)
					if err := cl.Patch(ctx, u, client.RawPatch(types.JSONPatchType, []byte(other)), client.FieldOwner("someone-else")); err != nil {
						t.Errorf("the other writer failed: %v", err)
					}
				}
				err := cl.Patch(ctx, obj, patch, opts...)
				if err != nil {
					refusals = append(refusals, err)
				}
				return err
			},
		})
		res, err := ApplyVirtualService(ctx, racing, c, target(key, "web"), subsets(35))
		if err != nil {
			t.Fatalf("apply: %v", err)
		}
		if res.Attempts != 2 || len(refusals) != 1 {
			t.Fatalf("attempts %d, refusals %v; want one refusal and a successful retry", res.Attempts, refusals)
		}
		// What the apiserver answers for a failed test operation.
		var st apierrors.APIStatus
		if !errors.As(refusals[0], &st) {
			t.Fatalf("refusal is not an API status: %v", refusals[0])
		}
		s := st.Status()
		t.Logf("a failed test operation is answered with code %d, reason %s, message %q, details %+v", s.Code, s.Reason, s.Message, s.Details)
		if s.Code != http.StatusUnprocessableEntity || !apierrors.IsInvalid(refusals[0]) || !PatchRefused(refusals[0]) {
			t.Errorf("refusal %v: code %d reason %s", refusals[0], s.Code, s.Reason)
		}
		after := read(t, VirtualServiceGVK, key)
		if got := routeNames(t, after); strings.Join(got, ",") != "maintenance,health,api,web,legacy" {
			t.Errorf("routes %v", got)
		}
		if got := rawAt(t, after, "spec", "http", 3, "timeout"); got != `"7s"` {
			t.Errorf("the other writer's edit was lost: timeout %s", got)
		}
		if a, b := rawAt(t, after, "spec", "http", 3, "route", 0, "weight"), rawAt(t, after, "spec", "http", 3, "route", 1, "weight"); a != "65" || b != "35" {
			t.Errorf("web weights %s/%s", a, b)
		}
	})

	t.Run("a stale patch is refused, a schema violation is not retried", func(t *testing.T) {
		key := create(t, envVS, "stale")
		obj := decode(t, read(t, VirtualServiceGVK, key))
		p, err := RenderVirtualService(obj, target(key, "web"), subsets(50))
		if err != nil {
			t.Fatal(err)
		}
		// Someone moves web's weight first.
		bump := &unstructured.Unstructured{}
		bump.SetGroupVersionKind(VirtualServiceGVK)
		bump.SetNamespace(key.Namespace)
		bump.SetName(key.Name)
		if err := c.Patch(ctx, bump, client.RawPatch(types.JSONPatchType, []byte(`[{"op":"replace","path":"/spec/http/2/route/1/weight","value":5},{"op":"replace","path":"/spec/http/2/route/0/weight","value":95}]`))); err != nil {
			t.Fatal(err)
		}
		body, _ := p.JSON()
		err = c.Patch(ctx, bump.DeepCopy(), client.RawPatch(types.JSONPatchType, body), client.FieldOwner(v1alpha1.FieldManager))
		if !PatchRefused(err) || !apierrors.IsInvalid(err) {
			t.Fatalf("a stale patch must be refused with 422: %v", err)
		}
		if got := rawAt(t, read(t, VirtualServiceGVK, key), "spec", "http", 2, "route", 1, "weight"); got != "5" {
			t.Errorf("the refused patch changed the object: weight %s", got)
		}
		// A patch that breaks the CRD's schema: 422 with causes.
		bad := `[{"op":"replace","path":"/spec/http/2/timeout","value":"0s"}]`
		err = c.Patch(ctx, bump.DeepCopy(), client.RawPatch(types.JSONPatchType, []byte(bad)))
		if err == nil || PatchRefused(err) {
			t.Errorf("a schema violation must not count as a refused test: %v", err)
		} else {
			t.Logf("a schema violation is answered with: %v", err)
		}
	})

	t.Run("errors name the object and the fix", func(t *testing.T) {
		key := create(t, envVS, "errors")
		_, err := ApplyVirtualService(ctx, c, c, target(key, "checkout"), subsets(10))
		want := `route "checkout" not found in VirtualService ` + ns + `/errors (routes: health, api, web, legacy); add name: checkout to the route or fix spec.traffic.istio.virtualServices[0].routes`
		if err == nil || err.Error() != want {
			t.Errorf("got %v\nwant %s", err, want)
		}
		_, err = ApplyVirtualService(ctx, c, c, target(types.NamespacedName{Namespace: ns, Name: "absent"}, "web"), subsets(10))
		if r, _ := StalledReason(err); r != ReasonVirtualServiceNotFound {
			t.Errorf("missing VirtualService: %v", err)
		}
	})

	t.Run("destination rule", func(t *testing.T) {
		key := create(t, envDR, "frontend")
		tgt := DestinationRuleTarget{Key: key}
		before := read(t, DestinationRuleGVK, key)
		d := drDesired()
		d.BaselineSubset, d.BaselineRevision = "baseline", "aaa"
		d.CanaryTrafficPolicy = &v1alpha1.SubsetTrafficPolicy{
			LoadBalancer:     "LEAST_REQUEST",
			ConnectionPool:   &v1alpha1.ConnectionPool{MaxConnections: ptrTo[int32](10), HTTP2MaxRequests: ptrTo[int32](100)},
			OutlierDetection: &v1alpha1.OutlierDetection{Consecutive5xxErrors: ptrTo[int32](3), Interval: ptrTo[v1alpha1.Duration]("5s"), BaseEjectionTime: ptrTo[v1alpha1.Duration]("1m30s"), MaxEjectionPercent: ptrTo[int32](100)},
		}
		res, err := ApplyDestinationRule(ctx, c, c, tgt, d)
		if err != nil {
			t.Fatalf("apply: %v\npatch %s", err, res.Patch)
		}
		after := read(t, DestinationRuleGVK, key)
		sameRaw(t, before, after, []any{"spec", "subsets", 0}, []any{"spec", "trafficPolicy"}, []any{"spec", "host"})
		if got := rawAt(t, after, "spec", "subsets", 1, "labels"); got != `{"app":"frontend","sluice.dev/revision":"aaa"}` {
			t.Errorf("stable labels %s", got)
		}
		for _, s := range res.State.Subsets {
			if !s.Found {
				t.Errorf("subset %s missing", s.Name)
			}
		}
		if !res.State.Subsets[1].TrafficPolicyBySluice {
			t.Errorf("canary policy not recognised as sluice's: %+v", res.State.Subsets[1])
		}
		// Promotion: stable selects the new revision; the rollout ends and
		// sluice's policy goes.
		d.StableRevision, d.BaselineRevision = "bbb", "bbb"
		res, err = ApplyDestinationRule(ctx, c, c, tgt, d.Restored())
		if err != nil {
			t.Fatal(err)
		}
		if s := res.State.Subsets; s[0].Revision != "bbb" || s[1].TrafficPolicy || s[2].Revision != "bbb" {
			t.Errorf("after promotion %+v", s)
		}
		res, err = ApplyDestinationRule(ctx, c, c, tgt, d.Restored())
		if err != nil || res.Changed {
			t.Errorf("no-op: %v %v", res.Changed, err)
		}
	})
}
