package install

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/manager"
	"github.com/sluice-dev/sluice/internal/testenv"
	"github.com/sluice-dev/sluice/revision"
)

// rbacKinds are the objects that make up the manager's identity and rights.
var rbacKinds = []string{"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}

// installRBAC applies the kustomize install's Namespace, ServiceAccount,
// ClusterRole, ClusterRoleBinding and leader-election Role and RoleBinding
// for real. The chart's RBAC is checked equal to these in chart_test.go, so
// the tests below cover both installs.
func installRBAC(t testing.TB) {
	t.Helper()
	var objs []*unstructured.Unstructured
	for _, o := range kustomizeInstall(t) {
		if slices.Contains(rbacKinds, o.GetKind()) {
			objs = append(objs, o)
		}
	}
	// Namespaces first: the rest live in one.
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int {
		return boolInt(b.GetKind() == "Namespace") - boolInt(a.GetKind() == "Namespace")
	})
	newApplier(t, "install-test-rbac").applyForReal(t, objs...)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// refusals records every request the apiserver refused with 401 or 403,
// with how often it was refused.
type refusals struct {
	mu   sync.Mutex
	seen map[string]int
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (r *refusals) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		if err == nil && (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized) {
			r.mu.Lock()
			if r.seen == nil {
				r.seen = map[string]int{}
			}
			r.seen[fmt.Sprintf("%d %s %s", resp.StatusCode, req.Method, req.URL.Path)]++
			r.mu.Unlock()
		}
		return resp, err
	})
}

func (r *refusals) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for req, n := range r.seen {
		out = append(out, fmt.Sprintf("%s (%d times)", req, n))
	}
	slices.Sort(out)
	return out
}

func (r *refusals) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = nil
}

// asManager is a rest.Config that acts as the manager's ServiceAccount
// would in the cluster: the admin impersonates its username and groups.
func asManager(r *refusals) *rest.Config {
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: saUser, Groups: saGroups}
	if r != nil {
		cfg.Wrap(r.wrap)
	}
	return cfg
}

