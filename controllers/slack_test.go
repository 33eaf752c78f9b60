package controllers_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/approval/slack"
	"github.com/sluice-dev/sluice/internal/slackfake"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// The suite's manager posts to slackAPI and serves Slack clicks on
// slackAddr, signed with slackSigningSecret.
var (
	slackAPI  *slackfake.Server
	slackAddr string
)

const (
	slackSecretNS      = "sluice-system"
	slackSigningSecret = "8f14e45fceea167a5a36dedd4bea2543"
	slackChannel       = "CDEPLOYS"
)

// slackAppSecret creates the Slack app's Secret the manager reads at start
// and picks a free port for its interactions endpoint.
func slackAppSecret(env *testenv.Env) (string, error) {
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: slackSecretNS}}); err != nil {
		return "", err
	}
	if err := env.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: slackSecretNS, Name: "slack-app"},
		Data:       map[string][]byte{"bot-token": []byte(slackfake.DefaultBotToken), "signing-secret": []byte(slackSigningSecret)},
	}); err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

const slackGateSteps = `
- setWeight: 50
- approval:
    approvers: {slackUsers: [UALICE]}
    message: check the dashboards first
`

// A gate that Slack users may decide posts one message with bound buttons;
// a click on the manager's endpoint records the Approval, the gate passes,
// and every notification is posted exactly once however often the Rollout
// is reconciled.
func TestSlackApprovalAndNotifications(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.g.Expect(env.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "slack"},
		Data:       map[string][]byte{"bot-token": []byte(slackfake.DefaultBotToken), "signing-secret": []byte(slackSigningSecret)},
	})).To(Succeed())
	ro := f.rollout("web:1", slackGateSteps)
	channel := slackChannel + strings.ToUpper(f.ns[len(f.ns)-5:])
	ro.Spec.Notifications = &sluicev1.NotificationSpec{Slack: &sluicev1.SlackNotifications{Channel: channel, SecretRef: sluicev1.LocalSecretReference{Name: "slack"}}}
	f.create(ro)
	f.waitHealthy(f.revisionOf("web:1"))
	v2 := f.setImage("web:2")
	f.waitStep(1, sluicev1.PhasePaused)

	gate := func() []slackfake.Message {
		var out []slackfake.Message
		for _, m := range slackAPI.Messages(channel) {
			if m.Metadata != nil && strings.HasSuffix(fmt.Sprint(m.Metadata.EventPayload["event_id"]), "/ApprovalRequested/1") {
				out = append(out, m)
			}
		}
		return out
	}
	f.g.Eventually(gate, timeout, poll).Should(HaveLen(1))
	// More reconciles (annotation changes) post nothing new.
	for i := 0; i < 3; i++ {
		f.annotate("test.sluice.dev/poke", fmt.Sprint(i))
	}
	f.waitFor("the gate is recorded as posted", func(ro *sluicev1.Rollout) bool {
		return ro.Status.Notifications != nil && len(ro.Status.Notifications.Pending) == 0
	})
	f.g.Consistently(gate, "1s", poll).Should(HaveLen(1))
	msg := gate()[0]
	f.g.Expect(msg.Buttons()).To(HaveLen(2))
	b, err := slack.ParseBinding(msg.Buttons()[0].Value)
	f.g.Expect(err).NotTo(HaveOccurred())
	f.g.Expect(b.Revision).To(Equal(v2))
	f.g.Expect(b.Step).To(BeEquivalentTo(1))
	f.g.Expect(string(msg.Blocks)).To(ContainSubstring("web:1"), "the message shows the old image")
	f.g.Expect(string(msg.Blocks)).To(ContainSubstring("web:2"), "and the new one")

	// Someone not on the list is refused; nothing is recorded.
	click := func(user slackfake.User, opts ...slackfake.ClickOption) *slackfake.ClickResult {
		payload, err := slackAPI.ButtonClick(channel, msg.TS, slack.ActionApprove, user)
		f.g.Expect(err).NotTo(HaveOccurred())
		var res *slackfake.ClickResult
		f.g.Eventually(func() error {
			res, err = slackAPI.Click("http://"+slackAddr+"/slack/interactions", slackSigningSecret, payload, opts...)
			return err
		}, timeout, poll).Should(Succeed())
		return res
	}
	res := click(slackfake.User{ID: "UMALLORY", Name: "mallory"})
	f.g.Expect(res.Status).To(Equal(http.StatusOK))
	res = click(slackfake.User{ID: "UALICE", Name: "alice"}, slackfake.Forged())
	f.g.Expect(res.Status).To(Equal(http.StatusUnauthorized))
	var approvals sluicev1.ApprovalList
	f.g.Expect(env.Client.List(ctx, &approvals, client.InNamespace(f.ns))).To(Succeed())
	f.g.Expect(approvals.Items).To(BeEmpty())

	res = click(slackfake.User{ID: "UALICE", Name: "alice"})
	f.g.Expect(res.Status).To(Equal(http.StatusOK))
	done := f.waitHealthy(v2)
	f.g.Expect(done.Status.Approvals).NotTo(BeEmpty())
	f.g.Expect(done.Status.Approvals[0].Approver).To(Equal("slack:UALICE"))
	f.g.Expect(done.Status.Approvals[0].Channel).To(Equal(sluicev1.ChannelSlack))

	kinds := func() map[string]int {
		out := map[string]int{}
		for _, m := range slackAPI.Messages(channel) {
			if m.Metadata != nil {
				id := fmt.Sprint(m.Metadata.EventPayload["event_id"])
				parts := strings.Split(id, "/")
				out[parts[2]]++
			}
		}
		return out
	}
	f.g.Eventually(kinds, timeout, poll).Should(Equal(map[string]int{"Started": 1, "StepReached": 1, "ApprovalRequested": 1, "Promoted": 1}))
	m, _ := slackAPI.Message(channel, msg.TS)
	f.g.Expect(m.Buttons()).To(BeEmpty(), "the decided gate's buttons are gone")
	f.waitFor("every notification recorded as posted", func(ro *sluicev1.Rollout) bool {
		return ro.Status.Notifications != nil && len(ro.Status.Notifications.Pending) == 0 && len(ro.Status.Notifications.Posted) == 4
	})
}

// A namespace's sluice-notifications ConfigMap sets Slack for its Rollouts
// that have no spec.notifications, with its own event filter.
func TestSlackNamespaceNotifications(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	channel := "CNS" + strings.ToUpper(f.ns[len(f.ns)-5:])
	f.g.Expect(env.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "team-slack"},
		Data:       map[string][]byte{"bot-token": []byte(slackfake.DefaultBotToken)},
	})).To(Succeed())
	f.g.Expect(env.Client.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "sluice-notifications"},
		Data:       map[string]string{"slack.channel": channel, "slack.secretName": "team-slack", "slack.events": "Started, Promoted"},
	})).To(Succeed())
	f.create(f.rollout("web:1", "[{setWeight: 50}, {pause: {duration: 1s}}]"))
	f.waitHealthy(f.revisionOf("web:1"))
	f.setImage("web:2")
	f.waitHealthy(f.revisionOf("web:2"))
	kinds := func() []string {
		var out []string
		for _, m := range slackAPI.Messages(channel) {
			if m.Metadata != nil {
				out = append(out, strings.Split(fmt.Sprint(m.Metadata.EventPayload["event_id"]), "/")[2])
			}
		}
		return out
	}
	f.g.Eventually(kinds, timeout, poll).Should(Equal([]string{"Started", "Promoted"}), "only the namespace's events, once each")
	f.g.Consistently(kinds, "1s", poll).Should(HaveLen(2))
}
