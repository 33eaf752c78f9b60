package slack

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/sluice-dev/sluice/internal/slackfake"
)

// The verifier accepts a fresh request signed with any configured secret,
// once, and nothing else.
func TestVerifier(t *testing.T) {
	// slack-go checks the window against time.Now, so the test uses it too.
	now := time.Now()
	body := []byte("payload=%7B%7D")
	header := func(secret string, at time.Time, mutate func(http.Header)) http.Header {
		ts := strconv.FormatInt(at.Unix(), 10)
		h := http.Header{}
		h.Set("X-Slack-Request-Timestamp", ts)
		h.Set("X-Slack-Signature", slackfake.Sign(secret, ts, body))
		if mutate != nil {
			mutate(h)
		}
		return h
	}
	for _, tc := range []struct {
		name    string
		h       http.Header
		wantErr string
	}{
		{"current secret", header("new", now, nil), ""},
		{"previous secret during rotation", header("old", now.Add(-time.Minute), nil), ""},
		{"unknown secret", header("other", now, nil), "invalid signature"},
		{"no signature", header("new", now, func(h http.Header) { h.Del("X-Slack-Signature") }), "missing headers"},
		{"no timestamp", header("new", now, func(h http.Header) { h.Del("X-Slack-Request-Timestamp") }), "malformed X-Slack-Request-Timestamp"},
		{"six minutes old", header("new", now.Add(-6*time.Minute), nil), "outside the 5m0s window"},
		{"six minutes ahead", header("new", now.Add(6*time.Minute), nil), "outside the 5m0s window"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			h := tc.h
			v := &verifier{secrets: []Secret{NewSecret("new"), NewSecret("old")}, now: time.Now, replay: newReplayGuard(SignatureWindow, 10)}
			err := v.verify(h, body)
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(v.verify(h, body)).To(MatchError(ContainSubstring("replayed")))
			upper := h.Clone()
			upper.Set("X-Slack-Signature", "v0="+strings.ToUpper(strings.TrimPrefix(h.Get("X-Slack-Signature"), "v0=")))
			g.Expect(v.verify(upper, body)).To(MatchError(ContainSubstring("replayed")), "the same signature in upper case is the same request")
		})
	}
}

// The replay memory stays within its capacity, forgetting expired entries
// first and then the oldest.
func TestReplayGuardIsBounded(t *testing.T) {
	g := NewWithT(t)
	now := time.Unix(1_800_000_000, 0)
	r := newReplayGuard(5*time.Minute, 3)
	g.Expect(r.first("a", now.Add(-6*time.Minute), now)).To(BeTrue()) // already expired when stored
	g.Expect(r.first("b", now, now)).To(BeTrue())
	g.Expect(r.first("c", now, now)).To(BeTrue())
	g.Expect(r.first("d", now, now)).To(BeTrue())
	g.Expect(r.expiry).To(HaveLen(3))
	g.Expect(r.expiry).NotTo(HaveKey("a"), "expired entries go first")
	g.Expect(r.first("b", now, now)).To(BeFalse())
	g.Expect(r.first("e", now, now)).To(BeTrue())
	g.Expect(r.expiry).To(HaveLen(3))
	g.Expect(r.expiry).NotTo(HaveKey("b"), "then the oldest")
	for i := range 100 {
		r.first(fmt.Sprint(i), now, now)
	}
	g.Expect(len(r.expiry)).To(Equal(3))
	g.Expect(len(r.order)).To(Equal(3))
}
