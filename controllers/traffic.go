package controllers

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/plan"
	"github.com/sluice-dev/sluice/traffic/istio"
)

// backends is the part of the desired traffic state that comes from
// spec.traffic: which subsets or hosts the named routes use.
func (p *pass) backends() istio.Desired {
	t := p.ro.Spec.Traffic.Istio
	d := istio.Desired{StableHost: t.StableService, CanaryHost: t.CanaryService}
	if dr := t.DestinationRule; dr != nil {
		d.StableSubset, d.CanarySubset, d.BaselineSubset = dr.StableSubset, dr.CanarySubset, dr.BaselineSubset
	}
	return d
}

// stableOnly sends every named route to stable with nothing else in place.
func (p *pass) stableOnly() istio.Desired {
	d := p.backends()
	d.StableRevision = p.ro.Status.StableRevision
	return d
}

// stepTraffic is the traffic state a plan step asks for.
func (p *pass) stepTraffic(step plan.Step) istio.Desired {
	d := p.backends()
	d.StableRevision = p.ro.Status.StableRevision
	d.CanaryRevision = p.desired
	d.CanaryWeight = step.Traffic.CanaryWeight
	d.MirrorPercent = step.Traffic.MirrorPercent
	if m := step.Traffic.Match; m != nil && step.Traffic.MatchRoute != plan.MatchNone {
		d.MatchRoute = &istio.MatchRoute{Kind: matchKind(step.Traffic.MatchRoute), Matches: m.Matches, Host: m.Host, Fault: step.Traffic.Fault}
	}
	d.CanaryTrafficPolicy = p.ro.Spec.Strategy.CanaryTrafficPolicy
	if p.plan.Baseline && step.Kind != plan.StepPromote {
		d.BaselineRevision = baselineRevision(p.ro.Status.StableRevision)
		d.BaselineWeight = baselineWeight(d.CanaryWeight)
	}
	return d
}

func matchKind(k plan.MatchKind) string {
	switch k {
	case plan.MatchABTest:
		return istio.MatchKindABTest
	case plan.MatchPreview:
		return istio.MatchKindPreview
	default:
		return istio.MatchKindTest
	}
}

// restoreTraffic sends every named route back to stable and removes what
// sluice inserted. deleting tolerates objects that are already gone.
func (p *pass) restoreTraffic(ctx context.Context, deleting bool) error {
	d := p.stableOnly().Restored()
	if deleting {
		return p.writeTraffic(ctx, d, true)
	}
	return p.applyTraffic(ctx, d)
}

// applyTraffic writes d and records what was read back. Subsets change
// before weights: a subset only ever gains pods before traffic reaches it.
func (p *pass) applyTraffic(ctx context.Context, d istio.Desired) error {
	return p.writeTraffic(ctx, d, false)
}

func (p *pass) writeTraffic(ctx context.Context, d istio.Desired, tolerateMissing bool) error {
	st := &p.ro.Status
	ns := p.ro.Namespace
	t := p.ro.Spec.Traffic.Istio
	skip := func(err error) bool {
		var nf *istio.NotFoundError
		return tolerateMissing && errors.As(err, &nf)
	}
	if dr := t.DestinationRule; dr != nil {
		target := istio.DestinationRuleTarget{Key: types.NamespacedName{Namespace: ns, Name: dr.Name}}
		res, err := istio.ApplyDestinationRule(ctx, p.r.freshClient(ctx, destinationRuleGVK, target.Key), p.r.APIReader, target, d)
		p.r.rememberWrite(destinationRuleGVK, target.Key, res.Result)
		countTrafficPatch("DestinationRule", res.Changed, err)
		if err != nil && !skip(err) {
			return p.trafficError(err)
		}
	}
	for i, vs := range t.VirtualServices {
		target := istio.VirtualServiceTarget{
			Key:      types.NamespacedName{Namespace: ns, Name: vs.Name},
			Routes:   vs.Routes,
			SpecPath: fmt.Sprintf("spec.traffic.istio.virtualServices[%d]", i),
		}
		res, err := istio.ApplyVirtualService(ctx, p.r.freshClient(ctx, virtualServiceGVK, target.Key), p.r.APIReader, target, d)
		p.r.rememberWrite(virtualServiceGVK, target.Key, res.Result)
		countTrafficPatch("VirtualService", res.Changed, err)
		if err != nil && !skip(err) {
			return p.trafficError(err)
		}
		if i == 0 && err == nil {
			st.Weights = res.State.Weights()
		}
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: sluicev1.ConditionTrafficVerified, Status: metav1.ConditionTrue, Reason: "Verified", Message: "the named routes hold the weights sluice wrote", ObservedGeneration: p.ro.Generation})
	return nil
}

// trafficError sorts a traffic failure: a spec that cannot work stalls, a
// read-back mismatch is its own condition, the rest is retried.
func (p *pass) trafficError(err error) error {
	st := &p.ro.Status
	var mismatch *istio.TrafficMismatchError
	if errors.As(err, &mismatch) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: sluicev1.ConditionTrafficVerified, Status: metav1.ConditionFalse, Reason: "Mismatch", Message: err.Error(), ObservedGeneration: p.ro.Generation})
		return err
	}
	if reason, ok := istio.StalledReason(err); ok {
		return &stalledError{reason: reason, msg: err.Error()}
	}
	return err
}

// freshClient is the manager's client, except that when the cached copy of
// an Istio object is older than sluice's own last write to it, reads return
// the copy that write returned: a patch rendered from the stale cache would
// be refused by its test operations and cost a second write.
func (r *RolloutReconciler) freshClient(ctx context.Context, gvk schema.GroupVersionKind, key types.NamespacedName) client.Client {
	v, ok := r.written.Load(writeKey{gvk.Kind, key})
	if !ok {
		return r.Client
	}
	last := v.(*unstructured.Unstructured)
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if err := r.Client.Get(ctx, key, u); err != nil {
		return r.Client
	}
	if cmp, err := resourceversion.CompareResourceVersion(u.GetResourceVersion(), last.GetResourceVersion()); err == nil && cmp < 0 {
		return knownCopy{Client: r.Client, obj: last}
	}
	return r.Client
}

func (r *RolloutReconciler) rememberWrite(gvk schema.GroupVersionKind, key types.NamespacedName, res istio.Result) {
	if res.Changed && res.Object != nil {
		r.written.Store(writeKey{gvk.Kind, key}, res.Object.DeepCopy())
	}
}

// writeKey names an object in the reconciler's record of its own writes.
type writeKey struct {
	kind string
	key  types.NamespacedName
}

// knownCopy answers reads of one object with the copy sluice's own last
// write returned, and writes through the manager's client.
type knownCopy struct {
	client.Client
	obj *unstructured.Unstructured
}

func (k knownCopy) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok || key.Name != k.obj.GetName() || key.Namespace != k.obj.GetNamespace() {
		return k.Client.Get(ctx, key, obj, opts...)
	}
	k.obj.DeepCopyInto(u)
	return nil
}
