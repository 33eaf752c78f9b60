package slack

import (
	"context"
	"fmt"
	"time"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

// Decision is one verified click on a gate's Approve or Reject button.
type Decision struct {
	// Binding is what the button was posted for: rollout UID, namespace,
	// name, revision, step.
	Binding
	// Approve is true for Approve, false for Reject.
	Approve bool
	// SlackUser is the clicker's user ID (U…), as Slack vouches for it;
	// SlackUserName is their handle, for messages only.
	SlackUser, SlackUserName string
	// TeamID is the clicker's workspace.
	TeamID string
	// Comment is what the clicker typed in the message's reason field.
	Comment string
	// ResponseURL answers the clicker (ephemeral) or replaces the message.
	ResponseURL string
	// Channel and MessageTS locate the gate message; ActionTS is the click.
	Channel, MessageTS, ActionTS string
}

// ApprovalDecision is the decision in the API's terms.
func (d Decision) ApprovalDecision() sluicev1.ApprovalDecision {
	if d.Approve {
		return sluicev1.DecisionApprove
	}
	return sluicev1.DecisionReject
}

// Recorder makes a decision durable, or refuses it.
//
// Record is called before Slack gets its answer, with a deadline inside
// Slack's 3 seconds. It returns an error only when it could not find out
// (the apiserver is unreachable, the deadline passed); a click that may
// not count is an Outcome with Refusal set. Record must be idempotent: the
// same person clicking again at the same gate changes nothing.
type Recorder interface {
	Record(ctx context.Context, d Decision) (Outcome, error)
}

// Outcome is the result of recording a decision, and the state of the gate
// after it, for the message update.
type Outcome struct {
	// Refusal, when set, says why the decision was not recorded, in words
	// for the clicker; nothing else is set then.
	Refusal string
	// Decision is the clicker's decision as recorded: their first one if
	// they had decided at this gate before (Duplicate), since an Approval
	// is immutable.
	Decision  sluicev1.ApprovalDecision
	Duplicate bool
	// Approval is the name of the Approval object; At is when it was
	// created.
	Approval string
	At       time.Time
	// Approvers who approved so far (approval.Identity form: "slack:U…"
	// or a Kubernetes user name), oldest first, and how many are needed.
	Approvers []string
	Needed    int32
	// Rejected is set when somebody rejected at this gate.
	Rejected *Rejection
}

// Rejection is the first rejection at a gate.
type Rejection struct {
	By     string
	At     time.Time
	Reason string
}

// Recorded reports whether the decision is on record.
func (o Outcome) Recorded() bool { return o.Refusal == "" }

// Passed reports whether the gate has enough approvals and no rejection.
func (o Outcome) Passed() bool {
	return o.Recorded() && o.Rejected == nil && o.Needed > 0 && int32(len(o.Approvers)) >= o.Needed
}

// Final reports whether the gate is decided, so its buttons can go.
func (o Outcome) Final() bool { return o.Passed() || (o.Recorded() && o.Rejected != nil) }

// Refused is an Outcome refusing a decision.
func Refused(format string, args ...any) Outcome {
	return Outcome{Refusal: fmt.Sprintf(format, args...)}
}
