package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/sluice-dev/sluice/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}, &env) }

// base is a valid canary Rollout that each case breaks in one way.
const base = `
apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: web:1}]}
  strategy:
    canary:
      steps:
        - setWeight: 20
        - pause: {duration: 30s}
  traffic:
    istio:
      virtualServices: [{name: web, routes: [primary]}]
      destinationRule: {name: web, stableSubset: stable, canarySubset: canary}
`

const baseTemplate = `
apiVersion: sluice.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: success}
spec:
  metrics:
    - name: success-rate
      successCondition: result > 0.99
      prometheus: {address: "http://prometheus:9090", query: "up"}
`

func decode(t *testing.T, doc string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// set replaces the value at a dotted path ("spec.strategy.canary"); numeric
// segments index lists. A nil value deletes the key.
func set(obj map[string]any, path string, value any) {
	parts := strings.Split(path, ".")
	var cur any = obj
	for i, p := range parts {
		last := i == len(parts)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				if value == nil {
					delete(c, p)
				} else {
					c[p] = value
				}
				return
			}
			if _, ok := c[p]; !ok {
				c[p] = map[string]any{}
			}
			cur = c[p]
		case []any:
			var idx int
			fmt.Sscan(p, &idx)
			if last {
				c[idx] = value
				return
			}
			cur = c[idx]
		}
	}
}

func y(doc string) any {
	var v any
	if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
		panic(err)
	}
	return v
}

type invalidCase struct {
	name   string
	base   string
	mutate func(map[string]any)
	// want is a part of the apiserver's message: the field and the fix.
	want string
}