// The shipped RBAC is enough: the manager runs as the ServiceAccount, with
// leader election in sluice-system, and takes a canary from first deploy
// through a paused step, promotion and scale-down of the old revision to
// deletion through its finalizer, without one request refused. It holds the
// Lease, and its Events (leader election's in sluice-system, the Rollout's
// in the app's namespace) are written.
func TestManagerRunsWithShippedRBAC(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	installRBAC(t)
	// Where the manager would clone app repos, as SLUICE_CACHE_DIR is set
	// in its pod.
	t.Setenv("SLUICE_CACHE_DIR", t.TempDir())

	refused := &refusals{}
	// The recorder sees refusals: a request the ServiceAccount may not make.
	probe, err := client.New(asManager(refused), client.Options{Scheme: env.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(apierrors.IsForbidden(probe.List(ctx, &corev1.SecretList{}))).To(BeTrue())
	g.Expect(refused.list()).To(ConsistOf(ContainSubstring("403 GET /api/v1/secrets")))
	refused.reset()

	mgr, err := manager.New(asManager(refused), manager.Options{
		MetricsAddr: "0", ProbeAddr: "0",
		LeaderElection: true, LeaderNamespace: systemNamespace,
		Concurrency: 2, SkipNameValidation: true,
		GracefulShutdown: 5 * time.Second,
	})
	g.Expect(err).NotTo(HaveOccurred())
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("manager: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("manager did not stop")
		}
	})

	ns, err := env.CreateNamespace(ctx, "rbac")
	g.Expect(err).NotTo(HaveOccurred())
	for _, doc := range []string{
		fmt.Sprintf(`{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"web","namespace":%q},"spec":{"hosts":["web"],"http":[{"name":"primary","route":[{"destination":{"host":"web","subset":"stable"},"weight":100}]}]}}`, ns),
		fmt.Sprintf(`{"apiVersion":"networking.istio.io/v1","kind":"DestinationRule","metadata":{"name":"web","namespace":%q},"spec":{"host":"web","subsets":[{"name":"stable"},{"name":"canary"}]}}`, ns),
	} {
		u := &unstructured.Unstructured{}
		g.Expect(json.Unmarshal([]byte(doc), &u.Object)).To(Succeed())
		g.Expect(env.Client.Create(ctx, u)).To(Succeed())
	}
	delay := sluicev1.Duration("1s")
	ro := &sluicev1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: sluicev1.RolloutSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: podTemplate("web:1"),
			Strategy: sluicev1.RolloutStrategy{
				Canary:         &sluicev1.CanaryStrategy{Steps: []sluicev1.Step{{SetWeight: ptr.To[int32](50)}, {Pause: &sluicev1.PauseStep{}}}},
				ScaleDownDelay: &delay,
			},
			Traffic: sluicev1.TrafficRouting{Istio: sluicev1.IstioTraffic{
				VirtualServices: []sluicev1.VirtualServiceRef{{Name: "web", Routes: []string{"primary"}}},
				DestinationRule: &sluicev1.DestinationRuleRef{Name: "web", StableSubset: "stable", CanarySubset: "canary"},
			}},
		},
	}
	g.Expect(env.Client.Create(ctx, ro)).To(Succeed())
	key := client.ObjectKeyFromObject(ro)
	get := func() *sluicev1.Rollout {
		out := &sluicev1.Rollout{}
		g.Expect(env.Client.Get(ctx, key, out)).To(Succeed())
		return out
	}
	waitFor := func(what string, cond func(*sluicev1.Rollout) bool) {
		t.Helper()
		var last *sluicev1.Rollout
		g.Eventually(func() bool {
			last = get()
			return last.Status.ObservedGeneration == last.Generation && cond(last)
		}, 60*time.Second, 100*time.Millisecond).Should(BeTrue(), func() string {
			b, _ := json.MarshalIndent(last.Status, "", "  ")
			return fmt.Sprintf("%s; refused requests: %v; last status: %s", what, refused.list(), b)
		})
	}
	update := func(change func(*sluicev1.Rollout)) {
		g.Eventually(func() error {
			cur := get()
			change(cur)
			return env.Client.Update(ctx, cur)
		}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
	}
	v1, v2 := revisionOf(t, "web:1"), revisionOf(t, "web:2")

	waitFor("Healthy on web:1", func(r *sluicev1.Rollout) bool {
		return r.Status.Phase == sluicev1.PhaseHealthy && r.Status.StableRevision == v1
	})
	update(func(r *sluicev1.Rollout) { r.Spec.Template = podTemplate("web:2") })
	waitFor("paused at 50%", func(r *sluicev1.Rollout) bool {
		return r.Status.Phase == sluicev1.PhasePaused && r.Status.CanaryRevision == v2 && ptr.Deref(r.Status.CurrentStepIndex, -1) == 1
	})
	g.Expect(weights(t, ns)).To(Equal(map[string]int64{"stable": 50, "canary": 50}))
	update(func(r *sluicev1.Rollout) {
		if r.Annotations == nil {
			r.Annotations = map[string]string{}
		}
		r.Annotations[sluicev1.AnnotationPromote] = "install-test"
	})
	waitFor("Healthy on web:2", func(r *sluicev1.Rollout) bool {
		return r.Status.Phase == sluicev1.PhaseHealthy && r.Status.StableRevision == v2 && r.Status.CanaryRevision == "" && r.Status.PreviousRevision == nil
	})
	g.Expect(weights(t, ns)["stable"]).To(BeEquivalentTo(100))
	g.Expect(get().Status.History[0].Outcome).To(Equal("Promoted"))

	// The manager holds the Lease in sluice-system.
	lease := &coordinationv1.Lease{}
	g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: systemNamespace, Name: "sluice.dev"}, lease)).To(Succeed())
	g.Expect(ptr.Deref(lease.Spec.HolderIdentity, "")).NotTo(BeEmpty())
	// Leader election's core Event next to the Lease, and the Rollout's
	// events.k8s.io Events in the app's namespace.
	g.Eventually(func() bool {
		var evs corev1.EventList
		g.Expect(env.Client.List(ctx, &evs, client.InNamespace(systemNamespace))).To(Succeed())
		return slices.ContainsFunc(evs.Items, func(e corev1.Event) bool {
			return e.Reason == "LeaderElection" && e.InvolvedObject.Kind == "Lease"
		})
	}, 30*time.Second, 200*time.Millisecond).Should(BeTrue(), "leader election Event in %s", systemNamespace)
	g.Eventually(func() []string {
		var evs eventsv1.EventList
		g.Expect(env.Client.List(ctx, &evs, client.InNamespace(ns))).To(Succeed())
		var reasons []string
		for _, e := range evs.Items {
			if e.Regarding.Kind == "Rollout" {
				reasons = append(reasons, e.Reason)
			}
		}
		return reasons
	}, 30*time.Second, 200*time.Millisecond).Should(ContainElement("Promoted"))

	// Deleting the Rollout runs its finalizer (rollouts/finalizers, the
	// VirtualService and DestinationRule patches) as the ServiceAccount.
	g.Expect(env.Client.Delete(ctx, get())).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(env.Client.Get(ctx, key, &sluicev1.Rollout{}))
	}, 60*time.Second, 100*time.Millisecond).Should(BeTrue(), "the Rollout's finalizer finishes; refused: %v", refused.list())

	g.Expect(refused.list()).To(BeEmpty(), "requests the apiserver refused the manager")
}

