package slack_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	. "github.com/onsi/gomega"
	"github.com/slack-go/slack"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	sluiceslack "github.com/sluice-dev/sluice/approval/slack"
	"github.com/sluice-dev/sluice/internal/manifests"
	"github.com/sluice-dev/sluice/internal/slackfake"
	"github.com/sluice-dev/sluice/internal/testenv"
	"github.com/sluice-dev/sluice/revision"
)

// The recorder's tests run against a real kube-apiserver with sluice's CRDs
// and the shipped approval-identity policy, so "an Approval was recorded"
// and "the apiserver accepts it from the manager only" are the apiserver's
// word, not a fake's.
var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}, &env) }

const (
	managerUser   = "system:serviceaccount:sluice-system:sluice-manager"
	signingSecret = "test-signing-secret"
	channel       = "C0GATES01"
)

var (
	relayOnce   sync.Once
	relayClient client.Client
	relayErr    error
)

// managerClient installs the policy and the manager's RBAC once, and
// returns a client that impersonates the manager's ServiceAccount.
func managerClient(t *testing.T) client.Client {
	t.Helper()
	relayOnce.Do(func() { relayClient, relayErr = setupManager() })
	if relayErr != nil {
		t.Fatal(relayErr)
	}
	return relayClient
}

func setupManager() (client.Client, error) {
	ctx := context.Background()
	root, err := testenv.RepoRoot()
	if err != nil {
		return nil, err
	}
	if err := manifests.CreateFile(ctx, env.Client, filepath.Join(root, "config", "policy", "approval-identity.yaml")); err != nil {
		return nil, err
	}
	// What the recorder needs, and nothing more.
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "sluice-slack-relay-test"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"sluice.dev"}, Resources: []string{"rollouts"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{"sluice.dev"}, Resources: []string{"approvals"}, Verbs: []string{"create", "get", "list"}},
		},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "sluice-slack-relay-test"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "sluice-system", Name: "sluice-manager"}},
	}
	for _, o := range []client.Object{role, binding} {
		if err := env.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, err
		}
	}
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: managerUser}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		return nil, err
	}
	// The policy takes effect once the apiserver has loaded it: until
	// then the admin could create a Slack approval.
	probe := func() error {
		a := &sluicev1.Approval{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("probe-%d", time.Now().UnixNano()), Namespace: "default"},
			Spec: sluicev1.ApprovalSpec{
				RolloutRef: sluicev1.RolloutReference{Name: "probe", UID: "probe"}, Revision: "probe", Step: 0, Decision: sluicev1.DecisionApprove,
				Approver: sluicev1.ApproverIdentity{Channel: sluicev1.ChannelSlack, Username: "admin", SlackUser: "UPROBE"},
			},
		}
		return env.Client.Create(ctx, a)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := probe()
		if err != nil && strings.Contains(err.Error(), "only the sluice manager records Slack approvals") {
			return c, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the approval-identity policy did not take effect: last probe: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// countingRecorder counts calls into the real recorder, to show that a
// refused request never reaches it.
type countingRecorder struct {
	next  sluiceslack.Recorder
	calls atomic.Int32
}

func (c *countingRecorder) Record(ctx context.Context, d sluiceslack.Decision) (sluiceslack.Outcome, error) {
	c.calls.Add(1)
	return c.next.Record(ctx, d)
}

// world is one Rollout waiting at an approval gate, a fake Slack, and
// sluice's Slack side wired to both.
type world struct {
	t        *testing.T
	g        *WithT
	ctx      context.Context
	fake     *slackfake.Server
	api      *slack.Client
	ns       string
	ro       *sluicev1.Rollout
	rev      string
	rec      *countingRecorder
	handler  *sluiceslack.Handler
	url      string
	notifier *sluiceslack.Notifier
}

const gateSteps = `
- setWeight: 10
- approval: {approvers: {slackUsers: [UALICE], slackUserGroups: [SRELEASE], users: [alice]}, message: "Check the dashboards"}
- setWeight: 50
- approval: {approvers: {slackUsers: [UALICE, UBOB]}, minApprovals: 2}
`

func newWorld(t *testing.T, steps string) *world {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	w := &world{t: t, g: g, ctx: ctx}
	w.fake = slackfake.New(slackfake.Options{UserGroups: map[string][]string{"SRELEASE": {"UCAROL"}}})
	t.Cleanup(w.fake.Close)
	w.api = slack.New(slackfake.DefaultBotToken, slack.OptionAPIURL(w.fake.APIURL()))

	var err error
	w.ns, err = env.CreateNamespace(ctx, "slack")
	g.Expect(err).NotTo(HaveOccurred())
	var s []sluicev1.Step
	g.Expect(yaml.Unmarshal([]byte(steps), &s)).To(Succeed())
	w.ro = &sluicev1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: w.ns},
		Spec: sluicev1.RolloutSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:2"}}},
			},
			Strategy: sluicev1.RolloutStrategy{Canary: &sluicev1.CanaryStrategy{Steps: s}},
			Traffic: sluicev1.TrafficRouting{Istio: sluicev1.IstioTraffic{
				VirtualServices: []sluicev1.VirtualServiceRef{{Name: "web", Routes: []string{"primary"}}},
				DestinationRule: &sluicev1.DestinationRuleRef{Name: "web", StableSubset: "stable", CanarySubset: "canary"},
			}},
		},
	}
	g.Expect(env.Client.Create(ctx, w.ro)).To(Succeed())
	w.rev, err = revision.Hash(&w.ro.Spec.Template)
	g.Expect(err).NotTo(HaveOccurred())
	// No controller runs here: the status says what it would at the gate.
	w.setStep(1)

	groups := sluiceslack.NewUserGroups(w.api)
	w.rec = &countingRecorder{next: &sluiceslack.KubeRecorder{Client: managerClient(t), Groups: groups}}
	w.handler, err = sluiceslack.NewHandler(sluiceslack.HandlerOptions{
		SigningSecrets: []sluiceslack.Secret{sluiceslack.NewSecret(signingSecret)},
		Recorder:       w.rec, API: w.api, Log: testr.New(t),
	})
	g.Expect(err).NotTo(HaveOccurred())
	srv := httptest.NewServer(w.handler)
	t.Cleanup(srv.Close)
	w.url = srv.URL + "/slack/interactions"
	w.notifier = sluiceslack.NewNotifier(w.api, testr.New(t))
	return w
}

