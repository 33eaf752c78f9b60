package install

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// warnings collects the apiserver's Warning headers, such as Pod Security
// Admission's "would violate PodSecurity" on a Deployment.
type warnings struct {
	mu   sync.Mutex
	seen []string
}

func (w *warnings) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = append(w.seen, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.seen
	w.seen = nil
	return out
}

// applier server-side applies objects as the admin, collecting warnings.
type applier struct {
	c     client.Client
	warns *warnings
	owner string
}

func newApplier(t testing.TB, owner string) *applier {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	w := &warnings{}
	cfg.WarningHandler, cfg.WarningHandlerWithContext = nil, w
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return &applier{c: c, warns: w, owner: owner}
}

// apply server-side applies one object; dryRun sends dryRun=All, so the
// apiserver runs defaulting, validation and admission and stores nothing.
func (a *applier) apply(ctx context.Context, o *unstructured.Unstructured, dryRun bool) ([]string, error) {
	// Forced, so objects an earlier test applied for real under another
	// owner do not turn into conflicts; a fresh cluster has none anyway.
	opts := []client.ApplyOption{client.FieldOwner(a.owner), client.ForceOwnership}
	if dryRun {
		opts = append(opts, client.DryRunAll)
	}
	a.warns.take()
	err := a.c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), opts...)
	return a.warns.take(), err
}

// applyForReal applies objects for real (forcing ownership, so a rerun or a
// second renderer of the same object takes over) and fails on any error.
func (a *applier) applyForReal(t testing.TB, objs ...*unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	for _, o := range objs {
		err := a.c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), client.FieldOwner(a.owner), client.ForceOwnership)
		if err != nil {
			t.Fatalf("applying %s: %v", key(o), err)
		}
	}
}

// waitEstablished waits until the CRDs are served.
func waitEstablished(t testing.TB, crds []*unstructured.Unstructured) {
	t.Helper()
	g := NewWithT(t)
	for _, crd := range crds {
		g.Eventually(func() bool {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(crd.GroupVersionKind())
			if err := env.Client.Get(context.Background(), client.ObjectKey{Name: crd.GetName()}, u); err != nil {
				return false
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return true
				}
			}
			return false
		}, 30*time.Second, 100*time.Millisecond).Should(BeTrue(), "CRD %s established", crd.GetName())
	}
}

// expectAccepted is the install check for one renderer's output: the CRDs
// and Namespaces are applied for real (everything else refers to them:
// namespaced objects need their Namespace, and the CRDs are what the
// ClusterRole and the admission policy are about), then every other object
// is server-side applied with dryRun=All. Each must be accepted without a
// single warning, so Pod Security Admission's "restricted" profile on
// sluice-system finds nothing in the manager's pod template either.
func expectAccepted(t *testing.T, owner string, objs []*unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	a := newApplier(t, owner)
	crds := byKind(objs, "CustomResourceDefinition")
	if len(crds) == 0 {
		t.Fatal("no CustomResourceDefinitions among the install's objects")
	}
	a.applyForReal(t, crds...)
	waitEstablished(t, crds)
	a.applyForReal(t, byKind(objs, "Namespace")...)

	var tried []string
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" || o.GetKind() == "Namespace" {
			continue
		}
		tried = append(tried, key(o))
		warns, err := a.apply(ctx, o, true)
		if err != nil {
			t.Errorf("%s refused: %v", key(o), err)
		}
		for _, w := range warns {
			t.Errorf("%s: apiserver warning: %s", key(o), w)
		}
	}
	t.Logf("dry-run applied %d objects: %s", len(tried), strings.Join(tried, ", "))

	// The dry run stored nothing.
	dep := find(t, objs, "Deployment", "sluice-manager")
	probe := &unstructured.Unstructured{}
	probe.SetGroupVersionKind(dep.GroupVersionKind())
	err := env.Client.Get(ctx, client.ObjectKey{Namespace: dep.GetNamespace(), Name: dep.GetName()}, probe)
	if !apierrors.IsNotFound(err) {
		t.Errorf("the dry run created Deployment %s/%s (err %v)", dep.GetNamespace(), dep.GetName(), err)
	}
}

