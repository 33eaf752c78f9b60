package controllers_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"

	. "github.com/onsi/gomega"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

const canarySteps = `
- setWeight: 10
- pause: {}
- setWeight: 50
- pause: {duration: 2s}
`

// A full canary 10 → 50 → 100 with an untimed and a timed pause: the
// VirtualService and DestinationRule are asserted after every step, and the
// user's own route is untouched throughout.
func TestCanaryFullRollout(t *testing.T) {
	f := newFixture(t)
	f.create(f.rollout("web:1", canarySteps))
	v1 := f.revisionOf("web:1")

	ro := f.waitHealthy(v1)
	f.expectWeights(100, 0)
	f.g.Expect(f.subsets()["stable"]).To(Equal(v1))
	f.g.Expect(ro.Status.Strategy).To(Equal("canary"))
	f.g.Expect(meta.IsStatusConditionTrue(ro.Status.Conditions, sluicev1.ConditionReady)).To(BeTrue())
	f.g.Expect(f.readyPods(v1)).To(Equal(4))
	f.expectUserRouteIntact()

	v2 := f.setImage("web:2")

	// Step 0: 10% to the canary, which has ceil(10% of 4) = 1 pod.
	// Step 1: pause until promoted; traffic holds.
	ro = f.waitStep(1, sluicev1.PhasePaused)
	f.expectWeights(90, 10)
	f.g.Expect(f.subsets()).To(Equal(map[string]string{"stable": v1, "canary": v2}))
	f.g.Expect(ro.Status.CanaryRevision).To(Equal(v2))
	f.g.Expect(ro.Status.Weights.Canary).To(BeEquivalentTo(10))
	f.g.Expect(*f.replicaSet(v2).Spec.Replicas).To(BeEquivalentTo(1))
	f.g.Expect(*f.replicaSet(v1).Spec.Replicas).To(BeEquivalentTo(4), "stable keeps full capacity")
	f.g.Expect(meta.IsStatusConditionTrue(ro.Status.Conditions, sluicev1.ConditionPaused)).To(BeTrue())
	f.expectUserRouteIntact()

	// A stale promote bound to another step does nothing.
	f.annotate(sluicev1.AnnotationPromote, "step=3;stale")
	f.waitFor("stale promote recorded", func(ro *sluicev1.Rollout) bool { return ro.Status.HandledActions.Promote == "step=3;stale" })
	f.g.Expect(*f.get().Status.CurrentStepIndex).To(BeEquivalentTo(1))

	f.action(sluicev1.AnnotationPromote)
	// Step 2: 50%, canary at 2 pods; step 3: a 2s pause that ends by itself.
	ro = f.waitFor("step 3 timed pause", func(ro *sluicev1.Rollout) bool {
		return ro.Status.CurrentStepIndex != nil && *ro.Status.CurrentStepIndex == 3
	})
	f.expectWeights(50, 50)
	f.g.Expect(*f.replicaSet(v2).Spec.Replicas).To(BeEquivalentTo(2))
	f.g.Expect(ro.Status.StepReadyAt).NotTo(BeNil())

	ro = f.waitHealthy(v2)
	f.expectWeights(100, 0)
	f.g.Expect(f.subsets()["stable"]).To(Equal(v2), "the stable subset selects the promoted revision")
	f.g.Expect(ro.Status.PreviousRevision).NotTo(BeNil())
	f.g.Expect(ro.Status.PreviousRevision.Revision).To(Equal(v1))
	f.g.Expect(ro.Status.History[0].Outcome).To(Equal("Promoted"))
	f.g.Expect(ro.Status.History[0].Revision).To(Equal(v2))
	f.g.Expect(*f.replicaSet(v1).Spec.Replicas).To(BeEquivalentTo(4), "old revision stays up for scaleDownDelay")
	f.g.Expect(f.replicaSet(v2).Labels[sluicev1.LabelRole]).To(Equal(sluicev1.RoleStable))
	f.expectUserRouteIntact()

	// After scaleDownDelay (2s) the old revision scales to zero.
	f.waitReplicas(v1, 0)
	f.waitFor("previous revision cleared", func(ro *sluicev1.Rollout) bool { return ro.Status.PreviousRevision == nil })
}

