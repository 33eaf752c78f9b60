// Package v1alpha1 holds sluice's API: Rollout, AnalysisTemplate,
// ClusterAnalysisTemplate, AnalysisRun and Approval in group sluice.dev.
//
// +kubebuilder:object:generate=true
// +groupName=sluice.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of sluice's API.
	GroupVersion = schema.GroupVersion{Group: "sluice.dev", Version: "v1alpha1"}

	// SchemeBuilder registers sluice's types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds sluice's types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
