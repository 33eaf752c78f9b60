package argostandin

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// The shipped health.lua, run the way Argo CD runs it, over Rollouts in
// each situation.
func TestRolloutHealthLua(t *testing.T) {
	cases := []struct {
		name, rollout, status, message string
	}{
		{"no status yet", `metadata: {generation: 1}`, "Progressing", "waiting for the sluice controller"},
		{"old generation", `metadata: {generation: 3}
status: {observedGeneration: 2, phase: Healthy}`, "Progressing", "has not observed generation 3"},
		{"healthy", `metadata: {generation: 2}
status: {observedGeneration: 2, phase: Healthy, message: "revision abc serves all traffic"}`, "Healthy", "revision abc serves all traffic"},
		{"paused at a gate", `metadata: {generation: 2}
status: {observedGeneration: 2, phase: Paused, message: "step 1: waiting for approval"}`, "Suspended", "waiting for approval"},
		{"aborted", `metadata: {generation: 2}
status: {observedGeneration: 2, phase: Degraded, message: "revision x aborted"}`, "Degraded", "aborted"},
		{"progressing", `metadata: {generation: 2}
status: {observedGeneration: 2, phase: Progressing}`, "Progressing", "phase Progressing"},
		{"stalled wins over phase", `metadata: {generation: 2}
status:
  observedGeneration: 2
  phase: Progressing
  conditions:
  - {type: Ready, status: "False"}
  - {type: Stalled, status: "True", message: "VirtualService web not found"}`, "Degraded", "VirtualService web not found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			obj := map[string]any{}
			if err := yaml.Unmarshal([]byte("apiVersion: sluice.dev/v1alpha1\nkind: Rollout\n"+c.rollout), &obj); err != nil {
				t.Fatal(err)
			}
			h, err := resourceHealth(&unstructured.Unstructured{Object: obj})
			if err != nil {
				t.Fatal(err)
			}
			if h.Status != c.status || !strings.Contains(h.Message, c.message) {
				t.Fatalf("got %+v, want %s with %q", h, c.status, c.message)
			}
		})
	}
}

func TestHealthAggregation(t *testing.T) {
	h := Health{Status: "Healthy"}
	for _, s := range []string{"Suspended", "Healthy", "Progressing", "Suspended"} {
		h = worse(h, Health{Status: s})
	}
	if h.Status != "Progressing" {
		t.Fatalf("aggregate = %s, want Progressing", h.Status)
	}
	if worse(h, Health{Status: "Degraded"}).Status != "Degraded" {
		t.Fatal("Degraded must win")
	}
}
