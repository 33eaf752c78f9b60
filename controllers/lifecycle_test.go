package controllers_test

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

// A Rollout naming a VirtualService that does not exist, or a route the
// VirtualService lacks, stalls with a message that names the object and the
// fix; fixing the object lets it continue without a restart.
func TestMissingTrafficObjectsStall(t *testing.T) {
	f := newFixture(t)
	ro := f.rollout("web:1", canarySteps)
	ro.Spec.Traffic.Istio.VirtualServices[0].Name = "missing"
	f.create(ro)
	got := f.waitFor("stalled", func(ro *sluicev1.Rollout) bool {
		return meta.IsStatusConditionTrue(ro.Status.Conditions, sluicev1.ConditionStalled)
	})
	c := meta.FindStatusCondition(got.Status.Conditions, sluicev1.ConditionStalled)
	f.g.Expect(c.Message).To(ContainSubstring("missing"))
	f.g.Expect(c.Message).To(ContainSubstring("spec.traffic.istio.virtualServices[0]"))
	f.g.Expect(got.Status.Phase).To(Equal(sluicev1.PhaseDegraded))

	// Point it at the real VirtualService but a route it does not have.
	f.update(func(ro *sluicev1.Rollout) {
		ro.Spec.Traffic.Istio.VirtualServices[0] = sluicev1.VirtualServiceRef{Name: "web", Routes: []string{"nope"}}
	})
	got = f.waitFor("route not found", func(ro *sluicev1.Rollout) bool {
		c := meta.FindStatusCondition(ro.Status.Conditions, sluicev1.ConditionStalled)
		return c != nil && c.Status == "True" && strings.Contains(c.Message, `"nope"`)
	})
	f.g.Expect(meta.FindStatusCondition(got.Status.Conditions, sluicev1.ConditionStalled).Message).To(ContainSubstring("primary"), "the message lists the routes that exist")

	f.update(func(ro *sluicev1.Rollout) { ro.Spec.Traffic.Istio.VirtualServices[0].Routes = []string{"primary"} })
	f.waitHealthy(f.revisionOf("web:1"))
	f.expectWeights(100, 0)
}

// Deleting a Rollout mid-rollout returns the named routes to stable before
// the Rollout and its ReplicaSets go.
func TestDeleteMidRolloutRestoresTraffic(t *testing.T) {
	f := newFixture(t)
	ro := f.rollout("web:1", canarySteps)
	ro.Spec.Strategy.Canary.TestRoute = &sluicev1.MatchRoute{Matches: []sluicev1.HTTPMatch{{Headers: map[string]sluicev1.StringMatch{"x-canary": {Exact: ptrTo("1")}}}}}
	f.create(ro)
	f.waitHealthy(f.revisionOf("web:1"))
	f.setImage("web:2")
	f.waitStep(1, sluicev1.PhasePaused)
	f.expectWeights(90, 10)
	_, order, _ := f.vs()
	f.g.Expect(order).To(Equal([]string{"admin", "sluice-test-primary", "primary"}), "the test route sits directly above the route it tests")

	f.g.Expect(env.Client.Delete(context.Background(), f.get())).To(Succeed())
	f.g.Eventually(func() bool {
		err := env.Client.Get(context.Background(), keyOf(f.ns, "web"), &sluicev1.Rollout{})
		return apierrors.IsNotFound(err)
	}, timeout, poll).Should(BeTrue())
	f.expectWeights(100, 0)
	_, order, _ = f.vs()
	f.g.Expect(order).To(Equal([]string{"admin", "primary"}), "every route sluice inserted is removed")
	f.expectUserRouteIntact()
}

func ptrTo[T any](v T) *T { return &v }
