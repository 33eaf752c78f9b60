// Package testenv starts the real control plane sluice's controller and e2e
// tests run against: etcd and kube-apiserver through controller-runtime's
// envtest, with sluice's CRDs and Istio's real CRDs installed, and on request
// kube-controller-manager plus kwok with a fake Node, so that a ReplicaSet
// really creates Pods that become Ready.
//
// The binaries are built once per machine by hack/tools.sh (`make tools`).
// When they are missing, Start fails with a message that says so; tests never
// skip silently.
//
// Typical use, in a package's TestMain:
//
//	func TestMain(m *testing.M) {
//		env, err := testenv.Start(testenv.Options{})
//		if err != nil { fmt.Fprintln(os.Stderr, err); os.Exit(1) }
//		code := m.Run()
//		env.Stop()
//		os.Exit(code)
//	}
package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	sluicescheme "github.com/sluice-dev/sluice/internal/scheme"
)

// Options choose what runs beside the apiserver.
type Options struct {
	// Cluster also runs kube-controller-manager and kwok with one fake Node
	// named FakeNode, so ReplicaSets create Pods that become Ready.
	Cluster bool
	// ExtraCRDPaths are more CRD files or directories to install.
	ExtraCRDPaths []string
	// ControllerManagerArgs are added to kube-controller-manager's flags.
	ControllerManagerArgs []string
}

// FakeNode is the Node kwok manages; test pod templates set nodeName to it,
// since no scheduler runs.
const FakeNode = "kwok-node-0"

// Env is a running control plane.
type Env struct {
	// Config is an admin rest.Config for the apiserver.
	Config *rest.Config
	// Client is a non-cached admin client with sluice's and Istio's types.
	Client client.Client
	// Scheme knows core, sluice and Istio networking types.
	Scheme *runtime.Scheme
	// Kubeconfig is the path of an admin kubeconfig file.
	Kubeconfig string
	// AssetsDir holds the binaries in use.
	AssetsDir string

	env   *envtest.Environment
	dir   string
	procs []*process
}

// Start starts the control plane. Call Stop when done.
func Start(opts Options) (*Env, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	istioCRDs, err := IstioCRDFile()
	if err != nil {
		return nil, err
	}
	// Argo CD's real Application CRD, copied from the argo-cd module by
	// hack/tools.sh: gitops tests drive Applications over its schema.
	argoCRD, err := Tool("argocd-application-crd.yaml")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sluice-testenv-")
	if err != nil {
		return nil, fmt.Errorf("creating a temporary directory: %w", err)
	}
	scheme := sluicescheme.New()
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     append([]string{filepath.Join(root, "config", "crd", "bases"), istioCRDs, argoCRD}, opts.ExtraCRDPaths...),
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	// The apiserver's own goroutines are quieter at -v=0, and its audit of
	// every request would dominate a benchmark.
	env.ControlPlane.GetAPIServer().Configure().Set("v", "0")
	cfg, err := env.Start()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting etcd and kube-apiserver from %s: %w", assets, err)
	}
	// Tests create many objects quickly; client-go's default 5 QPS would
	// make them measure the client's throttle instead of sluice.
	cfg.QPS, cfg.Burst = 1000, 2000
	e := &Env{Config: cfg, Scheme: scheme, AssetsDir: assets, env: env, dir: dir}
	if err := e.writeKubeconfig(); err != nil {
		e.Stop()
		return nil, err
	}
	if e.Client, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		e.Stop()
		return nil, fmt.Errorf("creating a client: %w", err)
	}
	if opts.Cluster {
		if err := e.startCluster(opts); err != nil {
			e.Stop()
			return nil, err
		}
	}
	return e, nil
}

// Stop stops every process Start started and removes its files.
func (e *Env) Stop() error {
	var errs []error
	for i := len(e.procs) - 1; i >= 0; i-- {
		errs = append(errs, e.procs[i].stop())
	}
	if e.env != nil {
		errs = append(errs, e.env.Stop())
	}
	if os.Getenv("SLUICE_KEEP_TESTENV") == "" {
		os.RemoveAll(e.dir)
	}
	return errors.Join(errs...)
}

// Dir is a scratch directory removed by Stop.
func (e *Env) Dir() string { return e.dir }

func (e *Env) writeKubeconfig() error {
	user, err := e.env.AddUser(envtest.User{Name: "sluice-admin", Groups: []string{"system:masters"}}, e.Config)
	if err != nil {
		return fmt.Errorf("creating an admin user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("rendering the admin kubeconfig: %w", err)
	}
	e.Kubeconfig = filepath.Join(e.dir, "kubeconfig")
	return os.WriteFile(e.Kubeconfig, kc, 0o600)
}

// AddUser returns a rest.Config authenticated as name in groups, for tests of
// authorisation.
func (e *Env) AddUser(name string, groups ...string) (*rest.Config, error) {
	u, err := e.env.AddUser(envtest.User{Name: name, Groups: groups}, e.Config)
	if err != nil {
		return nil, err
	}
	return u.Config(), nil
}

// CreateNamespace creates a namespace with a unique name starting with prefix.
func (e *Env) CreateNamespace(ctx context.Context, prefix string) (string, error) {
	ns := &corev1.Namespace{}
	ns.GenerateName = prefix + "-"
	if err := e.Client.Create(ctx, ns); err != nil {
		return "", err
	}
	return ns.Name, nil
}

// waitFor polls cond until it is true or the timeout passes; used only while
// starting the control plane, never by sluice itself.
func waitFor(timeout time.Duration, what string, cond func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if last = cond(); last == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s: not ready after %s: %w", what, timeout, last)
}

// RepoRoot is the directory of sluice's go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/sluice-dev/sluice\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("sluice's go.mod not found above the working directory")
		}
		dir = parent
	}
}

// AssetsDir finds the directory with etcd and kube-apiserver:
// KUBEBUILDER_ASSETS if set, else what hack/tools.sh --print-assets names.
func AssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		root, err := RepoRoot()
		if err != nil {
			return "", err
		}
		out, err := exec.Command(filepath.Join(root, "hack", "tools.sh"), "--print-assets").Output()
		if err != nil {
			return "", fmt.Errorf("hack/tools.sh --print-assets: %w", err)
		}
		dir = strings.TrimSpace(string(out))
	}
	for _, bin := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("%s is not built in %s: run `make tools` (hack/tools.sh builds etcd, kube-apiserver, kube-controller-manager, kwok and prometheus from the Go module proxy, about 25 minutes once per machine, cached in ~/.cache/sluice/tools)", bin, dir)
		}
	}
	return dir, nil
}

// Tool returns the path of a binary hack/tools.sh built, such as kwok or
// prometheus, or an error saying how to build it.
func Tool(name string) (string, error) {
	dir, err := AssetsDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s is not built in %s: run `make tools`", name, dir)
	}
	return p, nil
}

// IstioCRDFile is Istio's CRD bundle shipped in the istio.io/api module.
func IstioCRDFile() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "istio.io/api")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locating the istio.io/api module (go list -m istio.io/api): %w", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "kubernetes", "customresourcedefinitions.gen.yaml")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("istio CRDs not found: %w; run `go mod download istio.io/api`", err)
	}
	return p, nil
}

// Main is a test package's whole TestMain when it needs nothing but the
// control plane: start it, point *env at it, run the tests, stop it.
func Main(m *testing.M, opts Options, env **Env) {
	e, err := Start(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		os.Exit(1)
	}
	*env = e
	code := m.Run()
	e.Stop()
	os.Exit(code)
}
