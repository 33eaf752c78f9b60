package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	yamlv3 "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/sluice-dev/sluice/analysis/prometheus"
	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/plan"
)

func (o *options) lintCommand() *cobra.Command {
	var strict bool
	cmd := &cobra.Command{
		Use:   "lint FILE|DIR|- ...",
		Short: "Check sluice manifests offline with the cluster's admission rules, the step planner and template references",
		Long: `Check sluice objects (Rollout, AnalysisTemplate, ClusterAnalysisTemplate,
Approval) in YAML or JSON files without a cluster: the CRDs' schemas and CEL
rules as admission applies them (after defaults), unknown fields as kubectl's
strict field validation reports them, the Rollout's steps as the controller
plans them, and analysis templates and their arguments when the templates
are among the files. Other objects are skipped. A directory means its
*.yaml, *.yml and *.json files; - reads standard input.

Each problem is printed as FILE:LINE: KIND/NAME: FIELD: MESSAGE. Exit
status: 0 no errors (warnings allowed unless --strict), 1 errors, 2 an input
could not be read.`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeManifests,
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := lint(cmd.Context(), o.streams.In, args)
			if err != nil {
				return err
			}
			for _, p := range res.problems {
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			for _, u := range res.unreadable {
				fmt.Fprintln(cmd.ErrOrStderr(), u)
			}
			errs, warns := res.count()
			switch {
			case len(res.unreadable) > 0:
				return &exitError{code: 2, msg: fmt.Sprintf("%s could not be read", plural(len(res.unreadable), "input"))}
			case errs > 0 || (strict && warns > 0):
				return &exitError{code: 1, msg: fmt.Sprintf("%s, %s", plural(errs, "error"), plural(warns, "warning"))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&strict, "strict", false, "fail (exit 1) on warnings too")
	return cmd
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// problem is one finding, printed as FILE:LINE: [warning: ]KIND/NAME: TEXT.
type problem struct {
	file    string
	order   int // of the file among the inputs
	line    int
	warning bool
	object  string
	text    string
}

func (p problem) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d: ", p.file, p.line)
	if p.warning {
		b.WriteString("warning: ")
	}
	if p.object != "" {
		b.WriteString(p.object + ": ")
	}
	b.WriteString(p.text)
	return b.String()
}

// lintResult is everything lint found.
type lintResult struct {
	problems   []problem
	unreadable []string
}

func (r lintResult) count() (errs, warns int) {
	for _, p := range r.problems {
		if p.warning {
			warns++
		} else {
			errs++
		}
	}
	return errs, warns
}

// lintObject is one sluice object found in the inputs.
type lintObject struct {
	file  string
	order int
	line  int          // of the object's first field
	node  *yamlv3.Node // nil when only line is known
	gvk   schema.GroupVersionKind
	// obj is the object after admission: unknown fields pruned, defaults
	// set.
	obj   map[string]any
	label string // Kind/name
	ns    string
	name  string
	// admitted: admission found no error.
	admitted bool
}

type linter struct {
	adm     *admission
	res     lintResult
	objects []*lintObject
}

// lint checks the named inputs ("-" is stdin). The error is for lint's own
// failures (the embedded CRDs); problems in the inputs are in the result.
func lint(ctx context.Context, stdin io.Reader, inputs []string) (lintResult, error) {
	adm, err := loadAdmission()
	if err != nil {
		return lintResult{}, err
	}
	l := &linter{adm: adm}
	order := 0
	for _, in := range inputs {
		files, err := expandInput(in)
		if err != nil {
			l.res.unreadable = append(l.res.unreadable, fmt.Sprintf("%s: %v", in, err))
			continue
		}
		for _, f := range files {
			var data []byte
			name := f
			if f == "-" {
				name = "<stdin>"
				data, err = io.ReadAll(stdin)
			} else {
				data, err = os.ReadFile(f)
			}
			if err != nil {
				l.res.unreadable = append(l.res.unreadable, fmt.Sprintf("%s: %v", name, err))
				continue
			}
			l.file(ctx, name, order, data)
			order++
		}
	}
	l.crossChecks()
	sort.SliceStable(l.res.problems, func(i, j int) bool {
		a, b := l.res.problems[i], l.res.problems[j]
		if a.order != b.order {
			return a.order < b.order
		}
		if a.line != b.line {
			return a.line < b.line
		}
		return a.text < b.text
	})
	l.res.problems = slices.Compact(l.res.problems)
	return l.res, nil
}

// expandInput turns a directory into its manifest files, as kubectl -f
// does (not recursively).
func expandInput(in string) ([]string, error) {
	if in == "-" {
		return []string{in}, nil
	}
	st, err := os.Stat(in)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{in}, nil
	}
	entries, err := os.ReadDir(in)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		switch filepath.Ext(e.Name()) {
		case ".yaml", ".yml", ".json":
			if !e.IsDir() {
				files = append(files, filepath.Join(in, e.Name()))
			}
		}
	}
	return files, nil
}

// lineOf is the line of a field of the object, or of the object.
func (o *lintObject) lineOf(path string) int {
	if n := lineOf(o.node, path); n > 0 {
		return n
	}
	return o.line
}

func (l *linter) add(o *lintObject, line int, warning bool, text string) {
	l.res.problems = append(l.res.problems, problem{file: o.file, order: o.order, line: line, warning: warning, object: o.label, text: text})
}

// file lints the documents of one input.
func (l *linter) file(ctx context.Context, name string, order int, data []byte) {
	for _, d := range splitDocuments(data) {
		if d.err != "" {
			l.res.problems = append(l.res.problems, problem{file: name, order: order, line: d.errLine, text: "invalid YAML: " + d.err})
			continue
		}
		m, ok := d.value.(map[string]any)
		if !ok {
			l.res.problems = append(l.res.problems, problem{file: name, order: order, line: d.line, text: fmt.Sprintf("a document must be an object with apiVersion and kind, not a %s", jsonKind(d.value))})
			continue
		}
		if items, ok := m["items"].([]any); ok && strings.HasSuffix(nestedString(m, "kind"), "List") {
			// kubectl applies a list's items one by one
			var itemNodes []*yamlv3.Node
			if d.node != nil {
				if _, n := mappingEntry(d.node, "items"); n != nil && n.Kind == yamlv3.SequenceNode {
					itemNodes = n.Content
				}
			}
			for i, it := range items {
				line, n := d.line, (*yamlv3.Node)(nil)
				if i < len(itemNodes) {
					n = itemNodes[i]
					line = n.Line
				}
				if im, ok := it.(map[string]any); ok {
					l.object(ctx, name, order, line, n, im)
				}
			}
			continue
		}
		l.object(ctx, name, order, d.line, d.node, m)
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "list"
	case string:
		return "string"
	case bool:
		return "bool"
	}
	return "number"
}

// object lints one object; objects of other API groups are skipped.
func (l *linter) object(ctx context.Context, file string, order int, line int, node *yamlv3.Node, obj map[string]any) {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil || apiVersion == "" || kind == "" {
		l.res.problems = append(l.res.problems, problem{file: file, order: order, line: line, text: "not a Kubernetes object: apiVersion and kind are required"})
		return
	}
	gvk := gv.WithKind(kind)
	cv, ours, err := l.adm.lookup(gvk)
	if !ours {
		return
	}
	o := &lintObject{file: file, order: order, line: line, node: node, gvk: gvk, obj: obj}
	o.name, o.ns = nestedString(obj, "metadata", "name"), nestedString(obj, "metadata", "namespace")
	o.label = kind + "/" + o.name
	if o.name == "" {
		if g := nestedString(obj, "metadata", "generateName"); g != "" {
			o.label = kind + "/" + g + "*"
		}
	}
	if err != nil {
		at := o.lineOf("apiVersion")
		if _, found := l.adm.versions[gvk.GroupKind()]; !found {
			at = o.lineOf("kind")
		}
		l.add(o, at, false, err.Error())
		return
	}
	paths, lines := duplicateKeys(node)
	for i, p := range paths {
		l.add(o, lines[i], false, fmt.Sprintf("duplicate field %q; kubectl would send only the last one", p))
	}
	v := cv.admit(ctx, obj)
	for _, u := range v.unknown {
		l.add(o, o.lineOf(u), false, fmt.Sprintf("unknown field %q", u))
	}
	for _, e := range v.errs {
		l.add(o, o.lineOf(e.Field), false, fieldErrorText(e))
	}
	for _, e := range v.unchecked {
		l.add(o, o.lineOf(e.Field), true, fieldErrorText(e))
	}
	o.admitted = len(v.errs) == 0
	l.objects = append(l.objects, o)
	if o.admitted && gvk.Kind == "Rollout" {
		l.planRollout(o)
	}
}

func fieldErrorText(e *field.Error) string {
	if e.Field == "<nil>" || e.Field == "" {
		if e.Detail == blockingNote {
			return blockingNote
		}
		return e.ErrorBody()
	}
	return e.Error()
}

func nestedString(obj map[string]any, keys ...string) string {
	var cur any = obj
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[k]
	}
	s, _ := cur.(string)
	return s
}

