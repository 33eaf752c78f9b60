package controllers_test

import (
	"context"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

func (f *fixture) withStrategy(ro *sluicev1.Rollout, doc string) *sluicev1.Rollout {
	var s sluicev1.RolloutStrategy
	f.g.Expect(yaml.Unmarshal([]byte(doc), &s)).To(Succeed())
	s.ScaleDownDelay = ro.Spec.Strategy.ScaleDownDelay
	ro.Spec.Strategy = s
	return ro
}

// route returns a route of the VirtualService by name.
func (f *fixture) route(name string) map[string]any {
	routes, _, _ := f.vs()
	return routes[name]
}

func destinations(route map[string]any) map[string]int64 {
	out := map[string]int64{}
	for _, d := range route["route"].([]any) {
		m := d.(map[string]any)
		s, _, _ := unstructured.NestedString(m, "destination", "subset")
		w, ok, _ := unstructured.NestedInt64(m, "weight")
		if !ok {
			w = 100
		}
		out[s] = w
	}
	return out
}

// Blue/green: green comes up at previewReplicas with no live traffic and a
// preview route above the named route; promote switches all traffic in one
// patch; green then gets full scale and blue stays up for scaleDownDelay.
func TestBlueGreen(t *testing.T) {
	f := newFixture(t)
	f.create(f.withStrategy(f.rollout("web:1", "[]"), `{blueGreen: {previewReplicas: 1}}`))
	v1 := f.revisionOf("web:1")
	f.waitHealthy(v1)
	v2 := f.setImage("web:2")

	ro := f.waitStep(1, sluicev1.PhasePaused)
	f.g.Expect(ro.Status.Strategy).To(Equal("blueGreen"))
	_, order, _ := f.vs()
	f.g.Expect(order).To(Equal([]string{"admin", "sluice-preview-primary", "primary"}))
	preview := f.route("sluice-preview-primary")
	f.g.Expect(preview["match"]).To(Equal([]any{map[string]any{"headers": map[string]any{"x-sluice-preview": map[string]any{"exact": "true"}}}}))
	f.g.Expect(destinations(preview)).To(Equal(map[string]int64{"canary": 100}))
	f.expectWeights(100, 0)
	f.g.Expect(*f.replicaSet(v2).Spec.Replicas).To(BeEquivalentTo(1))
	f.g.Expect(f.subsets()).To(Equal(map[string]string{"stable": v1, "canary": v2}))
	f.expectUserRouteIntact()

	f.action(sluicev1.AnnotationPromote)
	ro = f.waitHealthy(v2)
	f.expectWeights(100, 0)
	f.g.Expect(f.subsets()["stable"]).To(Equal(v2))
	_, order, _ = f.vs()
	f.g.Expect(order).To(Equal([]string{"admin", "primary"}), "the preview route is removed on promotion")
	f.g.Expect(*f.replicaSet(v2).Spec.Replicas).To(BeEquivalentTo(4))
	f.g.Expect(*f.replicaSet(v1).Spec.Replicas).To(BeEquivalentTo(4), "blue stays up for scaleDownDelay")
	f.g.Expect(ro.Status.PreviousRevision.Revision).To(Equal(v1))
	f.waitReplicas(v1, 0)
	f.expectUserRouteIntact()
}

// A/B test: matching requests go 100% to the new revision through a route
// inserted directly above the named route, inheriting its retries and
// timeout, with the named route's own match ANDed in; abort removes it.
func TestABTest(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	vs := &unstructured.Unstructured{}
	vs.SetAPIVersion("networking.istio.io/v1")
	vs.SetKind("VirtualService")
	f.g.Expect(env.Client.Get(ctx, keyOf(f.ns, "web"), vs)).To(Succeed())
	http := vs.Object["spec"].(map[string]any)["http"].([]any)
	primary := http[1].(map[string]any)
	primary["timeout"] = "3s"
	primary["retries"] = map[string]any{"attempts": int64(2), "perTryTimeout": "1s"}
	primary["match"] = []any{map[string]any{"uri": map[string]any{"prefix": "/"}}}
	f.g.Expect(env.Client.Update(ctx, vs)).To(Succeed())

	f.create(f.withStrategy(f.rollout("web:1", "[]"), `{abTest: {matches: [{headers: {x-beta: {exact: "1"}}}, {cookie: {name: beta, value: "yes"}}], steps: [{pause: {}}]}}`))
	v1 := f.revisionOf("web:1")
	f.waitHealthy(v1)
	v2 := f.setImage("web:2")
	f.waitStep(0, sluicev1.PhasePaused)

	_, order, _ := f.vs()
	f.g.Expect(order).To(Equal([]string{"admin", "sluice-abtest-primary", "primary"}))
	ab := f.route("sluice-abtest-primary")
	f.g.Expect(ab["timeout"]).To(Equal("3s"))
	f.g.Expect(ab["retries"]).To(Equal(map[string]any{"attempts": int64(2), "perTryTimeout": "1s"}))
	f.g.Expect(ab["match"]).To(HaveLen(2), "base match × two A/B matches")
	for _, m := range ab["match"].([]any) {
		f.g.Expect(m.(map[string]any)["uri"]).To(Equal(map[string]any{"prefix": "/"}), "the base route's match is kept in every A/B match")
	}
	f.g.Expect(fmt.Sprint(ab["match"])).To(ContainSubstring("x-beta"))
	f.g.Expect(fmt.Sprint(ab["match"])).To(ContainSubstring("beta=yes"))
	f.g.Expect(destinations(ab)).To(Equal(map[string]int64{"canary": 100}))
	f.expectWeights(100, 0)
	f.g.Expect(*f.replicaSet(v2).Spec.Replicas).To(BeEquivalentTo(4))

	f.action(sluicev1.AnnotationAbort)
	f.waitFor("aborted", func(ro *sluicev1.Rollout) bool { return ro.Status.Phase == sluicev1.PhaseDegraded })
	_, order, _ = f.vs()
	f.g.Expect(order).To(Equal([]string{"admin", "primary"}), "abort removes the A/B route")
	f.waitReplicas(v2, 0)
	f.expectUserRouteIntact()
}

// Dark launch: live traffic of the named route is mirrored to the new
// revision; users stay on stable; promotion removes the mirror.
func TestDarkLaunch(t *testing.T) {
	f := newFixture(t)
	f.create(f.withStrategy(f.rollout("web:1", "[]"), `{darkLaunch: {mirrorPercent: "12.5"}}`))
	v1 := f.revisionOf("web:1")
	f.waitHealthy(v1)
	v2 := f.setImage("web:2")
	ro := f.waitStep(0, sluicev1.PhasePaused)
	f.g.Expect(ro.Status.Weights.Mirror).To(Equal("12.5"))

	primary := f.route("primary")
	f.g.Expect(primary["mirror"]).To(Equal(map[string]any{"host": "web", "subset": "canary"}))
	f.g.Expect(primary["mirrorPercentage"]).To(Equal(map[string]any{"value": 12.5}))
	f.expectWeights(100, 0)

	f.action(sluicev1.AnnotationPromote)
	f.waitHealthy(v2)
	primary = f.route("primary")
	f.g.Expect(primary).NotTo(HaveKey("mirror"))
	f.g.Expect(primary).NotTo(HaveKey("mirrorPercentage"))
	f.expectWeights(100, 0)
	f.expectUserRouteIntact()

	// Abort removes the mirror too.
	v3 := f.setImage("web:3")
	f.waitStep(0, sluicev1.PhasePaused)
	f.g.Expect(f.route("primary")).To(HaveKey("mirror"))
	f.action(sluicev1.AnnotationAbort)
	f.waitFor("aborted", func(ro *sluicev1.Rollout) bool { return ro.Status.Phase == sluicev1.PhaseDegraded })
	f.g.Expect(f.route("primary")).NotTo(HaveKey("mirror"))
	f.g.Expect(f.route("primary")).NotTo(HaveKey("mirrorPercentage"))
	f.waitReplicas(v3, 0)
	f.expectUserRouteIntact()
}

// Blue/green with post-promotion analysis driven by a real Prometheus: the
// switch happens, the analysis fails, and traffic switches back to blue,
// which was kept at full scale.
func TestBlueGreenSwitchesBackOnFailedPostPromotionAnalysis(t *testing.T) {
	af := newAnalysisFixture(t, 2, 4, "1s")
	f := af.fixture
	// Replace the canary Rollout of the analysis fixture by a blue/green one.
	f.update(func(ro *sluicev1.Rollout) {
		ro.Spec.Strategy = sluicev1.RolloutStrategy{
			ScaleDownDelay: ro.Spec.Strategy.ScaleDownDelay,
			BlueGreen: &sluicev1.BlueGreenStrategy{
				PreviewReplicas:       ptr.To[int32](1),
				AutoPromotionAfter:    ptr.To(sluicev1.Duration("0s")),
				PostPromotionAnalysis: &sluicev1.AnalysisStep{Templates: []sluicev1.AnalysisTemplateRef{{Name: "error-rate"}}},
			},
		}
	})
	v1, v2 := f.revisionOf("web:1"), f.revisionOf("web:2")
	f.waitHealthy(v1)
	af.setRatio(v2, 0.5)
	f.setImage("web:2")

	// The switch: all traffic on green while blue keeps full scale.
	f.g.Eventually(f.weights, timeout, poll).Should(Equal(map[string]int64{"stable": 0, "canary": 100}))
	f.g.Expect(*f.replicaSet(v1).Spec.Replicas).To(BeEquivalentTo(4))

	ro := f.waitFor("switched back", func(ro *sluicev1.Rollout) bool { return ro.Status.Phase == sluicev1.PhaseDegraded })
	c := meta.FindStatusCondition(ro.Status.Conditions, sluicev1.ConditionAborted)
	f.g.Expect(c.Reason).To(Equal("PostPromotionAnalysisFailed"))
	f.g.Expect(c.Message).To(ContainSubstring(`metric "error-rate"`))
	f.expectWeights(100, 0)
	f.g.Expect(ro.Status.StableRevision).To(Equal(v1))
	f.g.Expect(*f.replicaSet(v1).Spec.Replicas).To(BeEquivalentTo(4))
	f.waitReplicas(v2, 0)
	run := &sluicev1.AnalysisRun{}
	f.g.Expect(env.Client.Get(context.Background(), keyOf(f.ns, "web-"+v2+"-postpromotion"), run)).To(Succeed())
	f.g.Expect(run.Status.Phase).To(Equal(sluicev1.AnalysisFailed))
	_ = metav1.Now
}
