package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/plan"
)

// The baseline runs the stable template at the canary's size, so the
// statistical judge compares canary and baseline under the same conditions
// (same age, same share of traffic) rather than against a long-running
// stable. Its pods carry the revision "<stable>-baseline", so no selector of
// the stable revision (ReplicaSet or subset) reaches them, and Istio's
// metrics report them under that canonical revision.
func baselineRevision(stable string) string { return stable + "-baseline" }

// baselineWeight is the baseline's share at a step: the canary's, as long as
// stable keeps at least as much as the two together leave.
func baselineWeight(canary int32) int32 { return min(canary, 100-canary) }

// ensureBaseline sizes the baseline ReplicaSet like the canary for a step,
// creating it from the stable ReplicaSet's template. It reports whether its
// pods are available.
func (p *pass) ensureBaseline(ctx context.Context, step plan.Step) (bool, error) {
	if !p.plan.Baseline || step.Kind == plan.StepPromote {
		return true, nil
	}
	st := &p.ro.Status
	rev := baselineRevision(st.StableRevision)
	want := step.CanaryReplicas
	rs, ok := p.sets[rev]
	if !ok {
		stable, ok := p.sets[st.StableRevision]
		if !ok {
			return false, &stalledError{reason: "ReplicaSetMissing", msg: fmt.Sprintf("the baseline needs the stable ReplicaSet %s, which is gone; set spec.template back to the stable template or turn strategy.canary.baseline off", replicaSetName(p.ro, st.StableRevision))}
		}
		created, err := p.newBaseline(stable, rev, want)
		if err != nil {
			return false, err
		}
		if err := p.r.Client.Create(ctx, created); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return false, errRequeue
			}
			return false, fmt.Errorf("creating baseline ReplicaSet %s: %w", created.Name, err)
		}
		p.r.rememberReplicaSet(created)
		p.sets[rev] = created
		return false, nil
	}
	if rs.Spec.Replicas == nil || *rs.Spec.Replicas != want {
		if _, err := p.scaleTo(ctx, rev, want); err != nil {
			return false, err
		}
		return false, nil
	}
	return ready(rs, want), nil
}

func (p *pass) newBaseline(stable *appsv1.ReplicaSet, rev string, replicas int32) (*appsv1.ReplicaSet, error) {
	tpl := stable.Spec.Template.DeepCopy()
	tpl.Labels[sluicev1.LabelRevision] = rev
	tpl.Labels[sluicev1.LabelCanonicalRevision] = rev
	tpl.Labels[sluicev1.LabelRole] = sluicev1.RoleBaseline
	sel := stable.Spec.Selector.DeepCopy()
	sel.MatchLabels[sluicev1.LabelRevision] = rev
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:      replicaSetName(p.ro, rev),
			Namespace: p.ro.Namespace,
			Labels: map[string]string{
				sluicev1.LabelRollout:  p.ro.Name,
				sluicev1.LabelRevision: rev,
				sluicev1.LabelRole:     sluicev1.RoleBaseline,
			},
		},
		Spec: appsv1.ReplicaSetSpec{Replicas: &replicas, Selector: sel, Template: *tpl},
	}
	if err := controllerutil.SetControllerReference(p.ro, rs, p.r.Scheme); err != nil {
		return nil, err
	}
	return rs, nil
}
