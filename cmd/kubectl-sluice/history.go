package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

func (o *options) historyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "history NAME",
		Short: "List the rollout's finished rollouts, newest first: revision, outcome, when, why, images",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := o.client()
			if err != nil {
				return err
			}
			ro := &sluicev1.Rollout{}
			if err := c.Get(cmd.Context(), types.NamespacedName{Namespace: ns, Name: args[0]}, ro); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REVISION\tOUTCOME\tAT\tIMAGES\tREASON")
			for _, h := range ro.Status.History {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.Revision, h.Outcome, h.At.UTC().Format("2006-01-02T15:04:05Z"), orDash(strings.Join(h.Images, ",")), orDash(h.Reason))
			}
			return tw.Flush()
		},
	}
}
