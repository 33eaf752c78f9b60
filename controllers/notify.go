package controllers

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	slackapi "github.com/slack-go/slack"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/approval/slack"
	"github.com/sluice-dev/sluice/plan"
)

// SlackPoster posts the Slack messages Rollouts ask for, with the bot token
// from each Rollout's spec.notifications.slack.secretRef.
type SlackPoster struct {
	// APIURL is Slack's Web API, https://slack.com/api/ when empty; tests and
	// the demo point it at a local server.
	APIURL string
	Log    logr.Logger

	notifiers sync.Map // sha256(bot token) → *slack.Notifier
}

func (s *SlackPoster) notifier(token slack.Secret) *slack.Notifier {
	key := sha256.Sum256([]byte(token.Reveal()))
	if n, ok := s.notifiers.Load(key); ok {
		return n.(*slack.Notifier)
	}
	var opts []slackapi.Option
	if s.APIURL != "" {
		opts = append(opts, slackapi.OptionAPIURL(s.APIURL))
	}
	n, _ := s.notifiers.LoadOrStore(key, slack.NewNotifier(slackapi.New(token.Reveal(), opts...), s.Log))
	return n.(*slack.Notifier)
}

// slackPostTimeout bounds the posts after one reconcile.
const slackPostTimeout = 10 * time.Second

// notify records a Slack event in status.notifications.pending, if the
// Rollout asks for it; the reconcile posts it once the status is written.
func (p *pass) notify(kind slack.EventKind, rev string, step int32, detail string) {
	cfg := p.slackConfig()
	if cfg == nil || p.r.Slack == nil {
		return
	}
	if kind != slack.EventApprovalRequested && len(cfg.Events) > 0 && !slices.Contains(cfg.Events, string(kind)) {
		return
	}
	st := &p.ro.Status
	if st.Notifications == nil {
		st.Notifications = &sluicev1.NotificationsStatus{}
	}
	ns := st.Notifications
	id := slack.EventID(string(p.ro.UID), rev+"."+p.attempt(kind), kind, step)
	if slices.Contains(ns.Posted, id) || slices.ContainsFunc(ns.Pending, func(e sluicev1.PendingNotification) bool { return e.ID == id }) {
		return
	}
	if len(detail) > 1024 {
		detail = detail[:1021] + "..."
	}
	ns.Pending = append(ns.Pending, sluicev1.PendingNotification{ID: id, Kind: string(kind), Revision: rev, Step: step, Detail: detail})
	if len(ns.Pending) > 32 {
		ns.Pending = ns.Pending[len(ns.Pending)-32:]
	}
}

// attempt tells apart rollouts of the same revision (a retry after an
// abort) and write-backs of one: the time the previous rollout ended, or
// the write-back's request time.
func (p *pass) attempt(kind slack.EventKind) string {
	st := &p.ro.Status
	if kind == slack.EventGitCommitPushed && st.GitOps != nil && st.GitOps.RequestedAt != nil {
		return fmt.Sprint(st.GitOps.RequestedAt.Unix())
	}
	if kind == slack.EventPromoted || kind == slack.EventAborted || kind == slack.EventAnalysisFailed {
		return fmt.Sprint(p.now.Unix())
	}
	if len(st.History) > 0 {
		return fmt.Sprint(st.History[0].At.Unix())
	}
	return "0"
}