// Abort at each step returns 100% to stable before the canary scales down:
// the VirtualService write that restores stable has a lower etcd revision
// than the ReplicaSet write that scales the canary to zero.
func TestAbortAtEachStep(t *testing.T) {
	for _, at := range []int32{1, 3} {
		t.Run("step "+strconv.Itoa(int(at)), func(t *testing.T) {
			f := newFixture(t)
			f.create(f.rollout("web:1", `
- setWeight: 20
- pause: {}
- setWeight: 60
- pause: {}
`))
			v1 := f.revisionOf("web:1")
			f.waitHealthy(v1)
			v2 := f.setImage("web:2")
			f.waitStep(1, sluicev1.PhasePaused)
			if at == 3 {
				f.action(sluicev1.AnnotationPromote)
				f.waitStep(3, sluicev1.PhasePaused)
				f.expectWeights(40, 60)
			}
			f.action(sluicev1.AnnotationAbort)
			ro := f.waitFor("aborted", func(ro *sluicev1.Rollout) bool { return ro.Status.Phase == sluicev1.PhaseDegraded })
			f.waitReplicas(v2, 0)
			f.expectWeights(100, 0)
			_, _, vsVersion := f.vs()
			rsVersion := f.replicaSet(v2).ResourceVersion
			f.g.Expect(etcdRevision(vsVersion)).To(BeNumerically("<", etcdRevision(rsVersion)), "traffic must leave the canary before its pods do")

			f.g.Expect(ro.Status.AbortedRevision).To(Equal(v2))
			f.g.Expect(ro.Status.StableRevision).To(Equal(v1))
			c := meta.FindStatusCondition(ro.Status.Conditions, sluicev1.ConditionAborted)
			f.g.Expect(c).NotTo(BeNil())
			f.g.Expect(c.Reason).To(Equal("AbortedByUser"))
			f.g.Expect(meta.IsStatusConditionTrue(ro.Status.Conditions, sluicev1.ConditionReady)).To(BeFalse())
			f.g.Expect(ro.Status.History[0].Outcome).To(Equal("Aborted"))
			f.expectUserRouteIntact()

			// Retry runs the same revision from step 0 again.
			f.action(sluicev1.AnnotationRetry)
			ro = f.waitStep(1, sluicev1.PhasePaused)
			f.g.Expect(ro.Status.CanaryRevision).To(Equal(v2))
			f.g.Expect(ro.Status.AbortedRevision).To(BeEmpty())
			f.expectWeights(80, 20)
		})
	}
}

func etcdRevision(rv string) int64 {
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil {
		panic(err)
	}
	return n
}

// A template change mid-rollout restarts the plan with the newest revision
// and removes the abandoned canary.
func TestTemplateChangeMidRollout(t *testing.T) {
	f := newFixture(t)
	f.create(f.rollout("web:1", canarySteps))
	v1 := f.revisionOf("web:1")
	f.waitHealthy(v1)
	v2 := f.setImage("web:2")
	f.waitStep(1, sluicev1.PhasePaused)

	v3 := f.setImage("web:3")
	ro := f.waitFor("restarted on v3", func(ro *sluicev1.Rollout) bool {
		return ro.Status.CanaryRevision == v3 && ro.Status.Phase == sluicev1.PhasePaused && *ro.Status.CurrentStepIndex == 1
	})
	f.waitReplicas(v2, 0)
	f.expectWeights(90, 10)
	f.g.Expect(f.subsets()).To(Equal(map[string]string{"stable": v1, "canary": v3}))
	f.g.Expect(ro.Status.History[0].Outcome).To(Equal("Superseded"))
	f.g.Expect(ro.Status.History[0].Revision).To(Equal(v2))
}

