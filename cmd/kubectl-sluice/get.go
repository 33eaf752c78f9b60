package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/scheme"
	"github.com/sluice-dev/sluice/plan"
)

// view is everything the tree shows, read once.
type view struct {
	rollout *sluicev1.Rollout
	sets    []appsv1.ReplicaSet
	pods    []corev1.Pod
}

func (o *options) getCommand() *cobra.Command {
	var output string
	var watchFlag bool
	cmd := &cobra.Command{
		Use:   "get [rollout] NAME",
		Short: "Show a rollout as a tree: steps, revisions, ReplicaSets, Pods, analysis and approvals",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[len(args)-1]
			c, ns, err := o.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			v, err := readView(ctx, c, ns, name)
			if err != nil {
				return err
			}
			if watchFlag {
				return o.watchTree(ctx, cmd.OutOrStdout(), ns, name, v)
			}
			switch output {
			case "":
				return renderTree(cmd.OutOrStdout(), v)
			case "json":
				b, err := json.MarshalIndent(v.rollout, "", "  ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(cmd.OutOrStdout(), string(b))
				return err
			case "yaml":
				b, err := yaml.Marshal(v.rollout)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(b)
				return err
			case "wide":
				return printRollouts(cmd.OutOrStdout(), []sluicev1.Rollout{*v.rollout}, false, true)
			}
			return fmt.Errorf("unknown output format %q: use json, yaml or wide, or leave -o out for the tree", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "json, yaml, or wide (the list -o wide row) instead of the tree")
	cmd.Flags().BoolVarP(&watchFlag, "watch", "w", false, "redraw the tree whenever the Rollout, its ReplicaSets or Pods change")
	return cmd
}

func readView(ctx context.Context, c client.Client, ns, name string) (view, error) {
	v := view{rollout: &sluicev1.Rollout{}}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, v.rollout); err != nil {
		return v, err
	}
	var sets appsv1.ReplicaSetList
	if err := c.List(ctx, &sets, client.InNamespace(ns), client.MatchingLabels{sluicev1.LabelRollout: name}); err != nil {
		return v, err
	}
	v.sets = sets.Items
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(ns), client.HasLabels{sluicev1.LabelRevision}); err != nil {
		return v, err
	}
	v.pods = pods.Items
	return v, nil
}

