package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

// statusCommand waits like `kubectl rollout status`: one line per change,
// exit 0 on Healthy, 1 on Degraded, 2 on timeout.
func (o *options) statusCommand() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Wait for the rollout to finish: exit 0 Healthy, 1 Degraded or aborted, 2 timeout",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			return o.waitStatus(ctx, cmd, args[0])
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (0: wait forever)")
	return cmd
}

func (o *options) waitStatus(ctx context.Context, cmd *cobra.Command, name string) error {
	c, ns, err := o.client()
	if err != nil {
		return err
	}
	cfg, err := o.flags.ToRESTConfig()
	if err != nil {
		return err
	}
	w, err := client.NewWithWatch(cfg, client.Options{Scheme: c.Scheme()})
	if err != nil {
		return err
	}
	last := ""
	report := func(ro *sluicev1.Rollout) (bool, error) {
		line := summary(ro)
		if line != last {
			fmt.Fprintln(cmd.OutOrStdout(), line)
			last = line
		}
		if ro.Status.ObservedGeneration != ro.Generation {
			return false, nil
		}
		switch ro.Status.Phase {
		case sluicev1.PhaseHealthy:
			return true, nil
		case sluicev1.PhaseDegraded:
			return true, &exitError{code: 1, msg: fmt.Sprintf("rollout %s is Degraded: %s", name, ro.Status.Message)}
		}
		return false, nil
	}
	timedOut := func() error {
		return &exitError{code: 2, msg: fmt.Sprintf("rollout %s: timed out waiting (last: %s)", name, last)}
	}
	for {
		var list sluicev1.RolloutList
		if err := w.List(ctx, &list, client.InNamespace(ns), client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", name)}); err != nil {
			if ctx.Err() != nil {
				return timedOut()
			}
			return err
		}
		if len(list.Items) == 0 {
			return fmt.Errorf("rollout %s/%s not found", ns, name)
		}
		if done, err := report(&list.Items[0]); done || err != nil {
			return err
		}
		watcher, err := w.Watch(ctx, &sluicev1.RolloutList{}, client.InNamespace(ns), client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", name)})
		if err != nil {
			if ctx.Err() != nil {
				return timedOut()
			}
			return err
		}
		for ev := range watcher.ResultChan() {
			if ev.Type == watch.Deleted {
				watcher.Stop()
				return fmt.Errorf("rollout %s/%s was deleted", ns, name)
			}
			ro, ok := ev.Object.(*sluicev1.Rollout)
			if !ok {
				continue
			}
			if done, err := report(ro); done || err != nil {
				watcher.Stop()
				return err
			}
		}
		watcher.Stop()
		if ctx.Err() != nil {
			return timedOut()
		}
	}
}

// summary is one line describing a rollout's progress.
func summary(ro *sluicev1.Rollout) string {
	st := ro.Status
	step := "-"
	if st.CurrentStepIndex != nil {
		step = fmt.Sprintf("%d/%d", *st.CurrentStepIndex, st.StepCount)
	}
	return fmt.Sprintf("%s: phase %s, step %s, canary weight %d%%: %s", ro.Name, orDash(string(st.Phase)), step, st.Weights.Canary, st.Message)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (o *options) listCommand() *cobra.Command {
	var all bool
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List Rollouts with their strategy, phase, step and weights (-o wide: analysis, approval, Git and more)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "" && output != "wide" {
				return fmt.Errorf("unknown output format %q: use wide, or leave -o out", output)
			}
			c, ns, err := o.client()
			if err != nil {
				return err
			}
			var list sluicev1.RolloutList
			var opts []client.ListOption
			if !all {
				opts = append(opts, client.InNamespace(ns))
			}
			if err := c.List(cmd.Context(), &list, opts...); err != nil {
				return err
			}
			return printRollouts(cmd.OutOrStdout(), list.Items, all, output == "wide")
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list Rollouts in every namespace")
	cmd.Flags().StringVarP(&output, "output", "o", "", "wide: add weights, mirror, last analysis, approval, Git commit, Argo CD sync and the current step")
	return cmd
}
