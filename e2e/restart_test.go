package e2e

import (
	"context"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

// A manager killed mid-step (SIGKILL: no clean shutdown, the Lease is left
// to expire) is replaced by a new one that continues exactly where the old
// one stopped: same step, same canary ReplicaSet, no repeated transitions,
// and the rollout completes with one history entry.
func TestRestartContinuesMidStep(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns, err := env.CreateNamespace(ctx, "restart")
	g.Expect(err).NotTo(HaveOccurred())
	steps := []sluicev1.Step{
		{SetWeight: ptr.To[int32](25)}, {Pause: &sluicev1.PauseStep{}},
		{SetWeight: ptr.To[int32](50)}, {Pause: &sluicev1.PauseStep{}},
	}
	ro := app(ctx, t, ns, "web", "web:1", 4, steps, "1s")
	g.Expect(env.Client.Create(ctx, ro)).To(Succeed())

	mgr := startManager(t)
	get := func() *sluicev1.Rollout {
		out := &sluicev1.Rollout{}
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(ro), out)).To(Succeed())
		return out
	}
	at := func(step int32, phase sluicev1.RolloutPhase) func() bool {
		return func() bool {
			r := get()
			return r.Status.ObservedGeneration == r.Generation && r.Status.Phase == phase &&
				r.Status.CurrentStepIndex != nil && *r.Status.CurrentStepIndex == step
		}
	}
	v1, v2 := revisionOf("web", "web:1"), revisionOf("web", "web:2")
	g.Eventually(func() sluicev1.RolloutPhase { return get().Status.Phase }, 60*time.Second, 100*time.Millisecond).Should(Equal(sluicev1.PhaseHealthy))

	cur := get()
	cur.Spec.Template.Spec.Containers[0].Image = "web:2"
	g.Expect(env.Client.Update(ctx, cur)).To(Succeed())
	g.Eventually(at(1, sluicev1.PhasePaused), 60*time.Second, 100*time.Millisecond).Should(BeTrue())
	before := get().Status
	canary := &appsv1.ReplicaSet{}
	g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web-" + v2}, canary)).To(Succeed())

	mgr.stop(syscall.SIGKILL)
	mgr = startManager(t)
	defer mgr.stop(syscall.SIGTERM)

	// Wait for the new leader to act: promote, and see step 3.
	annotate(ctx, g, ro, sluicev1.AnnotationPromote, "after-restart")
	g.Eventually(at(3, sluicev1.PhasePaused), 90*time.Second, 100*time.Millisecond).Should(BeTrue())
	after := get().Status
	g.Expect(after.CanaryRevision).To(Equal(before.CanaryRevision))
	g.Expect(after.StableRevision).To(Equal(v1))
	g.Expect(after.Weights.Canary).To(BeEquivalentTo(50))
	again := &appsv1.ReplicaSet{}
	g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web-" + v2}, again)).To(Succeed())
	g.Expect(again.UID).To(Equal(canary.UID), "the canary ReplicaSet is the same one, not recreated")

	annotate(ctx, g, ro, sluicev1.AnnotationPromote, "finish")
	g.Eventually(func() bool {
		r := get()
		return r.Status.Phase == sluicev1.PhaseHealthy && r.Status.StableRevision == v2
	}, 60*time.Second, 100*time.Millisecond).Should(BeTrue())
	final := get().Status
	g.Expect(final.History).To(HaveLen(1))
	g.Expect(final.History[0].Outcome).To(Equal("Promoted"))
	g.Expect(final.History[0].Revision).To(Equal(v2))

	// The metrics endpoint reports the phase and the transitions.
	g.Eventually(func() string { return mgr.metrics() }, 10*time.Second, 200*time.Millisecond).Should(And(
		ContainSubstring(`sluice_rollout_phase{name="web",namespace="`+ns+`",phase="Healthy"} 1`),
		MatchRegexp(`sluice_rollout_step_transitions_total\{kind="Promoted",strategy="canary"\} [1-9]`),
		ContainSubstring("sluice_rollout_reconcile_duration_seconds_bucket"),
		MatchRegexp(`sluice_api_writes_total\{resource="virtualservices",verb="PATCH"\} [1-9]`),
	))

	// Each transition happened once across both managers.
	var evs eventsv1.EventList
	g.Expect(env.Client.List(ctx, &evs, client.InNamespace(ns))).To(Succeed())
	count := map[string]int{}
	for _, e := range evs.Items {
		if e.Regarding.Name == "web" && e.Regarding.Kind == "Rollout" {
			count[e.Reason] += max(1, int(e.DeprecatedCount))
		}
	}
	g.Expect(count["Started"]).To(Equal(1), "events: %v", count)
	g.Expect(count["Promoted"]).To(Equal(1), "events: %v", count)
	g.Expect(count["StepCompleted"]).To(Equal(4), "events: %v", count)
}

func annotate(ctx context.Context, g Gomega, ro *sluicev1.Rollout, key, value string) {
	g.Eventually(func() error {
		cur := &sluicev1.Rollout{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ro), cur); err != nil {
			return err
		}
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		cur.Annotations[key] = value
		return env.Client.Update(ctx, cur)
	}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
}
