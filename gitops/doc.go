// Package gitops writes the outcome of a rollout back to the app's Git
// repository, so Git stays the truth after sluice promotes or rolls back.
//
// A Writer keeps a clone per repository and branch, edits the file a
// Rollout's spec.gitops names (a plain manifest, a kustomization's images
// or Helm values), commits with trailers that name the rollout, revision
// and outcome, and pushes; when someone else pushed meanwhile it fetches,
// redoes the edit on their commit and tries again. The trailers make a
// write idempotent: a write that already reached the branch is found
// again instead of being made twice.
//
// The editors (EditManifest, EditKustomization, EditHelmValues,
// EditStatusFile) are pure functions over file bytes. They change only the
// values they must, and leave comments, layout and other documents as they
// were, so the commit reads like one a person would make.
package gitops
