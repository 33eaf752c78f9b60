package slackfake_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/sluice-dev/sluice/internal/slackfake"
)

// The fake answers the real slack-go client, and refuses a wrong token the
// way Slack does.
func TestTokens(t *testing.T) {
	fake := slackfake.New(slackfake.Options{})
	defer fake.Close()
	for _, tc := range []struct {
		name, token, wantErr string
	}{
		{"bot token", slackfake.DefaultBotToken, ""},
		{"wrong token", "xoxb-wrong", "invalid_auth"},
		{"no token", "", "not_authed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			res, err := slack.New(tc.token, slack.OptionAPIURL(fake.APIURL())).AuthTest()
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(tc.wantErr))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res.UserID).To(Equal(slackfake.DefaultBotUserID))
		})
	}
	for _, r := range fake.Requests("auth.test") {
		if r.Form.Has("token") {
			t.Errorf("recorded request kept the token")
		}
	}
}

// Posted and updated messages, with metadata, come back from
// conversations.history newest first, paged and bounded by oldest.
func TestMessagesAndHistory(t *testing.T) {
	g := NewWithT(t)
	fake := slackfake.New(slackfake.Options{})
	defer fake.Close()
	api := slack.New(slackfake.DefaultBotToken, slack.OptionAPIURL(fake.APIURL()))
	ctx := context.Background()

	var tss []string
	for i, text := range []string{"one", "two", "three"} {
		meta := slack.SlackMetadata{EventType: "test_event", EventPayload: map[string]any{"n": i}}
		_, ts, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText(text, false), slack.MsgOptionMetadata(meta),
			slack.MsgOptionBlocks(slack.NewActionBlock("acts", slack.NewButtonBlockElement("act", "v"+text, slack.NewTextBlockObject(slack.PlainTextType, "Go", false, false)))))
		g.Expect(err).NotTo(HaveOccurred())
		tss = append(tss, ts)
	}
	_, _, _, err := api.UpdateMessageContext(ctx, "C1", tss[0], slack.MsgOptionText("one, edited", false))
	g.Expect(err).NotTo(HaveOccurred())
	_, _, _, err = api.UpdateMessageContext(ctx, "C1", "1.000001", slack.MsgOptionText("x", false))
	g.Expect(err).To(MatchError("message_not_found"))

	msgs := fake.Messages("C1")
	g.Expect(msgs).To(HaveLen(3))
	g.Expect(msgs[0].Text).To(Equal("one, edited"))
	g.Expect(msgs[0].Edits).To(Equal(1))
	g.Expect(msgs[0].Metadata.EventType).To(Equal("test_event"), "an update without metadata keeps it")
	g.Expect(msgs[1].Buttons()).To(Equal([]slackfake.Button{{BlockID: "acts", ActionID: "act", Value: "vtwo", Text: "Go"}}))

	h, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: "C1", Limit: 2, IncludeAllMetadata: true})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(h.Messages).To(HaveLen(2))
	g.Expect(h.Messages[0].Text).To(Equal("three"))
	g.Expect(h.Messages[0].Metadata.EventType).To(Equal("test_event"))
	g.Expect(h.HasMore).To(BeTrue())
	h, err = api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: "C1", Cursor: h.ResponseMetaData.NextCursor})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(h.Messages).To(HaveLen(1))
	g.Expect(h.Messages[0].Text).To(Equal("one, edited"))
	g.Expect(h.Messages[0].Metadata.EventType).To(BeEmpty(), "metadata only with include_all_metadata")

	h, err = api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: "C1", Oldest: tss[1]})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(h.Messages).To(HaveLen(1), "oldest is exclusive")
}

func TestUserGroups(t *testing.T) {
	g := NewWithT(t)
	fake := slackfake.New(slackfake.Options{UserGroups: map[string][]string{"S1": {"U1", "U2"}}})
	defer fake.Close()
	api := slack.New(slackfake.DefaultBotToken, slack.OptionAPIURL(fake.APIURL()))
	users, err := api.GetUserGroupMembers("S1")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(users).To(Equal([]string{"U1", "U2"}))
	_, err = api.GetUserGroupMembers("S2")
	g.Expect(err).To(MatchError("no_such_subteam"))
}

