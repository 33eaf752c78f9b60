package slackfake

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ClickOption changes how Click signs and sends a request.
type ClickOption func(*clickConfig)

type clickConfig struct {
	at     time.Time
	forged bool
}

// SignedAt sets X-Slack-Request-Timestamp (default: now), for tests of
// expired or future timestamps. The signature is still valid for it.
func SignedAt(t time.Time) ClickOption { return func(c *clickConfig) { c.at = t } }

// Forged signs with a secret other than the one given, as an attacker who
// does not know the signing secret would.
func Forged() ClickOption { return func(c *clickConfig) { c.forged = true } }

// ClickResult is the app's answer to a click.
type ClickResult struct {
	Status int
	Body   string

	target  string
	header  http.Header
	body    []byte
	client  *http.Client
	payload Payload
}

// Click sends a payload to an app's interaction endpoint exactly as Slack
// does: a form with a payload= field holding the JSON, signed with the
// app's signing secret (X-Slack-Signature = "v0=" + hex(HMAC-SHA256(secret,
// "v0:" + timestamp + ":" + body))).
func (s *Server) Click(targetURL, signingSecret string, p Payload, opts ...ClickOption) (*ClickResult, error) {
	cfg := clickConfig{at: time.Now()}
	for _, o := range opts {
		o(&cfg)
	}
	js, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encoding the payload: %w", err)
	}
	body := []byte(url.Values{"payload": {string(js)}}.Encode())
	ts := strconv.FormatInt(cfg.at.Unix(), 10)
	secret := signingSecret
	if cfg.forged {
		secret = "not-" + signingSecret
	}
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("X-Slack-Signature", Sign(secret, ts, body))
	res := &ClickResult{target: targetURL, header: h, body: body, client: &http.Client{Timeout: 10 * time.Second}, payload: p}
	return res, res.send()
}

// Replay sends the identical request again: same body, timestamp and
// signature, as an attacker who captured it would.
func (c *ClickResult) Replay() (*ClickResult, error) {
	again := &ClickResult{target: c.target, header: c.header.Clone(), body: c.body, client: c.client, payload: c.payload}
	return again, again.send()
}

// Payload is the payload that was sent.
func (c *ClickResult) Payload() Payload { return c.payload }

func (c *ClickResult) send() error {
	req, err := http.NewRequest(http.MethodPost, c.target, bytes.NewReader(c.body))
	if err != nil {
		return err
	}
	req.Header = c.header.Clone()
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("posting the interaction: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	c.Status, c.Body = resp.StatusCode, string(b)
	return err
}

// Sign computes Slack's v0 request signature.
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:", timestamp)
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}
