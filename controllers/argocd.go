package controllers

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/gitops/argocd"
)

// +kubebuilder:rbac:groups=argoproj.io,resources=applications,verbs=get;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// inlineKubeconfig loads a kubeconfig that a Rollout's author supplied. It
// runs inside the manager, so anything that reaches beyond the Secret is
// refused: exec and auth-provider plugins would run commands in the
// manager, and file paths (tokenFile, certificate and key files) would
// hand the manager's own files, such as its ServiceAccount token, to the
// server the kubeconfig names.
func inlineKubeconfig(raw []byte) (*rest.Config, error) {
	cfg, err := clientcmd.Load(raw)
	if err != nil {
		return nil, err
	}
	for name, a := range cfg.AuthInfos {
		switch {
		case a.Exec != nil:
			return nil, fmt.Errorf("user %q uses an exec plugin; only inline credentials (token, client-certificate-data) are allowed", name)
		case a.AuthProvider != nil:
			return nil, fmt.Errorf("user %q uses an auth-provider plugin; only inline credentials are allowed", name)
		case a.TokenFile != "" || a.ClientCertificate != "" || a.ClientKey != "":
			return nil, fmt.Errorf("user %q reads files (tokenFile, client-certificate, client-key); put the data inline", name)
		case a.Impersonate != "" || len(a.ImpersonateGroups) > 0:
			return nil, fmt.Errorf("user %q impersonates; give the credentials of the identity itself", name)
		}
	}
	for name, c := range cfg.Clusters {
		if c.CertificateAuthority != "" {
			return nil, fmt.Errorf("cluster %q reads certificate-authority from a file; use certificate-authority-data", name)
		}
	}
	return clientcmd.NewDefaultClientConfig(*cfg, &clientcmd.ConfigOverrides{}).ClientConfig()
}

// remoteClients caches clients for Argo CD clusters reached through a
// kubeconfig Secret, keyed by the Secret and its resourceVersion so a
// rotated kubeconfig takes effect at once.
type remoteClients struct{ m sync.Map }

type remoteKey struct {
	secret types.NamespacedName
	rv     string
}

// secretValue reads one key of a Secret in the Rollout's namespace. Secrets
// are read straight from the apiserver: caching them would need list and
// watch on every Secret in the cluster.
func (p *pass) secretValue(ctx context.Context, ref *sluicev1.LocalSecretReference, field, key string) ([]byte, *corev1.Secret, error) {
	s := &corev1.Secret{}
	if err := p.r.APIReader.Get(ctx, types.NamespacedName{Namespace: p.ro.Namespace, Name: ref.Name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, &configError{reason: "SecretNotFound", msg: fmt.Sprintf("%s names Secret %s/%s, which does not exist", field, p.ro.Namespace, ref.Name)}
		}
		return nil, nil, fmt.Errorf("reading Secret %s/%s (%s): %w", p.ro.Namespace, ref.Name, field, err)
	}
	v, ok := s.Data[key]
	if !ok && key != "" {
		return nil, s, &configError{reason: "SecretKeyMissing", msg: fmt.Sprintf("Secret %s/%s (%s) has no key %q", p.ro.Namespace, ref.Name, field, key)}
	}
	return v, s, nil
}

// configError is a write-back problem only a person can fix (a missing
// Secret or key); it fails the write-back with a condition, not a retry.
type configError struct{ reason, msg string }

func (e *configError) Error() string { return e.msg }

// argoTarget is the Application named by spec.gitops.argocd and the way to
// reach it.
func (p *pass) argoTarget(ctx context.Context) (argocd.Target, error) {
	a := p.ro.Spec.GitOps.ArgoCD
	ns := a.Namespace
	if ns == "" {
		ns = "argocd"
	}
	key := types.NamespacedName{Namespace: ns, Name: a.Name}
	switch {
	case a.Server != nil:
		token, _, err := p.secretValue(ctx, &a.Server.TokenSecretRef, "spec.gitops.argocd.server.tokenSecretRef", "token")
		if err != nil {
			return nil, err
		}
		return &argocd.ServerTarget{BaseURL: a.Server.URL, Token: string(token), Namespace: ns, Name: a.Name}, nil
	case a.KubeconfigSecretRef != nil:
		raw, s, err := p.secretValue(ctx, a.KubeconfigSecretRef, "spec.gitops.argocd.kubeconfigSecretRef", "kubeconfig")
		if err != nil {
			return nil, err
		}
		c, err := p.r.remote.client(remoteKey{client.ObjectKeyFromObject(s), s.ResourceVersion}, raw)
		if err != nil {
			return nil, &configError{reason: "InvalidKubeconfig", msg: fmt.Sprintf("Secret %s/%s key kubeconfig (spec.gitops.argocd.kubeconfigSecretRef): %v", s.Namespace, s.Name, err)}
		}
		return &argocd.KubeTarget{Client: c, Key: key, Where: "cluster of kubeconfig Secret " + s.Name}, nil
	}
	return &argocd.KubeTarget{Client: p.r.Client, Reader: p.r.APIReader, Key: key, Where: "this cluster"}, nil
}

func (rc *remoteClients) client(k remoteKey, kubeconfig []byte) (client.Client, error) {
	if c, ok := rc.m.Load(k); ok {
		return c.(client.Client), nil
	}
	cfg, err := inlineKubeconfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return nil, err
	}
	// Older resourceVersions of the same Secret are stale now.
	rc.m.Range(func(old, _ any) bool {
		if old.(remoteKey).secret == k.secret {
			rc.m.Delete(old)
		}
		return true
	})
	rc.m.Store(k, c)
	return c, nil
}
