package slack_test

import (
	"encoding/json"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	sluiceslack "github.com/sluice-dev/sluice/approval/slack"
)

// Opening a gate posts one message, however often the controller asks,
// with Approve and Reject buttons bound to this rollout UID, revision and
// step, and with what an approver needs to decide.
func TestGatePostsOneBoundMessage(t *testing.T) {
	w := newWorld(t, gateSteps)
	g := w.g
	ts := w.postGate(w.rev, 1)
	g.Expect(w.postGate(w.rev, 1)).To(Equal(ts), "the same gate again is the same message")

	msgs := w.fake.Messages(channel)
	g.Expect(msgs).To(HaveLen(1))
	g.Expect(w.fake.Requests("chat.postMessage")).To(HaveLen(1))
	m := msgs[0]
	g.Expect(m.Metadata.EventType).To(Equal(sluiceslack.MetadataEventType))
	g.Expect(m.Metadata.EventPayload).To(HaveKeyWithValue("event_id", string(w.ro.UID)+"/"+w.rev+"/ApprovalRequested/1"))

	want := sluiceslack.Binding{RolloutUID: string(w.ro.UID), Namespace: w.ns, Rollout: "web", Revision: w.rev, Step: 1}
	buttons := m.Buttons()
	g.Expect(buttons).To(HaveLen(2))
	for i, action := range []string{sluiceslack.ActionApprove, sluiceslack.ActionReject} {
		g.Expect(buttons[i].ActionID).To(Equal(action))
		g.Expect(buttons[i].BlockID).To(Equal(sluiceslack.BlockDecision))
		b, err := sluiceslack.ParseBinding(buttons[i].Value)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(b).To(Equal(want))
	}
	g.Expect(buttons[0].Style).To(Equal("primary"))
	g.Expect(buttons[1].Style).To(Equal("danger"))

	text := string(m.Blocks)
	for _, s := range []string{
		w.ns + "/web", "`web:1` → `web:2`", "1 (approval)", w.rev, "error-rate 0.2% ≤ 1%: Successful",
		"<@UALICE>", "<!subteam^SRELEASE>", "kubectl sluice approve: `alice`", "Check the dashboards", sluiceslack.BlockStatus,
	} {
		g.Expect(text).To(ContainSubstring(jsonEscaped(s)))
	}
	g.Expect(m.Text).To(ContainSubstring("Approval needed"))
}

// Text that came from users is escaped, so a rollout name or an analysis
// message cannot ping @channel or forge a link.
func TestGateMessageEscapes(t *testing.T) {
	g := NewWithT(t)
	ev := sluiceslack.GateMessage(sluiceslack.GateInfo{
		Rollout:  sluiceslack.RolloutInfo{Namespace: "ns", Name: "web", UID: "u", Revision: "r"},
		Analysis: "<!channel> <https://evil|click>", Message: "a & b",
	})
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	g.Expect(enc.Encode(ev.Blocks)).To(Succeed())
	js := buf.String()
	g.Expect(string(js)).NotTo(ContainSubstring("<!channel>"))
	g.Expect(string(js)).To(ContainSubstring("&lt;!channel&gt;"))
	g.Expect(string(js)).To(ContainSubstring("a &amp; b"))
	g.Expect(ev.ID).To(Equal("u/r/ApprovalRequested/0"))
}

func TestImageChanges(t *testing.T) {
	g := NewWithT(t)
	g.Expect(sluiceslack.ImageChanges(containers("web=web:1", "proxy=envoy:1", "old=x:1"), containers("web=web:2", "proxy=envoy:1", "new=y:1"))).To(Equal([]sluiceslack.ImageChange{
		{Container: "web", From: "web:1", To: "web:2"},
		{Container: "new", To: "y:1"},
		{Container: "old", From: "x:1"},
	}))
}

// jsonEscaped is how s appears inside a JSON string.
func jsonEscaped(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

func containers(specs ...string) []corev1.Container {
	var out []corev1.Container
	for _, s := range specs {
		name, image, _ := strings.Cut(s, "=")
		out = append(out, corev1.Container{Name: name, Image: image})
	}
	return out
}
