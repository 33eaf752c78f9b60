package slack_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	sluiceslack "github.com/sluice-dev/sluice/approval/slack"
	"github.com/sluice-dev/sluice/internal/slackfake"
)

// A signed click on Approve by an allowed user is recorded once, as an
// Approval the apiserver accepted from the manager, before Slack gets its
// 200; then the message shows the decision and loses its buttons. The
// captured request resent is refused outright.
func TestApproveClick(t *testing.T) {
	w := newWorld(t, gateSteps)
	g := w.g
	ts := w.postGate(w.rev, 1)

	res := w.click(ts, sluiceslack.ActionApprove, alice)
	g.Expect(res.Status).To(Equal(http.StatusOK))
	g.Expect(w.rec.calls.Load()).To(BeEquivalentTo(1))

	items := w.approvals()
	g.Expect(items).To(HaveLen(1))
	a := items[0]
	b := sluiceslack.Binding{RolloutUID: string(w.ro.UID), Namespace: w.ns, Rollout: "web", Revision: w.rev, Step: 1}
	g.Expect(a.Name).To(Equal(sluiceslack.ApprovalName("web", b, "UALICE")))
	g.Expect(a.Spec).To(Equal(sluicev1.ApprovalSpec{
		RolloutRef: sluicev1.RolloutReference{Name: "web", UID: string(w.ro.UID)},
		Revision:   w.rev, Step: 1, Decision: sluicev1.DecisionApprove, Reason: "dashboards are green",
		Approver: sluicev1.ApproverIdentity{Channel: sluicev1.ChannelSlack, Username: managerUser, SlackUser: "UALICE"},
	}))
	g.Expect(a.Annotations).To(HaveKeyWithValue(sluiceslack.AnnotationSlackUserName, "alice"))
	g.Expect(a.Labels).To(HaveKeyWithValue(sluicev1.LabelRollout, "web"))

	m, _ := w.fake.Message(channel, ts)
	g.Expect(m.Edits).To(Equal(1))
	g.Expect(m.Buttons()).To(BeEmpty(), "a decided gate has no buttons")
	g.Expect(string(m.Blocks)).To(ContainSubstring("Approved by \\u003c@UALICE\\u003e"))
	g.Expect(m.Metadata.EventPayload).To(HaveKeyWithValue("event_id", b.GateEventID()), "the update keeps the gate findable")
	g.Expect(w.fake.Requests("chat.update")).To(HaveLen(1))

	_, err := w.fake.ButtonClick(channel, ts, sluiceslack.ActionApprove, alice)
	g.Expect(err).To(MatchError(ContainSubstring("no button")), "the buttons are gone, in Slack as in the fake")

	// The captured first request resent: refused before the recorder.
	again, err := res.Replay()
	g.Expect(err).NotTo(HaveOccurred())
	w.settle()
	g.Expect(again.Status).To(Equal(http.StatusUnauthorized))
	g.Expect(w.rec.calls.Load()).To(BeEquivalentTo(1))
	g.Expect(w.approvals()).To(HaveLen(1))
}

