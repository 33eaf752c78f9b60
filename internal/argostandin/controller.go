// Package argostandin stands in for Argo CD's application controller in
// sluice's tests and demo. Argo CD cannot run here, so this acts on the
// Application resource the way Argo CD documents it, over the real
// Application CRD:
//
//   - a top-level operation.sync (with a revision, or the target revision)
//     syncs: it reads the manifests at that commit from Git, applies them
//     server-side, records status.operationState, status.sync and
//     status.resources, and clears operation;
//   - the argocd.argoproj.io/refresh annotation compares the synced revision
//     with the target revision's head (OutOfSync when they differ) and is
//     removed;
//   - an automated sync policy syncs the target revision's head when it
//     moves;
//   - health is the worst of the applied resources' health, sluice Rollouts
//     assessed by the shipped Lua health check.
//
// It is deliberately small: no hooks, waves, pruning or diffing of live
// state. "Synced" means "the last sync applied the target's head".
package argostandin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/gitops/argocd"
)

// FieldManager is the field manager of the stand-in's applies.
const FieldManager = "argocd-controller"

// Controller polls Applications in Namespace and acts on them.
type Controller struct {
	Client    client.Client
	Namespace string
	// Interval between passes; defaults to 300 ms.
	Interval time.Duration
	// Auth for the Git server, if it needs one.
	Auth transport.AuthMethod
	Log  logr.Logger
	// OnSync, if set, is called after each sync with the revision applied.
	OnSync func(app, revision string)
}

