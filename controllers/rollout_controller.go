// Package controllers holds sluice's reconcilers. The Rollout reconciler
// fetches a Rollout, defers one status patch, and runs a short list of
// sub-steps (plan, ReplicaSets, traffic, gates); each concern lives in its
// own file.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/gitops"
	"github.com/sluice-dev/sluice/traffic/istio"
)

// Field indexes of the manager's cache.
const (
	ownerIndex           = "sluice.dev/owner"
	virtualServiceIndex  = "sluice.dev/virtualservice"
	destinationRuleIndex = "sluice.dev/destinationrule"
)

// RolloutReconciler drives Rollouts.
type RolloutReconciler struct {
	// Client reads from the informer cache and writes to the apiserver.
	Client client.Client
	// APIReader reads straight from the apiserver, for a fresh read after a
	// guarded patch was refused.
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	// MaxConcurrentReconciles defaults to 8.
	MaxConcurrentReconciles int
	// Git writes rollout outcomes back to Git for Rollouts with
	// spec.gitops; nil turns write-back off.
	Git *gitops.Writer

	// Slack posts the notifications and approval requests Rollouts ask for;
	// nil turns Slack off.
	Slack *SlackPoster

	// remote caches clients of Argo CD clusters reached by kubeconfig.
	remote remoteClients

	// written holds a copy of each object as this controller's last write
	// to it returned it (Rollouts, VirtualServices, DestinationRules). The
	// informer cache may lag it; acting on an older Rollout status would undo
	// progress (write the previous step's weights again), and a guarded patch
	// rendered from an older VirtualService would be refused. When the cache
	// is older, the copy is used: it is what the apiserver said, and reading
	// it again would cost the apiserver a GET.
	written sync.Map
}

// +kubebuilder:rbac:groups=sluice.dev,resources=rollouts,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=sluice.dev,resources=rollouts/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=sluice.dev,resources=rollouts/finalizers,verbs=update
// +kubebuilder:rbac:groups=sluice.dev,resources=approvals,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=sluice.dev,resources=analysisruns,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=sluice.dev,resources=analysistemplates;clusteranalysistemplates,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.istio.io,resources=virtualservices;destinationrules,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager registers the reconciler and its watches.
func (r *RolloutReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.MaxConcurrentReconciles == 0 {
		r.MaxConcurrentReconciles = 8
	}
	ctx := context.Background()
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &appsv1.ReplicaSet{}, ownerIndex, func(o client.Object) []string {
		if ref := metav1.GetControllerOf(o); ref != nil && ref.Kind == "Rollout" && ref.APIVersion == sluicev1.GroupVersion.String() {
			return []string{ref.Name}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &sluicev1.Rollout{}, virtualServiceIndex, func(o client.Object) []string {
		var names []string
		for _, vs := range o.(*sluicev1.Rollout).Spec.Traffic.Istio.VirtualServices {
			names = append(names, vs.Name)
		}
		return names
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &sluicev1.Rollout{}, destinationRuleIndex, func(o client.Object) []string {
		if dr := o.(*sluicev1.Rollout).Spec.Traffic.Istio.DestinationRule; dr != nil {
			return []string{dr.Name}
		}
		return nil
	}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&sluicev1.Rollout{}, builder.WithPredicates(predicate.Or[client.Object](
			predicate.GenerationChangedPredicate{},
			predicate.AnnotationChangedPredicate{},
			deletionStarted{},
		))).
		Owns(&appsv1.ReplicaSet{}, builder.WithPredicates(replicaSetProgress{})).
		Owns(&sluicev1.AnalysisRun{}).
		Watches(istioObject(virtualServiceGVK), r.mapByIndex(virtualServiceIndex)).
		Watches(istioObject(destinationRuleGVK), r.mapByIndex(destinationRuleIndex)).
		Watches(&sluicev1.Approval{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			a := o.(*sluicev1.Approval)
			return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: a.Namespace, Name: a.Spec.RolloutRef.Name}}}
		})).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Complete(r)
}