// A repeated click by someone who already decided (here on a gate that
// needs two approvals, so the buttons stay) keeps their first decision.
func TestRepeatedClickKeepsTheFirstDecision(t *testing.T) {
	w := newWorld(t, gateSteps)
	g := w.g
	w.setStep(3)
	info := w.gateInfo(w.rev, 3)
	info.Approvers, info.MinApprovals = sluicev1.Approvers{SlackUsers: []string{"UALICE", "UBOB"}}, 2
	ts, err := w.notifier.Post(w.ctx, channel, sluiceslack.GateMessage(info))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(w.fake.Messages(channel)[0].Blocks).To(ContainSubstring("needs 2 approvals"))

	g.Expect(w.click(ts, sluiceslack.ActionApprove, alice).Status).To(Equal(http.StatusOK))
	m, _ := w.fake.Message(channel, ts)
	g.Expect(m.Buttons()).To(HaveLen(2), "one of two approvals: the others still need the buttons")
	g.Expect(string(m.Blocks)).To(ContainSubstring("1 of 2 approvals"))

	g.Expect(w.click(ts, sluiceslack.ActionReject, alice).Status).To(Equal(http.StatusOK))
	items := w.approvals()
	g.Expect(items).To(HaveLen(1))
	g.Expect(items[0].Spec.Decision).To(Equal(sluicev1.DecisionApprove))
	g.Expect(w.ephemerals()).To(ContainElement(ContainSubstring("You already decided Approve at this gate")))

	g.Expect(w.click(ts, sluiceslack.ActionApprove, bob).Status).To(Equal(http.StatusOK))
	g.Expect(w.approvals()).To(HaveLen(2))
	m, _ = w.fake.Message(channel, ts)
	g.Expect(m.Buttons()).To(BeEmpty())
	// Approvals created within the same second may be listed in either
	// order (creationTimestamp has one-second resolution).
	g.Expect(string(m.Blocks)).To(SatisfyAny(
		ContainSubstring("Approved by \\u003c@UALICE\\u003e, \\u003c@UBOB\\u003e"),
		ContainSubstring("Approved by \\u003c@UBOB\\u003e, \\u003c@UALICE\\u003e")))
}

// Reject records a rejection with the reason typed into the message, and
// the message says the rollout aborts.
func TestRejectClick(t *testing.T) {
	w := newWorld(t, gateSteps)
	g := w.g
	ts := w.postGate(w.rev, 1)
	g.Expect(w.click(ts, sluiceslack.ActionReject, alice).Status).To(Equal(http.StatusOK))
	items := w.approvals()
	g.Expect(items).To(HaveLen(1))
	g.Expect(items[0].Spec.Decision).To(Equal(sluicev1.DecisionReject))
	g.Expect(items[0].Spec.Reason).To(Equal("dashboards are green"))
	m, _ := w.fake.Message(channel, ts)
	g.Expect(m.Buttons()).To(BeEmpty())
	g.Expect(string(m.Blocks)).To(ContainSubstring("Rejected by \\u003c@UALICE\\u003e"))
	g.Expect(string(m.Blocks)).To(ContainSubstring("the rollout aborts"))
}

// Requests that are not provably a fresh click from Slack get 401 and reach
// nothing; clicks that are Slack's but may not count get 200 and an
// ephemeral explanation; in every case no Approval is created and the
// message is left as it was.
func TestRefusedClicks(t *testing.T) {
	for _, tc := range []struct {
		name string
		// prepare returns the message to click and may change the world.
		prepare   func(w *world) string
		user      slackfake.User
		opts      []slackfake.ClickOption
		status    int
		ephemeral string
	}{
		{
			name: "forged signature", user: alice, opts: []slackfake.ClickOption{slackfake.Forged()},
			prepare: func(w *world) string { return w.postGate(w.rev, 1) }, status: http.StatusUnauthorized,
		},
		{
			name: "expired timestamp", user: alice, opts: []slackfake.ClickOption{slackfake.SignedAt(time.Now().Add(-6 * time.Minute))},
			prepare: func(w *world) string { return w.postGate(w.rev, 1) }, status: http.StatusUnauthorized,
		},
		{
			name: "timestamp in the future", user: alice, opts: []slackfake.ClickOption{slackfake.SignedAt(time.Now().Add(6 * time.Minute))},
			prepare: func(w *world) string { return w.postGate(w.rev, 1) }, status: http.StatusUnauthorized,
		},
		{
			name: "user not on the approver list", user: mal,
			prepare: func(w *world) string { return w.postGate(w.rev, 1) }, status: http.StatusOK,
			ephemeral: "You are not on this gate's approver list",
		},
		{
			name: "button of a previous revision", user: alice,
			prepare: func(w *world) string { return w.postGate("0123456789", 1) }, status: http.StatusOK,
			ephemeral: "This button is for revision 0123456789 step 1",
		},
		{
			name: "button of a previous step", user: alice,
			prepare: func(w *world) string {
				ts := w.postGate(w.rev, 1)
				w.setStep(2)
				return ts
			},
			status: http.StatusOK, ephemeral: "the rollout has moved on: it is at revision",
		},
		{
			name: "rollout recreated under the same name", user: alice,
			prepare: func(w *world) string {
				info := w.gateInfo(w.rev, 1)
				info.Rollout.UID = "00000000-dead-beef-0000-000000000000"
				ts, err := w.notifier.Post(w.ctx, channel, sluiceslack.GateMessage(info))
				w.g.Expect(err).NotTo(HaveOccurred())
				return ts
			},
			status: http.StatusOK, ephemeral: "was deleted and created again",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, gateSteps)
			g := w.g
			ts := tc.prepare(w)
			res := w.click(ts, sluiceslack.ActionApprove, tc.user, tc.opts...)
			g.Expect(res.Status).To(Equal(tc.status))
			if tc.status == http.StatusUnauthorized {
				g.Expect(w.rec.calls.Load()).To(BeZero(), "the recorder is not called")
				g.Expect(w.fake.Responses()).To(BeEmpty(), "nothing is said to anyone")
			} else {
				g.Expect(w.ephemerals()).To(ConsistOf(ContainSubstring(tc.ephemeral)))
			}
			g.Expect(w.approvals()).To(BeEmpty())
			m, _ := w.fake.Message(channel, ts)
			g.Expect(m.Edits).To(BeZero())
			g.Expect(m.Buttons()).To(HaveLen(2))
		})
	}
}

