package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/sluice-dev/sluice/gitops/argocd"
)

// argocdCommand prints what an Argo CD Application needs for a Rollout.
func (o *options) argocdCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "argocd", Short: "Argo CD settings for a Rollout"}
	cmd.AddCommand(&cobra.Command{
		Use:   "ignore-differences NAME",
		Short: "Print the Application spec.ignoreDifferences entries that hide sluice's mid-rollout traffic changes",
		Long: `Print the spec.ignoreDifferences entries for the Application that syncs
this Rollout's VirtualServices and DestinationRule. They select exactly the
values sluice writes during a rollout (weights of the managed routes, the
canary destinations and mirror it adds, the match routes it inserts, the
subsets' revision labels), so Argo CD does not report drift.

They only hide the diff: with RespectIgnoreDifferences=true Argo CD copies
ignored values back with a merge patch that replaces whole arrays
(argo-cd issue #17694), so a sync can still reset the weights; sluice
restores them within one reconcile.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, ro, err := o.rollout(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out, err := yaml.Marshal(map[string]any{"ignoreDifferences": argocd.IgnoreDifferences(ro)})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "# spec.ignoreDifferences for the Argo CD Application of rollout %s/%s\n%s", ro.Namespace, ro.Name, out)
			return nil
		},
	})
	return cmd
}