// A click is signed so that slack-go's own verifier accepts it, and a
// forged one is not; a response_url replacement edits the message.
func TestClickIsSignedLikeSlack(t *testing.T) {
	g := NewWithT(t)
	fake := slackfake.New(slackfake.Options{})
	defer fake.Close()
	api := slack.New(slackfake.DefaultBotToken, slack.OptionAPIURL(fake.APIURL()))
	_, ts, err := api.PostMessage("C1", slack.MsgOptionText("gate", false), slack.MsgOptionBlocks(
		slack.NewActionBlock("acts", slack.NewButtonBlockElement("approve", "bound", slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false)))))
	g.Expect(err).NotTo(HaveOccurred())

	var verified []error
	var parsed []slack.InteractionCallback
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sv, err := slack.NewSecretsVerifier(r.Header, "s3cret")
		if err == nil {
			_, _ = sv.Write(body)
			err = sv.Ensure()
		}
		verified = append(verified, err)
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		cb, perr := slack.InteractionCallbackParse(r)
		g.Expect(perr).NotTo(HaveOccurred())
		parsed = append(parsed, cb)
	}))
	defer app.Close()

	p, err := fake.ButtonClick("C1", ts, "approve", slackfake.User{ID: "U1", Username: "alice", Name: "alice"},
		slackfake.WithInput("reason", "reason", "looks good"))
	g.Expect(err).NotTo(HaveOccurred())
	res, err := fake.Click(app.URL, "s3cret", p)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Status).To(Equal(http.StatusOK))
	_, err = fake.Click(app.URL, "s3cret", p, slackfake.Forged())
	g.Expect(err).NotTo(HaveOccurred())
	_, err = fake.Click(app.URL, "s3cret", p, slackfake.SignedAt(time.Now().Add(-10*time.Minute)))
	g.Expect(err).NotTo(HaveOccurred())

	g.Expect(verified).To(HaveLen(3))
	g.Expect(verified[0]).NotTo(HaveOccurred())
	g.Expect(verified[1]).To(MatchError(slack.ErrInvalidSignature))
	g.Expect(verified[2]).To(MatchError(slack.ErrExpiredTimestamp))

	cb := parsed[0]
	g.Expect(cb.Type).To(Equal(slack.InteractionTypeBlockActions))
	g.Expect(cb.User.ID).To(Equal("U1"))
	g.Expect(cb.Container.ChannelID).To(Equal("C1"))
	g.Expect(cb.Container.MessageTs).To(Equal(ts))
	g.Expect(cb.ActionCallback.BlockActions).To(HaveLen(1))
	g.Expect(cb.ActionCallback.BlockActions[0].Value).To(Equal("bound"))
	g.Expect(cb.BlockActionState.Values["reason"]["reason"].Value).To(Equal("looks good"))

	_, _, err = api.PostMessage("", slack.MsgOptionReplaceOriginal(cb.ResponseURL), slack.MsgOptionText("replaced", false))
	g.Expect(err).NotTo(HaveOccurred())
	m, _ := fake.Message("C1", ts)
	g.Expect(m.Text).To(Equal("replaced"))
	g.Expect(fake.Responses()).To(HaveLen(1))
}

// slack-go's Socket Mode client connects with the app token, receives an
// interactive envelope and its ack reaches the fake.
func TestSocketMode(t *testing.T) {
	g := NewWithT(t)
	fake := slackfake.New(slackfake.Options{PingInterval: 200 * time.Millisecond})
	defer fake.Close()
	api := slack.New(slackfake.DefaultBotToken, slack.OptionAPIURL(fake.APIURL()), slack.OptionAppLevelToken(slackfake.DefaultAppToken))
	_, ts, err := api.PostMessage("C1", slack.MsgOptionBlocks(
		slack.NewActionBlock("acts", slack.NewButtonBlockElement("approve", "bound", slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false)))))
	g.Expect(err).NotTo(HaveOccurred())

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	smc := socketmode.New(api)
	go func() { _ = smc.RunContext(ctx) }()
	go func() {
		for evt := range smc.Events {
			if evt.Type == socketmode.EventTypeInteractive {
				cb := evt.Data.(slack.InteractionCallback)
				_ = smc.Ack(*evt.Request, map[string]string{"got": cb.ActionCallback.BlockActions[0].Value})
			}
		}
	}()
	g.Expect(fake.WaitForSocket(ctx)).To(Succeed())
	p, err := fake.ButtonClick("C1", ts, "approve", slackfake.User{ID: "U1"})
	g.Expect(err).NotTo(HaveOccurred())
	ack, err := fake.DeliverInteractive(ctx, p)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(ack.Payload)).To(MatchJSON(`{"got":"bound"}`))
	g.Expect(fake.Requests("apps.connections.open")[0].Auth).To(Equal("header"))
}
