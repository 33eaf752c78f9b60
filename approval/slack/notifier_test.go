package slack_test

import (
	"context"
	"testing"

	"github.com/go-logr/logr/testr"
	. "github.com/onsi/gomega"
	"github.com/slack-go/slack"

	sluiceslack "github.com/sluice-dev/sluice/approval/slack"
	"github.com/sluice-dev/sluice/internal/slackfake"
)

// An event is posted once: again from the same Notifier (its memory) and
// from a fresh one, as after a restart (the channel's history).
func TestNotifierPostsAnEventOnce(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	fake := slackfake.New(slackfake.Options{})
	defer fake.Close()
	api := slack.New(slackfake.DefaultBotToken, slack.OptionAPIURL(fake.APIURL()))
	ro := sluiceslack.RolloutInfo{Namespace: "shop", Name: "web", UID: "uid-1", Revision: "rev1"}
	started := sluiceslack.RolloutEvent(sluiceslack.EventStarted, ro, -1, "canary, 4 steps")
	g.Expect(started.ID).To(Equal("uid-1/rev1/Started/-1"))

	n := sluiceslack.NewNotifier(api, testr.New(t))
	ts, err := n.Post(ctx, "C1", started)
	g.Expect(err).NotTo(HaveOccurred())
	again, err := n.Post(ctx, "C1", started)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(again).To(Equal(ts))
	g.Expect(fake.Requests("conversations.history")).To(HaveLen(1), "the same Notifier remembers")

	// Other traffic in the channel since, then a restart.
	fake.Post("C1", "someone talking", nil)
	fake.Post("C1", "another app's event", &slackfake.Metadata{EventType: "other_app", EventPayload: map[string]any{"event_id": started.ID}})
	restarted := sluiceslack.NewNotifier(api, testr.New(t))
	again, err = restarted.Post(ctx, "C1", started)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(again).To(Equal(ts))
	g.Expect(fake.Requests("chat.postMessage")).To(HaveLen(1))
	h := fake.Requests("conversations.history")[1]
	g.Expect(h.Form.Get("include_all_metadata")).To(Equal("1"))
	g.Expect(h.Form.Get("oldest")).NotTo(BeEmpty())

	// Another event of the same rollout is another message.
	step := sluiceslack.RolloutEvent(sluiceslack.EventStepReached, ro, 2, "")
	_, err = restarted.Post(ctx, "C1", step)
	g.Expect(err).NotTo(HaveOccurred())
	msgs := fake.Messages("C1")
	g.Expect(msgs).To(HaveLen(4))
	g.Expect(msgs[0].Metadata.EventPayload).To(HaveKeyWithValue("event_id", started.ID))
	g.Expect(msgs[3].Metadata.EventPayload).To(HaveKeyWithValue("event_id", "uid-1/rev1/StepReached/2"))
	g.Expect(msgs[3].Text).To(Equal("shop/web StepReached revision rev1 step 2"))
}

// The look-back is bounded and pages through history: an event within
// Lookback messages is found across pages, one beyond it is not (and is
// posted again, which is the documented cost of bounding the look-up).
func TestNotifierLookBack(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	fake := slackfake.New(slackfake.Options{})
	defer fake.Close()
	api := slack.New(slackfake.DefaultBotToken, slack.OptionAPIURL(fake.APIURL()))
	ev := sluiceslack.Event{ID: "uid/rev/Promoted/-1", Kind: sluiceslack.EventPromoted, Text: "promoted"}
	_, err := sluiceslack.NewNotifier(api, testr.New(t)).Post(ctx, "C1", ev)
	g.Expect(err).NotTo(HaveOccurred())
	for range 5 {
		fake.Post("C1", "chatter", nil)
	}
	wide := &sluiceslack.Notifier{API: api, Lookback: 250}
	_, found, err := wide.Find(ctx, "C1", ev.ID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(found).To(BeTrue())

	narrow := &sluiceslack.Notifier{API: api, Lookback: 3}
	_, found, err = narrow.Find(ctx, "C1", ev.ID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(found).To(BeFalse())
	g.Expect(fake.Requests("conversations.history")[len(fake.Requests("conversations.history"))-1].Form.Get("limit")).To(Equal("3"))

	_, err = narrow.Post(ctx, "C1", sluiceslack.Event{Text: "no id"})
	g.Expect(err).To(MatchError(ContainSubstring("no ID")))
}

// A restart while a gate waits does not post a second gate message.
func TestGateMessageSurvivesRestart(t *testing.T) {
	w := newWorld(t, gateSteps)
	g := w.g
	ts := w.postGate(w.rev, 1)
	w.click(ts, sluiceslack.ActionApprove, mal) // refused: the message is unchanged
	restarted := sluiceslack.NewNotifier(w.api, testr.New(t))
	again, err := restarted.Post(w.ctx, channel, sluiceslack.GateMessage(w.gateInfo(w.rev, 1)))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(again).To(Equal(ts))
	g.Expect(w.fake.Messages(channel)).To(HaveLen(1))
}
