package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/scheme"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// options are shared by every command.
type options struct {
	flags   *genericclioptions.ConfigFlags
	streams genericiooptions.IOStreams
}

func newRootCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &options{flags: genericclioptions.NewConfigFlags(true), streams: streams}
	root := &cobra.Command{
		Use:           "kubectl-sluice",
		Short:         "Drive sluice Rollouts: promote, abort, retry, pause, resume, status",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	o.flags.AddFlags(root.PersistentFlags())
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.AddCommand(
		o.promoteCommand(),
		o.actionCommand("abort", "Return all traffic to stable, then scale the canary down", annotationAbort),
		o.retryCommand(),
		o.argocdCommand(),
		o.pauseCommand("pause", true),
		o.pauseCommand("resume", false),
		o.approveCommand("approve", sluicev1.DecisionApprove),
		o.approveCommand("reject", sluicev1.DecisionReject),
		o.statusCommand(),
		o.getCommand(),
		o.historyCommand(),
		o.setCommand(),
		o.undoCommand(),
		o.listCommand(),
		o.lintCommand(),
		&cobra.Command{
			Use:   "version",
			Short: "Print the plugin's version",
			Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "kubectl-sluice", version) },
		},
	)
	o.addCompletions(root)
	return root
}

func (o *options) client() (client.Client, string, error) {
	cfg, err := o.flags.ToRESTConfig()
	if err != nil {
		return nil, "", err
	}
	ns, _, err := o.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	return c, ns, err
}

// rollout reads one Rollout in the selected namespace.
func (o *options) rollout(ctx context.Context, name string) (client.Client, *sluicev1.Rollout, error) {
	c, ns, err := o.client()
	if err != nil {
		return nil, nil, err
	}
	ro := &sluicev1.Rollout{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, ro); err != nil {
		return nil, nil, err
	}
	return c, ro, nil
}

// exitError carries a process exit code (status: 1 Degraded, 2 timeout).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}