func (o *lintObject) rollout() (*sluicev1.Rollout, bool) {
	ro := &sluicev1.Rollout{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.obj, ro); err != nil {
		return nil, false
	}
	return ro, true
}

// planRollout compiles the steps with package plan, as the controller
// does on every reconcile; a spec admission lets through can still fail
// there (a duration too long for Go, a test route with an empty match list).
func (l *linter) planRollout(o *lintObject) {
	ro, ok := o.rollout()
	if !ok {
		return
	}
	replicas := int32(1)
	if ro.Spec.Replicas != nil {
		replicas = *ro.Spec.Replicas
	}
	if _, err := plan.Build(ro.Spec.Strategy, replicas); err != nil {
		var fe *plan.FieldError
		if errors.As(err, &fe) {
			l.add(o, o.lineOf(fe.Field), false, fe.Field+": "+fe.Detail)
		} else {
			l.add(o, o.lineOf("spec.strategy"), false, "spec.strategy: "+err.Error())
		}
	}
}

// builtinArgs are the arguments the controller passes to every analysis.
var builtinArgs = []string{
	prometheus.ArgNamespace, prometheus.ArgName, prometheus.ArgService,
	prometheus.ArgStableRevision, prometheus.ArgCanaryRevision, prometheus.ArgBaselineRevision,
}

