package controllers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"

	"github.com/sluice-dev/sluice/analysis/condition"
	"github.com/sluice-dev/sluice/analysis/judge"
	"github.com/sluice-dev/sluice/analysis/measure"
	"github.com/sluice-dev/sluice/analysis/prometheus"
	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

// AnalysisRunReconciler takes the measurements of AnalysisRuns when they are
// due and records them; the Rollout reconciler acts on the run's phase.
type AnalysisRunReconciler struct {
	Client client.Client
	// APIReader reads Secrets without caching them: sluice needs a few
	// named Secrets, not a cluster-wide informer holding all of them.
	APIReader client.Reader
	Clock     clock.PassiveClock
	// conditions caches compiled CEL conditions across reconciles.
	conditions condition.Cache
}

// +kubebuilder:rbac:groups=sluice.dev,resources=analysisruns,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=sluice.dev,resources=analysisruns/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// SetupWithManager registers the reconciler.
func (r *AnalysisRunReconciler) SetupWithManager(mgr ctrl.Manager, concurrency int) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if concurrency == 0 {
		concurrency = 4
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&sluicev1.AnalysisRun{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: concurrency}).
		Complete(r)
}

// Reconcile measures what is due, records it, and requeues for the next
// measurement: one status patch, only when something changed.
func (r *AnalysisRunReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	run := &sluicev1.AnalysisRun{}
	if err := r.Client.Get(ctx, req.NamespacedName, run); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if measure.Final(run.Status.Phase) {
		return ctrl.Result{}, nil
	}
	orig := run.DeepCopy()
	now := r.Clock.Now()
	next := r.advance(ctx, run, now)
	if !equality.Semantic.DeepEqual(orig.Status, run.Status) {
		if err := r.Client.Status().Patch(ctx, run, client.MergeFrom(orig), client.FieldOwner(sluicev1.FieldManager)); err != nil {
			return ctrl.Result{}, fmt.Errorf("patching AnalysisRun status: %w", err)
		}
	}
	if next.IsZero() || measure.Final(run.Status.Phase) {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{RequeueAfter: max(next.Sub(now), time.Millisecond)}, nil
}

// advance takes the due measurements and returns when the next one is due.
func (r *AnalysisRunReconciler) advance(ctx context.Context, run *sluicev1.AnalysisRun, now time.Time) time.Time {
	st := &run.Status
	if st.StartedAt == nil {
		st.StartedAt = &metav1.Time{Time: now}
	}
	results := measure.Align(run.Spec.Metrics, st.MetricResults)
	if run.Spec.Terminate {
		st.MetricResults = results
		phase, msg := measure.RunPhase(results)
		if phase != sluicev1.AnalysisFailed {
			phase, msg = sluicev1.AnalysisSuccessful, "terminated before all measurements were taken: "+msg
		}
		st.Phase, st.Message = phase, msg
		return time.Time{}
	}
	// A condition that does not compile can never be judged: the run is
	// Inconclusive at once with the compile error, so a person sees it.
	for i, m := range run.Spec.Metrics {
		if m.Prometheus == nil {
			continue
		}
		if _, err := r.conditions.Compile(m); err != nil {
			results[i].Phase = sluicev1.AnalysisInconclusive
			results[i].Message = err.Error()
			st.MetricResults = results
			st.Phase, st.Message = sluicev1.AnalysisInconclusive, err.Error()
			return time.Time{}
		}
	}
	args := map[string]string{}
	for _, a := range run.Spec.Args {
		args[a.Name] = a.Value
	}
	var next time.Time
	var comparisons []judge.MetricResult
	for i, m := range run.Spec.Metrics {
		if measure.Due(m, results[i], st.StartedAt.Time, now) {
			started := r.Clock.Now()
			o, cmp := r.measure(ctx, run.Namespace, m, args, started)
			results[i] = measure.Record(m, results[i], o, started, r.Clock.Now())
			if cmp != nil {
				comparisons = append(comparisons, *cmp)
			}
		}
		if due := measure.NextDue(m, results[i], st.StartedAt.Time); !due.IsZero() && (next.IsZero() || due.Before(next)) {
			next = due
		}
	}
	st.MetricResults = results
	st.Phase, st.Message = measure.RunPhase(results)
	if len(comparisons) > 0 {
		r.score(run, comparisons)
	}
	if st.Phase == "" {
		st.Phase = sluicev1.AnalysisRunning
	}
	return next
}

// score applies the judge's scorecard to the latest comparisons: a Fail
// verdict fails the run, Marginal makes it Inconclusive.
func (r *AnalysisRunReconciler) score(run *sluicev1.AnalysisRun, results []judge.MetricResult) {
	pass, marginal := float64(judge.DefaultPass), float64(judge.DefaultMarginal)
	var weights map[string]int32
	if j := run.Spec.Judge; j != nil {
		weights = j.GroupWeights
		if j.Pass != nil {
			pass = float64(*j.Pass)
		}
		if j.Marginal != nil {
			marginal = float64(*j.Marginal)
		}
	}
	card := judge.Score(results, weights, pass, marginal)
	score := int32(card.Score + 0.5)
	run.Status.Score = &score
	if measure.Final(run.Status.Phase) && run.Status.Phase != sluicev1.AnalysisSuccessful {
		return
	}
	switch card.Verdict {
	case judge.VerdictFail:
		run.Status.Phase, run.Status.Message = sluicev1.AnalysisFailed, fmt.Sprintf("judge score %d below %v: %s", score, marginal, card.Reason)
	case judge.VerdictMarginal:
		run.Status.Phase, run.Status.Message = sluicev1.AnalysisInconclusive, fmt.Sprintf("judge score %d is marginal (pass %v): %s", score, pass, card.Reason)
	}
}

// measure takes one measurement. Provider problems are Error outcomes, which
// are retried at the next interval.
func (r *AnalysisRunReconciler) measure(ctx context.Context, ns string, m sluicev1.Metric, args map[string]string, at time.Time) (measure.Outcome, *judge.MetricResult) {
	fail := func(err error) measure.Outcome {
		return measure.Outcome{Phase: sluicev1.AnalysisError, Message: err.Error()}
	}
	switch {
	case m.Prometheus != nil:
		c, err := r.client(ctx, ns, m.Prometheus.PrometheusServer)
		if err != nil {
			return fail(err), nil
		}
		q, err := prometheus.Render(m.Prometheus.Query, args)
		if err != nil {
			return fail(err), nil
		}
		var v prometheus.Value
		if m.Prometheus.Range != nil {
			v, err = c.QueryRange(ctx, q, *m.Prometheus.Range, at)
		} else {
			v, err = c.Query(ctx, q, at)
		}
		if err != nil {
			return fail(err), nil
		}
		if v.NoData {
			return measure.Outcome{NoData: true, Value: v.Text, Message: v.Message}, nil
		}
		conds, err := r.conditions.Compile(m)
		if err != nil {
			return fail(err), nil
		}
		verdict := conds.Evaluate(v.Values)
		return measure.Outcome{Phase: verdict.Phase, Value: v.Text, Message: joinMessages(verdict.Message, v.Message)}, nil
	case m.Comparison != nil:
		cm := m.Comparison
		c, err := r.client(ctx, ns, cm.PrometheusServer)
		if err != nil {
			return fail(err), nil
		}
		samples := map[string][]float64{}
		for side, query := range map[string]string{"baseline": cm.BaselineQuery, "canary": cm.CanaryQuery} {
			q, err := prometheus.Render(query, args)
			if err != nil {
				return fail(fmt.Errorf("%s query: %w", side, err)), nil
			}
			s, err := c.Samples(ctx, q, cm.Range, at)
			if err != nil {
				return fail(fmt.Errorf("%s query: %w", side, err)), nil
			}
			samples[side] = s.Values
		}
		res := judge.Compare(m.Name, samples["baseline"], samples["canary"], judgeOptions(m.Name, cm))
		o := measure.Outcome{Phase: sluicev1.AnalysisSuccessful, Value: strconv.FormatFloat(res.Shift, 'g', 4, 64), Message: res.Message}
		switch {
		case res.Class == judge.ClassNoData:
			o = measure.Outcome{NoData: true, Message: res.Message}
		case res.Failed:
			o.Phase = sluicev1.AnalysisFailed
		}
		return o, &res
	}
	return fail(errors.New("metric has no provider")), nil
}

func judgeOptions(name string, cm *sluicev1.ComparisonMetric) judge.Options {
	o := judge.Options{Direction: judge.Direction(cm.Direction), Critical: cm.Critical, MustHaveData: cm.MustHaveData, Group: cm.Group}
	if cm.Confidence != nil {
		o.Confidence, _ = strconv.ParseFloat(string(*cm.Confidence), 64)
	}
	if cm.AllowedEffectSize != nil {
		o.AllowedEffectSize, _ = strconv.ParseFloat(string(*cm.AllowedEffectSize), 64)
	}
	return o
}

// client builds a Prometheus client with credentials from a Secret in the
// run's own namespace.
func (r *AnalysisRunReconciler) client(ctx context.Context, ns string, srv sluicev1.PrometheusServer) (*prometheus.Client, error) {
	var creds prometheus.Credentials
	if ref := srv.AuthSecretRef; ref != nil {
		var s corev1.Secret
		if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, &s); err != nil {
			return nil, fmt.Errorf("reading Prometheus credentials from Secret %s/%s: %w", ns, ref.Name, err)
		}
		creds = prometheus.Credentials{BearerToken: string(s.Data["token"]), Username: string(s.Data["username"]), Password: string(s.Data["password"])}
	}
	return prometheus.New(srv, creds)
}

func joinMessages(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}