func TestAdmissionRejectsInvalidObjects(t *testing.T) {
	cases := []invalidCase{
		{"no strategy", base, func(o map[string]any) { set(o, "spec.strategy", map[string]any{}) },
			"strategy must set exactly one of canary, blueGreen, abTest or darkLaunch"},
		{"two strategies", base, func(o map[string]any) {
			set(o, "spec.strategy.darkLaunch", map[string]any{"mirrorPercent": "10"})
		}, "strategy must set exactly one of canary, blueGreen, abTest or darkLaunch"},
		{"step with two actions", base, func(o map[string]any) {
			set(o, "spec.strategy.canary.steps.0", y(`{setWeight: 10, pause: {}}`))
		}, "each step sets exactly one of setWeight, pause"},
		{"empty step", base, func(o map[string]any) { set(o, "spec.strategy.canary.steps.0", map[string]any{}) },
			"each step sets exactly one of setWeight"},
		{"weight above 100", base, func(o map[string]any) { set(o, "spec.strategy.canary.steps.0.setWeight", 150) },
			"setWeight must be a percentage from 0 to 100"},
		{"negative weight", base, func(o map[string]any) { set(o, "spec.strategy.canary.steps.0.setWeight", -5) },
			"setWeight must be a percentage from 0 to 100"},
		{"pause duration does not parse", base, func(o map[string]any) { set(o, "spec.strategy.canary.steps.1.pause.duration", "5 minutes") },
			"spec.strategy.canary.steps[1].pause.duration: Invalid value: \"5 minutes\": must be a duration such as 30s"},
		{"scaleDownDelay does not parse", base, func(o map[string]any) { set(o, "spec.strategy.scaleDownDelay", "1d") },
			"scaleDownDelay: Invalid value: \"1d\": must be a duration"},
		{"same stable and canary subset", base, func(o map[string]any) {
			set(o, "spec.traffic.istio.destinationRule.canarySubset", "stable")
		}, "stableSubset and canarySubset must be different subsets"},
		{"empty subset name", base, func(o map[string]any) { set(o, "spec.traffic.istio.destinationRule.stableSubset", "") },
			"spec.traffic.istio.destinationRule.stableSubset"},
		{"baseline subset clashes", base, func(o map[string]any) {
			set(o, "spec.traffic.istio.destinationRule.baselineSubset", "canary")
		}, "baselineSubset must differ from stableSubset and canarySubset"},
		{"no routes", base, func(o map[string]any) { set(o, "spec.traffic.istio.virtualServices.0.routes", []any{}) },
			"spec.traffic.istio.virtualServices[0].routes"},
		{"empty route name", base, func(o map[string]any) { set(o, "spec.traffic.istio.virtualServices.0.routes", []any{""}) },
			"spec.traffic.istio.virtualServices[0].routes[0]"},
		{"reserved route name", base, func(o map[string]any) {
			set(o, "spec.traffic.istio.virtualServices.0.routes", []any{"sluice-abtest-x"})
		},
			"route names starting with sluice- are reserved"},
		{"duplicate route", base, func(o map[string]any) { set(o, "spec.traffic.istio.virtualServices.0.routes", []any{"a", "a"}) },
			"a route is listed twice"},
		{"no virtual service", base, func(o map[string]any) { set(o, "spec.traffic.istio.virtualServices", []any{}) },
			"spec.traffic.istio.virtualServices"},
		{"duplicate virtual service", base, func(o map[string]any) {
			set(o, "spec.traffic.istio.virtualServices", y(`[{name: web, routes: [a]}, {name: web, routes: [b]}]`))
		}, "lists a VirtualService twice"},
		{"subset and host routing together", base, func(o map[string]any) {
			set(o, "spec.traffic.istio.stableService", "web-stable")
			set(o, "spec.traffic.istio.canaryService", "web-canary")
		}, "routes either by subsets (destinationRule) or by hosts"},
		{"host routing needs both services", base, func(o map[string]any) {
			set(o, "spec.traffic.istio.destinationRule", nil)
			set(o, "spec.traffic.istio.stableService", "web-stable")
		}, "needs both stableService and canaryService"},
		{"same stable and canary service", base, func(o map[string]any) {
			set(o, "spec.traffic.istio.destinationRule", nil)
			set(o, "spec.traffic.istio.stableService", "web")
			set(o, "spec.traffic.istio.canaryService", "web")
		}, "stableService and canaryService must name different Services"},
		{"fault on a weighted canary", base, func(o map[string]any) {
			set(o, "spec.strategy.canary.steps.1", y(`{fault: {duration: 1m, abort: {percent: "10", httpStatus: 503}}}`))
		}, "a fault step needs strategy.canary.testRoute"},
		{"fault without delay or abort", base, func(o map[string]any) {
			set(o, "spec.strategy.canary.testRoute", y(`{matches: [{headers: {x-test: {exact: "1"}}}]}`))
			set(o, "spec.strategy.canary.steps.1", y(`{fault: {duration: 1m}}`))
		}, "fault needs delay, abort or both"},
		{"fault http status out of range", base, func(o map[string]any) {
			set(o, "spec.strategy.canary.testRoute", y(`{matches: [{headers: {x-test: {exact: "1"}}}]}`))
			set(o, "spec.strategy.canary.steps.1", y(`{fault: {duration: 1m, abort: {percent: "10", httpStatus: 42}}}`))
		}, "fault.abort.httpStatus must be an HTTP status from 200 to 599"},
		{"mirror percent above 100", base, func(o map[string]any) {
			set(o, "spec.strategy", y(`{darkLaunch: {mirrorPercent: "120"}}`))
		}, "spec.strategy.darkLaunch.mirrorPercent: Invalid value: \"120\": must be a percentage from 0 to 100"},
		{"mirror percent not a number", base, func(o map[string]any) {
			set(o, "spec.strategy", y(`{darkLaunch: {mirrorPercent: "half"}}`))
		}, "must be a percentage from 0 to 100"},
		{"setWeight in a dark launch", base, func(o map[string]any) {
			set(o, "spec.strategy", y(`{darkLaunch: {steps: [{setWeight: 10}]}}`))
		}, "darkLaunch.steps may not setWeight"},
		{"setWeight in an A/B test", base, func(o map[string]any) {
			set(o, "spec.strategy", y(`{abTest: {matches: [{headers: {x-beta: {exact: "1"}}}], steps: [{setWeight: 10}]}}`))
		}, "abTest.steps may not setWeight or setMirror"},
		{"A/B test without matches", base, func(o map[string]any) { set(o, "spec.strategy", y(`{abTest: {matches: []}}`)) },
			"spec.strategy.abTest.matches"},
		{"empty A/B match catches everyone", base, func(o map[string]any) { set(o, "spec.strategy", y(`{abTest: {matches: [{}]}}`)) },
			"an empty match would catch every request"},
		{"string match with two kinds", base, func(o map[string]any) {
			set(o, "spec.strategy", y(`{abTest: {matches: [{headers: {x-beta: {exact: "1", prefix: "1"}}}]}}`))
		}, "a string match sets exactly one of exact, prefix or regex"},
		{"setWeight in blue/green", base, func(o map[string]any) {
			set(o, "spec.strategy", y(`{blueGreen: {steps: [{setWeight: 10}]}}`))
		}, "blueGreen.steps may only pause, analyse, ask for approval or inject faults"},
		{"canary scale with two sizes", base, func(o map[string]any) {
			set(o, "spec.strategy.canary.steps.0", y(`{setCanaryScale: {replicas: 2, percent: 10}}`))
		}, "setCanaryScale sets exactly one of replicas, percent or matchTrafficWeight"},
		{"approval nobody can give", base, func(o map[string]any) {
			set(o, "spec.strategy.canary.steps.1", y(`{approval: {approvers: {}}}`))
		}, "approval.approvers must name at least one user"},
		{"approval with bad timeout outcome", base, func(o map[string]any) {
			set(o, "spec.strategy.canary.steps.1", y(`{approval: {approvers: {users: [alice]}, onTimeout: Promote}}`))
		}, "onTimeout: Unsupported value: \"Promote\""},
		{"background analysis past the last step", base, func(o map[string]any) {
			set(o, "spec.strategy.analysis", y(`{templates: [{name: x}], startingStep: 5}`))
		}, "strategy.analysis.startingStep must be the index of an existing step"},
		{"analysis without templates", base, func(o map[string]any) {
			set(o, "spec.strategy.canary.steps.1", y(`{analysis: {templates: []}}`))
		}, "spec.strategy.canary.steps[1].analysis.templates"},
		{"gitops path escapes the repo", base, func(o map[string]any) {
			set(o, "spec.gitops", y(`{repoURL: "https://git.example.com/app.git", path: "../etc/passwd"}`))
		}, "gitops.path must be relative to the repo root and must not contain .."},
		{"gitops repo URL is not Git", base, func(o map[string]any) {
			set(o, "spec.gitops", y(`{repoURL: "ftp://example.com/app", path: "rollout.yaml"}`))
		}, "gitops.repoURL must be an https://, http://, ssh:// or user@host:path Git URL"},
		{"helm values without mapping", base, func(o map[string]any) {
			set(o, "spec.gitops", y(`{repoURL: "https://git.example.com/app.git", path: "values.yaml", format: HelmValues}`))
		}, "gitops.format HelmValues needs gitops.helmValues"},
		{"argo cd reached two ways", base, func(o map[string]any) {
			set(o, "spec.gitops", y(`{repoURL: "https://git.example.com/app.git", path: "r.yaml", argocd: {name: app, kubeconfigSecretRef: {name: k}, server: {url: "https://argocd", tokenSecretRef: {name: t}}}}`))
		}, "either through kubeconfigSecretRef or through server, not both"},
		{"baseline without a baseline subset", base, func(o map[string]any) { set(o, "spec.strategy.canary.baseline", true) },
			"strategy.canary.baseline needs traffic.istio.destinationRule.baselineSubset"},
		{"setMirror in a canary", base, func(o map[string]any) { set(o, "spec.strategy.canary.steps.1", y(`{setMirror: "10"}`)) },
			"canary.steps may not setMirror"},
		{"negative replicas", base, func(o map[string]any) { set(o, "spec.replicas", -1) },
			"spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0"},
		{"template metric without provider", baseTemplate, func(o map[string]any) {
			set(o, "spec.metrics.0.prometheus", nil)
		}, "a metric sets exactly one provider"},
		{"template metric that cannot fail", baseTemplate, func(o map[string]any) {
			set(o, "spec.metrics.0.successCondition", nil)
		}, "a prometheus metric needs successCondition, failureCondition, min or max"},
		{"template duplicate metric names", baseTemplate, func(o map[string]any) {
			m := o["spec"].(map[string]any)["metrics"].([]any)
			set(o, "spec.metrics", append(m, m[0]))
		}, "metric names must be unique within a template"},
		{"template bad interval", baseTemplate, func(o map[string]any) { set(o, "spec.metrics.0.interval", "often") },
			"spec.metrics[0].interval: Invalid value: \"often\": must be a duration"},
		{"template bad threshold", baseTemplate, func(o map[string]any) {
			set(o, "spec.metrics.0.max", "lots")
		}, "spec.metrics[0].max: Invalid value: \"lots\": must be a number"},
		{"template bad no-data policy", baseTemplate, func(o map[string]any) { set(o, "spec.metrics.0.noDataPolicy", "Promote") },
			"noDataPolicy: Unsupported value: \"Promote\""},
		{"template prometheus address not http", baseTemplate, func(o map[string]any) {
			set(o, "spec.metrics.0.prometheus.address", "prometheus:9090")
		}, "prometheus.address must start with http:// or https://"},
	}
	ctx := context.Background()
	ns, err := env.CreateNamespace(ctx, "cel")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			obj := decode(t, tc.base)
			tc.mutate(obj)
			u := &unstructured.Unstructured{Object: obj}
			u.SetNamespace(ns)
			err := env.Client.Create(ctx, u)
			g.Expect(err).To(HaveOccurred(), "the apiserver accepted an invalid object")
			g.Expect(err.Error()).To(ContainSubstring(tc.want))
			t.Logf("rejected: %s", err)
		})
	}
}

// The samples in config/samples (all four strategies) are accepted.
func TestAdmissionAcceptsSamples(t *testing.T) {
	ctx := context.Background()
	ns, err := env.CreateNamespace(ctx, "samples")
	if err != nil {
		t.Fatal(err)
	}
	root, _ := testenv.RepoRoot()
	files, _ := filepath.Glob(filepath.Join(root, "config", "samples", "*.yaml"))
	if len(files) < 5 {
		t.Fatalf("expected samples for four strategies and a template, found %v", files)
	}
	strategies := map[string]bool{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			g := NewWithT(t)
			b, err := os.ReadFile(f)
			g.Expect(err).NotTo(HaveOccurred())
			obj := decode(t, string(b))
			u := &unstructured.Unstructured{Object: obj}
			u.SetNamespace(ns)
			g.Expect(env.Client.Create(ctx, u)).To(Succeed())
			if s, ok, _ := unstructured.NestedMap(obj, "spec", "strategy"); ok {
				for k := range s {
					strategies[k] = true
				}
			}
		})
	}
	for _, s := range []string{"canary", "blueGreen", "abTest", "darkLaunch"} {
		if !strategies[s] {
			t.Errorf("no sample for strategy %s", s)
		}
	}
}
