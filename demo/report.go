package demo

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"time"
)

// report prints the `kubectl sluice get` tree and the summary.
func (d *Demo) report(ctx context.Context, res *Result) {
	p := d.p
	p.clearStatus()
	if d.pluginBuilt != nil && d.Env != nil {
		p.section("kubectl sluice get rollout web -n " + Namespace)
		var err error
		select {
		case err = <-d.pluginBuilt:
		case <-time.After(3 * time.Minute):
			err = fmt.Errorf("still building %s", d.bins.plugin)
		}
		if err == nil {
			var out string
			out, err = d.plugin(ctx, "get", "rollout", RolloutName)
			p.write(indent(out, "  "))
		}
		if err != nil {
			p.fail("kubectl sluice get: %v", err)
		}
	}
	if res == nil {
		return
	}
	p.section("Summary")
	for _, r := range res.Releases {
		head := p.bold(fmt.Sprintf("%s → %s", r.From, r.To))
		values := fmt.Sprintf("analysis error-rate %s (%s)", strings.Join(r.Measurements, ", "), r.Condition)
		switch r.Outcome {
		case "Promoted":
			p.info("%s  %s %s after the push; %s", head, p.paint(cGreen, "promoted"), round(r.Duration), values)
		case "Aborted":
			reason, _, _ := strings.Cut(r.Reason, ":")
			p.info("%s  %s %s after the push (%s); %s", head, p.paint(cRed, "aborted and rolled back"), round(r.Duration), reason, values)
		case "":
			p.info("%s  %s", head, p.paint(cRed, "did not finish"))
		default:
			p.info("%s  %s: %s", head, r.Outcome, r.Reason)
		}
		if r.Commit != "" {
			p.info("          release   %s %s (Dana Developer)", p.paint(cGit, shortSHA(r.Commit)), quote("web: release "+r.Image))
		}
		if wb := r.WriteBack; wb != nil {
			kind := "promotion"
			if r.Outcome == "Aborted" {
				kind = "revert   "
			}
			author, _, _ := strings.Cut(wb.Author, " <")
			p.info("          %s %s %s (%s), %s %s later", kind, p.paint(cGit, shortSHA(wb.Commit)), quote(cut(wb.Subject, 60)), author, strings.ToLower(wb.Phase), round(wb.Duration))
			if t := trailers(wb.Message); t != "" {
				p.info("                    %s", p.paint(cDim, t))
			}
		} else if r.Outcome != "" {
			p.info("          %s", p.paint(cRed, "no write-back commit"))
		}
	}
	p.info("Argo CD stand-in syncs: %d (%s)", len(res.Syncs), shortList(res.Syncs))
	p.info("start-up %s, scenario %s", round(res.UpIn), round(res.Elapsed))
}

// plugin runs the kubectl plugin against the demo's cluster.
func (d *Demo) plugin(ctx context.Context, args ...string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, d.bins.plugin, append(args, "-n", Namespace, "--kubeconfig", d.kubeconfig)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// keep leaves everything running and says how to look at it.
func (d *Demo) keep(ctx context.Context) {
	p := d.p
	p.section("Still running (--keep)")
	promQuery := `sum by (destination_version, response_code) (rate(istio_requests_total[30s]))`
	lines := []string{
		"export KUBECONFIG=" + d.kubeconfig,
		"kubectl --kubeconfig $KUBECONFIG get rollouts,analysisruns,replicasets,pods -n " + Namespace,
		"kubectl --kubeconfig $KUBECONFIG get applications -n " + ArgoNamespace,
		d.bins.plugin + " --kubeconfig $KUBECONFIG -n " + Namespace + " get rollout web -w",
		d.bins.plugin + " --kubeconfig $KUBECONFIG -n " + Namespace + " history web",
		"",
		"# the app repo; change the image in deploy/rollout.yaml (demo-app:v4 runs fine), push, then click Sync:",
		"git clone http://" + gitUser + ":" + gitPassword + "@" + strings.TrimPrefix(d.Git.URL(), "http://") + "/" + repoName + ".git",
		"kubectl --kubeconfig $KUBECONFIG -n " + ArgoNamespace + ` patch application web --type merge -p '{"operation":{"sync":{"revision":""}}}'`,
		"",
		"# Prometheus: " + d.prom.URL + "/graph?g0.expr=" + url.QueryEscape(promQuery),
		"# logs: " + d.dir + "/logs and " + d.Env.Dir(),
	}
	for _, l := range lines {
		p.line("  " + l)
	}
	p.line("")
	p.info("The traffic generator keeps sending requests. Press Ctrl-C to stop everything.")
	<-ctx.Done()
}

func indent(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(prefix + l)
	}
	return b.String() + "\n"
}

// trailers are the commit message's Key: value lines at its end.
func trailers(msg string) string {
	lines := strings.Split(strings.TrimRight(msg, "\n"), "\n")
	var out []string
	for i := len(lines) - 1; i >= 0; i-- {
		k, _, ok := strings.Cut(lines[i], ": ")
		if !ok || strings.ContainsAny(k, " \t") {
			break
		}
		out = append([]string{lines[i]}, out...)
	}
	return strings.Join(out, " · ")
}

func shortList(shas []string) string {
	out := make([]string, len(shas))
	for i, s := range shas {
		out[i] = shortSHA(s)
	}
	return strings.Join(out, " → ")
}
