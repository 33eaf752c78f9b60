package slack

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/slack-go/slack"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

// DefaultGroupTTL is how long user group members are cached: long enough
// that a burst of clicks costs one usergroups.users.list call per group
// (Slack rate-limits it, tier 2), short enough that somebody removed from a
// group loses the right to approve within a minute.
const DefaultGroupTTL = time.Minute

// UserGroups resolves Slack user groups to members, with a short cache.
type UserGroups struct {
	API *slack.Client
	// TTL of cached members; DefaultGroupTTL when zero.
	TTL time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu    sync.Mutex
	cache map[string]groupMembers
}

type groupMembers struct {
	users   []string
	fetched time.Time
}

// NewUserGroups resolves groups with api.
func NewUserGroups(api *slack.Client) *UserGroups { return &UserGroups{API: api} }

// Members returns the user IDs in a user group.
func (g *UserGroups) Members(ctx context.Context, group string) ([]string, error) {
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	ttl := g.TTL
	if ttl <= 0 {
		ttl = DefaultGroupTTL
	}
	g.mu.Lock()
	if m, ok := g.cache[group]; ok && now().Sub(m.fetched) < ttl {
		g.mu.Unlock()
		return m.users, nil
	}
	g.mu.Unlock()
	users, err := g.API.GetUserGroupMembersContext(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("listing the members of Slack user group %s: %w", group, err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cache == nil {
		g.cache = map[string]groupMembers{}
	}
	g.cache[group] = groupMembers{users: users, fetched: now()}
	return users, nil
}

// Allowed reports whether a Slack user may decide at a gate with these
// approvers: listed in slackUsers, or a member of one of slackUserGroups.
// Kubernetes users and groups do not make a Slack user an approver: Slack
// and Kubernetes identities are not linked. It fails closed: when a group
// cannot be resolved and no other entry allows the user, it returns the
// error, not true. groups may be nil when the gate lists no user groups.
func Allowed(ctx context.Context, groups *UserGroups, a sluicev1.Approvers, user string) (bool, error) {
	ok, _, err := allowedVia(ctx, groups, a, user)
	return ok, err
}

// allowedVia also returns the user groups that allowed the user, for the
// record.
func allowedVia(ctx context.Context, groups *UserGroups, a sluicev1.Approvers, user string) (bool, []string, error) {
	if user == "" {
		return false, nil, nil
	}
	direct := slices.Contains(a.SlackUsers, user)
	if len(a.SlackUserGroups) == 0 {
		return direct, nil, nil
	}
	if groups == nil {
		if direct {
			return true, nil, nil
		}
		return false, nil, fmt.Errorf("the gate lists Slack user groups %v but no Slack client resolves them", a.SlackUserGroups)
	}
	var via []string
	var firstErr error
	for _, id := range a.SlackUserGroups {
		members, err := groups.Members(ctx, id)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if slices.Contains(members, user) {
			via = append(via, id)
		}
	}
	if direct || len(via) > 0 {
		return true, via, nil
	}
	return false, nil, firstErr
}
