// kubectl-sluice is the kubectl plugin for sluice Rollouts: `kubectl sluice
// promote web`. Every action is one patch the controller understands (see
// api/v1alpha1/contract.go); the plugin computes no rollout logic of its own.
package main

import (
	"fmt"
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	if err := newRootCommand(streams).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(exitCode(err))
	}
}
