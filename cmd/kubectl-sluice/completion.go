package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

// Shell completion. cobra's `completion bash|zsh|fish|powershell` command
// prints the script; the functions here complete a NAME argument to the
// Rollouts of the selected namespace (with the --namespace, --context and
// --kubeconfig given so far), set image's CONTAINER= to the Rollout's
// containers, --namespace and --context, -o, and lint's files. A cluster
// that cannot be reached completes nothing rather than failing.

// completionTimeout bounds the apiserver calls of one completion.
const completionTimeout = 5 * time.Second

// addCompletions wires completion into every command of root.
func (o *options) addCompletions(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.ValidArgsFunction == nil && strings.Contains(c.Use, "NAME") {
			c.ValidArgsFunction = o.completeName
		}
		if f := c.LocalNonPersistentFlags().Lookup("output"); f != nil {
			choices := []cobra.Completion{"wide"}
			if c.Name() == "get" {
				choices = []cobra.Completion{"json", "yaml", "wide"}
			}
			_ = c.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(choices, cobra.ShellCompDirectiveNoFileComp))
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	_ = root.RegisterFlagCompletionFunc("namespace", o.completeNamespaces)
	_ = root.RegisterFlagCompletionFunc("context", o.completeContexts)
}

// completeName completes the Rollout NAME argument (after get's optional
// "rollout"), and set image's CONTAINER= arguments after it.
func (o *options) completeName(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if cmd.Name() == "get" && len(args) > 0 && args[0] == "rollout" {
		args = args[1:]
	}
	switch {
	case len(args) == 0:
		return o.rolloutNames(cmd, toComplete), cobra.ShellCompDirectiveNoFileComp
	case cmd.Name() == "image":
		return o.containerNames(cmd, args[0], toComplete), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}

func completionContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithTimeout(ctx, completionTimeout)
}

func (o *options) rolloutNames(cmd *cobra.Command, prefix string) []cobra.Completion {
	c, ns, err := o.client()
	if err != nil {
		cobra.CompDebugln(err.Error(), false)
		return nil
	}
	ctx, cancel := completionContext(cmd)
	defer cancel()
	var list sluicev1.RolloutList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		cobra.CompDebugln(err.Error(), false)
		return nil
	}
	var names []cobra.Completion
	for _, ro := range list.Items {
		if strings.HasPrefix(ro.Name, prefix) {
			names = append(names, ro.Name)
		}
	}
	return names
}

func (o *options) containerNames(cmd *cobra.Command, name, prefix string) []cobra.Completion {
	ctx, cancel := completionContext(cmd)
	defer cancel()
	_, ro, err := o.rollout(ctx, name)
	if err != nil {
		cobra.CompDebugln(err.Error(), false)
		return nil
	}
	var out []cobra.Completion
	for _, c := range ro.Spec.Template.Spec.Containers {
		if s := c.Name + "="; strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out
}

func (o *options) completeNamespaces(cmd *cobra.Command, _ []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
	c, _, err := o.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := completionContext(cmd)
	defer cancel()
	var list corev1.NamespaceList
	if err := c.List(ctx, &list); err != nil {
		cobra.CompDebugln(err.Error(), false)
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, n := range list.Items {
		if strings.HasPrefix(n.Name, prefix) {
			out = append(out, n.Name)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

func (o *options) completeContexts(_ *cobra.Command, _ []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
	cfg, err := o.flags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, name := range sortedKeys(cfg.Contexts) {
		if strings.HasPrefix(name, prefix) {
			out = append(out, name)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeManifests offers YAML and JSON files (and directories) to lint.
func completeManifests(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return []cobra.Completion{"yaml", "yml", "json"}, cobra.ShellCompDirectiveFilterFileExt
}
