package controllers

import (
	"strings"
	"testing"
)

// A kubeconfig from a Rollout's Secret runs inside the manager: nothing in
// it may run commands or read the manager's files.
func TestInlineKubeconfig(t *testing.T) {
	const base = `apiVersion: v1
kind: Config
clusters:
- name: mgmt
  cluster: {server: "https://argocd.example.com:6443", %CLUSTER%}
users:
- name: sluice
  user: {%USER%}
contexts:
- name: mgmt
  context: {cluster: mgmt, user: sluice}
current-context: mgmt
`
	cases := []struct {
		name, cluster, user, refused string
	}{
		{"inline token", "insecure-skip-tls-verify: true", "token: abc", ""},
		{"inline client certificate", "certificate-authority-data: Zm9v", "client-certificate-data: Zm9v, client-key-data: Zm9v", ""},
		{"exec plugin", "insecure-skip-tls-verify: true", "exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: [-c, 'id']}", "exec plugin"},
		{"auth provider", "insecure-skip-tls-verify: true", "auth-provider: {name: oidc}", "auth-provider"},
		{"token file", "insecure-skip-tls-verify: true", "tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token", "reads files"},
		{"client key file", "insecure-skip-tls-verify: true", "client-certificate: /etc/cert, client-key: /etc/key", "reads files"},
		{"CA file", "certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt", "token: abc", "certificate-authority from a file"},
		{"impersonation", "insecure-skip-tls-verify: true", "token: abc, as: system:admin", "impersonates"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := strings.NewReplacer("%CLUSTER%", c.cluster, "%USER%", c.user).Replace(base)
			cfg, err := inlineKubeconfig([]byte(raw))
			if c.refused == "" {
				if err != nil || cfg == nil || cfg.Host != "https://argocd.example.com:6443" {
					t.Fatalf("want a config, got %v, %v", cfg, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.refused) {
				t.Fatalf("want an error containing %q, got %v", c.refused, err)
			}
		})
	}
}
