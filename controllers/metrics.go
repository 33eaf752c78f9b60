package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

// Metrics on the manager's metrics endpoint, beside controller-runtime's own.
var (
	rolloutPhase = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sluice_rollout_phase",
		Help: "1 for the phase each Rollout is in, 0 for the others.",
	}, []string{"namespace", "name", "phase"})
	stepTransitions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_rollout_step_transitions_total",
		Help: "Rollout transitions by strategy and kind: steps completed, Started, Promoted, Aborted.",
	}, []string{"strategy", "kind"})
	reconcileDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "sluice_rollout_reconcile_duration_seconds",
		Help:    "Time one Rollout reconcile takes.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})
	trafficPatches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_traffic_patches_total",
		Help: "Guarded patches of Istio objects by kind and outcome (changed, unchanged, error).",
	}, []string{"kind", "outcome"})
	gitOpsWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_gitops_writebacks_total",
		Help: "Git write-backs by outcome written (promoted, aborted) and result (pushed, failed, synced).",
	}, []string{"outcome", "result"})
	slackPosts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_slack_posts_total",
		Help: "Slack messages by event kind and result (posted, error).",
	}, []string{"kind", "result"})
)

func init() {
	metrics.Registry.MustRegister(rolloutPhase, stepTransitions, reconcileDuration, trafficPatches, gitOpsWrites, slackPosts)
}

var phases = []sluicev1.RolloutPhase{sluicev1.PhaseProgressing, sluicev1.PhasePaused, sluicev1.PhaseHealthy, sluicev1.PhaseDegraded}

func observePhase(ro *sluicev1.Rollout) {
	for _, ph := range phases {
		v := 0.0
		if ro.Status.Phase == ph {
			v = 1
		}
		rolloutPhase.WithLabelValues(ro.Namespace, ro.Name, string(ph)).Set(v)
	}
}

func forgetRollout(namespace, name string) {
	rolloutPhase.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "name": name})
}

func countTrafficPatch(kind string, changed bool, err error) {
	outcome := "unchanged"
	switch {
	case err != nil:
		outcome = "error"
	case changed:
		outcome = "changed"
	}
	trafficPatches.WithLabelValues(kind, outcome).Inc()
}
