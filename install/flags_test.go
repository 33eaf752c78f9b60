package install

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// managerFlags builds the manager and reads the flags it defines from -h.
func managerFlags(t *testing.T) map[string]bool {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "manager")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the manager: %v\n%s", err, out)
	}
	// -h prints the flags and exits; the exit code is not the point.
	out, _ := exec.Command(bin, "-h").CombinedOutput()
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+-{1,2}([A-Za-z0-9][A-Za-z0-9_.-]*)`).FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	if !flags["leader-elect"] {
		t.Fatalf("could not read the manager's flags from -h:\n%s", out)
	}
	return flags
}

// Every flag the manifests pass is one the manager defines, so a renamed
// flag, or a flag the manifests pass before the manager has it (such as the
// Slack listener's), fails here rather than as a crash-looping pod.
func TestManifestFlagsAreManagerFlags(t *testing.T) {
	flags := managerFlags(t)
	deployments := map[string]*unstructured.Unstructured{
		"kustomize":     find(t, kustomizeBuild(t, "config/default"), "Deployment", "sluice-manager"),
		"helm defaults": find(t, helmTemplate(t), "Deployment", "sluice-manager"),
		"helm all flags": find(t, helmTemplate(t, "--set", "disableEvents=true", "--set", "leaderElection.namespace=elect",
			"--set", "logLevel=debug"), "Deployment", "sluice-manager"),
	}
	for name, dep := range deployments {
		// Once the manager has its Slack listener flag, the manifests must
		// point it at the pod's "slack" port.
		if flags["slack-bind-address"] {
			var port any
			ports, _ := container(t, dep)["ports"].([]any)
			for _, p := range ports {
				if m, _ := p.(map[string]any); m["name"] == "slack" {
					port = m["containerPort"]
				}
			}
			if want := fmt.Sprintf("--slack-bind-address=:%v", port); !slices.Contains(args(t, dep), want) {
				t.Errorf("%s does not pass %s (the pod's slack port)", name, want)
			}
		}
		for _, a := range args(t, dep) {
			if !strings.HasPrefix(a, "-") {
				t.Errorf("%s: argument %q is not a flag", name, a)
				continue
			}
			f, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if !flags[f] {
				t.Errorf("%s passes %s, which the manager does not define", name, a)
			}
		}
	}
}