// watchTree redraws on watch events (the Rollout, its ReplicaSets, Pods),
// never on a timer, until the context ends. On a terminal it clears the
// screen between drawings; otherwise drawings are separated by a blank line.
func (o *options) watchTree(ctx context.Context, out io.Writer, ns, name string, v view) error {
	cfg, err := o.flags.ToRESTConfig()
	if err != nil {
		return err
	}
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	events := make(chan struct{}, 1)
	for _, list := range []client.ObjectList{&sluicev1.RolloutList{}, &appsv1.ReplicaSetList{}, &corev1.PodList{}} {
		w, err := wc.Watch(ctx, list, client.InNamespace(ns))
		if err != nil {
			return err
		}
		defer w.Stop()
		go func() {
			for range w.ResultChan() {
				select {
				case events <- struct{}{}:
				default:
				}
			}
		}()
	}
	clear := isTerminal(out)
	draw := func(v view) error {
		if clear {
			fmt.Fprint(out, "\033[H\033[2J")
		}
		return renderTree(out, v)
	}
	if err := draw(v); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-events:
			v, err := readView(ctx, wc, ns, name)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			if !clear {
				fmt.Fprintln(out)
			}
			if err := draw(v); err != nil {
				return err
			}
		}
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// renderTree writes the tree. It is a pure function of the view, so golden
// files pin its output for each strategy. The step list comes from package
// plan, the same code the controller executes.
func renderTree(w io.Writer, v view) error {
	ro := v.rollout
	st := ro.Status
	fmt.Fprintf(w, "Rollout %s/%s\n", ro.Namespace, ro.Name)
	fmt.Fprintf(w, "├─ Strategy:  %s\n", orDash(st.Strategy))
	fmt.Fprintf(w, "├─ Phase:     %s\n", orDash(string(st.Phase)))
	if st.Message != "" {
		fmt.Fprintf(w, "│  %s\n", st.Message)
	}
	fmt.Fprintf(w, "├─ Traffic:   stable %d%%, canary %d%%", st.Weights.Stable, st.Weights.Canary)
	if st.Weights.Mirror != "" {
		fmt.Fprintf(w, ", mirror %s%%", st.Weights.Mirror)
	}
	fmt.Fprintln(w)
	replicas := int32(1)
	if ro.Spec.Replicas != nil {
		replicas = *ro.Spec.Replicas
	}
	if p, err := plan.Build(ro.Spec.Strategy, replicas); err == nil {
		fmt.Fprintln(w, "├─ Steps")
		for _, s := range p.Steps {
			marker := "  "
			if st.CanaryRevision != "" && st.CurrentStepIndex != nil && *st.CurrentStepIndex == s.Index {
				marker = "▶ "
			}
			fmt.Fprintf(w, "│  %s%d  %s\n", marker, s.Index, s)
		}
	}
	if len(st.Analysis) > 0 {
		fmt.Fprintln(w, "├─ Analysis")
		for _, a := range st.Analysis {
			fmt.Fprintf(w, "│  %s  %s (%s)", a.Name, a.Phase, a.Kind)
			if a.Message != "" {
				fmt.Fprintf(w, ": %s", a.Message)
			}
			fmt.Fprintln(w)
		}
	}
	if len(st.Approvals) > 0 {
		fmt.Fprintln(w, "├─ Approvals")
		for _, a := range st.Approvals {
			fmt.Fprintf(w, "│  step %d  %s by %s via %s\n", a.Step, a.Decision, a.Approver, a.Channel)
		}
	}
	if g := st.GitOps; g != nil {
		commit := "not pushed yet"
		if g.Commit != "" {
			commit = "commit " + shortSHA(g.Commit)
		}
		fmt.Fprintf(w, "├─ Git:       %s %s · %s · %s\n", g.Outcome, g.Revision, commit, orDash(g.Phase))
		if g.SyncStatus != "" || g.SyncedRevision != "" {
			fmt.Fprintf(w, "│             Argo CD: %s at %s, health %s\n", orDash(g.SyncStatus), orDash(shortSHA(g.SyncedRevision)), orDash(g.Health))
		}
		if g.Phase != "Synced" && g.Phase != "Pushed" && g.Message != "" {
			fmt.Fprintf(w, "│             %s\n", g.Message)
		}
	}
	fmt.Fprintln(w, "└─ Revisions")
	sets := append([]appsv1.ReplicaSet(nil), v.sets...)
	sort.Slice(sets, func(i, j int) bool { return revisionRank(st, sets[i]) < revisionRank(st, sets[j]) })
	for i, rs := range sets {
		last := i == len(sets)-1
		branch, indent := "├─", "│  "
		if last {
			branch, indent = "└─", "   "
		}
		rev := rs.Labels[sluicev1.LabelRevision]
		want := int32(0)
		if rs.Spec.Replicas != nil {
			want = *rs.Spec.Replicas
		}
		fmt.Fprintf(w, "   %s %s %s  ReplicaSet %s  %d/%d available%s\n", branch, roleOf(st, rev), rev, rs.Name, rs.Status.AvailableReplicas, want, imagesOf(rs))
		pods := podsOf(v.pods, rev)
		for j, p := range pods {
			pb := "├─"
			if j == len(pods)-1 {
				pb = "└─"
			}
			fmt.Fprintf(w, "   %s %s Pod %s  %s\n", indent, pb, p.Name, podState(p))
		}
	}
	return nil
}

func roleOf(st sluicev1.RolloutStatus, rev string) string {
	switch {
	case rev == st.StableRevision:
		return "stable  "
	case rev == st.CanaryRevision:
		return "canary  "
	case strings.HasSuffix(rev, "-baseline"):
		return "baseline"
	case rev == st.AbortedRevision:
		return "aborted "
	case st.PreviousRevision != nil && rev == st.PreviousRevision.Revision:
		return "previous"
	}
	return "old     "
}

func revisionRank(st sluicev1.RolloutStatus, rs appsv1.ReplicaSet) string {
	rev := rs.Labels[sluicev1.LabelRevision]
	order := map[string]string{"stable  ": "0", "canary  ": "1", "baseline": "2", "previous": "3", "aborted ": "4"}
	r, ok := order[roleOf(st, rev)]
	if !ok {
		r = "5"
	}
	return r + rs.Name
}

func imagesOf(rs appsv1.ReplicaSet) string {
	var images []string
	for _, c := range rs.Spec.Template.Spec.Containers {
		images = append(images, c.Image)
	}
	return "  " + strings.Join(images, ",")
}

func podsOf(all []corev1.Pod, rev string) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range all {
		if p.Labels[sluicev1.LabelRevision] == rev {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func podState(p corev1.Pod) string {
	ready := "not ready"
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			ready = "ready"
		}
	}
	if p.DeletionTimestamp != nil {
		return "Terminating"
	}
	return string(p.Status.Phase) + ", " + ready
}

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
