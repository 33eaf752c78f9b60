package slack_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/slack-go/slack"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	sluiceslack "github.com/sluice-dev/sluice/approval/slack"
	"github.com/sluice-dev/sluice/internal/slackfake"
)

func TestAllowed(t *testing.T) {
	fake := slackfake.New(slackfake.Options{UserGroups: map[string][]string{"SOPS": {"UOPS"}, "SEMPTY": {}}})
	defer fake.Close()
	api := slack.New(slackfake.DefaultBotToken, slack.OptionAPIURL(fake.APIURL()))
	for _, tc := range []struct {
		name      string
		approvers sluicev1.Approvers
		user      string
		groups    bool
		want      bool
		wantErr   string
	}{
		{name: "listed user", approvers: sluicev1.Approvers{SlackUsers: []string{"U1"}}, user: "U1", want: true},
		{name: "unlisted user", approvers: sluicev1.Approvers{SlackUsers: []string{"U1"}}, user: "U2"},
		{name: "no user", approvers: sluicev1.Approvers{SlackUsers: []string{""}}, user: ""},
		{name: "kubectl approver is not a slack approver", approvers: sluicev1.Approvers{Users: []string{"U1"}}, user: "U1"},
		{name: "group member", approvers: sluicev1.Approvers{SlackUserGroups: []string{"SEMPTY", "SOPS"}}, user: "UOPS", groups: true, want: true},
		{name: "not a member", approvers: sluicev1.Approvers{SlackUserGroups: []string{"SOPS"}}, user: "U1", groups: true},
		{name: "unknown group fails closed", approvers: sluicev1.Approvers{SlackUserGroups: []string{"SGONE"}}, user: "U1", groups: true, wantErr: "no_such_subteam"},
		{name: "listed user despite an unknown group", approvers: sluicev1.Approvers{SlackUsers: []string{"U1"}, SlackUserGroups: []string{"SGONE"}}, user: "U1", groups: true, want: true},
		{name: "groups without a client", approvers: sluicev1.Approvers{SlackUserGroups: []string{"SOPS"}}, user: "UOPS", wantErr: "no Slack client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var groups *sluiceslack.UserGroups
			if tc.groups {
				groups = sluiceslack.NewUserGroups(api)
			}
			ok, err := sluiceslack.Allowed(context.Background(), groups, tc.approvers, tc.user)
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				g.Expect(ok).To(BeFalse())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(ok).To(Equal(tc.want))
		})
	}
}

// Group members are cached briefly: a burst of clicks costs one call, and
// a change in the group shows after the TTL.
func TestUserGroupsCache(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	fake := slackfake.New(slackfake.Options{UserGroups: map[string][]string{"SOPS": {"U1"}}})
	defer fake.Close()
	now := time.Unix(1_800_000_000, 0)
	groups := &sluiceslack.UserGroups{API: slack.New(slackfake.DefaultBotToken, slack.OptionAPIURL(fake.APIURL())), TTL: time.Minute, Now: func() time.Time { return now }}
	a := sluicev1.Approvers{SlackUserGroups: []string{"SOPS"}}
	for range 3 {
		ok, err := sluiceslack.Allowed(ctx, groups, a, "U1")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(ok).To(BeTrue())
	}
	g.Expect(fake.Requests("usergroups.users.list")).To(HaveLen(1))

	fake.SetUserGroup("SOPS", "U2")
	now = now.Add(59 * time.Second)
	ok, _ := sluiceslack.Allowed(ctx, groups, a, "U1")
	g.Expect(ok).To(BeTrue(), "still cached")
	now = now.Add(2 * time.Second)
	ok, _ = sluiceslack.Allowed(ctx, groups, a, "U1")
	g.Expect(ok).To(BeFalse(), "removed from the group")
	g.Expect(fake.Requests("usergroups.users.list")).To(HaveLen(2))
}
