// Package argocd ships the Argo CD customizations for sluice Rollouts: the
// resource health check and the ignoreDifferences recipe. The files are
// embedded so tests and the demo's Argo CD stand-in run the same bytes a
// user installs.
package argocd

import _ "embed"

// HealthLua is the resource health check for sluice.dev/Rollout.
//
//go:embed health.lua
var HealthLua string
