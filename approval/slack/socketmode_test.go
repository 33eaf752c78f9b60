package slack_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	. "github.com/onsi/gomega"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	sluiceslack "github.com/sluice-dev/sluice/approval/slack"
	"github.com/sluice-dev/sluice/internal/slackfake"
)

// A click over Socket Mode is recorded before its envelope is
// acknowledged, and the message is updated after; a refused one is
// acknowledged too, with nothing recorded.
func TestSocketModeClick(t *testing.T) {
	w := newWorld(t, gateSteps)
	g := w.g
	ts := w.postGate(w.rev, 1)

	ctx, cancel := context.WithCancel(w.ctx)
	done := make(chan error, 1)
	go func() {
		done <- sluiceslack.RunSocketMode(ctx, sluiceslack.NewSecret(slackfake.DefaultAppToken), sluiceslack.NewSecret(slackfake.DefaultBotToken), w.rec,
			sluiceslack.WithAPIURL(w.fake.APIURL()), sluiceslack.WithLogger(testr.New(t)))
	}()
	defer func() {
		cancel()
		g.Expect(<-done).To(Succeed())
	}()
	wait, stop := context.WithTimeout(w.ctx, 30*time.Second)
	defer stop()
	g.Expect(w.fake.WaitForSocket(wait)).To(Succeed())

	p, err := w.fake.ButtonClick(channel, ts, sluiceslack.ActionApprove, mal)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = w.fake.DeliverInteractive(wait, p)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(w.approvals()).To(BeEmpty())
	g.Eventually(w.ephemerals, 10*time.Second, 50*time.Millisecond).Should(ConsistOf(ContainSubstring("not on this gate's approver list")))

	p, err = w.fake.ButtonClick(channel, ts, sluiceslack.ActionApprove, alice)
	g.Expect(err).NotTo(HaveOccurred())
	ack, err := w.fake.DeliverInteractive(wait, p)
	g.Expect(err).NotTo(HaveOccurred())
	items := w.approvals() // read right after the ack: recorded before it
	g.Expect(items).To(HaveLen(1))
	g.Expect(items[0].Spec.Approver.SlackUser).To(Equal("UALICE"))
	g.Expect(items[0].Spec.Decision).To(Equal(sluicev1.DecisionApprove))
	g.Expect(ack.EnvelopeID).NotTo(BeEmpty())
	g.Expect(w.fake.Acks()).To(HaveLen(2))
	g.Expect(w.rec.calls.Load()).To(BeEquivalentTo(2))
	g.Eventually(func() []slackfake.Button {
		m, _ := w.fake.Message(channel, ts)
		return m.Buttons()
	}, 10*time.Second, 50*time.Millisecond).Should(BeEmpty())
}
