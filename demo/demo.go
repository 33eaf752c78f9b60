// Package demo is `make demo`: sluice on an embedded control plane, end to
// end, with every piece local and real where it can be.
//
// Run starts etcd, kube-apiserver, kube-controller-manager and kwok with a
// fake node (internal/testenv), with sluice's CRDs, Istio's CRDs and Argo
// CD's Application CRD installed; a Git server holding the sample app repo
// (internal/gitserver); a real Prometheus; the sluice manager; the stand-in
// for Argo CD's application controller (internal/argostandin); one real
// demo-app process per revision (cmd/demo-app), since kwok's pods run no
// containers; and a traffic generator that stands in for the mesh's data
// plane, sending requests in the proportions of the live VirtualService.
//
// Then it releases twice, the way a developer with Argo CD would (push a
// new image to Git, click Sync): v1 → v2 passes its analysis and is
// promoted, and sluice records the promotion in Git; v2 → v3 fails its
// error-rate analysis, is aborted, and sluice writes the rollback to Git;
// the stand-in syncs both commits. Progress is printed live; at the end
// come the `kubectl sluice get` tree and a summary.
//
// cmd/sluice-demo is the binary; demo_test.go runs the same Run.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/gitops/argocd"
	"github.com/sluice-dev/sluice/internal/argostandin"
	"github.com/sluice-dev/sluice/internal/gitserver"
	"github.com/sluice-dev/sluice/internal/manager"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// Namespaces of the demo: the app's, and Argo CD's.
const (
	Namespace     = "demo"
	ArgoNamespace = "argocd"
	RolloutName   = "web"
)

// Options configure Run.
type Options struct {
	// Out receives the demo's narration; defaults to os.Stdout.
	Out io.Writer
	// Color uses ANSI colours; Live redraws a status line in place. Both
	// only make sense when Out is a terminal.
	Color, Live bool
	// Width of the terminal, for the live line; defaults to 100.
	Width int
	// Keep leaves everything running after the scenario, prints a
	// KUBECONFIG and example commands, and waits for ctx to end.
	Keep bool
	// BuildTools runs hack/tools.sh when the control plane's binaries are
	// missing, instead of failing with a message that says how.
	BuildTools bool
	// RPS is the traffic generator's request rate; defaults to 80.
	RPS int
	// AfterScenario, if set, is called with the running demo after the
	// scenario and before anything stops; tests look at Git, the cluster
	// and the stand-in through it.
	AfterScenario func(*Demo) error
}

// Demo is a running demo.
type Demo struct {
	opts Options
	p    *printer
	dir  string // logs, binaries, Prometheus data, Git repos

	Env     *testenv.Env
	Git     *gitserver.Server
	RepoURL string
	prom    *prometheus
	apps    *runner
	traffic *generator

	bins struct {
		app, plugin string
	}
	pluginBuilt chan error
	kubeconfig  string

	stops  []func() // in start order; run in reverse
	syncMu sync.Mutex
	syncs  []string // revisions the Argo CD stand-in applied, in order
	seen   *watcher
	began  time.Time
	upIn   time.Duration
	failed bool
}

// Run runs the whole demo and stops everything it started before
// returning, also when ctx ends early (Ctrl-C).
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.RPS <= 0 {
		o.RPS = 80
	}
	d := &Demo{opts: o, p: newPrinter(o.Out, o.Color, o.Live, o.Width), began: time.Now()}
	defer d.stop()
	if err := d.start(ctx); err != nil {
		d.failed = ctx.Err() == nil
		return nil, d.interrupted(ctx, err)
	}
	res, err := d.scenario(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return res, d.interrupted(ctx, err)
		}
		d.failed = true
		d.p.fail("%v", err)
	}
	if ctx.Err() == nil {
		d.report(ctx, res)
	}
	if o.AfterScenario != nil && ctx.Err() == nil {
		if herr := o.AfterScenario(d); herr != nil {
			err = errors.Join(err, herr)
		}
	}
	if o.Keep && ctx.Err() == nil {
		d.keep(ctx)
	}
	return res, err
}

func (d *Demo) interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		d.p.endLive()
		d.p.line("")
		d.p.info("interrupted")
		return ctx.Err()
	}
	return err
}

// Syncs are the revisions the Argo CD stand-in applied, in order.
func (d *Demo) Syncs() []string {
	d.syncMu.Lock()
	defer d.syncMu.Unlock()
	return append([]string(nil), d.syncs...)
}

// Client is an admin client of the demo's apiserver.
func (d *Demo) Client() client.Client { return d.Env.Client }

