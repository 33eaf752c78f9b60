// Package approval decides approval gates: which recorded decisions count
// for a gate, and whether the gate has passed, was rejected, or waits.
// Identities are enforced before decisions get here: for kubectl by the
// apiserver (the ValidatingAdmissionPolicy in config/policy ties an
// Approval's approver to the user who created it), for Slack by signed
// requests (the Slack issue).
package approval

import (
	"slices"
	"sort"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

// Gate is one approval gate of one revision of one Rollout.
type Gate struct {
	RolloutName, RolloutUID, Revision string
	Step                              int32
	Spec                              sluicev1.ApprovalStep
}

// Verdict is the state of a gate.
type Verdict struct {
	// Approvers are the distinct allowed people who approved.
	Approvers []string
	// Needed is minApprovals.
	Needed int32
	// Rejected is the first counted rejection, if any.
	Rejected *sluicev1.Approval
	// Counted are the decisions that apply to this gate, oldest first.
	Counted []sluicev1.Approval
}

// Passed reports whether enough people approved and nobody rejected.
func (v Verdict) Passed() bool { return v.Rejected == nil && int32(len(v.Approvers)) >= v.Needed }

// Decide counts the decisions that apply to the gate: same Rollout (by UID,
// so a recreated Rollout of the same name starts clean), same revision, same
// step, from someone the gate allows. Everything else is ignored.
func Decide(g Gate, decisions []sluicev1.Approval) Verdict {
	v := Verdict{Needed: 1}
	if g.Spec.MinApprovals != nil {
		v.Needed = *g.Spec.MinApprovals
	}
	sorted := slices.Clone(decisions)
	sort.SliceStable(sorted, func(i, j int) bool {
		return sorted[i].CreationTimestamp.Before(&sorted[j].CreationTimestamp)
	})
	seen := map[string]bool{}
	for _, a := range sorted {
		s := a.Spec
		if s.RolloutRef.Name != g.RolloutName || s.RolloutRef.UID != g.RolloutUID || s.Revision != g.Revision || s.Step != g.Step {
			continue
		}
		if !Allowed(g.Spec.Approvers, s.Approver) {
			continue
		}
		v.Counted = append(v.Counted, a)
		if s.Decision == sluicev1.DecisionReject {
			if v.Rejected == nil {
				r := a
				v.Rejected = &r
			}
			continue
		}
		who := Identity(s.Approver)
		if !seen[who] {
			seen[who] = true
			v.Approvers = append(v.Approvers, who)
		}
	}
	return v
}

// Allowed reports whether an identity may decide at a gate with these
// approvers: a Kubernetes user or one of its groups, or a Slack user.
func Allowed(a sluicev1.Approvers, who sluicev1.ApproverIdentity) bool {
	if who.Channel == sluicev1.ChannelSlack {
		if who.SlackUser == "" {
			return false
		}
		if slices.Contains(a.SlackUsers, who.SlackUser) {
			return true
		}
		// The Slack recorder writes the user groups it found the user in;
		// only the manager may create Slack approvals (admission policy), so
		// they are as trustworthy as the user ID.
		for _, g := range who.Groups {
			if slices.Contains(a.SlackUserGroups, g) {
				return true
			}
		}
		return false
	}
	if who.Username != "" && slices.Contains(a.Users, who.Username) {
		return true
	}
	for _, g := range who.Groups {
		if slices.Contains(a.Groups, g) {
			return true
		}
	}
	return false
}

// Identity is how an approver is named in status and messages.
func Identity(who sluicev1.ApproverIdentity) string {
	if who.Channel == sluicev1.ChannelSlack {
		return "slack:" + who.SlackUser
	}
	return who.Username
}
