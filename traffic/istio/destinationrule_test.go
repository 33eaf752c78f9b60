package istio

import (
	"strings"
	"testing"

	istioapi "istio.io/api/networking/v1alpha3"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

var drKey = types.NamespacedName{Namespace: "shop", Name: "frontend"}

const fixtureDR = `{
  "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
  "metadata": {"name": "frontend", "namespace": "shop", "resourceVersion": "7"},
  "spec": {
    "host": "frontend",
    "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}},
    "futureField": [1, 2],
    "subsets": [
      {"name": "v1", "labels": {"version": "v1"}},
      {"name": "stable", "labels": {"app": "frontend", "sluice.dev/revision": "aaa"}, "trafficPolicy": {"loadBalancer": {"simple": "ROUND_ROBIN"}}}
    ]
  }
}`

func drDesired() Desired {
	return Desired{StableSubset: "stable", CanarySubset: "canary", StableRevision: "aaa", CanaryRevision: "bbb"}
}

func renderDR(t *testing.T, doc []byte, d Desired) (Patch, []byte) {
	t.Helper()
	tgt := DestinationRuleTarget{Key: drKey}
	p, err := RenderDestinationRule(decode(t, doc), tgt, d)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	out := mustApply(t, doc, p)
	again, err := RenderDestinationRule(decode(t, out), tgt, d)
	if err != nil || len(again) != 0 {
		t.Fatalf("not idempotent: %s, %v\nresult %s", again, err, out)
	}
	if err := VerifyDestinationRule(decode(t, out), tgt, d); err != nil {
		t.Fatalf("verify: %v", err)
	}
	var dr istioapi.DestinationRule
	if err := dr.UnmarshalJSON([]byte(rawAt(t, out, "spec"))); err != nil {
		t.Fatalf("Istio cannot decode the result: %v", err)
	}
	return p, out
}

func TestRenderDestinationRuleSubsets(t *testing.T) {
	in := canonical(t, fixtureDR)
	p, out := renderDR(t, in, drDesired())
	if got := rawAt(t, out, "spec", "subsets", 2); got != `{"labels":{"sluice.dev/revision":"bbb"},"name":"canary"}` {
		t.Errorf("canary subset %s", got)
	}
	sameRaw(t, in, out, []any{"spec", "subsets", 0}, []any{"spec", "subsets", 1}, []any{"spec", "host"},
		[]any{"spec", "trafficPolicy"}, []any{"spec", "futureField"}, []any{"metadata"})
	if p[0].Op != OpTest || p[0].Path != "/spec/subsets" {
		t.Errorf("appending must test the list first: %s", p)
	}

	// A new stable revision: one label value, escaped in the pointer.
	d := drDesired()
	d.StableRevision, d.CanaryRevision = "bbb", "ccc"
	p, out2 := renderDR(t, out, d)
	var paths []string
	for _, o := range p {
		if o.Op != OpTest {
			paths = append(paths, o.Op+" "+o.Path)
		}
	}
	if strings.Join(paths, ",") != "replace /spec/subsets/1/labels/sluice.dev~1revision,replace /spec/subsets/2/labels/sluice.dev~1revision" {
		t.Errorf("mutations %v", paths)
	}
	if got := rawAt(t, out2, "spec", "subsets", 1); got != `{"labels":{"app":"frontend","sluice.dev/revision":"bbb"},"name":"stable","trafficPolicy":{"loadBalancer":{"simple":"ROUND_ROBIN"}}}` {
		t.Errorf("stable subset %s", got)
	}

	// Baseline: the stable template's revision plus the baseline role.
	d.BaselineSubset, d.BaselineRevision = "baseline", "bbb"
	_, out3 := renderDR(t, out2, d)
	if got := rawAt(t, out3, "spec", "subsets", 3); got != `{"labels":{"sluice.dev/revision":"bbb","sluice.dev/role":"baseline"},"name":"baseline"}` {
		t.Errorf("baseline subset %s", got)
	}
	st := ObserveDestinationRule(decode(t, out3), DestinationRuleTarget{Key: drKey}, d)
	if len(st.Subsets) != 3 || st.Subsets[0].Revision != "bbb" || st.Subsets[1].Revision != "ccc" || !st.Subsets[2].Found {
		t.Errorf("observed %+v", st)
	}

	// No subsets at all: the list is created, guarded by resourceVersion.
	bare := canonical(t, `{"metadata":{"name":"frontend","namespace":"shop","resourceVersion":"9"},"spec":{"host":"frontend"}}`)
	p, _ = renderDR(t, bare, drDesired())
	if p[0].Path != "/metadata/resourceVersion" || p[0].Value != "9" {
		t.Errorf("creating spec.subsets must be guarded by resourceVersion: %s", p)
	}
}

func TestRenderDestinationRuleTrafficPolicy(t *testing.T) {
	in := canonical(t, fixtureDR)
	d := drDesired()
	d.CanaryTrafficPolicy = &v1alpha1.SubsetTrafficPolicy{
		LoadBalancer:     "LEAST_REQUEST",
		ConnectionPool:   &v1alpha1.ConnectionPool{MaxConnections: ptrTo[int32](100), HTTP1MaxPendingRequests: ptrTo[int32](10), HTTP2MaxRequests: ptrTo[int32](1000)},
		OutlierDetection: &v1alpha1.OutlierDetection{Consecutive5xxErrors: ptrTo[int32](5), Interval: ptrTo[v1alpha1.Duration]("10s"), BaseEjectionTime: ptrTo[v1alpha1.Duration]("1m"), MaxEjectionPercent: ptrTo[int32](50)},
	}
	_, out := renderDR(t, in, d)
	wantPolicy := `{"connectionPool":{"http":{"http1MaxPendingRequests":10,"http2MaxRequests":1000},"tcp":{"maxConnections":100}},"loadBalancer":{"simple":"LEAST_REQUEST"},"outlierDetection":{"baseEjectionTime":"60s","consecutive5xxErrors":5,"interval":"10s","maxEjectionPercent":50}}`
	if got := rawAt(t, out, "spec", "subsets", 2, "trafficPolicy"); got != wantPolicy {
		t.Errorf("policy\n got %s\nwant %s", got, wantPolicy)
	}
	marker := rawAt(t, out, "metadata", "annotations")
	if !strings.Contains(marker, AnnotationCanaryTrafficPolicy) || !strings.Contains(marker, `"canary:`) {
		t.Errorf("ownership marker missing: %s", marker)
	}
	st := ObserveDestinationRule(decode(t, out), DestinationRuleTarget{Key: drKey}, d)
	if !st.Subsets[1].TrafficPolicyBySluice {
		t.Errorf("observed %+v", st.Subsets[1])
	}

	// Changed in the Rollout: replaced, marker updated.
	d.CanaryTrafficPolicy = &v1alpha1.SubsetTrafficPolicy{LoadBalancer: "RANDOM"}
	_, out2 := renderDR(t, out, d)
	if got := rawAt(t, out2, "spec", "subsets", 2, "trafficPolicy"); got != `{"loadBalancer":{"simple":"RANDOM"}}` {
		t.Errorf("replaced policy %s", got)
	}
	if rawAt(t, out2, "metadata", "annotations") == marker {
		t.Error("marker not updated")
	}

	// The rollout ends: sluice's policy and its marker go, the rest stays.
	d.CanaryTrafficPolicy = nil
	_, out3 := renderDR(t, out2, d)
	if got := rawAt(t, out3, "spec", "subsets", 2); got != `{"labels":{"sluice.dev/revision":"bbb"},"name":"canary"}` {
		t.Errorf("after removal %s", got)
	}
	if got := rawAt(t, out3, "metadata", "annotations"); got != `{}` {
		t.Errorf("annotations after removal %s", got)
	}

	// Someone edits sluice's policy: it is no longer sluice's. It is not
	// overwritten (error) nor removed (left alone, stale marker dropped).
	edited := mustApply(t, out2, Patch{replaceOp("/spec/subsets/2/trafficPolicy/loadBalancer/simple", "ROUND_ROBIN")})
	d.CanaryTrafficPolicy = &v1alpha1.SubsetTrafficPolicy{LoadBalancer: "LEAST_REQUEST"}
	_, err := RenderDestinationRule(decode(t, edited), DestinationRuleTarget{Key: drKey}, d)
	if r, _ := StalledReason(err); r != ReasonForeignTrafficPolicy {
		t.Fatalf("want ForeignTrafficPolicy, got %v", err)
	}
	if !strings.Contains(err.Error(), `the canary subset "canary" of DestinationRule shop/frontend has a trafficPolicy sluice did not write`) {
		t.Errorf("message %q", err)
	}
	d.CanaryTrafficPolicy = nil
	_, left := renderDR(t, edited, d)
	if got := rawAt(t, left, "spec", "subsets", 2, "trafficPolicy"); got != `{"loadBalancer":{"simple":"ROUND_ROBIN"}}` {
		t.Errorf("a policy sluice did not write must stay: %s", got)
	}
	mustNotContain(t, rawAt(t, left, "metadata"), AnnotationCanaryTrafficPolicy)
}

func TestRenderDestinationRuleErrors(t *testing.T) {
	dup := canonical(t, `{"metadata":{"name":"frontend","namespace":"shop"},"spec":{"host":"h","subsets":[{"name":"canary"},{"name":"canary"}]}}`)
	_, err := RenderDestinationRule(decode(t, dup), DestinationRuleTarget{Key: drKey}, drDesired())
	if r, _ := StalledReason(err); r != ReasonDuplicateSubset {
		t.Errorf("duplicate subset: %v", err)
	}
	_, err = RenderDestinationRule(decode(t, dup), DestinationRuleTarget{Key: drKey}, Desired{StableHost: "a", CanaryHost: "b"})
	if r, _ := StalledReason(err); r != ReasonInvalidTraffic {
		t.Errorf("host routing: %v", err)
	}
	// Revisions "" leave the subsets alone.
	in := canonical(t, fixtureDR)
	if p, err := RenderDestinationRule(decode(t, in), DestinationRuleTarget{Key: drKey}, Desired{StableSubset: "stable", CanarySubset: "canary"}); err != nil || len(p) != 0 {
		t.Errorf("no revisions: %s, %v", p, err)
	}
}

func TestDestinationRuleStaleRead(t *testing.T) {
	in := canonical(t, fixtureDR)
	p, err := RenderDestinationRule(decode(t, in), DestinationRuleTarget{Key: drKey}, Desired{StableSubset: "stable", CanarySubset: "canary", StableRevision: "new"})
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]Patch{
		"subset inserted before":  {addOp("/spec/subsets/0", map[string]any{"name": "v0"})},
		"stable labels edited":    {addOp("/spec/subsets/1/labels/tier", "web")},
		"stable revision changed": {replaceOp("/spec/subsets/1/labels/sluice.dev~1revision", "zzz")},
	} {
		if _, err := applyPatch(mustApply(t, in, edit), p); err == nil {
			t.Errorf("%s: the stale patch applied", name)
		}
	}
	if _, err := applyPatch(mustApply(t, in, Patch{addOp("/spec/subsets/0/labels/x", "y")}), p); err != nil {
		t.Errorf("an edit of an unmanaged subset must not refuse the patch: %v", err)
	}
}