// onStop registers a stop function; stop runs them newest first.
func (d *Demo) onStop(f func()) { d.stops = append(d.stops, f) }

func (d *Demo) stop() {
	d.p.endLive()
	if len(d.stops) == 0 {
		return
	}
	d.p.line("")
	start := time.Now()
	d.p.info("stopping everything the demo started …")
	for i := len(d.stops) - 1; i >= 0; i-- {
		d.stops[i]()
	}
	d.stops = nil
	d.p.info("stopped in %s", round(time.Since(start)))
	if d.failed {
		d.p.info("logs kept in %s", d.dir)
	} else if d.dir != "" {
		_ = os.RemoveAll(d.dir)
	}
}

// start brings every component up, printing what it is as it goes.
func (d *Demo) start(ctx context.Context) error {
	p := d.p
	p.title("sluice demo: progressive delivery with Istio and Argo CD on a local, embedded control plane")
	var err error
	if d.dir, err = os.MkdirTemp("", "sluice-demo-"); err != nil {
		return err
	}
	for _, sub := range []string{"bin", "logs"} {
		if err := os.MkdirAll(filepath.Join(d.dir, sub), 0o755); err != nil {
			return err
		}
	}
	logs := filepath.Join(d.dir, "logs")
	if err := d.setupLogging(logs); err != nil {
		return err
	}
	if err := d.ensureTools(ctx); err != nil {
		return err
	}

	// The two binaries build while the control plane starts; the plugin is
	// only needed at the end.
	root, err := testenv.RepoRoot()
	if err != nil {
		return err
	}
	d.bins.app = filepath.Join(d.dir, "bin", "demo-app")
	d.bins.plugin = filepath.Join(d.dir, "bin", "kubectl-sluice")
	appBuilt := make(chan error, 1)
	d.pluginBuilt = make(chan error, 1)
	bctx, bcancel := context.WithCancel(ctx)
	buildDone := make(chan struct{})
	d.onStop(func() { bcancel(); <-buildDone })
	go func() {
		defer close(buildDone)
		err := d.build(bctx, root, "./cmd/demo-app", d.bins.app)
		appBuilt <- err
		if err == nil {
			err = d.build(bctx, root, "./cmd/kubectl-sluice", d.bins.plugin)
		}
		d.pluginBuilt <- err
		close(d.pluginBuilt)
	}()

	t := time.Now()
	p.step("control plane: etcd, kube-apiserver, kube-controller-manager, kwok with one fake node …")
	env, err := testenv.Start(testenv.Options{Cluster: true})
	if err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	d.Env = env
	d.onStop(func() {
		if err := env.Stop(); err != nil {
			p.info("stopping the control plane: %v", err)
		}
		p.done("control plane stopped (etcd, kube-apiserver, kube-controller-manager, kwok, Prometheus)")
	})
	p.done("control plane up in %s: kube-apiserver %s, fake node %s (kwok: pods get Ready, no containers run)", round(time.Since(t)), env.Config.Host, testenv.FakeNode)
	if crds, err := d.crdSummary(ctx); err == nil {
		p.done("CRDs installed: %s", crds)
	}
	if err := d.writeKubeconfig(); err != nil {
		return err
	}
	c := env.Client
	for _, ns := range []string{Namespace, ArgoNamespace} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}

	t = time.Now()
	if d.prom, err = startPrometheus(env, filepath.Join(d.dir, "prometheus")); err != nil {
		return fmt.Errorf("starting Prometheus: %w", err)
	}
	p.done("Prometheus %s, a real one, scraping the demo-app processes every second (in %s)", d.prom.URL, round(time.Since(t)))

	if d.Git, err = gitserver.New(filepath.Join(d.dir, "git"), gitserver.Options{Username: gitUser, Password: gitPassword}); err != nil {
		return err
	}
	if err := d.Git.Start("127.0.0.1:0"); err != nil {
		return err
	}
	d.onStop(func() { _ = d.Git.Close(); p.done("Git server stopped") })
	d.RepoURL = d.Git.RepoURL(repoName)
	params := repoParams{RepoURL: d.RepoURL, Prometheus: d.prom.URL, Image: imageRepo + ":v1", Node: testenv.FakeNode, ArgoNS: ArgoNamespace}
	seed, err := d.Git.CreateRepo(repoName, repoBranch, seedFiles(params), "web: deploy demo-app:v1 with sluice")
	if err != nil {
		return err
	}
	p.done("Git server %s (git http-backend over smart HTTP) holding the sample app repo: %s, %s, %s", seed, rolloutPath, istioPath, analysisPath)
	if err := c.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: "git-credentials"},
		Data:       map[string][]byte{"username": []byte(gitUser), "password": []byte(gitPassword)},
	}); err != nil {
		return err
	}

	if err := <-appBuilt; err != nil {
		return err
	}

	asManager, err := installShippedRBAC(ctx, c, env.Config, root)
	if err != nil {
		return fmt.Errorf("installing the shipped RBAC: %w", err)
	}
	mgr, err := manager.New(asManager, manager.Options{
		MetricsAddr: "0", ProbeAddr: "0", Concurrency: 2,
		GitCacheDir:      filepath.Join(d.dir, "git-cache"),
		GracefulShutdown: 5 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("creating the sluice manager: %w", err)
	}
	d.goStop("sluice manager stopped", func(ctx context.Context) { _ = mgr.Start(ctx) })
	p.done("sluice manager running as %s with the RBAC from config/rbac (the same wiring as the binary; log %s)", managerUser, filepath.Join(logs, "manager.log"))

	standin := &argostandin.Controller{
		Client: c, Namespace: ArgoNamespace, Interval: 200 * time.Millisecond,
		Auth: &githttp.BasicAuth{Username: gitUser, Password: gitPassword},
		Log:  d.fileLogger(filepath.Join(logs, "argocd-standin.log")),
		OnSync: func(app, rev string) {
			d.syncMu.Lock()
			d.syncs = append(d.syncs, rev)
			d.syncMu.Unlock()
			p.event(cGit, "Argo CD stand-in synced Application %s/%s to %s %s", ArgoNamespace, app, shortSHA(rev), quote(cut(d.subject(rev), 60)))
		},
	}
	d.goStop("Argo CD stand-in stopped", func(ctx context.Context) { _ = standin.Run(ctx) })
	p.done("%s: %s", p.bold("Argo CD stand-in"), "NOT Argo CD. Argo CD cannot run here, so a small stand-in for its application controller (internal/argostandin) syncs Application "+ArgoNamespace+"/web from Git when someone clicks Sync (operation.sync)")

	if d.apps, err = newRunner(c, Namespace, d.bins.app, logs, d.prom, func(f string, a ...any) { p.event(cDim, f, a...) }); err != nil {
		return err
	}
	d.goStop("demo-app processes stopped", func(ctx context.Context) { d.apps.run(ctx); d.apps.stopAll() })
	p.done("demo-app runner: one real demo-app process per revision whose ReplicaSet has pods (kwok's pods run no containers), metrics in Istio's shape")

	d.traffic = newGenerator(c, Namespace, d.apps, d.opts.RPS)
	d.goStop("traffic generator stopped", d.traffic.run)
	p.done("%s: %s", p.bold("traffic generator"), fmt.Sprintf("NOT a mesh. It stands in for Istio's data plane (no Envoy runs here): ~%d requests/s to the demo-app processes, split by the live VirtualService %s/web route \"primary\" and the DestinationRule's subsets", d.opts.RPS, Namespace))

	d.seen = newWatcher(d)
	d.goStop("", d.seen.run)
	d.upIn = time.Since(d.began)
	p.done("everything up in %s", round(d.upIn))
	return nil
}

