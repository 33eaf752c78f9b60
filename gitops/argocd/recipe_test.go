package argocd

import (
	"encoding/json"
	"reflect"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/itchyny/gojq"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/traffic/istio"
)

const gitVirtualService = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web]
  http:
  - name: primary
    timeout: 5s
    route:
    - destination: {host: web, subset: stable}
      weight: 100
    - destination: {host: web, subset: canary}
      weight: 0
  - name: other
    route:
    - destination: {host: legacy}
`

const gitDestinationRule = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: shop}
spec:
  host: web
  subsets:
  - name: stable
    labels: {app: web}
  - name: canary
    labels: {app: web}
`

func recipeRollout() *sluicev1.Rollout {
	ro := &sluicev1.Rollout{}
	ro.Namespace, ro.Name = "shop", "web"
	ro.Spec.Traffic.Istio.VirtualServices = []sluicev1.VirtualServiceRef{{Name: "web", Routes: []string{"primary"}}}
	ro.Spec.Traffic.Istio.DestinationRule = &sluicev1.DestinationRuleRef{Name: "web", StableSubset: "stable", CanarySubset: "canary"}
	return ro
}

// normalize deletes what the recipe selects, as Argo CD's jq normalizer
// does (del(<expression>) per entry), so the live and Git objects can be
// compared.
func normalize(t *testing.T, obj map[string]any, exprs []string) map[string]any {
	t.Helper()
	var cur any = obj
	for _, e := range exprs {
		q, err := gojq.Parse("del(" + e + ")")
		if err != nil {
			t.Fatalf("jq expression %q does not parse: %v", e, err)
		}
		v, ok := q.Run(cur).Next()
		if !ok {
			t.Fatalf("jq expression %q returned nothing", e)
		}
		if err, isErr := v.(error); isErr {
			t.Fatalf("jq expression %q: %v", e, err)
		}
		cur = v
	}
	return cur.(map[string]any)
}

func load(t *testing.T, doc string) map[string]any {
	t.Helper()
	m := map[string]any{}
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	// gojq needs JSON-shaped values (float64 numbers), as Argo CD gives it.
	b, _ := json.Marshal(m)
	out := map[string]any{}
	_ = json.Unmarshal(b, &out)
	return out
}

func patched(t *testing.T, obj map[string]any, p istio.Patch) map[string]any {
	t.Helper()
	raw, _ := json.Marshal(obj)
	ops, err := p.JSON()
	if err != nil {
		t.Fatal(err)
	}
	jp, err := jsonpatch.DecodePatch(ops)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jp.Apply(raw)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	_ = json.Unmarshal(out, &m)
	return m
}

// Every value sluice writes mid-rollout is selected by the recipe, so the
// normalized live object equals the normalized Git object; a user's change
// elsewhere is still reported.
func TestIgnoreDifferencesCoverSluiceWrites(t *testing.T) {
	ro := recipeRollout()
	recipe := IgnoreDifferences(ro)
	if len(recipe) != 2 {
		t.Fatalf("want a VirtualService and a DestinationRule entry, got %+v", recipe)
	}
	vsExprs, drExprs := recipe[0].JQPathExpressions, recipe[1].JQPathExpressions
	target := istio.VirtualServiceTarget{Key: types.NamespacedName{Namespace: "shop", Name: "web"}, Routes: []string{"primary"}}
	base := istio.Desired{StableSubset: "stable", CanarySubset: "canary", StableRevision: "aaa", CanaryRevision: "bbb"}
	states := map[string]istio.Desired{}
	canary := base
	canary.CanaryWeight = 30
	states["canary 30%"] = canary
	ab := base
	ab.MatchRoute = &istio.MatchRoute{Kind: istio.MatchKindABTest, Matches: []sluicev1.HTTPMatch{{Headers: map[string]sluicev1.StringMatch{"x-beta": {Exact: ptr("1")}}}}}
	states["A/B match route"] = ab
	dark := base
	dark.MirrorPercent = 20
	states["dark launch mirror"] = dark
	for name, d := range states {
		t.Run(name, func(t *testing.T) {
			git := load(t, gitVirtualService)
			p, err := istio.RenderVirtualService(git, target, d)
			if err != nil {
				t.Fatal(err)
			}
			if p.Mutations() == 0 {
				t.Fatal("sluice changed nothing; the case tests nothing")
			}
			live := patched(t, git, p)
			if reflect.DeepEqual(live, git) {
				t.Fatal("live equals Git before normalizing")
			}
			if a, b := normalize(t, live, vsExprs), normalize(t, load(t, gitVirtualService), vsExprs); !reflect.DeepEqual(a, b) {
				t.Fatalf("the recipe leaves a difference:\nlive %v\ngit  %v", a, b)
			}
			// A person's edit of the same route is still drift.
			edited := patched(t, git, p)
			edited["spec"].(map[string]any)["http"].([]any)[len(edited["spec"].(map[string]any)["http"].([]any))-2].(map[string]any)["timeout"] = "1s"
			if reflect.DeepEqual(normalize(t, edited, vsExprs), normalize(t, load(t, gitVirtualService), vsExprs)) {
				t.Fatal("the recipe hides a timeout change")
			}
		})
	}
	t.Run("DestinationRule revision labels", func(t *testing.T) {
		git := load(t, gitDestinationRule)
		p, err := istio.RenderDestinationRule(git, istio.DestinationRuleTarget{Key: types.NamespacedName{Namespace: "shop", Name: "web"}}, base)
		if err != nil {
			t.Fatal(err)
		}
		if p.Mutations() == 0 {
			t.Fatal("sluice changed nothing")
		}
		live := patched(t, git, p)
		if a, b := normalize(t, live, drExprs), normalize(t, load(t, gitDestinationRule), drExprs); !reflect.DeepEqual(a, b) {
			t.Fatalf("the recipe leaves a difference:\nlive %v\ngit  %v", a, b)
		}
		live["spec"].(map[string]any)["host"] = "other"
		if reflect.DeepEqual(normalize(t, live, drExprs), normalize(t, load(t, gitDestinationRule), drExprs)) {
			t.Fatal("the recipe hides a host change")
		}
	})
}

func ptr[T any](v T) *T { return &v }
