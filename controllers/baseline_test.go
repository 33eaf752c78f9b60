package controllers_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

// With a baseline, a ReplicaSet of the stable template runs at the canary's
// size with its own subset and weight, and a comparison metric judges the
// canary against it with the statistical judge, on a real Prometheus: the
// canary's latency is five times the baseline's, so the rollout aborts.
func TestBaselineAndStatisticalJudge(t *testing.T) {
	af := newAnalysisFixture(t, 1, 4, "1s")
	f := af.fixture
	ctx := context.Background()
	// A DestinationRule with a baseline subset, and a comparison template.
	dr := &unstructured.Unstructured{}
	dr.SetAPIVersion("networking.istio.io/v1")
	dr.SetKind("DestinationRule")
	f.g.Expect(env.Client.Get(ctx, keyOf(f.ns, "web"), dr)).To(Succeed())
	subsets := dr.Object["spec"].(map[string]any)["subsets"].([]any)
	dr.Object["spec"].(map[string]any)["subsets"] = append(subsets, map[string]any{"name": "baseline"})
	f.g.Expect(env.Client.Update(ctx, dr)).To(Succeed())
	delay := sluicev1.Duration("3s")
	f.g.Expect(env.Client.Create(ctx, &sluicev1.AnalysisTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "latency", Namespace: f.ns},
		Spec: sluicev1.AnalysisTemplateSpec{Metrics: []sluicev1.Metric{{
			Name: "latency", InitialDelay: &delay,
			Comparison: &sluicev1.ComparisonMetric{
				PrometheusServer: sluicev1.PrometheusServer{Address: af.prom.URL},
				BaselineQuery:    `demo_error_ratio{revision="{{args.baseline-revision}}"}`,
				CanaryQuery:      `demo_error_ratio{revision="{{args.canary-revision}}"}`,
				Range:            sluicev1.QueryRange{Window: "6s", Step: "1s"},
				Direction:        "Increase",
				Critical:         true,
			},
		}}},
	})).To(Succeed())
	f.update(func(ro *sluicev1.Rollout) {
		ro.Spec.Strategy.Canary.Baseline = true
		ro.Spec.Strategy.Canary.Steps[1].Analysis.Templates[0].Name = "latency"
		ro.Spec.Traffic.Istio.DestinationRule.BaselineSubset = "baseline"
	})
	v1, v2 := f.revisionOf("web:1"), f.revisionOf("web:2")
	base := v1 + "-baseline"
	f.waitHealthy(v1)
	af.setRatio(base, 0.1)
	af.setRatio(v2, 0.5)
	time.Sleep(6 * time.Second) // a window's worth of samples on both sides
	f.setImage("web:2")

	ro := f.waitFor("analysing", func(ro *sluicev1.Rollout) bool {
		return len(ro.Status.Analysis) == 1 && ro.Status.Analysis[0].Phase != sluicev1.AnalysisFailed
	})
	f.g.Expect(ro.Status.Analysis[0].Name).To(Equal("web-" + v2 + "-step1"))
	w := f.weights()
	f.g.Expect(w).To(Equal(map[string]int64{"stable": 60, "canary": 20, "baseline": 20}))
	f.g.Expect(f.subsets()).To(Equal(map[string]string{"stable": v1, "canary": v2, "baseline": base}))
	rs := f.replicaSet(base)
	f.g.Expect(*rs.Spec.Replicas).To(BeEquivalentTo(1), "the baseline is sized like the canary")
	f.g.Expect(rs.Spec.Template.Labels[sluicev1.LabelRole]).To(Equal(sluicev1.RoleBaseline))
	f.g.Expect(rs.Spec.Template.Labels[sluicev1.LabelCanonicalRevision]).To(Equal(base))
	f.g.Expect(rs.Spec.Template.Spec.Containers[0].Image).To(Equal("web:1"), "the baseline runs the stable template")

	ro = f.waitFor("judged and aborted", func(ro *sluicev1.Rollout) bool { return ro.Status.Phase == sluicev1.PhaseDegraded })
	c := meta.FindStatusCondition(ro.Status.Conditions, sluicev1.ConditionAborted)
	f.g.Expect(c.Reason).To(Equal("AnalysisFailed"))
	f.g.Expect(c.Message).To(ContainSubstring("latency"))
	run := &sluicev1.AnalysisRun{}
	f.g.Expect(env.Client.Get(ctx, keyOf(f.ns, "web-"+v2+"-step1"), run)).To(Succeed())
	f.g.Expect(run.Status.Score).To(Equal(ptr.To[int32](0)), "a critical failure scores 0")
	f.expectWeights(100, 0)
	f.g.Expect(f.weights()["baseline"]).To(BeEquivalentTo(0))
	f.waitReplicas(base, 0)
	f.waitReplicas(v2, 0)
}
