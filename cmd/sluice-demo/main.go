// Command sluice-demo is `make demo`: sluice on a local, embedded control
// plane with a Git server, a real Prometheus, a stand-in for Argo CD's
// application controller and a traffic generator standing in for the
// mesh's data plane; a canary v1 → v2 that is promoted and a canary
// v2 → v3 that fails analysis and is rolled back, both written back to
// Git. See package demo.
//
// Usage:
//
//	sluice-demo [--keep] [--no-color] [--rps 80]
//
// Ctrl-C stops everything it started; --keep leaves it all running after
// the scenario and prints a KUBECONFIG to explore it with.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/sluice-dev/sluice/demo"
)

func main() {
	// Its own flag set: controller-runtime registers --kubeconfig on the
	// global one, and the demo brings its own cluster.
	fs := flag.NewFlagSet("sluice-demo", flag.ExitOnError)
	keep := fs.Bool("keep", false, "leave everything running after the scenario and print a KUBECONFIG; Ctrl-C stops it")
	noColor := fs.Bool("no-color", os.Getenv("NO_COLOR") != "", "no colours and no live status line, even on a terminal (also NO_COLOR)")
	rps := fs.Int("rps", 80, "requests per second the traffic generator sends")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: sluice-demo [--keep] [--no-color] [--rps N]   (make demo ARGS=--keep)\n\nThe sluice demo on a local control plane: a canary v1 → v2 that is promoted\nand recorded in Git, a canary v2 → v3 that fails analysis and is rolled back\nin Git. Ctrl-C stops everything it started.\n\n")
		fs.PrintDefaults()
	}
	_ = fs.Parse(os.Args[1:])
	if fs.NArg() > 0 {
		fs.Usage()
		os.Exit(2)
	}

	tty := term.IsTerminal(int(os.Stdout.Fd())) && os.Getenv("TERM") != "dumb"
	width := 100
	if tty {
		if w, _, err := term.GetSize(int(os.Stdout.Fd())); err == nil && w > 20 {
			width = w
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_, err := demo.Run(ctx, demo.Options{
		Out:        os.Stdout,
		Color:      tty && !*noColor,
		Live:       tty && !*noColor,
		Width:      width,
		Keep:       *keep,
		BuildTools: true,
		RPS:        *rps,
	})
	switch {
	case ctx.Err() != nil:
		os.Exit(130) // interrupted, everything stopped
	case err != nil:
		fmt.Fprintln(os.Stderr, "sluice-demo:", err)
		os.Exit(1)
	}
}