// setStep puts the Rollout at a step of its current revision.
func (w *world) setStep(step int32) {
	w.t.Helper()
	w.g.Eventually(func() error {
		ro := &sluicev1.Rollout{}
		if err := env.Client.Get(w.ctx, client.ObjectKeyFromObject(w.ro), ro); err != nil {
			return err
		}
		ro.Status.StableRevision = "stable0000"
		ro.Status.CanaryRevision = w.rev
		ro.Status.CurrentStepIndex = ptr.To(step)
		ro.Status.Phase = sluicev1.PhasePaused
		if err := env.Client.Status().Update(w.ctx, ro); err != nil {
			return err
		}
		w.ro = ro
		return nil
	}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
}

// gateInfo describes the gate at step of revision rev.
func (w *world) gateInfo(rev string, step int32) sluiceslack.GateInfo {
	return sluiceslack.GateInfo{
		Rollout:  sluiceslack.RolloutInfo{Namespace: w.ns, Name: w.ro.Name, UID: string(w.ro.UID), Revision: rev},
		Step:     step,
		StepName: "approval",
		Images:   []sluiceslack.ImageChange{{Container: "web", From: "web:1", To: "web:2"}},
		Analysis: "error-rate 0.2% ≤ 1%: Successful",
		Approvers: sluicev1.Approvers{
			SlackUsers: []string{"UALICE"}, SlackUserGroups: []string{"SRELEASE"}, Users: []string{"alice"},
		},
		MinApprovals: 1,
		Message:      "Check the dashboards",
	}
}

// postGate posts the gate message for (rev, step) and returns its ts.
func (w *world) postGate(rev string, step int32) string {
	w.t.Helper()
	ts, err := w.notifier.Post(w.ctx, channel, sluiceslack.GateMessage(w.gateInfo(rev, step)))
	w.g.Expect(err).NotTo(HaveOccurred())
	return ts
}

var (
	alice = slackfake.User{ID: "UALICE", Username: "alice", Name: "alice"}
	bob   = slackfake.User{ID: "UBOB", Username: "bob", Name: "bob"}
	carol = slackfake.User{ID: "UCAROL", Username: "carol", Name: "carol"}
	mal   = slackfake.User{ID: "UMALLORY", Username: "mallory", Name: "mallory"}
)

// click clicks a button on a message through the HTTP endpoint and waits
// for the follow-up (message update or ephemeral answer) to finish.
func (w *world) click(ts, action string, user slackfake.User, opts ...slackfake.ClickOption) *slackfake.ClickResult {
	w.t.Helper()
	p, err := w.fake.ButtonClick(channel, ts, action, user, slackfake.WithInput(sluiceslack.BlockReason, sluiceslack.ActionReason, "dashboards are green"))
	w.g.Expect(err).NotTo(HaveOccurred())
	res, err := w.fake.Click(w.url, signingSecret, p, opts...)
	w.g.Expect(err).NotTo(HaveOccurred())
	w.settle()
	return res
}

func (w *world) settle() {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.ctx, 20*time.Second)
	defer cancel()
	w.g.Expect(w.handler.Wait(ctx)).To(Succeed())
}

func (w *world) approvals() []sluicev1.Approval {
	w.t.Helper()
	var list sluicev1.ApprovalList
	w.g.Expect(env.Client.List(w.ctx, &list, client.InNamespace(w.ns))).To(Succeed())
	return list.Items
}

// ephemerals are the texts answered to clickers only.
func (w *world) ephemerals() []string {
	var out []string
	for _, r := range w.fake.Responses() {
		if r.ResponseType == slack.ResponseTypeEphemeral {
			out = append(out, r.Text)
		}
	}
	return out
}
