package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/go-logr/logr"
	"github.com/slack-go/slack"
)

// DefaultMaxBody bounds an interaction request. A block_actions payload
// carries the whole message it came from; sluice's gate messages are a
// few kilobytes, Slack's largest messages well under this.
const DefaultMaxBody = 256 << 10

// defaultReplayCapacity bounds the replay memory: a click a second for the
// whole five-minute window fits three times over.
const defaultReplayCapacity = 1000

// HandlerOptions configure the interaction endpoint.
type HandlerOptions struct {
	// SigningSecrets verify requests; a request signed with any of them is
	// Slack's (give old and new while a regenerated secret rolls out).
	SigningSecrets []Secret
	// Recorder makes decisions durable.
	Recorder Recorder
	// API updates gate messages (chat.update with the bot token); without
	// it they are updated through the response_url.
	API *slack.Client
	Log logr.Logger
	// MaxBody bounds request bodies; DefaultMaxBody when zero.
	MaxBody int64
	// RecordTimeout bounds Recorder.Record; DefaultRecordTimeout when zero.
	RecordTimeout time.Duration
	// Now is the clock for the timestamp window; time.Now when nil.
	Now func() time.Time
}

// Handler is the manager's Slack interaction endpoint (the app's
// Interactivity Request URL).
type Handler struct {
	verify  *verifier
	x       *interactions
	maxBody int64
	log     logr.Logger
}

// NewHandler builds the endpoint.
func NewHandler(o HandlerOptions) (*Handler, error) {
	var secrets []Secret
	for _, s := range o.SigningSecrets {
		if !s.IsZero() {
			secrets = append(secrets, s)
		}
	}
	if len(secrets) == 0 {
		return nil, errors.New("the Slack interaction handler needs a signing secret")
	}
	if o.Recorder == nil {
		return nil, errors.New("the Slack interaction handler needs a Recorder")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	return &Handler{
		verify:  &verifier{secrets: secrets, now: o.Now, replay: newReplayGuard(SignatureWindow, defaultReplayCapacity)},
		x:       newInteractions(o.Recorder, o.API, o.Log, o.RecordTimeout),
		maxBody: o.MaxBody,
		log:     o.Log,
	}, nil
}

// ServeHTTP verifies the request, records the decision, answers 200, then
// updates the message. A request that is not provably a fresh one from
// Slack gets 401 and reaches nothing else.
//
// Refusals are answered with 200 too, and explained to the clicker in an
// ephemeral message through the response_url: for block_actions Slack
// does not display the HTTP response body, and a non-200 only shows a
// generic error icon.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, fmt.Sprintf("request body over %d bytes", h.maxBody), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading the request body failed", http.StatusBadRequest)
		return
	}
	if err := h.verify.verify(r.Header, body); err != nil {
		h.log.Info("Rejected a Slack interaction request", "reason", err.Error(), "remote", r.RemoteAddr)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	cb, err := parsePayload(body)
	if err != nil {
		h.log.Info("Rejected a signed Slack interaction with an unreadable payload", "reason", err.Error())
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	followUp := h.x.handle(r.Context(), &cb)
	w.WriteHeader(http.StatusOK)
	if followUp != nil {
		go followUp()
	}
}

// Wait blocks until the message updates of answered clicks are done, for a
// graceful shutdown (and tests).
func (h *Handler) Wait(ctx context.Context) error { return h.x.wait(ctx) }

func parsePayload(body []byte) (slack.InteractionCallback, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return slack.InteractionCallback{}, fmt.Errorf("parsing the form: %w", err)
	}
	p := form.Get("payload")
	if p == "" {
		return slack.InteractionCallback{}, errors.New("no payload field")
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(p), &cb); err != nil {
		return slack.InteractionCallback{}, fmt.Errorf("decoding the payload: %w", err)
	}
	return cb, nil
}