// crossChecks look at objects together: a Rollout's analysis templates
// when they are among the inputs, and objects defined twice.
func (l *linter) crossChecks() {
	type key struct {
		gk       schema.GroupKind
		ns, name string
	}
	seen := map[key]*lintObject{}
	templates := map[string][]*lintObject{} // by name
	cluster := map[string]*lintObject{}
	for _, o := range l.objects {
		if o.name != "" {
			k := key{o.gvk.GroupKind(), o.ns, o.name}
			if first := seen[k]; first != nil {
				l.add(o, o.line, true, fmt.Sprintf("also defined at %s:%d; applying both keeps the later one", first.file, first.line))
			} else {
				seen[k] = o
			}
		}
		switch o.gvk.Kind {
		case "AnalysisTemplate":
			templates[o.name] = append(templates[o.name], o)
		case "ClusterAnalysisTemplate":
			cluster[o.name] = o
		}
	}
	for _, o := range l.objects {
		if o.gvk.Kind != "Rollout" {
			continue
		}
		ro, ok := o.rollout()
		if !ok {
			continue
		}
		for _, use := range analysisUses(ro.Spec.Strategy) {
			l.checkAnalysis(o, use, func(ref sluicev1.AnalysisTemplateRef) *lintObject {
				if ref.ClusterScope {
					return cluster[ref.Name]
				}
				for _, t := range templates[ref.Name] {
					if t.ns == o.ns || t.ns == "" || o.ns == "" {
						return t
					}
				}
				return nil
			})
		}
	}
}