// Run acts on Applications until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if c.Interval == 0 {
		c.Interval = 300 * time.Millisecond
	}
	t := time.NewTicker(c.Interval)
	defer t.Stop()
	for {
		if err := c.Pass(ctx); err != nil && ctx.Err() == nil {
			c.Log.Error(err, "Argo CD stand-in pass")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Pass acts once on every Application.
func (c *Controller) Pass(ctx context.Context) error {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(argocd.ApplicationGVK.GroupVersion().WithKind("ApplicationList"))
	if err := c.Client.List(ctx, list, client.InNamespace(c.Namespace)); err != nil {
		return err
	}
	var errs []error
	for i := range list.Items {
		if err := c.reconcile(ctx, &list.Items[i]); err != nil && !apierrors.IsConflict(err) {
			errs = append(errs, fmt.Errorf("%s: %w", list.Items[i].GetName(), err))
		}
	}
	return errors.Join(errs...)
}

func (c *Controller) reconcile(ctx context.Context, u *unstructured.Unstructured) error {
	app, err := argocd.FromUnstructured(u)
	if err != nil {
		return err
	}
	src := app.Spec.Source
	if src == nil {
		return nil
	}
	orig := u.DeepCopy()
	_, refresh := app.Annotations[argocd.RefreshAnnotation]
	var head string
	if refresh || app.AutomatedSync() || app.Operation != nil && app.Operation.Sync != nil && app.Operation.Sync.Revision == "" {
		if head, err = resolve(ctx, src.RepoURL, src.TargetRevision, c.Auth); err != nil {
			setCondition(u, "ComparisonError", err.Error())
			return c.update(ctx, orig, u)
		}
	}
	switch {
	case app.Operation != nil && app.Operation.Sync != nil:
		rev := app.Operation.Sync.Revision
		if rev == "" {
			rev = head
		}
		c.sync(ctx, u, app, rev, app.Operation.InitiatedBy)
		unstructured.RemoveNestedField(u.Object, "operation")
	case app.AutomatedSync() && head != app.Status.Sync.Revision:
		c.sync(ctx, u, app, head, &argocd.InitiatedBy{Automated: true})
	}
	if refresh {
		ann := u.GetAnnotations()
		delete(ann, argocd.RefreshAnnotation)
		u.SetAnnotations(ann)
	}
	synced, _, _ := unstructured.NestedString(u.Object, "status", "sync", "revision")
	if head != "" {
		status := argocd.SyncStatusSynced
		if synced != head {
			status = argocd.SyncStatusOutOfSync
		}
		_ = unstructured.SetNestedField(u.Object, status, "status", "sync", "status")
	}
	if err := c.assessHealth(ctx, u); err != nil {
		return err
	}
	return c.update(ctx, orig, u)
}

// sync applies the manifests at rev and records the operation.
func (c *Controller) sync(ctx context.Context, u *unstructured.Unstructured, app *argocd.Application, rev string, by *argocd.InitiatedBy) {
	now := metav1.Now().UTC().Format(time.RFC3339)
	op := map[string]any{"sync": map[string]any{"revision": rev}}
	if by != nil {
		op["initiatedBy"] = map[string]any{"username": by.Username, "automated": by.Automated}
	}
	state := map[string]any{"operation": op, "phase": argocd.OperationSucceeded, "startedAt": now, "finishedAt": now}
	dest, _, _ := unstructured.NestedString(u.Object, "spec", "destination", "namespace")
	resources, err := c.apply(ctx, app, rev, dest)
	if err != nil {
		state["phase"] = argocd.OperationFailed
		state["message"] = err.Error()
		state["syncResult"] = map[string]any{"revision": rev}
		_ = unstructured.SetNestedField(u.Object, state, "status", "operationState")
		c.Log.Info("sync failed", "application", app.Name, "revision", rev, "error", err.Error())
		return
	}
	state["message"] = "successfully synced (all tasks run)"
	state["syncResult"] = map[string]any{"revision": rev}
	_ = unstructured.SetNestedField(u.Object, state, "status", "operationState")
	_ = unstructured.SetNestedField(u.Object, map[string]any{"status": argocd.SyncStatusSynced, "revision": rev}, "status", "sync")
	_ = unstructured.SetNestedSlice(u.Object, resources, "status", "resources")
	c.Log.Info("synced", "application", app.Name, "revision", rev, "resources", len(resources))
	if c.OnSync != nil {
		c.OnSync(app.Name, rev)
	}
}

// apply server-side applies the manifests at rev and returns them in the
// shape of status.resources.
func (c *Controller) apply(ctx context.Context, app *argocd.Application, rev, dest string) ([]any, error) {
	objs, err := manifestsAt(ctx, app.Spec.Source.RepoURL, rev, app.Spec.Source.Path, c.Auth)
	if err != nil {
		return nil, err
	}
	var resources []any
	for _, o := range objs {
		if o.GetNamespace() == "" && dest != "" {
			o.SetNamespace(dest)
		}
		o.SetManagedFields(nil)
		o.SetResourceVersion("")
		if err := c.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
			return nil, fmt.Errorf("applying %s %s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
		gvk := o.GroupVersionKind()
		resources = append(resources, map[string]any{
			"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind,
			"namespace": o.GetNamespace(), "name": o.GetName(), "status": argocd.SyncStatusSynced,
		})
	}
	return resources, nil
}

// assessHealth sets status.health from the live resources.
func (c *Controller) assessHealth(ctx context.Context, u *unstructured.Unstructured) error {
	resources, _, _ := unstructured.NestedSlice(u.Object, "status", "resources")
	if len(resources) == 0 {
		return nil
	}
	agg := Health{Status: "Healthy"}
	for i, r := range resources {
		m, ok := r.(map[string]any)
		if !ok {
			continue
		}
		gvk := schema.GroupVersionKind{Group: str(m["group"]), Version: str(m["version"]), Kind: str(m["kind"])}
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(gvk)
		var h Health
		if err := c.Client.Get(ctx, client.ObjectKey{Namespace: str(m["namespace"]), Name: str(m["name"])}, live); err != nil {
			if !apierrors.IsNotFound(err) {
				return err
			}
			h = Health{Status: "Missing"}
		} else if h, err = resourceHealth(live); err != nil {
			h = Health{Status: "Unknown", Message: err.Error()}
		}
		m["health"] = map[string]any{"status": h.Status, "message": h.Message}
		resources[i] = m
		agg = worse(agg, h)
	}
	_ = unstructured.SetNestedSlice(u.Object, resources, "status", "resources")
	return unstructured.SetNestedField(u.Object, map[string]any{"status": agg.Status, "message": agg.Message}, "status", "health")
}

// update writes the Application when the pass changed it. Argo CD's
// Application CRD has no status subresource, so spec, operation and status
// go in one update, guarded by the resourceVersion read.
func (c *Controller) update(ctx context.Context, orig, u *unstructured.Unstructured) error {
	if equalJSON(orig.Object, u.Object) {
		return nil
	}
	return c.Client.Update(ctx, u, client.FieldOwner(FieldManager))
}

func setCondition(u *unstructured.Unstructured, typ, msg string) {
	_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{"type": typ, "message": msg}}, "status", "conditions")
}

func equalJSON(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func str(v any) string { s, _ := v.(string); return s }
