package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

// approveCommand creates an Approval for the rollout's current step and
// revision. The identity comes from the apiserver (SelfSubjectReview), and
// the admission policy in config/policy refuses any other.
func (o *options) approveCommand(use string, decision sluicev1.ApprovalDecision) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   use + " NAME",
		Short: map[sluicev1.ApprovalDecision]string{sluicev1.DecisionApprove: "Approve the rollout's current approval gate", sluicev1.DecisionReject: "Reject the rollout's current approval gate (aborts it)"}[decision],
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := o.decide(cmd.Context(), args[0], decision, reason)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rollout %s: %s recorded as %s for step %d of revision %s\n", args[0], decision, a.Name, a.Spec.Step, a.Spec.Revision)
			return nil
		},
	}
	cmd.Flags().StringVarP(&reason, "reason", "m", "", "why; shown in the Rollout's status")
	return cmd
}

func (o *options) decide(ctx context.Context, name string, decision sluicev1.ApprovalDecision, reason string) (*sluicev1.Approval, error) {
	c, ro, err := o.rollout(ctx, name)
	if err != nil {
		return nil, err
	}
	ns := ro.Namespace
	if ro.Status.CanaryRevision == "" || ro.Status.CurrentStepIndex == nil {
		return nil, fmt.Errorf("rollout %s has no rollout in progress, so there is no gate to %s", name, strings.ToLower(string(decision)))
	}
	cfg, err := o.flags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	who, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("asking the apiserver who you are (SelfSubjectReview): %w", err)
	}
	user := who.Status.UserInfo
	step := *ro.Status.CurrentStepIndex
	a := &sluicev1.Approval{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: fmt.Sprintf("%s-%s-%d-", ro.Name, ro.Status.CanaryRevision, step),
			Namespace:    ns,
			Labels:       map[string]string{sluicev1.LabelRollout: ro.Name, sluicev1.LabelRevision: ro.Status.CanaryRevision},
		},
		Spec: sluicev1.ApprovalSpec{
			RolloutRef: sluicev1.RolloutReference{Name: ro.Name, UID: string(ro.UID)},
			Revision:   ro.Status.CanaryRevision,
			Step:       step,
			Decision:   decision,
			Reason:     reason,
			Approver:   sluicev1.ApproverIdentity{Channel: sluicev1.ChannelKubectl, Username: user.Username, Groups: user.Groups},
		},
	}
	if err := c.Create(ctx, a); err != nil {
		return nil, err
	}
	return a, nil
}
