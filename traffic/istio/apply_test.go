package istio

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

func init() { retryBase = time.Millisecond }

// fakeCluster is a fake client holding fixtureVS as unstructured (Istio's
// types are deliberately not in its scheme, so unknown fields survive as
// they do in a real apiserver), whose patch failures look like the
// apiserver's: 422 without causes.
type fakeCluster struct {
	base    client.WithWatch
	client  client.WithWatch
	patches int
	// beforePatch runs before each patch reaches the store; it plays the
	// other writer.
	beforePatch func(n int, c client.Client)
	// refuse, when set, replaces the store's answer.
	refuse func(n int) error
}

func newFakeCluster(t *testing.T, docs ...string) *fakeCluster {
	t.Helper()
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(VirtualServiceGVK, meta.RESTScopeNamespace)
	mapper.Add(DestinationRuleGVK, meta.RESTScopeNamespace)
	var objs []client.Object
	for _, d := range docs {
		u := &unstructured.Unstructured{Object: decode(t, []byte(d))}
		u.SetResourceVersion("")
		objs = append(objs, u)
	}
	fc := &fakeCluster{}
	fc.base = fake.NewClientBuilder().WithScheme(runtime.NewScheme()).WithRESTMapper(mapper).WithObjects(objs...).Build()
	fc.client = interceptor.NewClient(fc.base, interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			fc.patches++
			if fc.beforePatch != nil {
				fc.beforePatch(fc.patches, c)
			}
			if fc.refuse != nil {
				if err := fc.refuse(fc.patches); err != nil {
					return err
				}
			}
			err := c.Patch(ctx, obj, patch, opts...)
			var st apierrors.APIStatus
			if err != nil && !errors.As(err, &st) {
				// What kube-apiserver answers for a patch that does not apply.
				return apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", err.Error(), 0, false)
			}
			return err
		},
	})
	return fc
}

