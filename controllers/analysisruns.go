package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/plan"
)

// analysisRunName is deterministic, so creating the run is idempotent
// across crashes: a second create finds the first run.
func analysisRunName(ro *sluicev1.Rollout, revision string, kind plan.AnalysisKind, step int32) string {
	k := strings.ToLower(string(kind))
	if kind == plan.AnalysisStepRun {
		return fmt.Sprintf("%s-%s-step%d", ro.Name, revision, step)
	}
	return fmt.Sprintf("%s-%s-%s", ro.Name, revision, k)
}

// ensureAnalysisRun returns the run for this revision, kind and step,
// creating it from the referenced templates when it does not exist yet.
func (p *pass) ensureAnalysisRun(ctx context.Context, a *sluicev1.AnalysisStep, kind plan.AnalysisKind, step int32) (*sluicev1.AnalysisRun, error) {
	name := analysisRunName(p.ro, p.desired, kind, step)
	run := &sluicev1.AnalysisRun{}
	err := p.r.Client.Get(ctx, types.NamespacedName{Namespace: p.ro.Namespace, Name: name}, run)
	if err == nil {
		return run, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("reading AnalysisRun %s: %w", name, err)
	}
	spec, err := p.analysisSpec(ctx, a, step)
	if err != nil {
		return nil, err
	}
	run = &sluicev1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: p.ro.Namespace,
			Labels: map[string]string{
				sluicev1.LabelRollout:  p.ro.Name,
				sluicev1.LabelRevision: p.desired,
				labelAnalysisKind:      string(kind),
			},
		},
		Spec: spec,
	}
	if err := controllerutil.SetControllerReference(p.ro, run, p.r.Scheme); err != nil {
		return nil, err
	}
	if err := p.r.Client.Create(ctx, run); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil, errRequeue
		}
		return nil, fmt.Errorf("creating AnalysisRun %s: %w", name, err)
	}
	p.event(eventNormal, "AnalysisStarted", "%s analysis %s started (%d metrics)", kind, name, len(spec.Metrics))
	return run, nil
}

const labelAnalysisKind = "sluice.dev/analysis-kind"

// analysisSpec freezes the templates' metrics and the arguments into a run
// spec. A missing template or argument stalls with a message naming it.
func (p *pass) analysisSpec(ctx context.Context, a *sluicev1.AnalysisStep, step int32) (sluicev1.AnalysisRunSpec, error) {
	var spec sluicev1.AnalysisRunSpec
	given := map[string]string{}
	for _, arg := range p.builtinArgs() {
		given[arg.Name] = arg.Value
	}
	for _, arg := range a.Args {
		given[arg.Name] = arg.Value
	}
	args := map[string]string{}
	for _, ref := range a.Templates {
		tpl, err := p.template(ctx, ref)
		if err != nil {
			return spec, err
		}
		for _, decl := range tpl.Args {
			v, ok := given[decl.Name]
			switch {
			case ok:
				args[decl.Name] = v
			case decl.Value != nil:
				args[decl.Name] = *decl.Value
			default:
				return spec, &stalledError{reason: "AnalysisArgMissing", msg: fmt.Sprintf("step %d: AnalysisTemplate %s needs argument %q; add it to the step's analysis.args", step, ref.Name, decl.Name)}
			}
		}
		for _, m := range tpl.Metrics {
			if slices.ContainsFunc(spec.Metrics, func(o sluicev1.Metric) bool { return o.Name == m.Name }) {
				return spec, &stalledError{reason: "AnalysisMetricClash", msg: fmt.Sprintf("step %d: two templates define a metric named %q; rename one, results are kept by metric name", step, m.Name)}
			}
			spec.Metrics = append(spec.Metrics, m)
		}
		if tpl.Judge != nil && spec.Judge == nil {
			spec.Judge = tpl.Judge.DeepCopy()
		}
	}
	for k, v := range given {
		if _, ok := args[k]; !ok {
			args[k] = v
		}
	}
	for k, v := range args {
		spec.Args = append(spec.Args, sluicev1.AnalysisArg{Name: k, Value: v})
	}
	slices.SortFunc(spec.Args, func(a, b sluicev1.AnalysisArg) int { return strings.Compare(a.Name, b.Name) })
	return spec, nil
}

