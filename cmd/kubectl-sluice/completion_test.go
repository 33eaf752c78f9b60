package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// complete runs cobra's hidden __complete command, as the shell scripts
// do, and returns the completions and the directive line.
func complete(ns string, args ...string) ([]string, string) {
	var out, errOut bytes.Buffer
	cmd := newRootCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	cmd.SetArgs(append([]string{"__complete", "--kubeconfig", env.Kubeconfig, "-n", ns}, args...))
	_ = cmd.ExecuteContext(context.Background())
	l := lines(out.String())
	return l[:len(l)-1], l[len(l)-1]
}

// The completion command prints a script, and NAME arguments complete to
// the Rollouts of the namespace given on the command line.
func TestCompletion(t *testing.T) {
	g := NewWithT(t)
	ns, _ := newRollout(t)
	const noFiles = ":4"

	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		var out bytes.Buffer
		cmd := newRootCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out})
		cmd.SetArgs([]string{"completion", shell})
		g.Expect(cmd.Execute()).To(Succeed(), shell)
		g.Expect(out.String()).To(ContainSubstring("kubectl-sluice"), shell)
	}

	for _, args := range [][]string{{"promote", ""}, {"status", "w"}, {"get", ""}, {"get", "rollout", ""}, {"set", "image", ""}, {"approve", ""}, {"undo", "we"}} {
		got, directive := complete(ns, args...)
		g.Expect(got).To(Equal([]string{"web"}), "%v", args)
		g.Expect(directive).To(Equal(noFiles), "%v", args)
	}
	got, _ := complete(ns, "promote", "x")
	g.Expect(got).To(BeEmpty(), "no Rollout starts with x")
	got, directive := complete(ns, "promote", "web", "")
	g.Expect(got).To(BeEmpty(), "promote takes one NAME")
	g.Expect(directive).To(Equal(noFiles))

	got, directive = complete(ns, "set", "image", "web", "")
	g.Expect(got).To(Equal([]string{"web="}))
	g.Expect(directive).To(Equal(":6"), "no file completion, no space after =")

	got, _ = complete(ns, "list", "--namespace", "plugin")
	g.Expect(got).To(ContainElement(ns))
	got, _ = complete(ns, "get", "web", "-o", "")
	g.Expect(got).To(Equal([]string{"json", "yaml", "wide"}))
	got, directive = complete(ns, "lint", "")
	g.Expect(got).To(Equal([]string{"yaml", "yml", "json"}))
	g.Expect(directive).To(Equal(":8"), "files with these extensions")

	// No cluster: nothing to offer, and no error either.
	var out bytes.Buffer
	cmd := newRootCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &bytes.Buffer{}})
	cmd.SetArgs([]string{"__complete", "--kubeconfig", "/nonexistent", "promote", ""})
	g.Expect(cmd.Execute()).To(Succeed())
	g.Expect(out.String()).To(Equal(noFiles + "\n"))
}
