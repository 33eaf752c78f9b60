package argocd_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	argocdconfig "github.com/sluice-dev/sluice/config/argocd"
	"github.com/sluice-dev/sluice/gitops/argocd"
)

// The argocd-cm snippet carries the same Lua as health.lua, which the
// stand-in's tests run.
func TestArgoCDConfigMapCarriesHealthLua(t *testing.T) {
	raw, err := os.ReadFile("argocd-cm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(raw, &cm); err != nil {
		t.Fatal(err)
	}
	got := cm.Data["resource.customizations.health.sluice.dev_Rollout"]
	want := argocdconfig.HealthLua
	// health.lua's leading comment is documentation, not part of the check.
	var body []string
	for _, l := range strings.Split(want, "\n") {
		if !strings.HasPrefix(l, "--") {
			body = append(body, l)
		}
	}
	if strings.TrimSpace(got) != strings.TrimSpace(strings.Join(body, "\n")) {
		t.Fatalf("argocd-cm.yaml's health check differs from health.lua:\n%s", got)
	}
}

// The example Application's recipe is what the generator says for the
// canary sample.
func TestExampleApplicationRecipe(t *testing.T) {
	raw, err := os.ReadFile("../samples/canary.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ro := &sluicev1.Rollout{}
	if err := yaml.Unmarshal(raw, ro); err != nil {
		t.Fatal(err)
	}
	ro.Namespace = "shop"
	app, err := os.ReadFile("application.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var a struct {
		Spec struct {
			IgnoreDifferences []argocd.IgnoreDifference `json:"ignoreDifferences"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(app, &a); err != nil {
		t.Fatal(err)
	}
	if want := argocd.IgnoreDifferences(ro); !reflect.DeepEqual(a.Spec.IgnoreDifferences, want) {
		got, _ := yaml.Marshal(want)
		t.Fatalf("application.yaml's ignoreDifferences differ from the generator's:\n%s", got)
	}
}