// analysisUse is one analysis a Rollout runs and the spec field it is at.
type analysisUse struct {
	path string
	step *sluicev1.AnalysisStep
}

func analysisUses(s sluicev1.RolloutStrategy) []analysisUse {
	var uses []analysisUse
	steps := func(path string, steps []sluicev1.Step) {
		for i := range steps {
			if a := steps[i].Analysis; a != nil {
				uses = append(uses, analysisUse{fmt.Sprintf("%s[%d].analysis", path, i), a})
			}
		}
	}
	if c := s.Canary; c != nil {
		steps("spec.strategy.canary.steps", c.Steps)
	}
	if bg := s.BlueGreen; bg != nil {
		steps("spec.strategy.blueGreen.steps", bg.Steps)
		if a := bg.PrePromotionAnalysis; a != nil {
			uses = append(uses, analysisUse{"spec.strategy.blueGreen.prePromotionAnalysis", a})
		}
		if a := bg.PostPromotionAnalysis; a != nil {
			uses = append(uses, analysisUse{"spec.strategy.blueGreen.postPromotionAnalysis", a})
		}
	}
	if ab := s.ABTest; ab != nil {
		steps("spec.strategy.abTest.steps", ab.Steps)
		steps("spec.strategy.abTest.canarySteps", ab.CanarySteps)
	}
	if dl := s.DarkLaunch; dl != nil {
		steps("spec.strategy.darkLaunch.steps", dl.Steps)
		steps("spec.strategy.darkLaunch.canarySteps", dl.CanarySteps)
	}
	if a := s.Analysis; a != nil {
		uses = append(uses, analysisUse{"spec.strategy.analysis", &a.AnalysisStep})
	}
	return uses
}

// checkAnalysis resolves one analysis's templates. A template that is not
// among the inputs may well exist in the cluster: a warning. When all are
// there, what would stall the rollout at that step is an error: an argument
// nobody gives, two templates defining the same metric.
func (l *linter) checkAnalysis(o *lintObject, use analysisUse, find func(sluicev1.AnalysisTemplateRef) *lintObject) {
	var specs []sluicev1.AnalysisTemplateSpec
	missing := false
	for i, ref := range use.step.Templates {
		path := fmt.Sprintf("%s.templates[%d].name", use.path, i)
		t := find(ref)
		if t == nil {
			missing = true
			if ref.ClusterScope {
				l.add(o, o.lineOf(path), true, fmt.Sprintf("%s: ClusterAnalysisTemplate %q is not in the linted files; it must exist in the cluster when this analysis runs", path, ref.Name))
			} else {
				l.add(o, o.lineOf(path), true, fmt.Sprintf("%s: AnalysisTemplate %q is not in the linted files; it must exist in the Rollout's namespace when this analysis runs", path, ref.Name))
			}
			continue
		}
		var spec sluicev1.AnalysisTemplateSpec
		m, _ := t.obj["spec"].(map[string]any)
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &spec); err != nil {
			missing = true // its own errors are reported where it is
			continue
		}
		specs = append(specs, spec)
	}
	if missing {
		return
	}
	given := map[string]bool{}
	for _, a := range builtinArgs {
		given[a] = true
	}
	for _, a := range use.step.Args {
		given[a.Name] = true
	}
	argsPath := use.path + ".args"
	if len(use.step.Args) == 0 {
		argsPath = use.path
	}
	metrics := map[string]bool{}
	for i, spec := range specs {
		ref := use.step.Templates[i]
		for _, decl := range spec.Args {
			if !given[decl.Name] && decl.Value == nil {
				l.add(o, o.lineOf(argsPath), false, fmt.Sprintf("%s: template %s needs argument %q, which has no default; add it to args", use.path, ref.Name, decl.Name))
			}
		}
		for _, m := range spec.Metrics {
			if metrics[m.Name] {
				l.add(o, o.lineOf(use.path+".templates"), false, fmt.Sprintf("%s.templates: two templates define a metric named %q; rename one, results are kept by metric name", use.path, m.Name))
			}
			metrics[m.Name] = true
		}
	}
}