// restrictedNamespace is sluice-system as the docs tell Helm users to label
// it (config/default ships the same labels).
func restrictedNamespace() *unstructured.Unstructured {
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(systemNamespace)
	ns.SetLabels(map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
	})
	return ns
}

// The kustomize install: the CRDs, `kustomize build config/default` and the
// policy, all accepted by a real kube-apiserver.
func TestKustomizeInstallIsAccepted(t *testing.T) {
	objs := kustomizeInstall(t)
	ns := find(t, objs, "Namespace", systemNamespace)
	if ns.GetLabels()["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace %s is not labelled for the restricted Pod Security Standard: %v", systemNamespace, ns.GetLabels())
	}
	for _, o := range objs {
		if o.GetNamespace() != "" && o.GetNamespace() != systemNamespace {
			t.Errorf("%s is outside %s", key(o), systemNamespace)
		}
	}
	expectAccepted(t, "install-test-kustomize", objs)
}

// config/default cannot include the CRDs and the policy while their
// directories have no kustomization.yaml; once they have one, it must.
func TestKustomizeIncludesWhatItCan(t *testing.T) {
	objs := kustomizeBuild(t, "config/default")
	for dir, kind := range map[string]string{"config/crd": "CustomResourceDefinition", "config/policy": "ValidatingAdmissionPolicy"} {
		_, err := os.Stat(filepath.Join(repoRoot(t), dir, "kustomization.yaml"))
		if err == nil && len(byKind(objs, kind)) == 0 {
			t.Errorf("%s has a kustomization.yaml: add ../%s to config/default's resources (and drop the separate step from the docs)", dir, filepath.Base(dir))
		}
	}
}

// The Helm install with default values, and with most optional parts
// switched on, accepted by a real kube-apiserver.
func TestHelmInstallIsAccepted(t *testing.T) {
	for name, args := range map[string][]string{
		"defaults": nil,
		"everything set": {
			"--set", "replicaCount=2",
			"--set", "leaderElection.namespace=" + systemNamespace,
			"--set", "disableEvents=true",
			"--set", "logLevel=debug",
			"--set", "extraArgs={--zap-encoder=console}",
			"--set", "priorityClassName=system-cluster-critical",
			"--set", "nodeSelector.kubernetes\\.io/os=linux",
			"--set", "tolerations[0].key=dedicated,tolerations[0].operator=Exists,tolerations[0].effect=NoSchedule",
			"--set", "podAnnotations.example\\.com/team=delivery",
			"--set", "serviceAccount.annotations.example\\.com/role=sluice",
			"--set", "slack.service.type=NodePort",
			"--set", "cache.sizeLimit=",
			"--set", "imagePullSecrets[0].name=regcred",
		},
	} {
		t.Run(name, func(t *testing.T) {
			objs := append([]*unstructured.Unstructured{restrictedNamespace()}, helmTemplate(t, args...)...)
			expectAccepted(t, "install-test-helm", objs)
		})
	}
}

// The warning check above is not vacuous: a pod template that breaks the
// restricted profile does draw a warning on a dry run in sluice-system.
func TestPodSecurityWarningsAreSeen(t *testing.T) {
	a := newApplier(t, "install-test-psa")
	a.applyForReal(t, restrictedNamespace())
	bad := &unstructured.Unstructured{}
	if err := bad.UnmarshalJSON(fmt.Appendf(nil, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"privileged","namespace":%q},
	  "spec":{"selector":{"matchLabels":{"app":"p"}},"template":{"metadata":{"labels":{"app":"p"}},
	  "spec":{"containers":[{"name":"c","image":"x","securityContext":{"privileged":true}}]}}}}`, systemNamespace)); err != nil {
		t.Fatal(err)
	}
	warns, err := a.apply(context.Background(), bad, true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(warns, "\n"), "PodSecurity") {
		t.Fatalf("expected a PodSecurity warning for a privileged pod, got %q", warns)
	}
}
