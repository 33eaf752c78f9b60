package argocd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Target is one Application and a way to reach it.
type Target interface {
	// Get reads the Application.
	Get(ctx context.Context) (*Application, error)
	// Refresh asks Argo CD to compare the Application with Git now instead
	// of at its next poll.
	Refresh(ctx context.Context) error
	// Sync asks for a sync to exactly revision. app is the copy read just
	// before; the request is refused (Conflict) if it changed since.
	Sync(ctx context.Context, app *Application, revision, reason string) error
	// String names the Application and the way it is reached, for messages.
	String() string
}

// Error is a failure to reach or drive the Application. Retryable errors
// are worth another attempt later; the others need a person.
type Error struct {
	Retryable bool
	Err       error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// IsRetryable reports whether err is worth retrying.
func IsRetryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Retryable
	}
	return true
}

// SyncInitiator is the username Argo CD shows for sluice's syncs.
const SyncInitiator = "sluice"

// KubeTarget reaches the Application through a Kubernetes API: this
// cluster's, or, from a kubeconfig Secret, the management cluster's.
type KubeTarget struct {
	Client client.Client
	// Reader, if set, serves Get instead of Client: a direct reader keeps
	// the manager from caching (and needing list/watch on) every
	// Application.
	Reader client.Reader
	Key    types.NamespacedName
	// Where says which cluster, for messages: "this cluster" or the
	// kubeconfig Secret's name.
	Where string
}

func (t *KubeTarget) String() string {
	return fmt.Sprintf("Argo CD Application %s (%s)", t.Key, t.Where)
}

func (t *KubeTarget) object() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(ApplicationGVK)
	u.SetNamespace(t.Key.Namespace)
	u.SetName(t.Key.Name)
	return u
}

// Get reads the Application.
func (t *KubeTarget) Get(ctx context.Context) (*Application, error) {
	u := t.object()
	var r client.Reader = t.Client
	if t.Reader != nil {
		r = t.Reader
	}
	if err := r.Get(ctx, t.Key, u); err != nil {
		return nil, t.wrap("reading", err)
	}
	return FromUnstructured(u)
}

// Refresh sets the refresh annotation, which Argo CD's controller acts on
// and removes.
func (t *KubeTarget) Refresh(ctx context.Context) error {
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:"normal"}}}`, RefreshAnnotation))
	if err := t.Client.Patch(ctx, t.object(), client.RawPatch(types.MergePatchType, patch)); err != nil {
		return t.wrap("refreshing", err)
	}
	return nil
}

// Sync writes a top-level operation, the way `argocd app sync --revision`
// does through the API server. The patch carries the resourceVersion read,
// so an operation someone else started in between is not overwritten.
func (t *KubeTarget) Sync(ctx context.Context, app *Application, revision, reason string) error {
	op := Operation{
		Sync:        &SyncOperation{Revision: revision},
		InitiatedBy: &InitiatedBy{Username: SyncInitiator},
		Info:        []Info{{Name: "Reason", Value: reason}},
	}
	patch, err := json.Marshal(map[string]any{
		"metadata":  map[string]any{"resourceVersion": app.ResourceVersion},
		"operation": op,
	})
	if err != nil {
		return err
	}
	if err := t.Client.Patch(ctx, t.object(), client.RawPatch(types.MergePatchType, patch)); err != nil {
		return t.wrap("requesting a sync of", err)
	}
	return nil
}

func (t *KubeTarget) wrap(verb string, err error) error {
	e := fmt.Errorf("%s %s: %w", verb, t, err)
	switch {
	case apierrors.IsNotFound(err):
		return &Error{Err: fmt.Errorf("%w; check spec.gitops.argocd.namespace and name", e)}
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		return &Error{Err: fmt.Errorf("%w; the identity sluice uses there needs get and patch on applications.argoproj.io", e)}
	case apierrors.IsConflict(err):
		return &Error{Retryable: true, Err: e}
	case meta.IsNoMatchError(err):
		return &Error{Err: fmt.Errorf("%w; is Argo CD's Application CRD installed in that cluster?", e)}
	}
	return &Error{Retryable: true, Err: e}
}