func podTemplate(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			NodeName:   testenv.FakeNode,
			Containers: []corev1.Container{{Name: "web", Image: image}},
		},
	}
}

func revisionOf(t testing.TB, image string) string {
	tpl := podTemplate(image)
	h, err := revision.Hash(&tpl)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// weights are the subset weights of the VirtualService's route "primary".
func weights(t testing.TB, ns string) map[string]int64 {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("networking.istio.io/v1")
	u.SetKind("VirtualService")
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "web"}, u); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	routes, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
	for _, r := range routes {
		m, _ := r.(map[string]any)
		if m["name"] != "primary" {
			continue
		}
		dests, _ := m["route"].([]any)
		for _, d := range dests {
			dm, _ := d.(map[string]any)
			subset, _, _ := unstructured.NestedString(dm, "destination", "subset")
			w, _, _ := unstructured.NestedInt64(dm, "weight")
			if w != 0 {
				out[subset] = w
			}
		}
	}
	return out
}

// access is one request the ServiceAccount might make.
type access struct {
	verb, group, resource, subresource, namespace, name string
}

func (a access) String() string {
	r := a.resource
	if a.group != "" {
		r += "." + a.group
	}
	if a.subresource != "" {
		r += "/" + a.subresource
	}
	if a.name != "" {
		r += " " + a.name
	}
	where := "cluster-wide"
	if a.namespace != "" {
		where = "in " + a.namespace
	}
	return a.verb + " " + r + " " + where
}

func canManager(t testing.TB, a access) bool {
	t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: saUser, Groups: saGroups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: a.verb, Group: a.group, Resource: a.resource, Subresource: a.subresource, Namespace: a.namespace, Name: a.name,
		},
	}}
	if err := env.Client.Create(context.Background(), sar); err != nil {
		t.Fatal(err)
	}
	return sar.Status.Allowed
}