// goStop runs f in a goroutine until stop cancels it and it returns.
func (d *Demo) goStop(msg string, f func(context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f(ctx) }()
	d.onStop(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
		}
		if msg != "" {
			d.p.done("%s", msg)
		}
	})
}

// ensureTools checks that hack/tools.sh built the control plane's binaries
// and builds them when asked to.
func (d *Demo) ensureTools(ctx context.Context) error {
	_, err := testenv.AssetsDir()
	if err == nil {
		for _, t := range []string{"kube-controller-manager", "kwok", "prometheus", "argocd-application-crd.yaml"} {
			if _, err = testenv.Tool(t); err != nil {
				break
			}
		}
	}
	if err == nil {
		d.p.done("tools present (etcd, kube-apiserver, kube-controller-manager, kwok, Prometheus, Argo CD's Application CRD)")
		return nil
	}
	if !d.opts.BuildTools {
		return err
	}
	root, rerr := testenv.RepoRoot()
	if rerr != nil {
		return rerr
	}
	d.p.step("building the tools from the Go module proxy, once per machine (about 25 minutes on 2 cores) …")
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "tools.sh"), "all")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = io.Discard, d.opts.Out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("hack/tools.sh: %w", err)
	}
	return nil
}

// build builds one of the repo's commands.
func (d *Demo) build(ctx context.Context, root, pkg, out string) error {
	t := time.Now()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	d.p.done("built %s in %s", filepath.Base(out), round(time.Since(t)))
	return nil
}