// Istio objects are watched and read as unstructured, so that fields the
// typed Istio structs do not know survive sluice's patches byte-for-byte.
var (
	virtualServiceGVK  = istio.VirtualServiceGVK
	destinationRuleGVK = istio.DestinationRuleGVK
)

func istioObject(gvk schema.GroupVersionKind) client.Object {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u
}

// mapByIndex enqueues the Rollouts that name the changed Istio object, so a
// drifted weight is restored within one reconcile.
func (r *RolloutReconciler) mapByIndex(index string) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		var list sluicev1.RolloutList
		if err := r.Client.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{index: o.GetName()}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing Rollouts for an Istio object", "object", o.GetName())
			return nil
		}
		out := make([]reconcile.Request, 0, len(list.Items))
		for _, ro := range list.Items {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&ro)})
		}
		return out
	})
}

// replicaSetProgress passes only the ReplicaSet changes a rollout can act
// on: its size, its available pods, its observed generation, its labels, and
// creation and deletion. kube-controller-manager's other status updates
// (fullyLabeledReplicas, a pod created but not ready) would only cost
// reconciles.
type replicaSetProgress struct{ predicate.Funcs }

func (replicaSetProgress) Update(e event.UpdateEvent) bool {
	o, okOld := e.ObjectOld.(*appsv1.ReplicaSet)
	n, okNew := e.ObjectNew.(*appsv1.ReplicaSet)
	if !okOld || !okNew {
		return true
	}
	return o.Generation != n.Generation ||
		o.Status.ObservedGeneration != n.Status.ObservedGeneration ||
		o.Status.AvailableReplicas != n.Status.AvailableReplicas ||
		o.Status.ReadyReplicas != n.Status.ReadyReplicas ||
		o.Status.Replicas != n.Status.Replicas && n.Status.Replicas == 0 ||
		!equality.Semantic.DeepEqual(o.Labels, n.Labels) ||
		!n.DeletionTimestamp.IsZero()
}

// deletionStarted passes the update that sets deletionTimestamp, which
// neither the generation nor the annotations predicate sees.
type deletionStarted struct{ predicate.Funcs }

func (deletionStarted) Update(e event.UpdateEvent) bool {
	return e.ObjectOld.GetDeletionTimestamp().IsZero() && !e.ObjectNew.GetDeletionTimestamp().IsZero()
}

