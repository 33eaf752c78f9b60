package controllers_test

import (
	"context"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

// One Rollout drives a mesh VirtualService and a gateway-bound one (two
// named routes in it), and revisionHistoryLimit prunes old ReplicaSets.
func TestTwoVirtualServicesAndHistoryLimit(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	edge := obj(fmt.Sprintf(`{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"edge","namespace":%q},
	  "spec":{"hosts":["web.example.com"],"gateways":["istio-system/public"],"http":[
	    {"name":"api","match":[{"uri":{"prefix":"/api"}}],"route":[{"destination":{"host":"web","subset":"stable","port":{"number":8080}},"weight":100}]},
	    {"name":"site","route":[{"destination":{"host":"web","subset":"stable","port":{"number":8080}},"weight":100}]}]}}`, f.ns))
	f.g.Expect(env.Client.Create(ctx, edge)).To(Succeed())

	ro := f.rollout("web:1", `[{setWeight: 30}, {pause: {}}]`)
	ro.Spec.RevisionHistoryLimit = ptr.To[int32](1)
	ro.Spec.Traffic.Istio.VirtualServices = append(ro.Spec.Traffic.Istio.VirtualServices, sluicev1.VirtualServiceRef{Name: "edge", Routes: []string{"api", "site"}})
	f.create(ro)
	f.waitHealthy(f.revisionOf("web:1"))

	edgeWeights := func(route string) map[string]int64 {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("networking.istio.io/v1")
		u.SetKind("VirtualService")
		f.g.Expect(env.Client.Get(ctx, keyOf(f.ns, "edge"), u)).To(Succeed())
		f.g.Expect(u.Object["spec"].(map[string]any)["gateways"]).To(Equal([]any{"istio-system/public"}))
		out := map[string]int64{}
		http, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
		for _, r := range http {
			m := r.(map[string]any)
			if m["name"] != route {
				continue
			}
			for _, d := range m["route"].([]any) {
				dm := d.(map[string]any)
				s, _, _ := unstructured.NestedString(dm, "destination", "subset")
				port, _, _ := unstructured.NestedInt64(dm, "destination", "port", "number")
				f.g.Expect(port).To(BeEquivalentTo(8080), "an added destination copies the stable one's port")
				w, _, _ := unstructured.NestedInt64(dm, "weight")
				out[s] = w
			}
		}
		return out
	}

	for _, image := range []string{"web:2", "web:3", "web:4"} {
		rev := f.setImage(image)
		f.waitStep(1, sluicev1.PhasePaused)
		f.expectWeights(70, 30)
		f.g.Expect(edgeWeights("api")).To(Equal(map[string]int64{"stable": 70, "canary": 30}))
		f.g.Expect(edgeWeights("site")).To(Equal(map[string]int64{"stable": 70, "canary": 30}))
		f.action(sluicev1.AnnotationPromote)
		f.waitHealthy(rev)
		f.g.Expect(edgeWeights("api")["stable"]).To(BeEquivalentTo(100))
		f.g.Expect(edgeWeights("site")["stable"]).To(BeEquivalentTo(100))
		f.expectUserRouteIntact()
	}
	// Once web:3's scale-down delay has passed, web:1, web:2 and web:3 are
	// all scaled down and limit 1 keeps the newest of them; the stable
	// web:4 is never pruned.
	f.waitFor("previous revision scaled down", func(ro *sluicev1.Rollout) bool { return ro.Status.PreviousRevision == nil })
	f.g.Eventually(func() int {
		var list appsv1.ReplicaSetList
		f.g.Expect(env.Client.List(ctx, &list, client.InNamespace(f.ns))).To(Succeed())
		return len(list.Items)
	}, timeout, poll).Should(Equal(2))
	f.g.Expect(env.Client.Get(ctx, keyOf(f.ns, "web-"+f.revisionOf("web:4")), &appsv1.ReplicaSet{})).To(Succeed())
	f.g.Expect(env.Client.Get(ctx, keyOf(f.ns, "web-"+f.revisionOf("web:3")), &appsv1.ReplicaSet{})).To(Succeed())
}
