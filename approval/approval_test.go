package approval

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

func decision(name, uid, rev string, step int32, d sluicev1.ApprovalDecision, who sluicev1.ApproverIdentity, age time.Duration) sluicev1.Approval {
	return sluicev1.Approval{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(time.Unix(1e9, 0).Add(-age))},
		Spec:       sluicev1.ApprovalSpec{RolloutRef: sluicev1.RolloutReference{Name: "web", UID: uid}, Revision: rev, Step: step, Decision: d, Approver: who},
	}
}

func user(name string, groups ...string) sluicev1.ApproverIdentity {
	return sluicev1.ApproverIdentity{Channel: sluicev1.ChannelKubectl, Username: name, Groups: groups}
}

func TestDecide(t *testing.T) {
	gate := Gate{RolloutName: "web", RolloutUID: "u1", Revision: "r2", Step: 3, Spec: sluicev1.ApprovalStep{
		Approvers:    sluicev1.Approvers{Users: []string{"alice"}, Groups: []string{"sre"}, SlackUsers: []string{"U1"}},
		MinApprovals: ptr.To[int32](2),
	}}
	slack := sluicev1.ApproverIdentity{Channel: sluicev1.ChannelSlack, Username: "system:serviceaccount:sluice-system:sluice", SlackUser: "U1"}
	cases := []struct {
		name      string
		decisions []sluicev1.Approval
		passed    bool
		approvers []string
		rejected  string
	}{
		{"none", nil, false, nil, ""},
		{"one of two", []sluicev1.Approval{decision("a", "u1", "r2", 3, "Approve", user("alice"), 0)}, false, []string{"alice"}, ""},
		{"the same person twice counts once", []sluicev1.Approval{
			decision("a", "u1", "r2", 3, "Approve", user("alice"), 2*time.Second),
			decision("b", "u1", "r2", 3, "Approve", user("alice"), time.Second)}, false, []string{"alice"}, ""},
		{"user and group member", []sluicev1.Approval{
			decision("a", "u1", "r2", 3, "Approve", user("alice"), 2*time.Second),
			decision("b", "u1", "r2", 3, "Approve", user("bob", "sre"), time.Second)}, true, []string{"alice", "bob"}, ""},
		{"slack user counts", []sluicev1.Approval{
			decision("a", "u1", "r2", 3, "Approve", user("alice"), 2*time.Second),
			decision("b", "u1", "r2", 3, "Approve", slack, time.Second)}, true, []string{"alice", "slack:U1"}, ""},
		{"not allowed, other rollout UID, revision or step are ignored", []sluicev1.Approval{
			decision("a", "u1", "r2", 3, "Approve", user("mallory", "devs"), 0),
			decision("b", "old-uid", "r2", 3, "Approve", user("alice"), 0),
			decision("c", "u1", "r1", 3, "Approve", user("alice"), 0),
			decision("d", "u1", "r2", 2, "Approve", user("bob", "sre"), 0)}, false, nil, ""},
		{"a rejection wins", []sluicev1.Approval{
			decision("a", "u1", "r2", 3, "Approve", user("alice"), 3*time.Second),
			decision("b", "u1", "r2", 3, "Reject", user("bob", "sre"), 2*time.Second),
			decision("c", "u1", "r2", 3, "Approve", user("carol", "sre"), time.Second)}, false, []string{"alice", "carol"}, "b"},
		{"a rejection from someone not allowed is ignored", []sluicev1.Approval{
			decision("a", "u1", "r2", 3, "Reject", user("mallory"), 0)}, false, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			v := Decide(gate, tc.decisions)
			g.Expect(v.Passed()).To(Equal(tc.passed))
			g.Expect(v.Approvers).To(Equal(tc.approvers))
			if tc.rejected == "" {
				g.Expect(v.Rejected).To(BeNil())
			} else {
				g.Expect(v.Rejected).NotTo(BeNil())
				g.Expect(v.Rejected.Name).To(Equal(tc.rejected))
			}
		})
	}
}

func TestAllowedSlackNeedsAUser(t *testing.T) {
	g := NewWithT(t)
	a := sluicev1.Approvers{SlackUsers: []string{""}}
	g.Expect(Allowed(a, sluicev1.ApproverIdentity{Channel: sluicev1.ChannelSlack})).To(BeFalse())
}

func TestAllowedSlackUserGroup(t *testing.T) {
	g := NewWithT(t)
	a := sluicev1.Approvers{SlackUserGroups: []string{"S1"}, Groups: []string{"S2"}}
	member := sluicev1.ApproverIdentity{Channel: sluicev1.ChannelSlack, SlackUser: "U9", Groups: []string{"S1"}}
	g.Expect(Allowed(a, member)).To(BeTrue(), "a member of an allowed Slack user group")
	g.Expect(Allowed(a, sluicev1.ApproverIdentity{Channel: sluicev1.ChannelSlack, SlackUser: "U9", Groups: []string{"S2"}})).To(BeFalse(), "Kubernetes groups do not count for Slack")
	g.Expect(Allowed(a, sluicev1.ApproverIdentity{Channel: sluicev1.ChannelSlack, Groups: []string{"S1"}})).To(BeFalse(), "no Slack user, no approval")
	g.Expect(Allowed(a, sluicev1.ApproverIdentity{Channel: sluicev1.ChannelKubectl, Username: "bob", Groups: []string{"S1"}})).To(BeFalse(), "Slack groups do not count for kubectl")
}
