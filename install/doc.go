// Package install tests sluice's install story against a real control
// plane: the kustomize base in config/default and the Helm chart in
// charts/sluice. Their manifests must be accepted by kube-apiserver, their
// RBAC must be enough for the manager to run a canary with leader election
// and no more than that, and the chart must stay in step with the generated
// files it copies (CRDs, the ClusterRole) and with config/policy.
//
// The package has no code of its own; everything is in its tests.
package install
