package slack_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	. "github.com/onsi/gomega"

	sluiceslack "github.com/sluice-dev/sluice/approval/slack"
	"github.com/sluice-dev/sluice/internal/slackfake"
)

// Requests that are not a signed form with a payload are turned away
// before anything reads them as a click.
func TestMalformedRequests(t *testing.T) {
	w := newWorld(t, gateSteps)
	signed := func(body string) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, w.url, strings.NewReader(body))
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		r.Header.Set("X-Slack-Request-Timestamp", ts)
		r.Header.Set("X-Slack-Signature", slackfake.Sign(signingSecret, ts, []byte(body)))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}
	get, _ := http.NewRequest(http.MethodGet, w.url, nil)
	for _, tc := range []struct {
		name   string
		req    *http.Request
		status int
	}{
		{"GET", get, http.StatusMethodNotAllowed},
		{"unsigned", func() *http.Request { r := signed("payload=%7B%7D"); r.Header.Del("X-Slack-Signature"); return r }(), http.StatusUnauthorized},
		{"oversized", signed("payload=" + strings.Repeat("x", sluiceslack.DefaultMaxBody)), http.StatusRequestEntityTooLarge},
		{"signed without payload", signed("foo=bar"), http.StatusBadRequest},
		{"signed with broken JSON", signed("payload=%7B"), http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			resp, err := http.DefaultClient.Do(tc.req)
			g.Expect(err).NotTo(HaveOccurred())
			resp.Body.Close()
			g.Expect(resp.StatusCode).To(Equal(tc.status))
		})
	}
	w.g.Expect(w.rec.calls.Load()).To(BeZero())
}

// Without a bot client the message is updated through the click's
// response_url instead of chat.update.
func TestUpdateThroughResponseURL(t *testing.T) {
	w := newWorld(t, gateSteps)
	g := w.g
	h, err := sluiceslack.NewHandler(sluiceslack.HandlerOptions{
		SigningSecrets: []sluiceslack.Secret{sluiceslack.NewSecret(signingSecret)}, Recorder: w.rec, Log: testr.New(t),
	})
	g.Expect(err).NotTo(HaveOccurred())
	srv := httptest.NewServer(h)
	defer srv.Close()
	ts := w.postGate(w.rev, 1)
	p, err := w.fake.ButtonClick(channel, ts, sluiceslack.ActionApprove, alice)
	g.Expect(err).NotTo(HaveOccurred())
	res, err := w.fake.Click(srv.URL, signingSecret, p)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Status).To(Equal(http.StatusOK))
	g.Expect(h.Wait(w.ctx)).To(Succeed())

	g.Expect(w.fake.Requests("chat.update")).To(BeEmpty())
	responses := w.fake.Responses()
	g.Expect(responses).To(HaveLen(1))
	g.Expect(responses[0].ReplaceOriginal).To(BeTrue())
	m, _ := w.fake.Message(channel, ts)
	g.Expect(m.Buttons()).To(BeEmpty())
	g.Expect(w.approvals()).To(HaveLen(1))
}
