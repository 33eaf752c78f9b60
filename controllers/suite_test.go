package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/manager"
	"github.com/sluice-dev/sluice/internal/slackfake"
	"github.com/sluice-dev/sluice/internal/testenv"
	"github.com/sluice-dev/sluice/revision"
)

// The controller tests run the real manager against a real apiserver with
// kube-controller-manager and kwok, so ReplicaSets create Pods that become
// Ready and readiness really gates the steps.
var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	env, err = testenv.Start(testenv.Options{Cluster: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		os.Exit(1)
	}
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.Level(zapLevel())))
	gitCache, err := os.MkdirTemp("", "sluice-git-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(gitCache)
	slackAPI = slackfake.New(slackfake.Options{})
	defer slackAPI.Close()
	if slackAddr, err = slackAppSecret(env); err != nil {
		fmt.Fprintln(os.Stderr, "slack:", err)
		env.Stop()
		os.Exit(1)
	}
	mgr, err := manager.New(env.Config, manager.Options{
		MetricsAddr: "0", ProbeAddr: "0", Concurrency: 4, GitCacheDir: gitCache,
		Slack: manager.SlackOptions{APIURL: slackAPI.APIURL(), Secret: slackSecretNS + "/slack-app", Addr: slackAddr},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		env.Stop()
		os.Exit(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	code := m.Run()
	cancel()
	<-done
	env.Stop()
	os.Exit(code)
}

func zapLevel() zapcore.Level {
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		return -1
	}
	return 2
}

const (
	timeout = 60 * time.Second
	poll    = 100 * time.Millisecond
)

// userRoute is a route sluice does not manage, with a fault rule and a retry
// policy; it must survive every rollout byte-for-byte.
const userRoute = `{"name":"admin","match":[{"uri":{"prefix":"/admin"}}],"fault":{"delay":{"percentage":{"value":5},"fixedDelay":"2s"}},"retries":{"attempts":3,"perTryTimeout":"1s","retryOn":"5xx"},"timeout":"9s","route":[{"destination":{"host":"web","subset":"stable"}}]}`

type fixture struct {
	t  *testing.T
	g  Gomega
	ns string
	ro *sluicev1.Rollout
}

// newFixture creates a namespace with a mesh VirtualService (managed route
// "primary" and the user's "admin" route) and a DestinationRule.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	ns, err := env.CreateNamespace(ctx, "ro")
	g.Expect(err).NotTo(HaveOccurred())
	vs := obj(fmt.Sprintf(`{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"web","namespace":%q},
	  "spec":{"hosts":["web"],"http":[%s,{"name":"primary","route":[{"destination":{"host":"web","subset":"stable"},"weight":100}]}]}}`, ns, userRoute))
	dr := obj(fmt.Sprintf(`{"apiVersion":"networking.istio.io/v1","kind":"DestinationRule","metadata":{"name":"web","namespace":%q},
	  "spec":{"host":"web","subsets":[{"name":"stable","labels":{"app":"web"}},{"name":"canary","labels":{"app":"web"}}]}}`, ns))
	g.Expect(env.Client.Create(ctx, vs)).To(Succeed())
	g.Expect(env.Client.Create(ctx, dr)).To(Succeed())
	return &fixture{t: t, g: g, ns: ns}
}

func obj(j string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal([]byte(j), &u.Object); err != nil {
		panic(err)
	}
	return u
}

// rollout is a canary Rollout of 4 replicas whose pods run on kwok's node.
func (f *fixture) rollout(image string, steps string) *sluicev1.Rollout {
	var s []sluicev1.Step
	f.g.Expect(yaml.Unmarshal([]byte(steps), &s)).To(Succeed())
	delay := sluicev1.Duration("2s")
	return &sluicev1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: f.ns},
		Spec: sluicev1.RolloutSpec{
			Replicas: ptr.To[int32](4),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{
					NodeName:   testenv.FakeNode,
					Containers: []corev1.Container{{Name: "web", Image: image}},
				},
			},
			ProgressDeadlineSeconds: ptr.To[int32](120),
			Strategy: sluicev1.RolloutStrategy{
				Canary:         &sluicev1.CanaryStrategy{Steps: s},
				ScaleDownDelay: &delay,
			},
			Traffic: sluicev1.TrafficRouting{Istio: sluicev1.IstioTraffic{
				VirtualServices: []sluicev1.VirtualServiceRef{{Name: "web", Routes: []string{"primary"}}},
				DestinationRule: &sluicev1.DestinationRuleRef{Name: "web", StableSubset: "stable", CanarySubset: "canary"},
			}},
		},
	}
}

func (f *fixture) create(ro *sluicev1.Rollout) {
	f.t.Helper()
	f.g.Expect(env.Client.Create(context.Background(), ro)).To(Succeed())
	f.ro = ro
}

func (f *fixture) get() *sluicev1.Rollout {
	ro := &sluicev1.Rollout{}
	f.g.Expect(env.Client.Get(context.Background(), types.NamespacedName{Namespace: f.ns, Name: "web"}, ro)).To(Succeed())
	return ro
}

// update applies change to a fresh copy, retrying on conflicts.
func (f *fixture) update(change func(*sluicev1.Rollout)) {
	f.t.Helper()
	f.g.Eventually(func() error {
		ro := f.get()
		change(ro)
		return env.Client.Update(context.Background(), ro)
	}, timeout, poll).Should(Succeed())
}

func (f *fixture) setImage(image string) string {
	f.update(func(ro *sluicev1.Rollout) { ro.Spec.Template.Spec.Containers[0].Image = image })
	return f.revisionOf(image)
}

func (f *fixture) revisionOf(image string) string {
	tpl := f.rollout(image, "[]").Spec.Template
	h, err := revision.Hash(&tpl)
	f.g.Expect(err).NotTo(HaveOccurred())
	return h
}

