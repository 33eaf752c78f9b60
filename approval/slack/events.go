package slack

import (
	"fmt"
	"strconv"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackutilsx"
)

// EventKind names a rollout event; the names match
// spec.notifications.slack.events, plus ApprovalRequested for gate
// messages.
type EventKind string

const (
	EventStarted           EventKind = "Started"
	EventStepReached       EventKind = "StepReached"
	EventAnalysisFailed    EventKind = "AnalysisFailed"
	EventAborted           EventKind = "Aborted"
	EventPromoted          EventKind = "Promoted"
	EventGitCommitPushed   EventKind = "GitCommitPushed"
	EventApprovalRequested EventKind = "ApprovalRequested"
)

// EventID is the deterministic ID of an event:
// "<rollout-uid>/<revision>/<kind>/<step>". The controller records it in
// status before posting, and the Notifier looks for it in the channel
// before posting, so a restart between the two never posts twice. Use step
// -1 for events that belong to no step.
func EventID(rolloutUID, revision string, kind EventKind, step int32) string {
	return rolloutUID + "/" + revision + "/" + string(kind) + "/" + strconv.Itoa(int(step))
}

// Event is one message to post.
type Event struct {
	// ID identifies the event for idempotent posting; required.
	ID   string
	Kind EventKind
	// Text is the notification and screen-reader text; Slack shows it
	// where blocks cannot be shown.
	Text string
	// Blocks are the message body; empty means Text alone.
	Blocks []slack.Block
	// FirstAttempt says no earlier attempt can have posted the event (the
	// caller recorded it just now), so Post need not search the channel's
	// history, which Slack rate-limits hard for unlisted apps.
	FirstAttempt bool
}

// RolloutInfo identifies a rollout of one revision in messages.
type RolloutInfo struct {
	Namespace, Name, UID string
	// Revision is the revision being rolled out.
	Revision string
}

func (r RolloutInfo) ref() string { return r.Namespace + "/" + r.Name }

var eventPhrases = map[EventKind]string{
	EventStarted:         ":rocket: started rolling out",
	EventStepReached:     ":arrow_forward: reached",
	EventAnalysisFailed:  ":warning: analysis failed for",
	EventAborted:         ":rewind: aborted",
	EventPromoted:        ":white_check_mark: promoted",
	EventGitCommitPushed: ":memo: pushed a commit for",
}

// RolloutEvent is a notification for a rollout event: one line saying what
// happened to which rollout and revision, and the caller's detail (the
// failing metric, the abort reason, the commit).
func RolloutEvent(kind EventKind, r RolloutInfo, step int32, detail string) Event {
	phrase, ok := eventPhrases[kind]
	if !ok {
		phrase = string(kind)
	}
	what := fmt.Sprintf("*%s* %s revision `%s`", esc(r.ref()), phrase, esc(r.Revision))
	if kind == EventStepReached {
		what = fmt.Sprintf("*%s* %s step %d of revision `%s`", esc(r.ref()), phrase, step, esc(r.Revision))
	}
	text := truncate(what, 3000)
	blocks := []slack.Block{slack.NewSectionBlock(mrkdwn(text), nil, nil)}
	if detail != "" {
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(truncate(esc(detail), 3000))))
	}
	return Event{ID: EventID(r.UID, r.Revision, kind, step), Kind: kind, Text: plainSummary(kind, r, step), Blocks: blocks}
}

func plainSummary(kind EventKind, r RolloutInfo, step int32) string {
	if step >= 0 {
		return fmt.Sprintf("%s %s revision %s step %d", r.ref(), kind, r.Revision, step)
	}
	return fmt.Sprintf("%s %s revision %s", r.ref(), kind, r.Revision)
}

// esc escapes text for mrkdwn, so a name or metric cannot inject mentions
// or links.
func esc(s string) string { return slackutilsx.EscapeMessage(s) }

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, true, false)
}

// truncate keeps s within Slack's limit for a text field, in runes.
func truncate(s string, max int) string {
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	return string(r[:max-1]) + "…"
}