// postNotifications posts the pending events and records which were
// posted. It runs after the status patch that recorded them, so a crash
// in between leaves them pending, and the Notifier's history search keeps
// the retry from posting twice. It reports whether status changed.
func (p *pass) postNotifications(ctx context.Context, before *sluicev1.NotificationsStatus) bool {
	ns := p.ro.Status.Notifications
	if ns == nil || len(ns.Pending) == 0 || p.r.Slack == nil {
		return false
	}
	cfg := p.slackConfig()
	if cfg == nil {
		// Notifications were turned off since: drop what is pending.
		ns.Pending = nil
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, slackPostTimeout)
	defer cancel()
	_, s, err := p.secretValue(ctx, &cfg.SecretRef, "spec.notifications.slack.secretRef", "")
	if err != nil {
		ns.LastError = err.Error()
		return true
	}
	// Posting needs the bot token only; the signing secret belongs to the
	// manager's interaction endpoint.
	token := strings.TrimSpace(string(s.Data["bot-token"]))
	if !strings.HasPrefix(token, "xoxb-") {
		ns.LastError = fmt.Sprintf("Secret %s (spec.notifications.slack.secretRef) needs key bot-token with a bot token (xoxb-…)", s.Name)
		return true
	}
	earlier := map[string]bool{}
	if before != nil {
		for _, e := range before.Pending {
			earlier[e.ID] = true
		}
	}
	notifier := p.r.Slack.notifier(slack.NewSecret(token))
	for len(ns.Pending) > 0 {
		pn := ns.Pending[0]
		ev, ok := p.slackEvent(pn)
		ev.FirstAttempt = !earlier[pn.ID]
		if ok {
			if _, err := notifier.Post(ctx, cfg.Channel, ev); err != nil {
				ns.LastError = fmt.Sprintf("posting %s to Slack channel %s: %v", pn.Kind, cfg.Channel, err)
				slackPosts.WithLabelValues(pn.Kind, "error").Inc()
				return true
			}
			slackPosts.WithLabelValues(pn.Kind, "posted").Inc()
		}
		ns.Pending = ns.Pending[1:]
		ns.Posted = append([]string{pn.ID}, ns.Posted...)
		if len(ns.Posted) > 32 {
			ns.Posted = ns.Posted[:32]
		}
	}
	ns.LastError = ""
	return true
}

// slackEvent builds the message for a pending event. A gate message is
// built from the gate as it is now; a gate that has closed meanwhile is
// not announced (ok false).
func (p *pass) slackEvent(pn sluicev1.PendingNotification) (slack.Event, bool) {
	info := slack.RolloutInfo{Namespace: p.ro.Namespace, Name: p.ro.Name, UID: string(p.ro.UID), Revision: pn.Revision}
	if slack.EventKind(pn.Kind) != slack.EventApprovalRequested {
		return slack.RolloutEvent(slack.EventKind(pn.Kind), info, pn.Step, pn.Detail), true
	}
	st := &p.ro.Status
	step, ok := p.plan.Step(pn.Step)
	if !ok || step.Gate.Kind != plan.GateApproval || st.CanaryRevision != pn.Revision || st.CurrentStepIndex == nil || *st.CurrentStepIndex != pn.Step {
		return slack.Event{}, false
	}
	a := step.Gate.Approval
	g := slack.GateInfo{
		Rollout: info, Step: pn.Step, StepName: step.String(),
		Approvers: a.Approvers, MinApprovals: 1, Message: a.Message,
	}
	if a.MinApprovals != nil {
		g.MinApprovals = *a.MinApprovals
	}
	if stable := p.sets[st.StableRevision]; stable != nil {
		g.Images = slack.ImageChanges(userTemplate(stable).Spec.Containers, p.ro.Spec.Template.Spec.Containers)
	}
	for _, r := range st.Analysis {
		g.Analysis = fmt.Sprintf("%s (step %d): %s %s", r.Name, r.Step, r.Phase, r.Message)
	}
	ev := slack.GateMessage(g)
	ev.ID = pn.ID // a retried revision's gate is a new message
	return ev, true
}

// writeNotificationStatus patches status once more after posting.
func (r *RolloutReconciler) writeNotificationStatus(ctx context.Context, ro, before *sluicev1.Rollout) error {
	if err := r.Client.Status().Patch(ctx, ro, client.MergeFrom(before), client.FieldOwner(sluicev1.FieldManager)); err != nil {
		return fmt.Errorf("recording Slack posts in status: %w", err)
	}
	r.written.Store(client.ObjectKeyFromObject(ro), ro.DeepCopy())
	return nil
}

// slackApprovers reports whether a gate can be decided in Slack.
func slackApprovers(a sluicev1.Approvers) bool {
	return len(a.SlackUsers) > 0 || len(a.SlackUserGroups) > 0
}
