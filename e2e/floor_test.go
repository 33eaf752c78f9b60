package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// BenchmarkClusterFloor is the fake cluster's own cost without sluice: N
// ReplicaSets of 2 replicas created at once, timed until all their Pods are
// available. It bounds what BenchmarkCanaryBacklog can reach on a machine,
// since every rollout there brings up 2 new Pods too.
func BenchmarkClusterFloor(b *testing.B) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		ns, err := env.CreateNamespace(ctx, "floor")
		if err != nil {
			b.Fatal(err)
		}
		n := *benchRollouts
		start := time.Now()
		for j := 0; j < n; j++ {
			name := fmt.Sprintf("rs-%04d", j)
			rs := &appsv1.ReplicaSet{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
				Spec: appsv1.ReplicaSetSpec{
					Replicas: ptr.To[int32](2),
					Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
					Template: template(name, "app:1"),
				},
			}
			if err := env.Client.Create(ctx, rs); err != nil {
				b.Fatal(err)
			}
		}
		for {
			var list appsv1.ReplicaSetList
			if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
				b.Fatal(err)
			}
			ready := 0
			for _, rs := range list.Items {
				if rs.Status.AvailableReplicas == 2 {
					ready++
				}
			}
			if ready == n {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		b.ReportMetric(time.Since(start).Seconds(), "wall-s")
		b.Logf("%d ReplicaSets × 2 Pods available in %.1fs", n, time.Since(start).Seconds())
	}
}