// Setting the template back to the stable revision is a fast rollback with
// no steps.
func TestFastRollback(t *testing.T) {
	f := newFixture(t)
	f.create(f.rollout("web:1", canarySteps))
	v1 := f.revisionOf("web:1")
	f.waitHealthy(v1)
	v2 := f.setImage("web:2")
	f.waitStep(1, sluicev1.PhasePaused)
	f.expectWeights(90, 10)

	f.setImage("web:1")
	ro := f.waitHealthy(v1)
	f.waitReplicas(v2, 0)
	f.expectWeights(100, 0)
	f.g.Expect(ro.Status.History[0].Outcome).To(Equal("RolledBack"))
	f.g.Expect(ro.Status.CurrentStepIndex).To(BeNil())
}

// Pods that never become ready keep the canary at weight 0 and, past
// progressDeadlineSeconds, abort the rollout.
func TestReadinessGatesTrafficAndDeadlineAborts(t *testing.T) {
	f := newFixture(t)
	ro := f.rollout("web:1", canarySteps)
	ro.Spec.ProgressDeadlineSeconds = ptr.To[int32](4)
	f.create(ro)
	v1 := f.revisionOf("web:1")
	f.waitHealthy(v1)

	// No node called nowhere exists: these pods stay Pending.
	f.update(func(ro *sluicev1.Rollout) {
		ro.Spec.Template.Spec.Containers[0].Image = "web:broken"
		ro.Spec.Template.Spec.NodeName = "nowhere"
	})
	f.waitFor("waiting for canary pods", func(ro *sluicev1.Rollout) bool {
		return ro.Status.CanaryRevision != "" && ro.Status.Phase == sluicev1.PhaseProgressing
	})
	f.expectWeights(100, 0)
	ro = f.waitFor("deadline abort", func(ro *sluicev1.Rollout) bool { return ro.Status.Phase == sluicev1.PhaseDegraded })
	c := meta.FindStatusCondition(ro.Status.Conditions, sluicev1.ConditionAborted)
	f.g.Expect(c).NotTo(BeNil())
	f.g.Expect(c.Reason).To(Equal("ProgressDeadlineExceeded"))
	f.expectWeights(100, 0)
}

// pause and resume through spec.paused; promote-full skips to the end.
func TestPauseResumeAndPromoteFull(t *testing.T) {
	f := newFixture(t)
	f.create(f.rollout("web:1", `
- setWeight: 10
- pause: {duration: 1h}
- setWeight: 50
- pause: {}
`))
	v1 := f.revisionOf("web:1")
	f.waitHealthy(v1)
	v2 := f.setImage("web:2")
	f.waitFor("timed pause", func(ro *sluicev1.Rollout) bool {
		return ro.Status.CurrentStepIndex != nil && *ro.Status.CurrentStepIndex == 1
	})

	f.update(func(ro *sluicev1.Rollout) { ro.Spec.Paused = true })
	f.waitStep(1, sluicev1.PhasePaused)
	f.update(func(ro *sluicev1.Rollout) { ro.Spec.Paused = false })
	f.waitStep(1, sluicev1.PhaseProgressing)

	f.action(sluicev1.AnnotationPromoteFull)
	f.waitHealthy(v2)
	f.expectWeights(100, 0)
}

// Another writer's change to a managed weight is put back within one
// reconcile, because sluice watches the VirtualServices it names.
func TestDriftedWeightIsRestored(t *testing.T) {
	f := newFixture(t)
	f.create(f.rollout("web:1", canarySteps))
	f.waitHealthy(f.revisionOf("web:1"))
	f.setImage("web:2")
	f.waitStep(1, sluicev1.PhasePaused)

	u, _, _ := f.vs()
	_ = u
	vs := obj(`{}`)
	vs.SetAPIVersion("networking.istio.io/v1")
	vs.SetKind("VirtualService")
	f.g.Expect(env.Client.Get(context.Background(), keyOf(f.ns, "web"), vs)).To(Succeed())
	http := vs.Object["spec"].(map[string]any)["http"].([]any)
	for _, d := range http[1].(map[string]any)["route"].([]any) {
		d.(map[string]any)["weight"] = int64(50)
	}
	f.g.Expect(env.Client.Update(context.Background(), vs)).To(Succeed())
	f.g.Eventually(f.weights, 10*time.Second, poll).Should(Equal(map[string]int64{"stable": 90, "canary": 10}))
	f.expectUserRouteIntact()
}
