package slack

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// SignatureWindow is how far a request's timestamp may be from now, as
// Slack recommends and slack-go enforces.
const SignatureWindow = 5 * time.Minute

// errUnauthenticated marks requests that did not come from Slack.
var errUnauthenticated = errors.New("request not authenticated as Slack's")

// verifier checks that a request body was signed by Slack, recently, once.
type verifier struct {
	secrets []Secret
	now     func() time.Time
	replay  *replayGuard
}

// verify checks the timestamp against our own clock (slack-go checks it
// too, against time.Now, but an explicit check keeps the rule visible and
// testable with a clock), then the signature with each configured secret
// (several while a rotated signing secret rolls out), then replay.
func (v *verifier) verify(h http.Header, body []byte) error {
	stamp := h.Get("X-Slack-Request-Timestamp")
	secs, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: missing or malformed X-Slack-Request-Timestamp", errUnauthenticated)
	}
	ts, now := time.Unix(secs, 0), v.now()
	if d := now.Sub(ts); d > SignatureWindow || d < -SignatureWindow {
		return fmt.Errorf("%w: timestamp %s is %s away from now, outside the %s window", errUnauthenticated, ts.UTC().Format(time.RFC3339), d.Round(time.Second), SignatureWindow)
	}
	var last error
	ok := false
	for _, s := range v.secrets {
		sv, err := slack.NewSecretsVerifier(h, s.Reveal())
		if err != nil {
			last = err
			continue
		}
		if _, err := sv.Write(body); err != nil {
			return fmt.Errorf("hashing the body: %w", err)
		}
		if last = sv.Ensure(); last == nil {
			ok = true
			break
		}
	}
	if !ok {
		return fmt.Errorf("%w: %w", errUnauthenticated, last)
	}
	// Hex decoding accepts either case, so the same signature can be
	// spelled two ways; the key must not tell them apart.
	key := stamp + ":" + strings.ToLower(h.Get("X-Slack-Signature"))
	if !v.replay.first(key, ts, now) {
		return fmt.Errorf("%w: replayed request (this timestamp and signature were already accepted)", errUnauthenticated)
	}
	return nil
}
