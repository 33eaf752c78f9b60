package slack

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// SocketModeOption configures RunSocketMode.
type SocketModeOption func(*socketModeConfig)

type socketModeConfig struct {
	apiURL        string
	log           logr.Logger
	recordTimeout time.Duration
	parallel      int
}

// WithAPIURL points the Web API (and so apps.connections.open) elsewhere
// than slack.com, for tests.
func WithAPIURL(u string) SocketModeOption { return func(c *socketModeConfig) { c.apiURL = u } }

// WithLogger sets the logger.
func WithLogger(l logr.Logger) SocketModeOption { return func(c *socketModeConfig) { c.log = l } }

// WithRecordTimeout bounds Recorder.Record (DefaultRecordTimeout).
func WithRecordTimeout(d time.Duration) SocketModeOption {
	return func(c *socketModeConfig) { c.recordTimeout = d }
}

// RunSocketMode receives interactions over Socket Mode until ctx ends:
// for clusters that Slack cannot reach over HTTP. The websocket is opened
// with the app-level token, so there is no request signature to check;
// every other check is the Handler's. Each envelope is acknowledged after
// the decision is recorded (Slack redelivers an unacknowledged one), then
// the message is updated.
//
// Clicks are handled concurrently, a few at a time, so one slow apiserver
// call does not make the envelopes queued behind it miss Slack's 3 s.
func RunSocketMode(ctx context.Context, appToken, botToken Secret, rec Recorder, opts ...SocketModeOption) error {
	cfg := socketModeConfig{apiURL: slack.APIURL, log: logr.Discard(), parallel: 8}
	for _, o := range opts {
		o(&cfg)
	}
	if appToken.IsZero() || botToken.IsZero() {
		return errors.New("socket mode needs an app-level token and a bot token")
	}
	if rec == nil {
		return errors.New("socket mode needs a Recorder")
	}
	api := slack.New(botToken.Reveal(), slack.OptionAppLevelToken(appToken.Reveal()), slack.OptionAPIURL(cfg.apiURL))
	smc := socketmode.New(api)
	x := newInteractions(rec, api, cfg.log, cfg.recordTimeout)
	// Follow-ups outlive ctx by at most followUpTimeout, so a shutdown
	// right after a click still updates its message.
	defer func() {
		wctx, cancel := context.WithTimeout(context.Background(), followUpTimeout)
		defer cancel()
		_ = x.wait(wctx)
	}()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- smc.RunContext(runCtx) }()
	slots := make(chan struct{}, cfg.parallel)
	for {
		select {
		case err := <-done:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("slack socket mode: %w", err)
		case evt := <-smc.Events:
			switch evt.Type {
			case socketmode.EventTypeConnected:
				cfg.log.Info("Connected to Slack Socket Mode")
			case socketmode.EventTypeConnectionError:
				cfg.log.Info("Slack Socket Mode connection failed; retrying", "error", fmt.Sprint(evt.Data))
			case socketmode.EventTypeInvalidAuth:
				return errors.New("slack socket mode: the app-level token was refused")
			case socketmode.EventTypeInteractive:
				cb, ok := evt.Data.(slack.InteractionCallback)
				if !ok || evt.Request == nil {
					continue
				}
				req := *evt.Request
				slots <- struct{}{}
				go func() {
					defer func() { <-slots }()
					followUp := x.handle(runCtx, &cb)
					if err := smc.AckCtx(runCtx, req.EnvelopeID, nil); err != nil {
						cfg.log.Error(err, "Could not acknowledge a Socket Mode envelope", "envelope", req.EnvelopeID)
					}
					if followUp != nil {
						followUp()
					}
				}()
			case socketmode.EventTypeEventsAPI, socketmode.EventTypeSlashCommand:
				// Not used by sluice; acknowledged so Slack stops
				// redelivering them.
				if evt.Request != nil {
					_ = smc.AckCtx(runCtx, evt.Request.EnvelopeID, nil)
				}
			}
		}
	}
}
