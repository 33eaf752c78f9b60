package slack

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Keys of the Secret that holds Slack credentials.
const (
	KeyBotToken      = "bot-token"
	KeySigningSecret = "signing-secret"
	KeyAppToken      = "app-token"
)

// Secret is a credential that does not print: every fmt verb, JSON and
// logr render it as "[redacted]", so a Credentials value can be logged or
// wrapped into an error without leaking. Reveal is the only way out.
type Secret struct{ value string }

// NewSecret wraps a credential.
func NewSecret(v string) Secret { return Secret{value: v} }

// Reveal returns the credential, for the one call that needs it.
func (s Secret) Reveal() string { return s.value }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.value == "" }

const redacted = "[redacted]"

func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	return redacted
}

// GoString covers %#v.
func (s Secret) GoString() string { return "slack.Secret(" + s.String() + ")" }

// Format covers every other verb (%x of a string would otherwise print its
// bytes).
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, s.GoString())
		return
	}
	_, _ = io.WriteString(f, s.String())
}

// MarshalJSON keeps secrets out of JSON (and zap's reflection encoder).
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalLog is logr's hook.
func (s Secret) MarshalLog() any { return s.String() }

// Credentials are the Slack app's credentials.
type Credentials struct {
	// BotToken (xoxb-) calls the Web API.
	BotToken Secret
	// SigningSecret verifies HTTP interaction requests.
	SigningSecret Secret
	// AppToken (xapp-) opens Socket Mode connections; optional.
	AppToken Secret
}

// CredentialsFromSecret reads a Kubernetes Secret's data. bot-token is
// required, and at least one of signing-secret (HTTP interactions) and
// app-token (Socket Mode), since without either no click could be
// verified. Surrounding whitespace is dropped: a value written with
// `echo` ends in a newline that Slack would reject as invalid_auth, far
// from the cause. Errors name keys, never values.
func CredentialsFromSecret(data map[string][]byte) (Credentials, error) {
	get := func(k string) string { return strings.TrimSpace(string(data[k])) }
	c := Credentials{
		BotToken:      NewSecret(get(KeyBotToken)),
		SigningSecret: NewSecret(get(KeySigningSecret)),
		AppToken:      NewSecret(get(KeyAppToken)),
	}
	var errs []error
	switch {
	case c.BotToken.IsZero():
		errs = append(errs, fmt.Errorf("key %s is missing or empty", KeyBotToken))
	case !strings.HasPrefix(c.BotToken.Reveal(), "xoxb-"):
		errs = append(errs, fmt.Errorf("key %s does not hold a bot token (they start with xoxb-)", KeyBotToken))
	}
	if !c.AppToken.IsZero() && !strings.HasPrefix(c.AppToken.Reveal(), "xapp-") {
		errs = append(errs, fmt.Errorf("key %s does not hold an app-level token (they start with xapp-)", KeyAppToken))
	}
	if c.SigningSecret.IsZero() && c.AppToken.IsZero() {
		errs = append(errs, fmt.Errorf("neither key %s (HTTP interactions) nor key %s (Socket Mode) is set, so no click could be verified", KeySigningSecret, KeyAppToken))
	}
	if err := errors.Join(errs...); err != nil {
		return Credentials{}, fmt.Errorf("slack credentials: %w", err)
	}
	return c, nil
}