func (d *Demo) writeKubeconfig() error {
	b, err := os.ReadFile(d.Env.Kubeconfig)
	if err != nil {
		return err
	}
	d.kubeconfig = filepath.Join(d.dir, "kubeconfig")
	return os.WriteFile(d.kubeconfig, b, 0o600)
}

// crdSummary counts the installed CRDs by group.
func (d *Demo) crdSummary(ctx context.Context) (string, error) {
	u := &unstructured.UnstructuredList{}
	u.SetAPIVersion("apiextensions.k8s.io/v1")
	u.SetKind("CustomResourceDefinitionList")
	if err := d.Env.Client.List(ctx, u); err != nil {
		return "", err
	}
	count := map[string]int{}
	for _, item := range u.Items {
		g, _, _ := unstructured.NestedString(item.Object, "spec", "group")
		switch {
		case g == sluicev1.GroupVersion.Group:
			count["sluice"]++
		case strings.HasSuffix(g, "istio.io"):
			count["Istio"]++
		case g == "argoproj.io":
			count["Argo CD"]++
		}
	}
	return fmt.Sprintf("sluice (%d), Istio (%d), Argo CD Application (%d)", count["sluice"], count["Istio"], count["Argo CD"]), nil
}

// setupLogging sends the manager's, controller-runtime's and client-go's
// logs to a file, so the terminal shows only the demo's narration.
func (d *Demo) setupLogging(dir string) error {
	l := d.fileLogger(filepath.Join(dir, "manager.log"))
	ctrl.SetLogger(l)
	klog.SetLogger(l.WithName("klog"))
	return nil
}

func (d *Demo) fileLogger(path string) logr.Logger {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return logr.Discard()
	}
	d.onStop(func() { _ = f.Close() })
	return zap.New(zap.WriteTo(f), zap.UseDevMode(false))
}

// requestSync clicks Sync on the Application: operation.sync to the target
// revision's head, as the Argo CD UI or `argocd app sync` does.
func (d *Demo) requestSync(ctx context.Context, who string) error {
	patch := fmt.Sprintf(`{"operation":{"sync":{"revision":""},"initiatedBy":{"username":%q}}}`, who)
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(argocd.ApplicationGVK)
	u.SetNamespace(ArgoNamespace)
	u.SetName(RolloutName)
	var err error
	for range 50 {
		if err = d.Env.Client.Patch(ctx, u, client.RawPatch("application/merge-patch+json", []byte(patch))); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return err
}

// createApplication creates Argo CD's Application for deploy/, with a
// manual sync policy and the ignoreDifferences recipe sluice documents,
// and asks for its first sync.
func (d *Demo) createApplication(ctx context.Context) error {
	var ro sluicev1.Rollout
	body, err := d.Git.ReadFile(repoName, repoBranch, rolloutPath)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal([]byte(body), &ro); err != nil {
		return fmt.Errorf("%s: %w", rolloutPath, err)
	}
	ro.Namespace = Namespace
	app := map[string]any{
		"apiVersion": "argoproj.io/v1alpha1",
		"kind":       "Application",
		"metadata":   map[string]any{"name": RolloutName, "namespace": ArgoNamespace},
		"spec": map[string]any{
			"project":           "default",
			"source":            map[string]any{"repoURL": d.RepoURL, "targetRevision": repoBranch, "path": "deploy"},
			"destination":       map[string]any{"server": "https://kubernetes.default.svc", "namespace": Namespace},
			"ignoreDifferences": argocd.IgnoreDifferences(&ro),
			// No automated policy: a sync happens when someone asks for one.
			"syncPolicy": map[string]any{"syncOptions": []any{"RespectIgnoreDifferences=true"}},
		},
		"operation": map[string]any{"sync": map[string]any{}, "initiatedBy": map[string]any{"username": "dana"}},
	}
	raw, err := yaml.Marshal(app)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(raw, &u.Object); err != nil {
		return err
	}
	return d.Env.Client.Create(ctx, u)
}

// subject is the first line of a commit's message on the Git server.
func (d *Demo) subject(sha string) string {
	if c, ok := d.commit(sha); ok {
		s, _, _ := strings.Cut(c.Message, "\n")
		return s
	}
	return ""
}

// commit finds a commit on the branch.
func (d *Demo) commit(sha string) (gitserver.Commit, bool) {
	log, err := d.Git.Log(repoName, repoBranch, 50)
	if err != nil {
		return gitserver.Commit{}, false
	}
	for _, c := range log {
		if c.SHA == sha {
			return c, true
		}
	}
	return gitserver.Commit{}, false
}
