package e2e

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

// Each strategy end to end with the manager binary: v1 Healthy, v2 held at
// its gate with the strategy's mark on the VirtualService, promote, v2
// Healthy with the VirtualService back to plain stable routing.
func TestStrategiesEndToEnd(t *testing.T) {
	mgr := startManager(t)
	defer mgr.stop(syscall.SIGTERM)
	cases := []struct {
		name, strategy string
		gate           int32
		mark           func(g Gomega, http []any)
	}{
		{"canary", `{canary: {steps: [{setWeight: 30}, {pause: {}}]}}`, 1, func(g Gomega, http []any) {
			g.Expect(fmt.Sprint(http[0])).To(ContainSubstring("weight:30"))
		}},
		{"blueGreen", `{blueGreen: {previewReplicas: 1}}`, 1, func(g Gomega, http []any) {
			g.Expect(http[0].(map[string]any)["name"]).To(Equal("sluice-preview-primary"))
		}},
		{"abTest", `{abTest: {matches: [{headers: {x-beta: {exact: "1"}}}]}}`, 0, func(g Gomega, http []any) {
			g.Expect(http[0].(map[string]any)["name"]).To(Equal("sluice-abtest-primary"))
		}},
		{"darkLaunch", `{darkLaunch: {mirrorPercent: "25"}}`, 0, func(g Gomega, http []any) {
			g.Expect(http[0].(map[string]any)).To(HaveKey("mirror"))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			ns, err := env.CreateNamespace(ctx, "e2e-"+map[string]string{"canary": "c", "blueGreen": "bg", "abTest": "ab", "darkLaunch": "dl"}[tc.name])
			g.Expect(err).NotTo(HaveOccurred())
			ro := app(ctx, t, ns, "web", "web:1", 2, nil, "1s")
			var s sluicev1.RolloutStrategy
			g.Expect(yaml.Unmarshal([]byte(tc.strategy), &s)).To(Succeed())
			s.ScaleDownDelay = ro.Spec.Strategy.ScaleDownDelay
			ro.Spec.Strategy = s
			g.Expect(env.Client.Create(ctx, ro)).To(Succeed())

			get := func() *sluicev1.Rollout {
				out := &sluicev1.Rollout{}
				g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(ro), out)).To(Succeed())
				return out
			}
			http := func() []any {
				u := &unstructured.Unstructured{}
				u.SetAPIVersion("networking.istio.io/v1")
				u.SetKind("VirtualService")
				g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, u)).To(Succeed())
				h, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
				return h
			}
			healthyOn := func(rev string) func() bool {
				return func() bool {
					r := get()
					return r.Status.ObservedGeneration == r.Generation && r.Status.Phase == sluicev1.PhaseHealthy && r.Status.StableRevision == rev
				}
			}
			g.Eventually(healthyOn(revisionOf("web", "web:1")), 60*time.Second, 100*time.Millisecond).Should(BeTrue())
			cur := get()
			cur.Spec.Template.Spec.Containers[0].Image = "web:2"
			g.Expect(env.Client.Update(ctx, cur)).To(Succeed())
			g.Eventually(func() bool {
				r := get()
				return r.Status.Phase == sluicev1.PhasePaused && r.Status.CurrentStepIndex != nil && *r.Status.CurrentStepIndex == tc.gate
			}, 60*time.Second, 100*time.Millisecond).Should(BeTrue())
			tc.mark(g, http())

			annotate(ctx, g, ro, sluicev1.AnnotationPromote, "go")
			g.Eventually(healthyOn(revisionOf("web", "web:2")), 60*time.Second, 100*time.Millisecond).Should(BeTrue())
			h := http()
			g.Expect(h).To(HaveLen(1))
			g.Expect(h[0].(map[string]any)["name"]).To(Equal("primary"))
			g.Expect(h[0].(map[string]any)).NotTo(HaveKey("mirror"))
		})
	}
}