func (fc *fakeCluster) get(t *testing.T, gvk schema.GroupVersionKind) *unstructured.Unstructured {
	t.Helper()
	u, err := Get(context.Background(), fc.base, gvk, frontend, "")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestApplyVirtualService(t *testing.T) {
	fc := newFakeCluster(t, fixtureVS)
	ctx := context.Background()
	tgt := vsTarget("api", "web")
	res, err := ApplyVirtualService(ctx, fc.client, fc.client, tgt, subsets(10))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.Attempts != 1 || fc.patches != 1 {
		t.Errorf("changed %v attempts %d patches %d", res.Changed, res.Attempts, fc.patches)
	}
	if w := res.State.Weights(); w.Stable != 90 || w.Canary != 10 {
		t.Errorf("state %+v", res.State)
	}
	stored := fc.get(t, VirtualServiceGVK)
	if _, ok, _ := unstructured.NestedMap(stored.Object, "spec", "futureSpecField"); !ok {
		t.Error("an unknown field was lost")
	}

	// Already there: nothing is sent.
	res, err = ApplyVirtualService(ctx, fc.client, fc.client, tgt, subsets(10))
	if err != nil || res.Changed || fc.patches != 1 || res.Patch != nil {
		t.Errorf("no-op apply: changed %v, patches %d, %v", res.Changed, fc.patches, err)
	}
}

func TestApplyRetriesOnConcurrentWrite(t *testing.T) {
	fc := newFakeCluster(t, fixtureVS)
	ctx := context.Background()
	// Another writer inserts a route at the top between sluice's read and
	// its patch, the first time only.
	fc.beforePatch = func(n int, c client.Client) {
		if n != 1 {
			return
		}
		p := `[{"op":"add","path":"/spec/http/0","value":{"name":"inserted","route":[{"destination":{"host":"x"}}]}}]`
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(VirtualServiceGVK)
		u.SetNamespace(frontend.Namespace)
		u.SetName(frontend.Name)
		if err := c.Patch(ctx, u, client.RawPatch(types.JSONPatchType, []byte(p))); err != nil {
			t.Errorf("the other writer failed: %v", err)
		}
	}
	res, err := ApplyVirtualService(ctx, fc.client, fc.client, vsTarget("web"), subsets(30))
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 || fc.patches != 2 {
		t.Errorf("attempts %d, patches %d; want 2 and 2", res.Attempts, fc.patches)
	}
	u := fc.get(t, VirtualServiceGVK)
	b, _ := u.MarshalJSON()
	if got := routeNames(t, b); strings.Join(got, ",") != "inserted,health,api,web,legacy" {
		t.Errorf("routes %v: the other writer's route was lost", got)
	}
	if got := rawAt(t, b, "spec", "http", 3, "route", 1, "weight"); got != "30" {
		t.Errorf("web canary weight %s", got)
	}
}

func TestApplyGivesUp(t *testing.T) {
	fc := newFakeCluster(t, fixtureVS)
	ctx := context.Background()
	conflict := apierrors.NewConflict(schema.GroupResource{Group: "networking.istio.io", Resource: "virtualservices"}, "frontend", errors.New("the object has been modified"))
	fc.refuse = func(n int) error {
		if n%2 == 0 {
			return conflict
		}
		return apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", "testing value /spec/http/2/name failed", 0, false)
	}
	_, err := ApplyVirtualService(ctx, fc.client, fc.client, vsTarget("web"), subsets(30))
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Attempts != MaxAttempts || fc.patches != MaxAttempts {
		t.Fatalf("want a ConflictError after %d attempts, got %v (%d patches)", MaxAttempts, err, fc.patches)
	}
	if _, stalled := StalledReason(err); stalled {
		t.Error("running out of attempts is transient, not Stalled")
	}

	// A schema violation is not retried.
	fc.patches = 0
	fc.refuse = func(int) error {
		return apierrors.NewInvalid(schema.GroupKind{Group: "networking.istio.io", Kind: "VirtualService"}, "frontend",
			field.ErrorList{field.Invalid(field.NewPath("spec", "http").Index(2).Child("timeout"), "x", "must be a valid duration")})
	}
	_, err = ApplyVirtualService(ctx, fc.client, fc.client, vsTarget("web"), subsets(30))
	if r, _ := StalledReason(err); r != ReasonPatchRejected || fc.patches != 1 {
		t.Errorf("schema violation: %v after %d patches", err, fc.patches)
	}

	// The context ends while waiting.
	fc.patches = 0
	fc.refuse = func(int) error { return conflict }
	cctx, cancel := context.WithCancel(ctx)
	fc.beforePatch = func(int, client.Client) { cancel() }
	_, err = ApplyVirtualService(cctx, fc.client, fc.client, vsTarget("web"), subsets(30))
	if !errors.Is(err, context.Canceled) || fc.patches != 1 {
		t.Errorf("cancelled: %v after %d patches", err, fc.patches)
	}
}

func TestApplyNotFound(t *testing.T) {
	fc := newFakeCluster(t, fixtureVS)
	ctx := context.Background()
	_, err := ApplyVirtualService(ctx, fc.client, fc.client, VirtualServiceTarget{Key: types.NamespacedName{Namespace: "shop", Name: "checkout"}, Routes: []string{"web"}, SpecPath: "spec.traffic.istio.virtualServices[1]"}, subsets(1))
	if r, _ := StalledReason(err); r != ReasonVirtualServiceNotFound {
		t.Fatalf("%v", err)
	}
	if err.Error() != "VirtualService shop/checkout not found; create it or fix spec.traffic.istio.virtualServices[1]" {
		t.Errorf("message %q", err)
	}
	_, err = ApplyDestinationRule(ctx, fc.client, fc.client, DestinationRuleTarget{Key: frontend}, drDesired())
	if r, _ := StalledReason(err); r != ReasonDestinationRuleNotFound || !strings.Contains(err.Error(), "fix spec.traffic.istio.destinationRule") {
		t.Errorf("%v", err)
	}
}

func TestApplyDestinationRule(t *testing.T) {
	fc := newFakeCluster(t, fixtureDR)
	ctx := context.Background()
	d := drDesired()
	d.CanaryTrafficPolicy = &v1alpha1.SubsetTrafficPolicy{LoadBalancer: "RANDOM"}
	res, err := ApplyDestinationRule(ctx, fc.client, fc.client, DestinationRuleTarget{Key: frontend}, d)
	if err != nil || !res.Changed {
		t.Fatalf("%v %+v", err, res)
	}
	if s := res.State.Subsets[1]; !s.Found || s.Revision != "bbb" || !s.TrafficPolicyBySluice {
		t.Errorf("canary %+v", s)
	}
	res, err = ApplyDestinationRule(ctx, fc.client, fc.client, DestinationRuleTarget{Key: frontend}, d.Restored())
	if err != nil || !res.Changed || res.State.Subsets[1].TrafficPolicy {
		t.Errorf("restore: %v %+v", err, res.State)
	}
}

func TestVerifyReportsMismatch(t *testing.T) {
	in := canonical(t, fixtureVS)
	_, out := render(t, in, vsTarget("web"), subsets(40))
	// Something (a webhook, another controller) changes the weights back.
	tampered := mustApply(t, out, Patch{replaceOp("/spec/http/2/route/0/weight", 100), replaceOp("/spec/http/2/route/1/weight", 0)})
	err := VerifyVirtualService(decode(t, tampered), vsTarget("web"), subsets(40))
	var me *TrafficMismatchError
	if !errors.As(err, &me) {
		t.Fatalf("want a TrafficMismatchError, got %v", err)
	}
	if !strings.Contains(err.Error(), "route web: stable weight 100, want 60") || !strings.Contains(err.Error(), "route web: canary weight 0, want 40") {
		t.Errorf("message %q", err)
	}
	if _, stalled := StalledReason(err); stalled {
		t.Error("a mismatch is reported through TrafficVerified, not Stalled")
	}
}

func TestPatchRefused(t *testing.T) {
	gr := schema.GroupResource{Group: "networking.istio.io", Resource: "virtualservices"}
	for name, c := range map[string]struct {
		err  error
		want bool
	}{
		"failed test (422, no causes)": {apierrors.NewGenericServerResponse(422, "", schema.GroupResource{}, "", "", 0, false), true},
		"conflict":                     {apierrors.NewConflict(gr, "x", errors.New("modified")), true},
		"schema violation":             {apierrors.NewInvalid(schema.GroupKind{Kind: "VirtualService"}, "x", field.ErrorList{field.Required(field.NewPath("spec"), "")}), false},
		"forbidden":                    {apierrors.NewForbidden(gr, "x", errors.New("no")), false},
		"plain":                        {errors.New("boom"), false},
		"status without details":       {&apierrors.StatusError{ErrStatus: metav1.Status{Code: 422}}, true},
	} {
		if got := PatchRefused(c.err); got != c.want {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
}