// builtinArgs are available to every template.
func (p *pass) builtinArgs() []sluicev1.AnalysisArg {
	st := p.ro.Status
	service := p.ro.Name
	if s := p.ro.Spec.Traffic.Istio.StableService; s != "" {
		service = s
	}
	return []sluicev1.AnalysisArg{
		{Name: "namespace", Value: p.ro.Namespace},
		{Name: "name", Value: p.ro.Name},
		{Name: "stable-revision", Value: st.StableRevision},
		{Name: "canary-revision", Value: p.desired},
		{Name: "baseline-revision", Value: p.baselineArg()},
		{Name: "service", Value: service},
	}
}

// baselineArg is what comparisons measure the canary against: the baseline
// when one runs, otherwise stable.
func (p *pass) baselineArg() string {
	if p.plan.Baseline {
		return baselineRevision(p.ro.Status.StableRevision)
	}
	return p.ro.Status.StableRevision
}

func (p *pass) template(ctx context.Context, ref sluicev1.AnalysisTemplateRef) (*sluicev1.AnalysisTemplateSpec, error) {
	if ref.ClusterScope {
		t := &sluicev1.ClusterAnalysisTemplate{}
		if err := p.r.Client.Get(ctx, client.ObjectKey{Name: ref.Name}, t); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, &stalledError{reason: "AnalysisTemplateNotFound", msg: fmt.Sprintf("ClusterAnalysisTemplate %s not found; create it or fix the template reference", ref.Name)}
			}
			return nil, err
		}
		return &t.Spec, nil
	}
	t := &sluicev1.AnalysisTemplate{}
	if err := p.r.Client.Get(ctx, client.ObjectKey{Namespace: p.ro.Namespace, Name: ref.Name}, t); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &stalledError{reason: "AnalysisTemplateNotFound", msg: fmt.Sprintf("AnalysisTemplate %s/%s not found; create it in the Rollout's namespace or set clusterScope: true for a ClusterAnalysisTemplate", p.ro.Namespace, ref.Name)}
		}
		return nil, err
	}
	return &t.Spec, nil
}

// summarise records a run's outcome in the Rollout's status.analysis.
func (p *pass) summarise(run *sluicev1.AnalysisRun, kind plan.AnalysisKind, step int32) {
	st := &p.ro.Status
	s := sluicev1.AnalysisRunSummary{Name: run.Name, Step: step, Kind: string(kind), Phase: run.Status.Phase, Message: run.Status.Message}
	if s.Phase == "" {
		s.Phase = sluicev1.AnalysisPending
	}
	for i := range st.Analysis {
		if st.Analysis[i].Name == run.Name {
			st.Analysis[i] = s
			return
		}
	}
	st.Analysis = append(st.Analysis, s)
	if len(st.Analysis) > 32 {
		st.Analysis = st.Analysis[len(st.Analysis)-32:]
	}
}

// terminateAnalysis stops a run that is no longer needed (its gate was
// promoted past, or the rollout ended).
func (p *pass) terminateAnalysis(ctx context.Context, run *sluicev1.AnalysisRun) error {
	if run.Spec.Terminate || isTerminal(run.Status.Phase) {
		return nil
	}
	orig := run.DeepCopy()
	run.Spec.Terminate = true
	if err := p.r.Client.Patch(ctx, run, client.MergeFrom(orig), client.FieldOwner(sluicev1.FieldManager)); err != nil {
		return fmt.Errorf("terminating AnalysisRun %s: %w", run.Name, err)
	}
	return nil
}

func isTerminal(ph sluicev1.AnalysisPhase) bool {
	return ph == sluicev1.AnalysisSuccessful || ph == sluicev1.AnalysisFailed || ph == sluicev1.AnalysisInconclusive
}

// terminateStaleRuns stops the runs of revisions this Rollout no longer
// rolls out (promoted, aborted, superseded), so they stop querying
// Prometheus. Only the Rollout controller decides this, from its own
// status: the AnalysisRun controller's cached Rollout may lag a new run.
func (p *pass) terminateStaleRuns(ctx context.Context) error {
	var runs sluicev1.AnalysisRunList
	if err := p.r.Client.List(ctx, &runs, client.InNamespace(p.ro.Namespace), client.MatchingLabels{sluicev1.LabelRollout: p.ro.Name}); err != nil {
		return fmt.Errorf("listing AnalysisRuns: %w", err)
	}
	for i := range runs.Items {
		run := &runs.Items[i]
		if run.Labels[sluicev1.LabelRevision] == p.ro.Status.CanaryRevision || !metav1.IsControlledBy(run, p.ro) {
			continue
		}
		if err := p.terminateAnalysis(ctx, run); err != nil {
			return err
		}
	}
	return nil
}
