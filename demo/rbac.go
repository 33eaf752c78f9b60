package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/sluice-dev/sluice/internal/manifests"
)

// managerIdentity is the ServiceAccount the shipped RBAC binds, the one
// the approval admission policy trusts.
const (
	managerNamespace = "sluice-system"
	managerUser      = "system:serviceaccount:sluice-system:sluice-manager"
)

// installShippedRBAC applies config/rbac (the files its kustomization
// lists) and returns a rest.Config that acts as the manager's
// ServiceAccount. The demo's manager runs with it, so the demo shows that
// the RBAC an install ships is enough for the whole flow: Rollouts,
// ReplicaSets, Istio objects, analysis, Git credentials and the Argo CD
// Application.
func installShippedRBAC(ctx context.Context, c client.Client, admin *rest.Config, root string) (*rest.Config, error) {
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: managerNamespace}}); client.IgnoreAlreadyExists(err) != nil {
		return nil, err
	}
	dir := filepath.Join(root, "config", "rbac")
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(raw, &k); err != nil {
		return nil, fmt.Errorf("config/rbac/kustomization.yaml: %w", err)
	}
	for _, f := range k.Resources {
		if err := manifests.CreateFile(ctx, c, filepath.Join(dir, f)); err != nil {
			return nil, fmt.Errorf("applying config/rbac: %w", err)
		}
	}
	cfg := rest.CopyConfig(admin)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: managerUser,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + managerNamespace, "system:authenticated"}}
	return cfg, nil
}
