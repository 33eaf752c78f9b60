package argocd

import (
	"fmt"
	"strings"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/traffic/istio"
)

// IgnoreDifference is one entry of an Application's spec.ignoreDifferences.
type IgnoreDifference struct {
	Group             string   `json:"group"`
	Kind              string   `json:"kind"`
	Name              string   `json:"name"`
	Namespace         string   `json:"namespace,omitempty"`
	JQPathExpressions []string `json:"jqPathExpressions"`
}

// IgnoreDifferences is the recipe that keeps Argo CD from reporting drift
// while sluice moves a Rollout's traffic: it selects exactly the values
// sluice writes mid-rollout in the Rollout's VirtualServices (the managed
// routes' weights, the canary and baseline destinations sluice appends,
// sluice's mirror, and the match routes it inserts) and DestinationRule
// (the subsets' revision and role labels, the canary subset's traffic
// policy and its ownership annotation).
//
// It only hides drift in the diff. With RespectIgnoreDifferences=true Argo CD
// copies ignored values back with a JSON merge patch that replaces whole
// arrays (argo-cd issue #17694), so it cannot keep single route weights
// through a sync; sluice's watch on the VirtualService restores them within
// one reconcile instead.
func IgnoreDifferences(ro *sluicev1.Rollout) []IgnoreDifference {
	t := ro.Spec.Traffic.Istio
	var out []IgnoreDifference
	var canary, baseline []string
	if dr := t.DestinationRule; dr != nil {
		canary = append(canary, fmt.Sprintf(".destination.subset == %q", dr.CanarySubset))
		if dr.BaselineSubset != "" {
			baseline = append(baseline, fmt.Sprintf(".destination.subset == %q", dr.BaselineSubset))
		}
	}
	if t.CanaryService != "" {
		canary = append(canary, fmt.Sprintf("(.destination.host | split(\".\") | .[0]) == %q", t.CanaryService))
	}
	appended := strings.Join(append(canary, baseline...), " or ")
	for _, vs := range t.VirtualServices {
		var exprs []string
		for _, r := range vs.Routes {
			route := fmt.Sprintf(".spec.http[] | select(.name == %q)", r)
			exprs = append(exprs, route+" | .route[].weight")
			if appended != "" {
				exprs = append(exprs, route+" | .route[] | select("+appended+")")
			}
			if len(canary) > 0 {
				// mirrorPercentage first: the selection looks at .mirror.
				mirrored := route + " | select(.mirror != null and (" + strings.ReplaceAll(strings.Join(canary, " or "), ".destination.", ".mirror.") + "))"
				exprs = append(exprs, mirrored+" | .mirrorPercentage", mirrored+" | .mirror")
			}
			var names []string
			for _, k := range istio.MatchKinds() {
				names = append(names, fmt.Sprintf(".name == %q", istio.MatchRouteName(k, r)))
			}
			exprs = append(exprs, ".spec.http[] | select("+strings.Join(names, " or ")+")")
		}
		out = append(out, IgnoreDifference{Group: "networking.istio.io", Kind: "VirtualService", Name: vs.Name, Namespace: ro.Namespace, JQPathExpressions: exprs})
	}
	if dr := t.DestinationRule; dr != nil {
		subsets := []string{fmt.Sprintf(".name == %q", dr.StableSubset), fmt.Sprintf(".name == %q", dr.CanarySubset)}
		if dr.BaselineSubset != "" {
			subsets = append(subsets, fmt.Sprintf(".name == %q", dr.BaselineSubset))
		}
		sel := ".spec.subsets[] | select(" + strings.Join(subsets, " or ") + ")"
		out = append(out, IgnoreDifference{Group: "networking.istio.io", Kind: "DestinationRule", Name: dr.Name, Namespace: ro.Namespace, JQPathExpressions: []string{
			sel + fmt.Sprintf(" | .labels[%q]", sluicev1.LabelRevision),
			sel + fmt.Sprintf(" | .labels[%q]", sluicev1.LabelRole),
			fmt.Sprintf(".spec.subsets[] | select(.name == %q) | .trafficPolicy", dr.CanarySubset),
			fmt.Sprintf(".metadata.annotations[%q]", istio.AnnotationCanaryTrafficPolicy),
		}})
	}
	return out
}
