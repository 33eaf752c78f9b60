package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

// Actions that change the desired template patch spec.template. For a
// Rollout with spec.gitops a cluster patch would be reverted by Argo CD's
// next sync, so they ask the controller (annotation sluice.dev/release) to
// commit the images to the Rollout's manifest in Git instead; Argo CD then
// syncs that commit and the rollout starts from Git.
func (o *options) release(cmd *cobra.Command, c client.Client, ro *sluicev1.Rollout, images map[string]string, what string) error {
	list := sluicev1.ImageList(images)
	tok := sluicev1.ReleaseValue(time.Now().UTC().Format(time.RFC3339Nano), images)
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{sluicev1.AnnotationRelease: tok}}})
	if err := c.Patch(cmd.Context(), ro, client.RawPatch(types.MergePatchType, patch), client.FieldOwner("kubectl-sluice")); err != nil {
		return err
	}
	g := ro.Spec.GitOps
	fmt.Fprintf(cmd.OutOrStdout(), "rollout %s is managed through Git: sluice commits %s (%s) to %s of %s, then Argo CD syncs it\n  follow it: kubectl sluice get %s -w   (status.gitops)\n",
		ro.Name, what, strings.Join(list, ", "), g.Path, g.RepoURL, ro.Name)
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
			orig := ro.DeepCopy()
			images := map[string]string{}
			for _, kv := range args[1:] {
				name, image, ok := strings.Cut(kv, "=")
				if !ok || name == "" || image == "" {
					return fmt.Errorf("%q is not CONTAINER=IMAGE", kv)
				}
				images[name] = image
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
			if ro.Spec.GitOps != nil {
				return o.release(cmd, c, orig, images, "the new image")
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
			if ro.Spec.GitOps != nil {
				images := map[string]string{}
				for _, c := range rs.Spec.Template.Spec.Containers {
					images[c.Name] = c.Image
				}
				return o.release(cmd, c, ro, images, "revision "+rev+"'s images")
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

// retryCommand retries an aborted revision. When the abort's rollback was
// written to Git, the cluster already runs the stable template from Git, so
// the retry is a release of the aborted revision's images, committed to
// Git; otherwise it is the sluice.dev/retry action.
func (o *options) retryCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "retry NAME",
		Short: "Roll out an aborted revision again from step 0 (through Git when its rollback was committed)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ro, err := o.rollout(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if gs := ro.Status.GitOps; ro.Spec.GitOps != nil && gs != nil && gs.Outcome == "aborted" && gs.Commit != "" {
				for _, h := range ro.Status.History {
					if h.Revision == gs.Revision && h.Outcome == "Aborted" && len(h.Images) > 0 {
						return o.release(cmd, c, ro, sluicev1.ParseImageList(h.Images), "aborted revision "+gs.Revision+"'s images again")
					}
				}
				return fmt.Errorf("rollout %s: the rollback of %s is in Git (commit %s) but its images are not in status.history; set them with kubectl sluice set image", ro.Name, gs.Revision, gs.Commit)
			}
			if _, _, err := o.annotate(cmd.Context(), args[0], annotationRetry, false); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rollout %s: retry requested\n", args[0])
			return nil
		},
	}
}
