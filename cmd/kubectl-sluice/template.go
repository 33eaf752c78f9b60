package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

// Actions that change the desired template patch spec.template. For a
// Rollout with spec.gitops they must become Git commits instead (Argo CD
// would revert a cluster patch); until the gitops write-back exists the
// plugin refuses them there and says why.
func refuseGitOps(ro *sluicev1.Rollout, action string) error {
	if ro.Spec.GitOps != nil {
		return fmt.Errorf("rollout %s is managed through Git (spec.gitops, %s): %s it by committing to %s; a cluster patch would be reverted by Argo CD", ro.Name, ro.Spec.GitOps.RepoURL, action, ro.Spec.GitOps.Path)
	}
	return nil
}

func (o *options) setCommand() *cobra.Command {
	set := &cobra.Command{Use: "set", Short: "Change a Rollout's template"}
	set.AddCommand(&cobra.Command{
		Use:   "image NAME CONTAINER=IMAGE...",
		Short: "Set container images in the Rollout's template (starts a rollout)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ro, err := o.rollout(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if err := refuseGitOps(ro, "set image"); err != nil {
				return err
			}
			orig := ro.DeepCopy()
			for _, kv := range args[1:] {
				name, image, ok := strings.Cut(kv, "=")
				if !ok || name == "" || image == "" {
					return fmt.Errorf("%q is not CONTAINER=IMAGE", kv)
				}
				found := false
				for i := range ro.Spec.Template.Spec.Containers {
					if ro.Spec.Template.Spec.Containers[i].Name == name {
						ro.Spec.Template.Spec.Containers[i].Image, found = image, true
					}
				}
				if !found {
					return fmt.Errorf("rollout %s has no container %q (containers: %s)", ro.Name, name, containerNames(ro))
				}
			}
			return o.patchTemplate(cmd, c, orig, ro, "image updated")
		},
	})
	return set
}

func containerNames(ro *sluicev1.Rollout) string {
	var names []string
	for _, c := range ro.Spec.Template.Spec.Containers {
		names = append(names, c.Name)
	}
	return strings.Join(names, ", ")
}

// patchTemplate sends the template change as a merge patch guarded by the
// resourceVersion read, so a concurrent edit is not overwritten.
func (o *options) patchTemplate(cmd *cobra.Command, c client.Client, orig, ro *sluicev1.Rollout, what string) error {
	if err := c.Patch(cmd.Context(), ro, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}), client.FieldOwner("kubectl-sluice")); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "rollout %s: %s\n", ro.Name, what)
	return nil
}

// undoCommand sets the template back to an earlier revision's, taken from
// its ReplicaSet: the stable revision by default (a fast rollback), or the
// N-th entry of `kubectl sluice history`.
func (o *options) undoCommand() *cobra.Command {
	var to int
	cmd := &cobra.Command{
		Use:   "undo NAME",
		Short: "Set the template back to the stable revision, or to --to-revision N from history (1 = newest)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ro, err := o.rollout(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if err := refuseGitOps(ro, "undo"); err != nil {
				return err
			}
			rev := ro.Status.StableRevision
			if to > 0 {
				if to > len(ro.Status.History) {
					return fmt.Errorf("rollout %s has %d history entries; --to-revision must be 1 to %d", ro.Name, len(ro.Status.History), len(ro.Status.History))
				}
				rev = ro.Status.History[to-1].Revision
			}
			if rev == "" {
				return fmt.Errorf("rollout %s has no stable revision yet", ro.Name)
			}
			rs, err := revisionTemplate(cmd.Context(), c, ro, rev)
			if err != nil {
				return err
			}
			orig := ro.DeepCopy()
			tpl := rs.Spec.Template.DeepCopy()
			delete(tpl.Labels, sluicev1.LabelRevision)
			delete(tpl.Labels, sluicev1.LabelCanonicalRevision)
			ro.Spec.Template = *tpl
			return o.patchTemplate(cmd, c, orig, ro, "template set back to revision "+rev)
		},
	}
	cmd.Flags().IntVar(&to, "to-revision", 0, "the history entry to go back to (1 = newest); default: the stable revision")
	return cmd
}

func revisionTemplate(ctx context.Context, c client.Client, ro *sluicev1.Rollout, rev string) (*appsv1.ReplicaSet, error) {
	var sets appsv1.ReplicaSetList
	if err := c.List(ctx, &sets, client.InNamespace(ro.Namespace), client.MatchingLabels{sluicev1.LabelRollout: ro.Name, sluicev1.LabelRevision: rev}); err != nil {
		return nil, err
	}
	if len(sets.Items) == 0 {
		var kept []string
		var all appsv1.ReplicaSetList
		_ = c.List(ctx, &all, client.InNamespace(ro.Namespace), client.MatchingLabels{sluicev1.LabelRollout: ro.Name})
		for _, rs := range all.Items {
			kept = append(kept, rs.Labels[sluicev1.LabelRevision])
		}
		sort.Strings(kept)
		return nil, fmt.Errorf("revision %s has no ReplicaSet left (revisionHistoryLimit); kept revisions: %s", rev, strings.Join(kept, ", "))
	}
	return &sets.Items[0], nil
}
