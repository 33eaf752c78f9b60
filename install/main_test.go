package install

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/sluice-dev/sluice/internal/manifests"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// The install tests share one control plane with kube-controller-manager and
// kwok, so the RBAC test's Rollout really gets Pods that become Ready.
var (
	env *testenv.Env
	// kubeVersion is the apiserver's version; helm renders for it.
	kubeVersion string
)

const (
	// The names the admission policy and the docs depend on.
	systemNamespace = "sluice-system"
	serviceAccount  = "sluice-manager"
	saUser          = "system:serviceaccount:" + systemNamespace + ":" + serviceAccount
	// release is the Helm release name the docs use; with it the chart's
	// object names equal config/default's.
	release = "sluice"
)

// saGroups are the groups the apiserver puts a ServiceAccount's token in.
var saGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + systemNamespace, "system:authenticated"}

func TestMain(m *testing.M) {
	level := zapcore.Level(2)
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		level = -1
	}
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.Level(level)))
	testenv.Main(m, testenv.Options{Cluster: true}, &env)
}

func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func tool(t testing.TB, name string) string {
	t.Helper()
	p, err := testenv.Tool(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func serverVersion(t testing.TB) string {
	t.Helper()
	if kubeVersion == "" {
		dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
		if err != nil {
			t.Fatal(err)
		}
		v, err := dc.ServerVersion()
		if err != nil {
			t.Fatal(err)
		}
		kubeVersion = v.GitVersion
	}
	return kubeVersion
}

// run runs a tool and returns its stdout; a failure reports stderr.
func run(t testing.TB, envVars []string, name string, args ...string) []byte {
	t.Helper()
	out, err := runErr(envVars, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func runErr(envVars []string, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), envVars...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// kustomizeBuild renders a kustomization directory relative to the repo root.
func kustomizeBuild(t testing.TB, dir string) []*unstructured.Unstructured {
	t.Helper()
	return decode(t, run(t, nil, tool(t, "kustomize"), "build", filepath.Join(repoRoot(t), dir)))
}

// helmEnv keeps helm's cache, config and data out of the user's home.
func helmEnv(t testing.TB) []string {
	d := t.TempDir()
	return []string{"HELM_CACHE_HOME=" + filepath.Join(d, "cache"), "HELM_CONFIG_HOME=" + filepath.Join(d, "config"), "HELM_DATA_HOME=" + filepath.Join(d, "data")}
}

// helmTemplate renders the chart as release "sluice" in sluice-system, for
// the test apiserver's version; args add --set flags and the like.
func helmTemplate(t testing.TB, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := helmTemplateErr(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, out)
}

func helmTemplateErr(t testing.TB, args ...string) ([]byte, error) {
	t.Helper()
	base := []string{"template", release, filepath.Join(repoRoot(t), "charts", "sluice"), "--namespace", systemNamespace, "--kube-version", serverVersion(t)}
	return runErr(helmEnv(t), tool(t, "helm"), append(base, args...)...)
}

// decode splits a multi-document YAML stream into objects, skipping empty
// documents.
func decode(t testing.TB, data []byte) []*unstructured.Unstructured {
	t.Helper()
	out, err := manifests.Decode(data)
	if err != nil {
		t.Fatalf("decoding manifests: %v", err)
	}
	return out
}

func readManifests(t testing.TB, paths ...string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, p := range paths {
		b, err := os.ReadFile(filepath.Join(repoRoot(t), p))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, decode(t, b)...)
	}
	return out
}

func crdFiles(t testing.TB, dir string) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(repoRoot(t), dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range matches {
		if filepath.Base(m) == "kustomization.yaml" {
			continue
		}
		rel, _ := filepath.Rel(repoRoot(t), m)
		out = append(out, rel)
	}
	slices.Sort(out)
	return out
}

// kustomizeInstall is everything the kustomize install applies: the CRDs,
// `kustomize build config/default` and the admission policy. config/default
// cannot reference config/crd/bases and config/policy until those
// directories have a kustomization.yaml, so whatever the render lacks is
// read from them, as the documented commands do.
func kustomizeInstall(t testing.TB) []*unstructured.Unstructured {
	t.Helper()
	objs := kustomizeBuild(t, "config/default")
	var extra []*unstructured.Unstructured
	if len(byKind(objs, "CustomResourceDefinition")) == 0 {
		extra = append(extra, readManifests(t, crdFiles(t, "config/crd/bases")...)...)
	}
	if len(byKind(objs, "ValidatingAdmissionPolicy")) == 0 {
		extra = append(extra, readManifests(t, "config/policy/approval-identity.yaml")...)
	}
	return append(extra, objs...)
}

func byKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// find returns the one object of kind and name, failing the test otherwise.
func find(t testing.TB, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	var hit *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			if hit != nil {
				t.Fatalf("two %s named %s", kind, name)
			}
			hit = o
		}
	}
	if hit == nil {
		t.Fatalf("no %s named %s in %v", kind, name, keys(objs))
	}
	return hit
}

func has(objs []*unstructured.Unstructured, kind, name string) bool {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return true
		}
	}
	return false
}

// keys lists objects as kind/namespace/name, sorted.
func keys(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, key(o))
	}
	slices.Sort(out)
	return out
}

func key(o *unstructured.Unstructured) string {
	return o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
}
