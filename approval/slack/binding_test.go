package slack_test

import (
	"testing"

	. "github.com/onsi/gomega"

	sluiceslack "github.com/sluice-dev/sluice/approval/slack"
)

func TestBinding(t *testing.T) {
	g := NewWithT(t)
	b := sluiceslack.Binding{RolloutUID: "6f1c2f1e-0000-4000-8000-000000000001", Namespace: "shop", Rollout: "web", Revision: "7d9f8c6b5a", Step: 3}
	got, err := sluiceslack.ParseBinding(b.Value())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal(b))
	g.Expect(len(b.Value())).To(BeNumerically("<", 2000), "Slack's limit for a button value")
	g.Expect(b.GateEventID()).To(Equal("6f1c2f1e-0000-4000-8000-000000000001/7d9f8c6b5a/ApprovalRequested/3"))

	for _, bad := range []string{
		"", "uid|rev|3", `{"v":2,"u":"x","r":"y","s":1}`, `{"v":1,"r":"y","s":1}`, `{"v":1,"u":"x","s":1}`,
		`{"v":1,"u":"x","r":"y","s":-2}`, `{"v":1,"u":"x","r":"y","s":1,"admin":true}`,
	} {
		_, err := sluiceslack.ParseBinding(bad)
		g.Expect(err).To(HaveOccurred(), bad)
	}
}
