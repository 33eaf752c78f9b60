// Package crd carries sluice's generated CustomResourceDefinitions
// (config/crd/bases, written by controller-gen) inside the binaries that
// import it, so that `kubectl sluice lint` validates against exactly the
// schemas the cluster enforces without reading the repository at run time.
package crd

import "embed"

// Bases holds bases/*.yaml, one CustomResourceDefinition per file.
//
//go:embed bases/*.yaml
var Bases embed.FS
