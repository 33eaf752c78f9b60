package approval_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/manifests"
	"github.com/sluice-dev/sluice/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}, &env) }

func applyPolicy(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := manifests.CreateFile(context.Background(), env.Client, filepath.Join(root, "config", "policy", "approval-identity.yaml")); err != nil {
		t.Fatal(err)
	}
}

func approvalFor(ns, name string, who sluicev1.ApproverIdentity) *sluicev1.Approval {
	return &sluicev1.Approval{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: sluicev1.ApprovalSpec{
			RolloutRef: sluicev1.RolloutReference{Name: "web", UID: "1234"},
			Revision:   "abc", Step: 1, Decision: sluicev1.DecisionApprove, Approver: who,
		},
	}
}

// The identity in an Approval is enforced by the apiserver: the shipped
// ValidatingAdmissionPolicy refuses an approver other than the requesting
// user, groups the user is not in, and Slack approvals from anyone but the
// manager; RBAC decides who may create Approvals at all.
func TestApprovalIdentityIsEnforced(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	applyPolicy(t)
	ns, err := env.CreateNamespace(ctx, "appr")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(env.Client.Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "approver", Namespace: ns},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"sluice.dev"}, Resources: []string{"approvals"}, Verbs: []string{"create", "get"}}},
	})).To(Succeed())
	g.Expect(env.Client.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "approvers", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "approver"},
		Subjects:   []rbacv1.Subject{{Kind: "Group", Name: "release-managers"}},
	})).To(Succeed())

	aliceCfg, err := env.AddUser("alice", "release-managers")
	g.Expect(err).NotTo(HaveOccurred())
	alice, err := client.New(aliceCfg, client.Options{Scheme: env.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	eveCfg, err := env.AddUser("eve", "devs")
	g.Expect(err).NotTo(HaveOccurred())
	eve, err := client.New(eveCfg, client.Options{Scheme: env.Scheme})
	g.Expect(err).NotTo(HaveOccurred())

	kubectl := func(user string, groups ...string) sluicev1.ApproverIdentity {
		return sluicev1.ApproverIdentity{Channel: sluicev1.ChannelKubectl, Username: user, Groups: groups}
	}
	// The policy takes effect once the apiserver has loaded it.
	g.Eventually(func() error {
		return alice.Create(ctx, approvalFor(ns, fmt.Sprintf("probe-%d", time.Now().UnixNano()), kubectl("bob")))
	}, 30*time.Second, 200*time.Millisecond).Should(MatchError(ContainSubstring("spec.approver.username must be the user creating the Approval (alice)")))

	g.Expect(alice.Create(ctx, approvalFor(ns, "alice", kubectl("alice", "release-managers")))).To(Succeed())

	err = alice.Create(ctx, approvalFor(ns, "alice-admin", kubectl("alice", "release-managers", "system:masters")))
	g.Expect(err).To(MatchError(ContainSubstring("spec.approver.groups may only list groups the creating user is in")))

	err = alice.Create(ctx, approvalFor(ns, "alice-slack", sluicev1.ApproverIdentity{Channel: sluicev1.ChannelSlack, Username: "alice", SlackUser: "U123"}))
	g.Expect(err).To(MatchError(ContainSubstring("only the sluice manager records Slack approvals")))

	err = eve.Create(ctx, approvalFor(ns, "eve", kubectl("eve", "devs")))
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "a user without RBAC on approvals cannot approve: %v", err)

	// And a recorded decision cannot be changed afterwards.
	got := &sluicev1.Approval{}
	g.Expect(alice.Get(ctx, client.ObjectKey{Namespace: ns, Name: "alice"}, got)).To(Succeed())
	got.Spec.Decision = sluicev1.DecisionReject
	g.Expect(env.Client.Update(ctx, got)).To(MatchError(ContainSubstring("an Approval is immutable")))
}
