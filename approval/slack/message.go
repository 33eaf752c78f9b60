package slack

import (
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"
	corev1 "k8s.io/api/core/v1"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

// Block and action IDs of the gate message. The handler recognises clicks
// by the action IDs, and the update after a decision finds the parts to
// replace or remove by the block IDs, whatever else the message holds.
const (
	ActionApprove = "sluice_approve"
	ActionReject  = "sluice_reject"
	ActionReason  = "sluice_reason"
	BlockDecision = "sluice_decision"
	BlockReason   = "sluice_reason"
	BlockStatus   = "sluice_status"
)

// GateInfo is what an approver needs to decide.
type GateInfo struct {
	Rollout RolloutInfo
	// Step is the gate's step index; StepName describes it (plan.Step's
	// String, e.g. "approval by 2").
	Step     int32
	StepName string
	// Images changed by the revision (ImageChanges).
	Images []ImageChange
	// Analysis is the latest analysis summary, one line.
	Analysis string
	// Approvers and MinApprovals of the gate; Message is its message to
	// approvers.
	Approvers    sluicev1.Approvers
	MinApprovals int32
	Message      string
}

// Binding is the gate's button binding.
func (g GateInfo) Binding() Binding {
	return Binding{RolloutUID: g.Rollout.UID, Namespace: g.Rollout.Namespace, Rollout: g.Rollout.Name, Revision: g.Rollout.Revision, Step: g.Step}
}

// ImageChange is one container's image, old and new.
type ImageChange struct {
	Container, From, To string
}

// ImageChanges compares the stable and canary containers by name: changed
// images, and containers added (From empty) or removed (To empty).
func ImageChanges(stable, canary []corev1.Container) []ImageChange {
	var out []ImageChange
	old := map[string]string{}
	for _, c := range stable {
		old[c.Name] = c.Image
	}
	seen := map[string]bool{}
	for _, c := range canary {
		seen[c.Name] = true
		if old[c.Name] != c.Image {
			out = append(out, ImageChange{Container: c.Name, From: old[c.Name], To: c.Image})
		}
	}
	for _, c := range stable {
		if !seen[c.Name] {
			out = append(out, ImageChange{Container: c.Name, From: c.Image})
		}
	}
	return out
}

// GateMessage is the message an approval gate posts: what is being rolled
// out, where it stands, who may decide, an optional reason field, and
// Approve / Reject buttons bound to this rollout, revision and step. It is
// an Event (EventApprovalRequested) so Notifier.Post posts it once per
// gate, across restarts.
func GateMessage(g GateInfo) Event {
	b := g.Binding()
	ref := esc(g.Rollout.ref())
	step := fmt.Sprintf("%d", g.Step)
	if g.StepName != "" {
		step += " (" + esc(g.StepName) + ")"
	}
	fields := []*slack.TextBlockObject{
		mrkdwn("*Rollout*\n`" + ref + "`"),
		mrkdwn("*Step*\n" + step),
		mrkdwn("*Revision*\n`" + esc(g.Rollout.Revision) + "`"),
		mrkdwn("*Images*\n" + truncate(images(g.Images), 1900)),
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain(truncate("Approval needed: "+g.Rollout.ref(), 150))),
		slack.NewSectionBlock(nil, fields, nil),
	}
	if g.Analysis != "" {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(truncate("*Latest analysis*\n"+esc(g.Analysis), 3000)), nil, nil))
	}
	if g.Message != "" {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(truncate(">"+esc(g.Message), 3000)), nil, nil))
	}
	needed := max(g.MinApprovals, 1)
	blocks = append(blocks,
		slack.NewContextBlock("", mrkdwn(truncate(fmt.Sprintf("May decide: %s · needs %d approval%s, one rejection aborts", approvers(g.Approvers), needed, plural(needed)), 3000))),
		slack.NewInputBlock(BlockReason, plain("Reason (optional)"), nil,
			slack.NewPlainTextInputBlockElement(plain("Why you approve or reject"), ActionReason).WithMaxLength(1024)).WithOptional(true),
		slack.NewActionBlock(BlockDecision,
			slack.NewButtonBlockElement(ActionApprove, b.Value(), plain("Approve")).WithStyle(slack.StylePrimary),
			slack.NewButtonBlockElement(ActionReject, b.Value(), plain("Reject")).WithStyle(slack.StyleDanger).
				WithConfirm(slack.NewConfirmationBlockObject(plain("Reject this revision?"),
					mrkdwn(fmt.Sprintf("Rejecting aborts the rollout of `%s`: all traffic returns to stable.", esc(g.Rollout.Revision))),
					plain("Reject"), plain("Cancel")))),
		statusBlock(fmt.Sprintf(":hourglass_flowing_sand: Waiting for %d approval%s", needed, plural(needed))),
	)
	return Event{
		ID:     b.GateEventID(),
		Kind:   EventApprovalRequested,
		Text:   fmt.Sprintf("Approval needed: %s revision %s step %d", g.Rollout.ref(), g.Rollout.Revision, g.Step),
		Blocks: blocks,
	}
}

