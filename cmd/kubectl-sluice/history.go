package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func (o *options) historyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "history NAME",
		Short: "List the rollout's finished rollouts, newest first: revision, outcome, when, why, images",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, ro, err := o.rollout(cmd.Context(), args[0])
			if err != nil {
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
