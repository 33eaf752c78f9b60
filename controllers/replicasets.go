package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

// replicaSets are a Rollout's ReplicaSets by revision.
type replicaSets map[string]*appsv1.ReplicaSet

// listReplicaSets reads the Rollout's ReplicaSets from the cache. Only those
// it controls count, so a ReplicaSet someone else labelled alike is ignored.
func (r *RolloutReconciler) listReplicaSets(ctx context.Context, ro *sluicev1.Rollout) (replicaSets, error) {
	var list appsv1.ReplicaSetList
	if err := r.Client.List(ctx, &list, client.InNamespace(ro.Namespace), client.MatchingFields{ownerIndex: ro.Name}); err != nil {
		return nil, fmt.Errorf("listing ReplicaSets: %w", err)
	}
	out := replicaSets{}
	for i := range list.Items {
		rs := &list.Items[i]
		if !metav1.IsControlledBy(rs, ro) {
			continue
		}
		if rev := rs.Labels[sluicev1.LabelRevision]; rev != "" {
			out[rev] = r.newest(rs)
		}
	}
	return out, nil
}

// newest is the cached ReplicaSet, or the copy sluice's own last write to it
// returned when the cache has not caught up with that write yet (scaling it
// again would be a wasted write).
func (r *RolloutReconciler) newest(rs *appsv1.ReplicaSet) *appsv1.ReplicaSet {
	key := writeKey{"ReplicaSet", client.ObjectKeyFromObject(rs)}
	v, ok := r.written.Load(key)
	if !ok {
		return rs
	}
	last := v.(*appsv1.ReplicaSet)
	if last.UID == rs.UID {
		if cmp, err := resourceversion.CompareResourceVersion(rs.ResourceVersion, last.ResourceVersion); err == nil && cmp < 0 {
			return last.DeepCopy()
		}
	}
	r.written.Delete(key)
	return rs
}

func (r *RolloutReconciler) rememberReplicaSet(rs *appsv1.ReplicaSet) {
	r.written.Store(writeKey{"ReplicaSet", client.ObjectKeyFromObject(rs)}, rs.DeepCopy())
}

func replicaSetName(ro *sluicev1.Rollout, revision string) string {
	return ro.Name + "-" + revision
}

// newReplicaSet builds the ReplicaSet of one revision: the Rollout's template
// plus the revision labels Istio subsets and metrics select on.
func (r *RolloutReconciler) newReplicaSet(ro *sluicev1.Rollout, revision, role string, replicas int32) (*appsv1.ReplicaSet, error) {
	tpl := ro.Spec.Template.DeepCopy()
	if tpl.Labels == nil {
		tpl.Labels = map[string]string{}
	}
	tpl.Labels[sluicev1.LabelRevision] = revision
	tpl.Labels[sluicev1.LabelCanonicalRevision] = revision
	sel := ro.Spec.Selector.DeepCopy()
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[sluicev1.LabelRevision] = revision
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:      replicaSetName(ro, revision),
			Namespace: ro.Namespace,
			Labels: map[string]string{
				sluicev1.LabelRollout:  ro.Name,
				sluicev1.LabelRevision: revision,
				sluicev1.LabelRole:     role,
			},
		},
		Spec: appsv1.ReplicaSetSpec{Replicas: &replicas, Selector: sel, Template: *tpl},
	}
	// The apiserver fills defaults into a ReplicaSet's template; a rollback
	// written to Git must carry the template as the user wrote it, or its
	// hash would name a new revision.
	if raw, err := json.Marshal(ro.Spec.Template); err == nil {
		rs.Annotations = map[string]string{sluicev1.AnnotationPodTemplate: string(raw)}
	}
	if err := controllerutil.SetControllerReference(ro, rs, r.Scheme); err != nil {
		return nil, err
	}
	return rs, nil
}

// ensureReplicaSet makes the revision's ReplicaSet exist with the given
// replicas and role, writing only what differs. The template of a revision
// never changes: the revision is its hash.
func (p *pass) ensureReplicaSet(ctx context.Context, revision, role string, replicas int32) (*appsv1.ReplicaSet, error) {
	r, ro, sets := p.r, p.ro, p.sets
	rs, ok := sets[revision]
	if !ok {
		// Created by an earlier reconcile, but not in the cache yet.
		if v, known := r.written.Load(writeKey{"ReplicaSet", client.ObjectKey{Namespace: ro.Namespace, Name: replicaSetName(ro, revision)}}); known {
			rs, ok = v.(*appsv1.ReplicaSet).DeepCopy(), true
			sets[revision] = rs
		}
	}
	if !ok {
		if revision != p.desired {
			return nil, &stalledError{reason: "ReplicaSetMissing", msg: fmt.Sprintf("the ReplicaSet of revision %s was deleted and its template is no longer in spec.template; set spec.template back to that revision's template or let the rollout of %s continue", revision, p.desired)}
		}
		rs, err := r.newReplicaSet(ro, revision, role, replicas)
		if err != nil {
			return nil, err
		}
		if err := r.Client.Create(ctx, rs); err != nil {
			if apierrors.IsAlreadyExists(err) {
				// The cache lags our own create; the next event brings it.
				return nil, errRequeue
			}
			return nil, fmt.Errorf("creating ReplicaSet %s: %w", rs.Name, err)
		}
		r.rememberReplicaSet(rs)
		sets[revision] = rs
		return rs, nil
	}
	if rs.Spec.Replicas != nil && *rs.Spec.Replicas == replicas && rs.Labels[sluicev1.LabelRole] == role {
		return rs, nil
	}
	return p.patchReplicaSet(ctx, revision, role, replicas)
}

