package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

const (
	annotationAbort = sluicev1.AnnotationAbort
	annotationRetry = sluicev1.AnnotationRetry
)

// token is a fresh action token; bound to the rollout's current step when
// it has one, so a promote typed for step 2 never skips step 3.
func token(ro *sluicev1.Rollout) string {
	ts := time.Now().UTC().Format(time.RFC3339Nano)
	if i := ro.Status.CurrentStepIndex; i != nil {
		return fmt.Sprintf("step=%d;%s", *i, ts)
	}
	return ts
}

// annotate sets one action annotation with a merge patch.
func (o *options) annotate(ctx context.Context, name, key string, bind bool) (*sluicev1.Rollout, string, error) {
	c, ro, err := o.rollout(ctx, name)
	if err != nil {
		return nil, "", err
	}
	tok := time.Now().UTC().Format(time.RFC3339Nano)
	if bind {
		tok = token(ro)
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{key: tok}}})
	if err := c.Patch(ctx, ro, client.RawPatch(types.MergePatchType, patch), client.FieldOwner("kubectl-sluice")); err != nil {
		return nil, "", err
	}
	return ro, tok, nil
}

func (o *options) promoteCommand() *cobra.Command {
	var full bool
	cmd := &cobra.Command{
		Use:   "promote NAME",
		Short: "Pass the current pause or analysis gate (--full: skip to the end, stopping at approval gates)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key := sluicev1.AnnotationPromote
			if full {
				key = sluicev1.AnnotationPromoteFull
			}
			_, tok, err := o.annotate(cmd.Context(), args[0], key, !full)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rollout %s: %s requested (%s)\n", args[0], key, tok)
			return nil
		},
	}
	cmd.Flags().BoolVar(&full, "full", false, "skip every remaining step; approval gates still need an approval")
	return cmd
}

func (o *options) actionCommand(use, short, key string) *cobra.Command {
	return &cobra.Command{
		Use:   use + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, _, err := o.annotate(cmd.Context(), args[0], key, false); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rollout %s: %s requested\n", args[0], use)
			return nil
		},
	}
}

func (o *options) pauseCommand(use string, paused bool) *cobra.Command {
	return &cobra.Command{
		Use:   use + " NAME",
		Short: map[bool]string{true: "Hold the rollout where it is (spec.paused)", false: "Continue a paused rollout"}[paused],
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := o.client()
			if err != nil {
				return err
			}
			ro := &sluicev1.Rollout{}
			ro.Name, ro.Namespace = args[0], ns
			patch := fmt.Sprintf(`{"spec":{"paused":%t}}`, paused)
			if err := c.Patch(cmd.Context(), ro, client.RawPatch(types.MergePatchType, []byte(patch)), client.FieldOwner("kubectl-sluice")); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rollout %s: %sd\n", args[0], use)
			return nil
		},
	}
}