func (f *fixture) annotate(key, value string) {
	f.update(func(ro *sluicev1.Rollout) {
		if ro.Annotations == nil {
			ro.Annotations = map[string]string{}
		}
		ro.Annotations[key] = value
	})
}

var tokens int

func (f *fixture) action(key string) {
	tokens++
	f.annotate(key, "t"+strconv.Itoa(tokens)+"-"+time.Now().Format(time.RFC3339Nano))
}

// waitFor polls until the Rollout's status satisfies cond, and describes
// the last status seen when it never does.
func (f *fixture) waitFor(what string, cond func(*sluicev1.Rollout) bool) *sluicev1.Rollout {
	f.t.Helper()
	var last *sluicev1.Rollout
	f.g.Eventually(func() bool {
		last = f.get()
		return last.Status.ObservedGeneration == last.Generation && cond(last)
	}, timeout, poll).Should(BeTrue(), func() string { return what + "; last status: " + describe(last) })
	return last
}

func describe(ro *sluicev1.Rollout) string {
	if ro == nil {
		return "none"
	}
	b, _ := json.MarshalIndent(ro.Status, "", "  ")
	return string(b)
}

func (f *fixture) waitStep(i int32, phase sluicev1.RolloutPhase) *sluicev1.Rollout {
	f.t.Helper()
	return f.waitFor(fmt.Sprintf("step %d %s", i, phase), func(ro *sluicev1.Rollout) bool {
		return ro.Status.CurrentStepIndex != nil && *ro.Status.CurrentStepIndex == i && ro.Status.Phase == phase
	})
}

func (f *fixture) waitHealthy(rev string) *sluicev1.Rollout {
	f.t.Helper()
	return f.waitFor("Healthy on "+rev, func(ro *sluicev1.Rollout) bool {
		return ro.Status.Phase == sluicev1.PhaseHealthy && ro.Status.StableRevision == rev && ro.Status.CanaryRevision == ""
	})
}

// vs reads the VirtualService's routes by name.
func (f *fixture) vs() (map[string]map[string]any, []string, string) {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("networking.istio.io/v1")
	u.SetKind("VirtualService")
	f.g.Expect(env.Client.Get(context.Background(), types.NamespacedName{Namespace: f.ns, Name: "web"}, u)).To(Succeed())
	routes := map[string]map[string]any{}
	var order []string
	http, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
	for _, r := range http {
		m := r.(map[string]any)
		name, _ := m["name"].(string)
		routes[name] = m
		order = append(order, name)
	}
	return routes, order, u.GetResourceVersion()
}

// weights are the subset weights of the managed route.
func (f *fixture) weights() map[string]int64 {
	routes, _, _ := f.vs()
	out := map[string]int64{}
	dests, _ := routes["primary"]["route"].([]any)
	for _, d := range dests {
		m := d.(map[string]any)
		subset, _, _ := unstructured.NestedString(m, "destination", "subset")
		w, _, _ := unstructured.NestedInt64(m, "weight")
		out[subset] = w
	}
	return out
}

// expectWeights asserts the managed route's split; weight 0 destinations
// may be present or absent.
func (f *fixture) expectWeights(stable, canary int64) {
	f.t.Helper()
	w := f.weights()
	f.g.Expect(w["stable"]).To(Equal(stable), "stable weight in %v", w)
	f.g.Expect(w["canary"]).To(Equal(canary), "canary weight in %v", w)
}

// subsets are the DestinationRule's subset revision labels.
func (f *fixture) subsets() map[string]string {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("networking.istio.io/v1")
	u.SetKind("DestinationRule")
	f.g.Expect(env.Client.Get(context.Background(), types.NamespacedName{Namespace: f.ns, Name: "web"}, u)).To(Succeed())
	out := map[string]string{}
	subs, _, _ := unstructured.NestedSlice(u.Object, "spec", "subsets")
	for _, s := range subs {
		m := s.(map[string]any)
		rev, _, _ := unstructured.NestedString(m, "labels", sluicev1.LabelRevision)
		out[m["name"].(string)] = rev
	}
	return out
}

// expectUserRouteIntact asserts the user's route is byte-for-byte what it
// was created with.
func (f *fixture) expectUserRouteIntact() {
	f.t.Helper()
	routes, _, _ := f.vs()
	got, err := json.Marshal(routes["admin"])
	f.g.Expect(err).NotTo(HaveOccurred())
	var want map[string]any
	f.g.Expect(json.Unmarshal([]byte(userRoute), &want)).To(Succeed())
	wantJSON, _ := json.Marshal(want)
	f.g.Expect(string(got)).To(Equal(string(wantJSON)))
}

func (f *fixture) replicaSet(rev string) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{}
	f.g.Expect(env.Client.Get(context.Background(), types.NamespacedName{Namespace: f.ns, Name: "web-" + rev}, rs)).To(Succeed())
	return rs
}

func (f *fixture) waitReplicas(rev string, want int32) {
	f.t.Helper()
	f.g.Eventually(func() int32 {
		rs := &appsv1.ReplicaSet{}
		if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: f.ns, Name: "web-" + rev}, rs); err != nil {
			return -1
		}
		return ptr.Deref(rs.Spec.Replicas, -1)
	}, timeout, poll).Should(Equal(want), "replicas of revision %s", rev)
}

func (f *fixture) readyPods(rev string) int {
	var pods corev1.PodList
	f.g.Expect(env.Client.List(context.Background(), &pods, client.InNamespace(f.ns), client.MatchingLabels{sluicev1.LabelRevision: rev})).To(Succeed())
	n := 0
	for _, p := range pods.Items {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil {
				n++
			}
		}
	}
	return n
}

func keyOf(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}
