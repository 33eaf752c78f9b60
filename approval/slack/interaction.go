package slack

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/slack-go/slack"
)

// DefaultRecordTimeout bounds Recorder.Record. Slack shows an error to the
// clicker when the answer takes longer than 3 s; the rest is for the
// network and the answer itself.
const DefaultRecordTimeout = 2500 * time.Millisecond

// followUpTimeout bounds the message update after the answer.
const followUpTimeout = 15 * time.Second

// interactions turns verified clicks into decisions; the HTTP handler and
// Socket Mode share it, since only how a click arrives differs.
type interactions struct {
	recorder Recorder
	// api updates gate messages with chat.update; responder posts to
	// response URLs (which need no token).
	api, responder *slack.Client
	log            logr.Logger
	timeout        time.Duration
	followUps      sync.WaitGroup
}

func newInteractions(rec Recorder, api *slack.Client, log logr.Logger, timeout time.Duration) *interactions {
	if timeout <= 0 {
		timeout = DefaultRecordTimeout
	}
	responder := api
	if responder == nil {
		responder = slack.New("")
	}
	return &interactions{recorder: rec, api: api, responder: responder, log: log, timeout: timeout}
}

// decisionFrom reads a click on a gate button. ours is false for any other
// interaction, which the caller acknowledges and ignores.
func decisionFrom(cb *slack.InteractionCallback) (d Decision, ours bool, err error) {
	if cb.Type != slack.InteractionTypeBlockActions {
		return Decision{}, false, nil
	}
	var act *slack.BlockAction
	for _, a := range cb.ActionCallback.BlockActions {
		if a.ActionID == ActionApprove || a.ActionID == ActionReject {
			act = a
			break
		}
	}
	if act == nil {
		return Decision{}, false, nil
	}
	d = Decision{
		Approve:     act.ActionID == ActionApprove,
		SlackUser:   cb.User.ID,
		TeamID:      cb.Team.ID,
		ResponseURL: cb.ResponseURL,
		Channel:     cb.Container.ChannelID,
		MessageTS:   cb.Container.MessageTs,
		ActionTS:    act.ActionTs,
	}
	d.SlackUserName = cb.User.Username
	if d.SlackUserName == "" {
		d.SlackUserName = cb.User.Name
	}
	if d.Channel == "" {
		d.Channel = cb.Channel.ID
	}
	if d.MessageTS == "" {
		d.MessageTS = cb.Message.Timestamp
	}
	if st := cb.BlockActionState; st != nil {
		if v, ok := st.Values[BlockReason][ActionReason]; ok {
			d.Comment = truncate(strings.TrimSpace(v.Value), 1024)
		}
	}
	if d.SlackUser == "" {
		return d, true, fmt.Errorf("the click names no Slack user")
	}
	d.Binding, err = ParseBinding(act.Value)
	return d, true, err
}

// handle records a click synchronously, within the record timeout, and
// returns what to do once Slack has its answer (nil when nothing): update
// the gate message, or tell the clicker why nothing happened. The
// follow-up runs on its own context, since the request's ends with the
// answer.
func (x *interactions) handle(ctx context.Context, cb *slack.InteractionCallback) func() {
	d, ours, err := decisionFrom(cb)
	if !ours {
		return nil
	}
	log := x.log.WithValues("slackUser", d.SlackUser, "rollout", d.Namespace+"/"+d.Rollout, "rolloutUID", d.RolloutUID,
		"revision", d.Revision, "step", d.Step, "decision", d.ApprovalDecision())
	if err != nil {
		log.Info("Ignoring a Slack click that carries no valid gate binding", "reason", err.Error())
		return x.later(func(ctx context.Context) {
			x.ephemeral(ctx, log, d.ResponseURL, ":no_entry: This button is not a valid sluice approval button; nothing was recorded.")
		})
	}
	rctx, cancel := context.WithTimeout(ctx, x.timeout)
	defer cancel()
	o, err := x.recorder.Record(rctx, d)
	switch {
	case err != nil:
		log.Error(err, "Could not record a Slack decision")
		return x.later(func(ctx context.Context) {
			x.ephemeral(ctx, log, d.ResponseURL, ":warning: sluice could not confirm that your decision was recorded. Click again: a repeated click is safe.")
		})
	case !o.Recorded():
		log.Info("Refused a Slack decision", "reason", o.Refusal)
		return x.later(func(ctx context.Context) {
			x.ephemeral(ctx, log, d.ResponseURL, ":no_entry: "+o.Refusal+" Nothing was recorded.")
		})
	}
	log.Info("Recorded a Slack decision", "approval", o.Approval, "duplicate", o.Duplicate)
	original, text := cb.Message.Blocks.BlockSet, cb.Message.Text
	return x.later(func(ctx context.Context) {
		x.update(ctx, log, d, original, text, o)
		if o.Duplicate {
			x.ephemeral(ctx, log, d.ResponseURL, fmt.Sprintf("You already decided %s at this gate %s; a recorded decision cannot be changed.", o.Decision, when(o.At)))
		}
	})
}

func (x *interactions) later(f func(context.Context)) func() {
	x.followUps.Add(1)
	return func() {
		defer x.followUps.Done()
		ctx, cancel := context.WithTimeout(context.Background(), followUpTimeout)
		defer cancel()
		f(ctx)
	}
}

// wait blocks until every follow-up has finished or ctx ends.
func (x *interactions) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { x.followUps.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// update shows the outcome in the gate message: chat.update first (the
// bot owns the message), the response_url if that fails. The gate's event
// metadata is written again so that the Notifier still finds the message
// after a restart, whatever Slack does with metadata on update.
func (x *interactions) update(ctx context.Context, log logr.Logger, d Decision, original []slack.Block, text string, o Outcome) {
	blocks := DecidedBlocks(original, o)
	opts := []slack.MsgOption{slack.MsgOptionBlocks(blocks...), slack.MsgOptionText(text, false)}
	if x.api != nil && d.Channel != "" && d.MessageTS != "" {
		meta := eventMetadata(d.GateEventID(), EventApprovalRequested)
		_, _, _, err := x.api.UpdateMessageContext(ctx, d.Channel, d.MessageTS, append(opts, slack.MsgOptionMetadata(meta))...)
		if err == nil {
			return
		}
		log.Error(err, "Could not update the gate message with chat.update; trying its response_url", "channel", d.Channel, "ts", d.MessageTS)
	}
	if d.ResponseURL == "" {
		return
	}
	if _, _, err := x.responder.PostMessageContext(ctx, "", append(opts, slack.MsgOptionReplaceOriginal(d.ResponseURL))...); err != nil {
		log.Error(err, "Could not update the gate message through its response_url")
	}
}

// ephemeral tells only the clicker.
func (x *interactions) ephemeral(ctx context.Context, log logr.Logger, responseURL, text string) {
	if responseURL == "" {
		return
	}
	if _, _, err := x.responder.PostMessageContext(ctx, "", slack.MsgOptionResponseURL(responseURL, slack.ResponseTypeEphemeral), slack.MsgOptionText(text, false)); err != nil {
		log.Error(err, "Could not answer the clicker through the response_url")
	}
}