// The shipped RBAC is no broader than the manager needs. SubjectAccessReviews
// for the ServiceAccount show what it can do (the grants the canary above
// exercised, and Secrets get, which Prometheus credentials need and later
// Slack and Git credentials will) and a list of what it must never do:
// read Secrets in bulk, delete namespaces, run or exec into pods, grant
// itself more, or weaken the admission policy that trusts it. Two of the
// denials are also tried for real as the impersonated ServiceAccount.
func TestRBACIsNotOverBroad(t *testing.T) {
	installRBAC(t)
	const app = "some-app"
	allowed := []access{
		{verb: "get", resource: "secrets", namespace: app},
		{verb: "list", group: "sluice.dev", resource: "rollouts"},
		{verb: "update", group: "sluice.dev", resource: "rollouts", subresource: "status", namespace: app},
		{verb: "create", group: "apps", resource: "replicasets", namespace: app},
		{verb: "patch", group: "networking.istio.io", resource: "virtualservices", namespace: app},
		{verb: "create", group: "events.k8s.io", resource: "events", namespace: app},
		{verb: "update", group: "coordination.k8s.io", resource: "leases", namespace: systemNamespace},
		{verb: "create", resource: "events", namespace: systemNamespace},
		// The namespaces' Slack settings, and no other ConfigMap.
		{verb: "get", resource: "configmaps", namespace: app, name: "sluice-notifications"},
		{verb: "watch", resource: "configmaps", name: "sluice-notifications"},
	}
	denied := []access{
		{verb: "list", resource: "secrets"},
		{verb: "watch", resource: "secrets"},
		{verb: "list", resource: "secrets", namespace: app},
		{verb: "list", resource: "secrets", namespace: systemNamespace},
		{verb: "create", resource: "secrets", namespace: app},
		{verb: "delete", resource: "namespaces"},
		{verb: "create", resource: "pods", namespace: app},
		{verb: "delete", resource: "pods", namespace: app},
		{verb: "create", resource: "pods", subresource: "exec", namespace: app},
		{verb: "get", resource: "configmaps", namespace: app},
		{verb: "create", group: "apps", resource: "deployments", namespace: app},
		{verb: "delete", group: "sluice.dev", resource: "rollouts", namespace: app},
		{verb: "delete", group: "networking.istio.io", resource: "virtualservices", namespace: app},
		{verb: "create", resource: "serviceaccounts", subresource: "token", namespace: systemNamespace},
		{verb: "impersonate", resource: "users"},
		{verb: "impersonate", resource: "serviceaccounts", namespace: systemNamespace},
		{verb: "escalate", group: "rbac.authorization.k8s.io", resource: "clusterroles"},
		{verb: "bind", group: "rbac.authorization.k8s.io", resource: "clusterroles"},
		{verb: "create", group: "rbac.authorization.k8s.io", resource: "clusterrolebindings"},
		{verb: "update", group: "rbac.authorization.k8s.io", resource: "roles", namespace: systemNamespace},
		{verb: "update", group: "admissionregistration.k8s.io", resource: "validatingadmissionpolicies"},
		{verb: "delete", group: "admissionregistration.k8s.io", resource: "validatingadmissionpolicybindings"},
		{verb: "delete", group: "apiextensions.k8s.io", resource: "customresourcedefinitions"},
		{verb: "patch", resource: "nodes"},
		// Leader election rights stop at sluice-system: no taking over
		// kube-system's Leases, no core Events elsewhere (Rollout events go
		// through events.k8s.io).
		{verb: "update", group: "coordination.k8s.io", resource: "leases", namespace: "kube-system"},
		{verb: "create", group: "coordination.k8s.io", resource: "leases", namespace: app},
		{verb: "create", resource: "events", namespace: app},
	}
	for _, a := range allowed {
		if !canManager(t, a) {
			t.Errorf("the manager cannot %s", a)
		}
	}
	for _, a := range denied {
		if canManager(t, a) {
			t.Errorf("the manager can %s; it must not", a)
		}
	}

	// The same, for real, as the impersonated ServiceAccount.
	c, err := client.New(asManager(nil), client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns, err := env.CreateNamespace(ctx, "victim")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.List(ctx, &corev1.SecretList{}); !apierrors.IsForbidden(err) {
		t.Errorf("listing Secrets cluster-wide as the manager: want Forbidden, got %v", err)
	}
	victim := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	if err := c.Delete(ctx, victim); !apierrors.IsForbidden(err) {
		t.Errorf("deleting namespace %s as the manager: want Forbidden, got %v", ns, err)
	} else if !strings.Contains(err.Error(), saUser) {
		t.Errorf("the refusal does not name the ServiceAccount: %v", err)
	}
}
