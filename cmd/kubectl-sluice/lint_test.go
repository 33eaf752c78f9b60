package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// runLint runs `kubectl-sluice lint ARGS` offline: lint reads no
// kubeconfig and talks to no apiserver.
func runLint(stdin string, args ...string) (stdout, stderr string, code int, err error) {
	var out, errOut bytes.Buffer
	cmd := newRootCommand(genericiooptions.IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut})
	cmd.SetArgs(append([]string{"lint"}, args...))
	err = cmd.ExecuteContext(context.Background())
	if err != nil {
		code = exitCode(err)
	}
	return out.String(), errOut.String(), code, err
}

func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

const notChecked = "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"

// One case per file in testdata/lint: the exact problems, each at the line
// of its field, and the exit status.
var lintCases = []struct {
	file string
	code int
	want []string
}{
	// Clean files: defaults make gitops' rule work, a v1 List, an Approval
	// with generateName, a template in the same file, other kinds skipped.
	{"good-gitops.yaml", 0, nil},
	{"good-list.yaml", 0, nil},
	{"good-approval.yaml", 0, nil},

	{"bad-duration.yaml", 1, []string{
		`:21: Rollout/web: spec.strategy.canary.steps[1].pause.duration: Invalid value: "5 minutes": must be a duration such as 30s, 5m or 1h30m (units ms, s, m, h)`,
	}},
	{"bad-weight.yaml", 1, []string{
		`:21: Rollout/web: spec.strategy.canary.steps[1].setWeight: Invalid value: 150: setWeight must be a percentage from 0 to 100`,
	}},
	// A required field missing blocks the CEL rules, as in the apiserver.
	{"missing-route.yaml", 1, []string{
		`:2: Rollout/web: ` + notChecked,
		`:24: Rollout/web: spec.traffic.istio.virtualServices[0].routes: Required value`,
	}},
	{"unknown-field.yaml", 1, []string{
		`:6: Rollout/web: unknown field "metadata.annotation"`,
		`:18: Rollout/web: unknown field "spec.progressDeadline"`,
		`:23: Rollout/web: unknown field "spec.strategy.canary.steps[1].pause.duraton"`,
	}},
	{"approval-no-approvers.yaml", 1, []string{
		`:21: Rollout/web: spec.strategy.canary.steps[1].approval: Invalid value: approval.approvers must name at least one user, group, Slack user or Slack user group; an approval nobody may give would never pass`,
	}},
	// The misspelt strategy is pruned, so the rule on strategy fails too.
	{"typo-strategy.yaml", 1, []string{
		`:17: Rollout/web: spec.strategy: Invalid value: strategy must set exactly one of canary, blueGreen, abTest or darkLaunch; remove the others`,
		`:18: Rollout/web: unknown field "spec.strategy.canery"`,
	}},
	// Admission accepts it; the controller's planner would stall on it.
	{"plan-only.yaml", 1, []string{
		`:22: Rollout/web: spec.strategy.canary.steps[1].pause.duration: must be a duration such as 30s, 5m or 1h30m, got "99999999999h"`,
	}},
	{"bad-enum.yaml", 1, []string{
		`:2: Rollout/web: ` + notChecked,
		`:22: Rollout/web: spec.strategy.blueGreen.steps[0].approval.onTimeout: Unsupported value: "Promote": supported values: "Abort", "StayPaused"`,
	}},
	{"bad-schema.yaml", 1, []string{
		`:4: Rollout/web: ` + notChecked,
		`:9: Rollout/web: .spec.replicas: Invalid value: 0: .spec.replicas accessor error: two is of the type string, expected int64`,
		`:9: Rollout/web: spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"`,
		`:21: Rollout/web: spec.template.spec.containers[1]: Duplicate value: {"name":"web"}`,
		`:32: Approval/web-approval: ` + notChecked,
		`:38: Approval/web-approval: spec.revision: Too long: may not be more than 63 bytes`,
		`:42: Approval/web-approval: spec.approver.channel: Unsupported value: "email": supported values: "kubectl", "slack"`,
		`:60: Rollout/api: spec.strategy.canary.steps[0].setCanaryScale: Invalid value: setCanaryScale sets exactly one of replicas, percent or matchTrafficWeight: true`,
		`:61: Rollout/api: spec.strategy.canary.steps[1]: Invalid value: each step sets exactly one of setWeight, pause, setCanaryScale, setMirror, analysis, approval or fault; split a step that does two things into two steps`,
		`:65: Rollout/api: spec.traffic.istio.virtualServices[0].routes: Invalid value: a route is listed twice; list each route once`,
		`:66: Rollout/api: spec.traffic.istio.destinationRule: Invalid value: traffic.istio.destinationRule.stableSubset and canarySubset must be different subsets`,
		`:68: Rollout/nothing: ` + notChecked,
		`:68: Rollout/nothing: spec: Required value`,
	}},
	{"bad-metadata.yaml", 1, []string{
		`:6: AnalysisTemplate/Error_Rate: metadata.name: Invalid value: "Error_Rate": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
		`:9: AnalysisTemplate/Error_Rate: duplicate field "metadata.labels.team"; kubectl would send only the last one`,
	}},
	{"bad-kind.yaml", 1, []string{
		`:2: Rolout/web: no kind "Rolout" in sluice.dev; the kinds are AnalysisRun, AnalysisTemplate, Approval, ClusterAnalysisTemplate, Rollout`,
		`:6: Rollout/web: sluice.dev/v1 is not served for kind Rollout; use apiVersion sluice.dev/v1alpha1`,
	}},
	// Lines count across documents; the VirtualService is skipped; a rule
	// on the object's root is reported at the object.
	{"multi-doc.yaml", 1, []string{
		`:13: AnalysisTemplate/comparison: Invalid value: spec.judge.marginal must not be above spec.judge.pass`,
		`:18: AnalysisTemplate/comparison: spec.metrics: Invalid value: metric names must be unique within a template`,
		`:42: ClusterAnalysisTemplate/cluster-wide: spec.metrics[0].interval: Invalid value: "1 minute": must be a duration such as 30s, 5m or 1h30m (units ms, s, m, h)`,
		`:44: ClusterAnalysisTemplate/cluster-wide: spec.metrics[0].prometheus.address: Invalid value: "prometheus:9090": prometheus.address must start with http:// or https://`,
	}},
	{"yaml-syntax.yaml", 1, []string{
		`:16: invalid YAML: found a tab character that violates indentation`,
	}},
	// Templates in the files are resolved; missing ones are warnings.
	{"template-refs.yaml", 1, []string{
		`:46: Rollout/web: spec.strategy.canary.steps[1].analysis: template latency needs argument "route", which has no default; add it to args`,
		`:49: Rollout/web: spec.strategy.canary.steps[2].analysis.templates: two templates define a metric named "p99"; rename one, results are kept by metric name`,
		`:53: warning: Rollout/web: spec.strategy.canary.steps[3].analysis.templates[0].name: AnalysisTemplate "error-rate" is not in the linted files; it must exist in the Rollout's namespace when this analysis runs`,
		`:54: warning: Rollout/web: spec.strategy.canary.steps[3].analysis.templates[1].name: ClusterAnalysisTemplate "shared-slo" is not in the linted files; it must exist in the cluster when this analysis runs`,
	}},
}

func TestLintFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/lint/*.yaml")
	var covered []string
	for _, tc := range lintCases {
		covered = append(covered, filepath.Join("testdata", "lint", tc.file))
		t.Run(tc.file, func(t *testing.T) {
			g := NewWithT(t)
			path := filepath.Join("testdata", "lint", tc.file)
			out, stderr, code, err := runLint("", path)
			var want []string
			for _, w := range tc.want {
				want = append(want, path+w)
			}
			g.Expect(lines(out)).To(Equal(want))
			g.Expect(stderr).To(BeEmpty())
			g.Expect(code).To(Equal(tc.code), "exit status (%v)", err)
		})
	}
	slices.Sort(covered)
	NewWithT(t).Expect(covered).To(Equal(files), "every file in testdata/lint has a case")
}

// The samples lint without errors one by one and together; together, the
// canary's template is found in analysistemplate.yaml, and the templates no
// sample defines are warnings, which fail only with --strict.
func TestLintSamples(t *testing.T) {
	g := NewWithT(t)
	samples := filepath.Join("..", "..", "config", "samples")
	files, _ := filepath.Glob(filepath.Join(samples, "*.yaml"))
	g.Expect(files).To(HaveLen(5))
	for _, f := range files {
		out, _, code, err := runLint("", f)
		g.Expect(code).To(Equal(0), "%s: %v", f, err)
		for _, l := range lines(out) {
			g.Expect(l).To(ContainSubstring(": warning: "), f)
		}
	}

	want := []string{
		samples + `/abtest.yaml:26: warning: Rollout/search: spec.strategy.abTest.steps[0].analysis.templates[0].name: AnalysisTemplate "conversion" is not in the linted files; it must exist in the Rollout's namespace when this analysis runs`,
		samples + `/bluegreen.yaml:33: warning: Rollout/checkout: spec.strategy.blueGreen.prePromotionAnalysis.templates[0].name: AnalysisTemplate "smoke-tests" is not in the linted files; it must exist in the Rollout's namespace when this analysis runs`,
		samples + `/darklaunch.yaml:23: warning: Rollout/pricing: spec.strategy.darkLaunch.steps[0].analysis.templates[0].name: AnalysisTemplate "latency" is not in the linted files; it must exist in the Rollout's namespace when this analysis runs`,
	}
	out, _, code, err := runLint("", samples)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(code).To(Equal(0))
	g.Expect(lines(out)).To(Equal(want))

	out, _, code, err = runLint("", "--strict", samples)
	g.Expect(code).To(Equal(1))
	g.Expect(err).To(MatchError("0 errors, 3 warnings"))
	g.Expect(lines(out)).To(Equal(want))
}

// - reads standard input; several inputs are one set of objects (a second
// definition of the same object is a warning); an input that cannot be
// read is exit status 2, after the others are linted.
func TestLintInputs(t *testing.T) {
	g := NewWithT(t)
	bad, err := os.ReadFile("testdata/lint/bad-weight.yaml")
	g.Expect(err).NotTo(HaveOccurred())
	out, _, code, err := runLint(string(bad), "-")
	g.Expect(lines(out)).To(Equal([]string{
		`<stdin>:21: Rollout/web: spec.strategy.canary.steps[1].setWeight: Invalid value: 150: setWeight must be a percentage from 0 to 100`,
	}))
	g.Expect(code).To(Equal(1))
	g.Expect(err).To(MatchError("1 error, 0 warnings"))

	good := "testdata/lint/good-gitops.yaml"
	out, _, code, err = runLint(string(bad), good, "-", good)
	g.Expect(lines(out)).To(Equal([]string{
		`<stdin>:2: warning: Rollout/web: also defined at testdata/lint/good-gitops.yaml:28; applying both keeps the later one`,
		`<stdin>:21: Rollout/web: spec.strategy.canary.steps[1].setWeight: Invalid value: 150: setWeight must be a percentage from 0 to 100`,
		good + `:4: warning: AnalysisTemplate/error-rate: also defined at testdata/lint/good-gitops.yaml:4; applying both keeps the later one`,
		good + `:28: warning: Rollout/web: also defined at testdata/lint/good-gitops.yaml:28; applying both keeps the later one`,
	}), "by input, then by line")
	g.Expect(code).To(Equal(1))
	g.Expect(err).To(MatchError("1 error, 3 warnings"))

	out, stderr, code, err := runLint("", "testdata/lint/missing.yaml", good)
	g.Expect(out).To(BeEmpty(), "the readable file is clean")
	g.Expect(stderr).To(Equal("testdata/lint/missing.yaml: stat testdata/lint/missing.yaml: no such file or directory\n"))
	g.Expect(code).To(Equal(2))
	g.Expect(err).To(MatchError("1 input could not be read"))

	_, _, code, err = runLint("")
	g.Expect(err).To(MatchError(ContainSubstring("requires at least 1 arg")))
	g.Expect(code).To(Equal(1))
}

// Field paths find their line: list indexes, map keys in brackets or
// quoted (plan), dotted keys joined into the path (kube-openapi), and the
// nearest existing parent for a missing field.
func TestLintLineOf(t *testing.T) {
	g := NewWithT(t)
	docs := splitDocuments([]byte(`# comment
---
apiVersion: v1
metadata:
  labels:
    app.kubernetes.io/name: web
spec:
  matches:
    - headers:
        x-beta: {exact: "1"}
  list: [a,
    b]
`))
	g.Expect(docs).To(HaveLen(1))
	n := docs[0].node
	for path, line := range map[string]int{
		"":                                       3,
		"metadata.labels.app.kubernetes.io/name": 6,
		"metadata.labels[app.kubernetes.io/name]": 6,
		"spec.matches[0].headers[x-beta].exact":   10,
		`spec.matches[0].headers["x-beta"]`:       10,
		"spec.matches[0]":                         9,
		"spec.matches[3].headers":                 8,
		"spec.list[1]":                            12,
		"spec.missing.deeper":                     7,
	} {
		g.Expect(lineOf(n, path)).To(Equal(line), path)
	}
}

// Kubernetes' CEL names for properties.
func TestCELEscape(t *testing.T) {
	g := NewWithT(t)
	for in, want := range map[string]string{
		"name": "name", "namespace": "__namespace__", "x-beta": "x__dash__beta",
		"a.b/c": "a__dot__b__slash__c", "a__b": "a__underscores__b", "_x": "_x",
	} {
		got, ok := celEscape(in)
		g.Expect(ok).To(BeTrue(), in)
		g.Expect(got).To(Equal(want), in)
	}
	_, ok := celEscape("1st")
	g.Expect(ok).To(BeFalse())
}

// The CEL features sluice's own CRDs do not use yet behave as in the
// apiserver: messageExpression, reason and fieldPath shape the error,
// transition rules are skipped on create, escaped property names resolve,
// and a rule needing a Kubernetes-only CEL library is reported unchecked
// rather than passed.
func TestLintCELRules(t *testing.T) {
	g := NewWithT(t)
	const def = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, listKind: WidgetList, singular: widget}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer}
                namespace: {type: string}
                url: {type: string}
                limits:
                  type: object
                  properties:
                    max: {type: integer}
              x-kubernetes-validations:
                - rule: self.size <= 10
                  messageExpression: "'size ' + string(self.size) + ' is above 10'"
                - rule: self.__namespace__ != 'kube-system'
                  message: no widgets in kube-system
                  reason: FieldValueForbidden
                  fieldPath: .namespace
                - rule: self.size == oldSelf.size
                  message: size is immutable
                - rule: "!has(self.url) || isURL(self.url)"
                - rule: "!has(self.limits) || self.limits.max >= self.size"
`
	adm, err := newAdmission(fstest.MapFS{"bases/widgets.yaml": {Data: []byte(def)}})
	g.Expect(err).NotTo(HaveOccurred())
	cv, ours, err := adm.lookup(schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"})
	g.Expect(ours).To(BeTrue())
	g.Expect(err).NotTo(HaveOccurred())

	v := cv.admit(context.Background(), map[string]any{
		"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "w"},
		"spec": map[string]any{"size": int64(12), "namespace": "kube-system", "url": "https://example.com", "limits": map[string]any{"max": int64(5)}},
	})
	var errs, unchecked []string
	for _, e := range v.errs {
		errs = append(errs, e.Error())
	}
	for _, e := range v.unchecked {
		unchecked = append(unchecked, e.Error())
	}
	g.Expect(errs).To(ConsistOf(
		"spec: Invalid value: size 12 is above 10",
		"spec.namespace: Forbidden: no widgets in kube-system",
		"spec: Invalid value: failed rule: !has(self.limits) || self.limits.max >= self.size",
	))
	g.Expect(unchecked).To(HaveLen(1))
	g.Expect(unchecked[0]).To(HavePrefix(`spec: Invalid value: rule "!has(self.url) || isURL(self.url)" not checked offline: `))
}