func statusBlock(text string) slack.Block {
	return slack.NewContextBlock(BlockStatus, mrkdwn(truncate(text, 3000)))
}

func images(changes []ImageChange) string {
	if len(changes) == 0 {
		return "no image change (the pod template changed otherwise)"
	}
	var lines []string
	for _, c := range changes {
		switch {
		case c.From == "":
			lines = append(lines, fmt.Sprintf("%s: added `%s`", esc(c.Container), esc(c.To)))
		case c.To == "":
			lines = append(lines, fmt.Sprintf("%s: removed (was `%s`)", esc(c.Container), esc(c.From)))
		default:
			lines = append(lines, fmt.Sprintf("%s: `%s` → `%s`", esc(c.Container), esc(c.From), esc(c.To)))
		}
	}
	return strings.Join(lines, "\n")
}

// approvers lists who may decide: Slack users and user groups as mentions
// (Slack renders them as names), Kubernetes identities as plain text, since
// they approve through kubectl.
func approvers(a sluicev1.Approvers) string {
	var who []string
	for _, u := range a.SlackUsers {
		who = append(who, "<@"+esc(u)+">")
	}
	for _, g := range a.SlackUserGroups {
		who = append(who, "<!subteam^"+esc(g)+">")
	}
	var kube []string
	for _, u := range a.Users {
		kube = append(kube, "`"+esc(u)+"`")
	}
	for _, g := range a.Groups {
		kube = append(kube, "group `"+esc(g)+"`")
	}
	if len(kube) > 0 {
		who = append(who, "with kubectl sluice approve: "+strings.Join(kube, ", "))
	}
	if len(who) == 0 {
		return "nobody"
	}
	return strings.Join(who, ", ")
}

func plural(n int32) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// DecidedBlocks is the gate message after a decision: the original blocks
// with the status line replaced by the outcome and, once the gate is
// decided (passed or rejected), without the reason field and buttons.
// While more approvals are needed the buttons stay for the others. The
// status names everyone who approved so far, not only this click, so
// concurrent updates converge on the full picture.
func DecidedBlocks(original []slack.Block, o Outcome) []slack.Block {
	status := statusBlock(StatusText(o))
	var out []slack.Block
	replaced := false
	for _, b := range original {
		switch b.ID() {
		case BlockStatus:
			out = append(out, status)
			replaced = true
		case BlockDecision, BlockReason:
			if !o.Final() {
				out = append(out, b)
			}
		default:
			out = append(out, b)
		}
	}
	if !replaced {
		out = append(out, status)
	}
	return out
}

// StatusText is the one-line state of a gate after a decision.
func StatusText(o Outcome) string {
	switch {
	case o.Rejected != nil:
		s := fmt.Sprintf(":x: Rejected by %s %s", who(o.Rejected.By), when(o.Rejected.At))
		if o.Rejected.Reason != "" {
			s += ": " + esc(o.Rejected.Reason)
		}
		return s + "; the rollout aborts"
	case o.Passed():
		return fmt.Sprintf(":white_check_mark: Approved by %s %s", whoList(o.Approvers), when(o.At))
	case len(o.Approvers) > 0:
		return fmt.Sprintf(":hourglass_flowing_sand: %d of %d approvals (%s); waiting for more", len(o.Approvers), o.Needed, whoList(o.Approvers))
	default:
		return fmt.Sprintf(":hourglass_flowing_sand: Waiting for %d approval%s", max(o.Needed, 1), plural(max(o.Needed, 1)))
	}
}

// who renders an approval.Identity: Slack users as mentions.
func who(identity string) string {
	if u, ok := strings.CutPrefix(identity, "slack:"); ok {
		return "<@" + esc(u) + ">"
	}
	return "`" + esc(identity) + "`"
}

func whoList(ids []string) string {
	var out []string
	for _, id := range ids {
		out = append(out, who(id))
	}
	return strings.Join(out, ", ")
}

// when renders a time with Slack's date formatting, so each reader sees
// their own time zone; the fallback is UTC.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmt.Sprintf("at <!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}
