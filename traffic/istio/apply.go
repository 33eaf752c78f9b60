package istio

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// The Istio kinds sluice writes, read and written as unstructured objects so
// that fields the typed Istio structs do not know survive.
var (
	VirtualServiceGVK  = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"}
	DestinationRuleGVK = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "DestinationRule"}
)

// MaxAttempts bounds the read-render-patch cycles of one Apply call when
// the object keeps changing underneath.
const MaxAttempts = 5

// retryBase is the first back-off between attempts; it doubles each time,
// with up to 50% jitter added.
var retryBase = 40 * time.Millisecond

// Result is the outcome of one Apply call.
type Result struct {
	// Changed is true when a patch was accepted. It is false when the object
	// already held the desired state, and then nothing was sent.
	Changed bool
	// Attempts counts reads (1 when the first patch went through or no patch
	// was needed).
	Attempts int
	// Patch is the last patch sent (nil when nothing was sent).
	Patch Patch
	// Object is the object after the write, as the apiserver returned it,
	// or as read when nothing was sent; nil when the call failed before a
	// read succeeded or after the last patch was refused.
	Object *unstructured.Unstructured
}

// VirtualServiceResult adds the traffic state read back.
type VirtualServiceResult struct {
	Result
	State VirtualServiceState
}

// DestinationRuleResult adds the subsets read back.
type DestinationRuleResult struct {
	Result
	State DestinationRuleState
}

// Get reads an Istio object as unstructured. A missing object is a
// *NotFoundError naming specPath.
func Get(ctx context.Context, r client.Reader, gvk schema.GroupVersionKind, key types.NamespacedName, specPath string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if err := r.Get(ctx, key, u); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &NotFoundError{Kind: gvk.Kind, Key: key, SpecPath: specPath}
		}
		return nil, fmt.Errorf("reading %s %s: %w", gvk.Kind, key, err)
	}
	return u, nil
}

// ApplyVirtualService brings the named routes of one VirtualService to d.
//
// It reads the object through c (which may be a cache), renders the guarded
// patch, and sends it as a JSON patch with field owner "sluice". When the
// apiserver refuses it because a test operation failed (the object changed
// since the read: 422, or 409 when the apiserver's own retries ran out), it
// reads the object again through reader, which must not be a cache, and
// retries with a freshly rendered patch: at most MaxAttempts times, with
// jittered back-off, until ctx ends. Nothing is sent when the object already
// holds d.
//
// The state is read back from the apiserver's response and verified; a
// difference is returned as *TrafficMismatchError along with the result.
// Errors that StalledReason recognises mean the spec cannot work as is.
func ApplyVirtualService(ctx context.Context, c client.Client, reader client.Reader, t VirtualServiceTarget, d Desired) (VirtualServiceResult, error) {
	res, err := apply(ctx, c, reader, VirtualServiceGVK, t.Key, t.specPath(), func(obj map[string]any) (Patch, error) {
		return RenderVirtualService(obj, t, d)
	})
	out := VirtualServiceResult{Result: res}
	if err != nil {
		return out, err
	}
	out.State = ObserveVirtualService(res.Object.Object, t, d)
	return out, VerifyVirtualService(res.Object.Object, t, d)
}

// ApplyDestinationRule brings the managed subsets of a DestinationRule to
// d, like ApplyVirtualService.
func ApplyDestinationRule(ctx context.Context, c client.Client, reader client.Reader, t DestinationRuleTarget, d Desired) (DestinationRuleResult, error) {
	res, err := apply(ctx, c, reader, DestinationRuleGVK, t.Key, t.specPath(), func(obj map[string]any) (Patch, error) {
		return RenderDestinationRule(obj, t, d)
	})
	out := DestinationRuleResult{Result: res}
	if err != nil {
		return out, err
	}
	out.State = ObserveDestinationRule(res.Object.Object, t, d)
	return out, VerifyDestinationRule(res.Object.Object, t, d)
}

func apply(ctx context.Context, c client.Client, reader client.Reader, gvk schema.GroupVersionKind, key types.NamespacedName, specPath string, render func(map[string]any) (Patch, error)) (Result, error) {
	var res Result
	var last error
	object := gvk.Kind + " " + key.String()
	for attempt := 1; attempt <= MaxAttempts; attempt++ {
		if attempt > 1 {
			if err := sleep(ctx, attempt); err != nil {
				return res, fmt.Errorf("writing %s: %w (after %d attempts; last refusal: %v)", object, err, res.Attempts, last)
			}
		}
		res.Attempts = attempt
		var r client.Reader = c
		if attempt > 1 {
			r = reader
		}
		obj, err := Get(ctx, r, gvk, key, specPath)
		if err != nil {
			return res, err
		}
		res.Object = obj
		patch, err := render(obj.Object)
		if err != nil {
			return res, err
		}
		if patch.Mutations() == 0 {
			return res, nil
		}
		body, err := patch.JSON()
		if err != nil {
			return res, fmt.Errorf("encoding the patch for %s: %w", object, err)
		}
		res.Patch = patch
		err = c.Patch(ctx, obj, client.RawPatch(types.JSONPatchType, body), client.FieldOwner(v1alpha1.FieldManager))
		switch {
		case err == nil:
			res.Changed = true
			return res, nil
		case apierrors.IsNotFound(err):
			return res, &NotFoundError{Kind: gvk.Kind, Key: key, SpecPath: specPath}
		case PatchRefused(err):
			last = err
			// The object may have been partly overwritten by the failed
			// call's decoding; the next attempt reads a fresh one.
			res.Object = nil
			continue
		case apierrors.IsInvalid(err):
			return res, &ConfigError{Code: ReasonPatchRejected, Message: fmt.Sprintf(
				"the apiserver refused sluice's change to %s as invalid: %v; fix the object so that it passes its schema, or the Rollout's traffic settings", object, err)}
		default:
			return res, fmt.Errorf("patching %s: %w", object, err)
		}
	}
	return res, &ConflictError{Object: object, Attempts: MaxAttempts, Last: last}
}

// PatchRefused reports whether the apiserver refused a JSON patch because
// the object no longer matched it: a failed test operation or a vanished
// path is 422 Unprocessable Entity with no field causes (a schema
// violation, also 422, lists its causes); 409 Conflict comes when the
// object kept changing during the apiserver's own internal retries.
func PatchRefused(err error) bool {
	if apierrors.IsConflict(err) {
		return true
	}
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return false
	}
	s := st.Status()
	return s.Code == http.StatusUnprocessableEntity && (s.Details == nil || len(s.Details.Causes) == 0)
}

func sleep(ctx context.Context, attempt int) error {
	d := retryBase << (attempt - 2)
	d += time.Duration(rand.Int64N(int64(d)/2 + 1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