// scaleTo sets a revision's ReplicaSet's replicas, keeping its role.
func (p *pass) scaleTo(ctx context.Context, revision string, replicas int32) (*appsv1.ReplicaSet, error) {
	return p.patchReplicaSet(ctx, revision, p.sets[revision].Labels[sluicev1.LabelRole], replicas)
}

func (p *pass) patchReplicaSet(ctx context.Context, revision, role string, replicas int32) (*appsv1.ReplicaSet, error) {
	r, sets := p.r, p.sets
	rs := sets[revision]
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}},"spec":{"replicas":%d}}`, sluicev1.LabelRole, role, replicas)
	updated := rs.DeepCopy()
	if err := r.Client.Patch(ctx, updated, client.RawPatch(types.MergePatchType, []byte(patch)), client.FieldOwner(sluicev1.FieldManager)); err != nil {
		if apierrors.IsNotFound(err) {
			// Deleted behind our back: forget our copy, recreate next time.
			r.written.Delete(writeKey{"ReplicaSet", client.ObjectKeyFromObject(rs)})
			return nil, errRequeue
		}
		return nil, fmt.Errorf("scaling ReplicaSet %s to %d: %w", rs.Name, replicas, err)
	}
	r.rememberReplicaSet(updated)
	sets[revision] = updated
	return updated, nil
}

// scaleDown sets a revision's ReplicaSet to zero replicas, if it has any.
func (p *pass) scaleDown(ctx context.Context, revision string) error {
	r, sets := p.r, p.sets
	rs, ok := sets[revision]
	if !ok || rs.Spec.Replicas == nil || *rs.Spec.Replicas == 0 {
		return nil
	}
	updated := rs.DeepCopy()
	if err := r.Client.Patch(ctx, updated, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"replicas":0}}`)), client.FieldOwner(sluicev1.FieldManager)); err != nil {
		if apierrors.IsNotFound(err) {
			r.written.Delete(writeKey{"ReplicaSet", client.ObjectKeyFromObject(rs)})
			delete(sets, revision)
			return nil
		}
		return fmt.Errorf("scaling ReplicaSet %s down: %w", rs.Name, err)
	}
	r.rememberReplicaSet(updated)
	sets[revision] = updated
	return nil
}

// ready reports whether a revision's ReplicaSet has at least want available
// pods and its status describes its current spec.
func ready(rs *appsv1.ReplicaSet, want int32) bool {
	if rs == nil {
		return want == 0
	}
	if rs.Status.ObservedGeneration < rs.Generation {
		return false
	}
	return rs.Status.AvailableReplicas >= want
}

// pruneHistory deletes the oldest scaled-down ReplicaSets beyond
// revisionHistoryLimit, never one that is in use.
func (p *pass) pruneHistory(ctx context.Context, inUse map[string]bool) error {
	r, ro, sets := p.r, p.ro, p.sets
	limit := 10
	if ro.Spec.RevisionHistoryLimit != nil {
		limit = int(*ro.Spec.RevisionHistoryLimit)
	}
	var old []*appsv1.ReplicaSet
	for rev, rs := range sets {
		if inUse[rev] || rs.Spec.Replicas == nil || *rs.Spec.Replicas != 0 || rs.Status.Replicas != 0 {
			continue
		}
		old = append(old, rs)
	}
	if len(old) <= limit {
		return nil
	}
	// Oldest first. Creation times have one-second resolution, so the
	// rollout history (newest first) breaks ties.
	rank := map[string]int{}
	for i := len(ro.Status.History) - 1; i >= 0; i-- {
		rank[ro.Status.History[i].Revision] = len(ro.Status.History) - i
	}
	sort.SliceStable(old, func(i, j int) bool {
		a, b := old[i], old[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return rank[a.Labels[sluicev1.LabelRevision]] < rank[b.Labels[sluicev1.LabelRevision]]
	})
	for _, rs := range old[:len(old)-limit] {
		if err := r.Client.Delete(ctx, rs, client.Preconditions{UID: &rs.UID}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting old ReplicaSet %s: %w", rs.Name, err)
		}
		r.written.Delete(writeKey{"ReplicaSet", client.ObjectKeyFromObject(rs)})
		delete(sets, rs.Labels[sluicev1.LabelRevision])
	}
	return nil
}

// counts sums the pods of the Rollout's ReplicaSets for status.
func (sets replicaSets) counts(stable, desired string) (replicas, ready, updated, available int32) {
	for rev, rs := range sets {
		replicas += rs.Status.Replicas
		ready += rs.Status.ReadyReplicas
		if rev == desired {
			updated += rs.Status.Replicas
		}
		if rev == stable {
			available += rs.Status.AvailableReplicas
		}
	}
	return
}

// userTemplate is a ReplicaSet's pod template as the user wrote it in the
// Rollout: the copy sluice keeps in an annotation, or else the ReplicaSet's
// template without the labels sluice adds (and with the apiserver's
// defaults, which a ReplicaSet from before the annotation cannot avoid).
func userTemplate(rs *appsv1.ReplicaSet) corev1.PodTemplateSpec {
	var kept corev1.PodTemplateSpec
	if raw, ok := rs.Annotations[sluicev1.AnnotationPodTemplate]; ok && json.Unmarshal([]byte(raw), &kept) == nil {
		return kept
	}
	out := *rs.Spec.Template.DeepCopy()
	delete(out.Labels, sluicev1.LabelRevision)
	delete(out.Labels, sluicev1.LabelCanonicalRevision)
	delete(out.Labels, sluicev1.LabelRole)
	if len(out.Labels) == 0 {
		out.Labels = nil
	}
	return out
}
