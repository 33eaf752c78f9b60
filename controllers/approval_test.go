package controllers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

func (f *fixture) approval(name, revision string, step int32, decision sluicev1.ApprovalDecision, user string, groups ...string) {
	f.t.Helper()
	ro := f.get()
	a := &sluicev1.Approval{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns},
		Spec: sluicev1.ApprovalSpec{
			RolloutRef: sluicev1.RolloutReference{Name: ro.Name, UID: string(ro.UID)},
			Revision:   revision, Step: step, Decision: decision, Reason: "checked the dashboards",
			Approver: sluicev1.ApproverIdentity{Channel: sluicev1.ChannelKubectl, Username: user, Groups: groups},
		},
	}
	f.g.Expect(env.Client.Create(context.Background(), a)).To(Succeed())
}

// An approval gate passes only on enough Approvals from allowed people for
// this revision and step; promote does not pass it; a rejection aborts.
func TestApprovalGate(t *testing.T) {
	f := newFixture(t)
	f.create(f.rollout("web:1", `
- setWeight: 10
- approval: {approvers: {users: [alice], groups: [release-managers]}, minApprovals: 2}
- setWeight: 50
- approval: {approvers: {users: [alice]}}
`))
	f.waitHealthy(f.revisionOf("web:1"))
	v2 := f.setImage("web:2")
	f.waitStep(1, sluicev1.PhasePaused)

	f.action(sluicev1.AnnotationPromote)
	f.action(sluicev1.AnnotationPromoteFull)
	time.Sleep(time.Second)
	f.g.Expect(*f.get().Status.CurrentStepIndex).To(BeEquivalentTo(1), "neither promote nor promote-full passes an approval gate")

	f.approval("mallory", v2, 1, sluicev1.DecisionApprove, "mallory")         // not allowed
	f.approval("old-rev", "0000000000", 1, sluicev1.DecisionApprove, "alice") // another revision
	f.approval("other-step", v2, 3, sluicev1.DecisionApprove, "alice")        // another step
	f.approval("alice", v2, 1, sluicev1.DecisionApprove, "alice")
	ro := f.waitFor("one of two approvals", func(ro *sluicev1.Rollout) bool { return len(ro.Status.Approvals) == 1 })
	f.g.Expect(ro.Status.Message).To(ContainSubstring("1 of 2 approvals"))
	f.g.Expect(*ro.Status.CurrentStepIndex).To(BeEquivalentTo(1))
	f.g.Expect(ro.Status.Approvals[0].Approver).To(Equal("alice"))
	f.g.Expect(ro.Status.Approvals[0].Channel).To(Equal(sluicev1.ChannelKubectl))
	f.g.Expect(ro.Status.Approvals[0].Comment).To(Equal("checked the dashboards"))

	f.approval("bob", v2, 1, sluicev1.DecisionApprove, "bob", "release-managers")
	// Step 3's gate was already approved by alice ("other-step" above): it
	// did not count at step 1, and counts now; promote-full (requested
	// above) carries the rollout through to promotion.
	ro = f.waitHealthy(v2)
	f.g.Expect(ro.Status.History[0].Outcome).To(Equal("Promoted"))

	// A rejection aborts.
	v3 := f.setImage("web:3")
	f.waitStep(1, sluicev1.PhasePaused)
	f.g.Expect(f.get().Status.Approvals).To(BeEmpty(), "a new revision starts with no decisions")
	f.approval("alice-rejects", v3, 1, sluicev1.DecisionReject, "alice")
	ro = f.waitFor("rejected", func(ro *sluicev1.Rollout) bool { return ro.Status.Phase == sluicev1.PhaseDegraded })
	c := meta.FindStatusCondition(ro.Status.Conditions, sluicev1.ConditionAborted)
	f.g.Expect(c.Reason).To(Equal("Rejected"))
	f.g.Expect(c.Message).To(ContainSubstring(fmt.Sprintf("step %d rejected by alice", 1)))
	f.expectWeights(100, 0)

	// A retry is a new attempt: alice's earlier rejection does not abort
	// it again; the gate waits for a new decision.
	time.Sleep(1100 * time.Millisecond) // creation times have seconds only
	f.action(sluicev1.AnnotationRetry)
	ro = f.waitStep(1, sluicev1.PhasePaused)
	f.g.Consistently(func() sluicev1.RolloutPhase { return f.get().Status.Phase }, "2s", poll).Should(Equal(sluicev1.PhasePaused))
	f.approval("alice-approves-retry", v3, 1, sluicev1.DecisionApprove, "alice")
	f.approval("bob-approves-retry", v3, 1, sluicev1.DecisionApprove, "bob", "release-managers")
	f.approval("alice-approves-step3", v3, 3, sluicev1.DecisionApprove, "alice")
	f.waitHealthy(v3)
}

// An approval gate with a timeout applies its outcome: Abort aborts,
// StayPaused keeps waiting.
func TestApprovalTimeout(t *testing.T) {
	f := newFixture(t)
	f.create(f.rollout("web:1", `
- setWeight: 10
- approval: {approvers: {users: [alice]}, timeout: 2s, onTimeout: StayPaused}
- approval: {approvers: {users: [alice]}, timeout: 2s, onTimeout: Abort}
`))
	f.waitHealthy(f.revisionOf("web:1"))
	v2 := f.setImage("web:2")
	f.waitStep(1, sluicev1.PhasePaused)
	time.Sleep(3 * time.Second)
	ro := f.waitStep(1, sluicev1.PhasePaused)
	f.g.Expect(ro.Status.Phase).To(Equal(sluicev1.PhasePaused), "StayPaused keeps waiting after the timeout")

	f.approval("alice", v2, 1, sluicev1.DecisionApprove, "alice")
	ro = f.waitFor("aborted after the second gate's timeout", func(ro *sluicev1.Rollout) bool { return ro.Status.Phase == sluicev1.PhaseDegraded })
	c := meta.FindStatusCondition(ro.Status.Conditions, sluicev1.ConditionAborted)
	f.g.Expect(c.Reason).To(Equal("ApprovalTimedOut"))
	f.g.Expect(c.Message).To(ContainSubstring("step 2: 0 of 1 approvals after 2s"))
	f.expectWeights(100, 0)
}
