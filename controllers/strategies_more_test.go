package controllers_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

func (f *fixture) subset(name string) map[string]any {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("networking.istio.io/v1")
	u.SetKind("DestinationRule")
	f.g.Expect(env.Client.Get(context.Background(), keyOf(f.ns, "web"), u)).To(Succeed())
	subs, _, _ := unstructured.NestedSlice(u.Object, "spec", "subsets")
	for _, s := range subs {
		if m := s.(map[string]any); m["name"] == name {
			return m
		}
	}
	return nil
}

// A fault step injects its fault only on the test route (which reaches the
// canary alone), for its duration; the canary subset's traffic policy is in
// place during the rollout and removed at its end.
func TestFaultStepAndCanaryTrafficPolicy(t *testing.T) {
	f := newFixture(t)
	ro := f.rollout("web:1", `
- setWeight: 10
- fault: {duration: 3s, abort: {percent: "50", httpStatus: 503}, delay: {percent: "10", fixedDelay: 200ms}}
- pause: {}
`)
	ro.Spec.Strategy.Canary.TestRoute = &sluicev1.MatchRoute{Matches: []sluicev1.HTTPMatch{{Headers: map[string]sluicev1.StringMatch{"x-canary": {Exact: ptr.To("1")}}}}}
	ro.Spec.Strategy.CanaryTrafficPolicy = &sluicev1.SubsetTrafficPolicy{
		LoadBalancer:     "LEAST_REQUEST",
		OutlierDetection: &sluicev1.OutlierDetection{Consecutive5xxErrors: ptr.To[int32](3), Interval: ptr.To(sluicev1.Duration("10s"))},
	}
	f.create(ro)
	v1 := f.revisionOf("web:1")
	f.waitHealthy(v1)
	v2 := f.setImage("web:2")

	f.waitFor("fault step", func(ro *sluicev1.Rollout) bool {
		return ro.Status.CurrentStepIndex != nil && *ro.Status.CurrentStepIndex == 1
	})
	test := f.route("sluice-test-primary")
	f.g.Expect(test).NotTo(BeNil())
	f.g.Expect(test["fault"]).To(Equal(map[string]any{
		"abort": map[string]any{"percentage": map[string]any{"value": int64(50)}, "httpStatus": int64(503)},
		"delay": map[string]any{"percentage": map[string]any{"value": int64(10)}, "fixedDelay": "0.2s"},
	}))
	f.g.Expect(destinations(test)).To(Equal(map[string]int64{"canary": 100}))
	f.g.Expect(f.route("primary")).NotTo(HaveKey("fault"), "never on the weighted route: it would hit stable users")
	policy := f.subset("canary")["trafficPolicy"]
	f.g.Expect(policy).To(Equal(map[string]any{
		"loadBalancer":     map[string]any{"simple": "LEAST_REQUEST"},
		"outlierDetection": map[string]any{"consecutive5xxErrors": int64(3), "interval": "10s"},
	}))

	// After the fault's 3 s the next step has the test route without it.
	f.waitStep(2, sluicev1.PhasePaused)
	f.g.Expect(f.route("sluice-test-primary")).NotTo(HaveKey("fault"))
	f.expectWeights(90, 10)

	f.action(sluicev1.AnnotationPromote)
	f.waitHealthy(v2)
	f.g.Expect(f.route("sluice-test-primary")).To(BeNil())
	f.g.Expect(f.subset("canary")).NotTo(HaveKey("trafficPolicy"), "the policy sluice wrote is removed at the end")
	f.expectUserRouteIntact()
}

// An A/B test that continues as a canary keeps the A/B route while the
// weights shift.
func TestABTestThenCanary(t *testing.T) {
	f := newFixture(t)
	f.create(f.withStrategy(f.rollout("web:1", "[]"), `{abTest: {matches: [{headers: {x-beta: {exact: "1"}}}], canarySteps: [{setWeight: 50}, {pause: {}}]}}`))
	f.waitHealthy(f.revisionOf("web:1"))
	v2 := f.setImage("web:2")
	f.waitStep(1, sluicev1.PhasePaused)
	_, order, _ := f.vs()
	f.g.Expect(order).To(Equal([]string{"admin", "sluice-abtest-primary", "primary"}))
	f.expectWeights(50, 50)
	f.action(sluicev1.AnnotationPromote)
	f.waitHealthy(v2)
	_, order, _ = f.vs()
	f.g.Expect(order).To(Equal([]string{"admin", "primary"}))
}

// Blue/green with a preview host and pre-promotion analysis on a real
// Prometheus: the preview route matches the preview host's authority while
// the analysis runs; it passes and the switch follows automatically.
func TestBlueGreenPreviewHostAndPrePromotionAnalysis(t *testing.T) {
	af := newAnalysisFixture(t, 3, 4, "1s")
	f := af.fixture
	ctx := context.Background()
	vs := &unstructured.Unstructured{}
	vs.SetAPIVersion("networking.istio.io/v1")
	vs.SetKind("VirtualService")
	f.g.Expect(env.Client.Get(ctx, keyOf(f.ns, "web"), vs)).To(Succeed())
	vs.Object["spec"].(map[string]any)["hosts"] = []any{"web", "preview.web.example.com"}
	f.g.Expect(env.Client.Update(ctx, vs)).To(Succeed())
	f.update(func(ro *sluicev1.Rollout) {
		ro.Spec.Strategy = sluicev1.RolloutStrategy{
			ScaleDownDelay: ro.Spec.Strategy.ScaleDownDelay,
			BlueGreen: &sluicev1.BlueGreenStrategy{
				Preview:              &sluicev1.MatchRoute{Host: "preview.web.example.com"},
				PrePromotionAnalysis: &sluicev1.AnalysisStep{Templates: []sluicev1.AnalysisTemplateRef{{Name: "error-rate"}}},
				AutoPromotionAfter:   ptr.To(sluicev1.Duration("0s")),
			},
		}
	})
	v1, v2 := f.revisionOf("web:1"), f.revisionOf("web:2")
	f.waitHealthy(v1)
	af.setRatio(v2, 0.01)
	f.setImage("web:2")

	f.waitFor("pre-promotion analysis running", func(ro *sluicev1.Rollout) bool {
		return len(ro.Status.Analysis) == 1 && ro.Status.Analysis[0].Kind == "PrePromotion"
	})
	preview := f.route("sluice-preview-primary")
	f.g.Expect(preview).NotTo(BeNil())
	f.g.Expect(preview["match"]).To(Equal([]any{map[string]any{"authority": map[string]any{"exact": "preview.web.example.com"}}}))
	f.g.Expect(*f.replicaSet(v2).Spec.Replicas).To(BeEquivalentTo(4), "previewReplicas defaults to full")
	f.expectWeights(100, 0)

	ro := f.waitHealthy(v2)
	f.g.Expect(ro.Status.Analysis[0].Phase).To(Equal(sluicev1.AnalysisSuccessful))
	f.g.Expect(f.route("sluice-preview-primary")).To(BeNil())
	f.expectWeights(100, 0)
}