// Reconcile moves one Rollout as far as it can go now, then returns with a
// RequeueAfter for timed gates. Everything it learns lands in status in one
// patch, written only when something changed.
func (r *RolloutReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	start := time.Now()
	defer func() { reconcileDuration.Observe(time.Since(start).Seconds()) }()

	ro := &sluicev1.Rollout{}
	if err := r.Client.Get(ctx, req.NamespacedName, ro); err != nil {
		if client.IgnoreNotFound(err) == nil {
			forgetRollout(req.Namespace, req.Name)
			r.written.Delete(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if err := r.catchUp(ctx, ro); err != nil {
		return ctrl.Result{}, err
	}
	if !ro.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, ro)
	}
	if !controllerutil.ContainsFinalizer(ro, sluicev1.Finalizer) {
		orig := ro.DeepCopy()
		controllerutil.AddFinalizer(ro, sluicev1.Finalizer)
		if err := r.Client.Patch(ctx, ro, client.MergeFrom(orig), client.FieldOwner(sluicev1.FieldManager)); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
		r.written.Store(req.NamespacedName, ro.DeepCopy())
	}

	orig := ro.DeepCopy()
	p := &pass{r: r, ro: ro, now: r.Clock.Now()}
	defer func() {
		p.finishStatus(retErr)
		if statusChanged(&orig.Status, &ro.Status) {
			if err := r.Client.Status().Patch(ctx, ro, client.MergeFrom(orig), client.FieldOwner(sluicev1.FieldManager)); err != nil {
				retErr = errors.Join(retErr, fmt.Errorf("patching status: %w", err))
			} else {
				r.written.Store(req.NamespacedName, ro.DeepCopy())
			}
		}
		// Pending Slack posts go out once status records them, including
		// ones a failed post or a crash left behind.
		if retErr == nil {
			before := ro.DeepCopy()
			if p.postNotifications(ctx, orig.Status.Notifications) {
				if err := r.writeNotificationStatus(ctx, ro, before); err != nil {
					retErr = errors.Join(retErr, err)
				}
			}
			if ns := ro.Status.Notifications; ns != nil && len(ns.Pending) > 0 && retErr == nil &&
				(result.RequeueAfter == 0 || result.RequeueAfter > 10*time.Second) {
				result.RequeueAfter = 10 * time.Second // Slack failed: try again
			}
		}
		observePhase(ro)
		p.emitEvents()
	}()
	return p.run(ctx)
}

// statusChanged decides whether the status is worth a write. While a
// rollout is in progress, the pod counts alone are not: they change with
// every pod kube-controller-manager starts, and writing each would double
// the writes per step. They are written with the next step change, and at
// rest whenever they change.
func statusChanged(old, cur *sluicev1.RolloutStatus) bool {
	if equality.Semantic.DeepEqual(old, cur) {
		return false
	}
	if cur.CanaryRevision == "" || old.CanaryRevision != cur.CanaryRevision {
		return true
	}
	a, b := *old, *cur
	for _, s := range []*sluicev1.RolloutStatus{&a, &b} {
		s.Replicas, s.ReadyReplicas, s.UpdatedReplicas, s.AvailableReplicas = 0, 0, 0, 0
	}
	return !equality.Semantic.DeepEqual(&a, &b)
}

// catchUp replaces a cached Rollout that is older than this controller's
// last write with a fresh read.
func (r *RolloutReconciler) catchUp(ctx context.Context, ro *sluicev1.Rollout) error {
	v, ok := r.written.Load(client.ObjectKeyFromObject(ro))
	if !ok {
		return nil
	}
	last := v.(*sluicev1.Rollout)
	cmp, err := resourceversion.CompareResourceVersion(ro.ResourceVersion, last.ResourceVersion)
	if err != nil {
		return r.APIReader.Get(ctx, client.ObjectKeyFromObject(ro), ro)
	}
	if cmp < 0 {
		last.DeepCopyInto(ro)
	}
	return nil
}

// finalize returns the named routes to stable and removes every route sluice
// inserted, then lets the ReplicaSets go with the Rollout.
func (r *RolloutReconciler) finalize(ctx context.Context, ro *sluicev1.Rollout) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(ro, sluicev1.Finalizer) {
		return ctrl.Result{}, nil
	}
	p := &pass{r: r, ro: ro, now: r.Clock.Now()}
	if err := p.restoreTraffic(ctx, true); err != nil {
		var notFound *istio.NotFoundError
		if !errors.As(err, &notFound) {
			return ctrl.Result{}, fmt.Errorf("returning traffic to stable before deletion: %w", err)
		}
		// A VirtualService or DestinationRule that is gone carries no traffic
		// to return; deletion must not hang on it.
	}
	orig := ro.DeepCopy()
	controllerutil.RemoveFinalizer(ro, sluicev1.Finalizer)
	if err := r.Client.Patch(ctx, ro, client.MergeFrom(orig), client.FieldOwner(sluicev1.FieldManager)); err != nil {
		return ctrl.Result{}, fmt.Errorf("removing finalizer: %w", err)
	}
	forgetRollout(ro.Namespace, ro.Name)
	r.written.Delete(client.ObjectKeyFromObject(ro))
	if sets, err := r.listReplicaSets(ctx, ro); err == nil {
		for _, rs := range sets {
			r.written.Delete(writeKey{"ReplicaSet", client.ObjectKeyFromObject(rs)})
		}
	}
	return ctrl.Result{}, nil
}