// A member of a Slack user group the gate lists may decide; the group
// that allowed them is kept on the Approval as evidence.
func TestUserGroupMemberMayDecide(t *testing.T) {
	w := newWorld(t, gateSteps)
	g := w.g
	ts := w.postGate(w.rev, 1)
	g.Expect(w.click(ts, sluiceslack.ActionApprove, carol).Status).To(Equal(http.StatusOK))
	items := w.approvals()
	g.Expect(items).To(HaveLen(1))
	g.Expect(items[0].Spec.Approver.SlackUser).To(Equal("UCAROL"))
	g.Expect(items[0].Spec.Approver.Groups).To(Equal([]string{"SRELEASE"}))
	g.Expect(w.fake.Requests("usergroups.users.list")).To(HaveLen(1))
}

// Without the manager's identity the apiserver refuses a Slack approval
// (the approval-identity policy); the clicker hears that nothing could be
// confirmed, and may click again.
func TestRecorderNeedsTheManagersIdentity(t *testing.T) {
	w := newWorld(t, gateSteps)
	g := w.g
	rec := &sluiceslack.KubeRecorder{Client: env.Client}
	d := sluiceslack.Decision{
		Binding:   sluiceslack.Binding{RolloutUID: string(w.ro.UID), Namespace: w.ns, Rollout: "web", Revision: w.rev, Step: 1},
		Approve:   true,
		SlackUser: "UALICE",
	}
	_, err := rec.Record(w.ctx, d)
	g.Expect(err).To(MatchError(ContainSubstring("only the sluice manager records Slack approvals")))
	g.Expect(w.approvals()).To(BeEmpty())
}

// A payload that is signed but not a gate click is acknowledged and
// ignored.
func TestOtherInteractionsAreIgnored(t *testing.T) {
	w := newWorld(t, gateSteps)
	g := w.g
	ts := w.postGate(w.rev, 1)
	p, err := w.fake.ButtonClick(channel, ts, sluiceslack.ActionApprove, alice)
	g.Expect(err).NotTo(HaveOccurred())
	p.Actions[0].ActionID = "someone_elses_button"
	res, err := w.fake.Click(w.url, signingSecret, p)
	g.Expect(err).NotTo(HaveOccurred())
	w.settle()
	g.Expect(res.Status).To(Equal(http.StatusOK))
	g.Expect(w.rec.calls.Load()).To(BeZero())
	g.Expect(strings.TrimSpace(res.Body)).To(BeEmpty())
}
