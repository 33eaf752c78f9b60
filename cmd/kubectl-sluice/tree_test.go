package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func sampleRollout(t *testing.T, file string) *sluicev1.Rollout {
	root, _ := testenv.RepoRoot()
	b, err := os.ReadFile(filepath.Join(root, "config", "samples", file))
	if err != nil {
		t.Fatal(err)
	}
	ro := &sluicev1.Rollout{}
	if err := yaml.Unmarshal(b, ro); err != nil {
		t.Fatal(err)
	}
	ro.Namespace = "shop"
	return ro
}

func replicaSet(ro *sluicev1.Rollout, rev, image string, want, available int32) appsv1.ReplicaSet {
	return appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: ro.Name + "-" + rev, Labels: map[string]string{sluicev1.LabelRevision: rev, sluicev1.LabelRollout: ro.Name}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(want), Template: corev1.PodTemplateSpec{
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}}}},
		Status: appsv1.ReplicaSetStatus{AvailableReplicas: available},
	}
}

func pod(name, rev string, ready bool) corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{sluicev1.LabelRevision: rev}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
}

// The tree for each strategy, mid-rollout, pinned by golden files in
// testdata (go test ./cmd/kubectl-sluice -run TestTree -update rewrites them).
func TestTreeGolden(t *testing.T) {
	cases := []struct {
		file   string
		step   int32
		status func(*sluicev1.RolloutStatus)
	}{
		{"canary.yaml", 4, func(s *sluicev1.RolloutStatus) {
			s.Phase, s.Message = sluicev1.PhasePaused, "step 4 (pause until promoted): waiting for `kubectl sluice promote web`"
			s.Weights = sluicev1.TrafficWeights{Stable: 50, Canary: 50}
			s.Analysis = []sluicev1.AnalysisRunSummary{{Name: "web-bbbbbbbbbb-step2", Step: 2, Kind: "Step", Phase: sluicev1.AnalysisSuccessful}}
			// The previous rollout's write-back, still waiting for Argo CD.
			s.GitOps = &sluicev1.GitOpsStatus{Revision: "aaaaaaaaaa", Outcome: "promoted", Phase: sluicev1.GitOpsSyncing,
				Commit: "6156b5f23d45ba3b769ba3f5e706616f0e80b4ed", SyncStatus: "OutOfSync", SyncedRevision: "998df0a91e2e0000000000000000000000000000", Health: "Healthy",
				Message: "waiting for Argo CD to sync 6156b5f23d45 (synced: 998df0a91e2e, health Healthy)"}
		}},
		{"bluegreen.yaml", 1, func(s *sluicev1.RolloutStatus) {
			s.Phase, s.Message = sluicev1.PhasePaused, "step 1 (approval (1 of release-managers)): 0 of 1 approvals"
			s.Weights = sluicev1.TrafficWeights{Stable: 100, MatchedRoutes: true}
		}},
		{"abtest.yaml", 0, func(s *sluicev1.RolloutStatus) {
			s.Phase, s.Message = sluicev1.PhaseProgressing, "step 0 (analysis conversion): analysis web-bbbbbbbbbb-step0 running"
			s.Weights = sluicev1.TrafficWeights{Stable: 100, MatchedRoutes: true}
			s.Approvals = []sluicev1.ApprovalRecord{{Step: 0, Decision: "Approve", Approver: "alice", Channel: "kubectl"}}
		}},
		{"darklaunch.yaml", 1, func(s *sluicev1.RolloutStatus) {
			s.Phase, s.Message = sluicev1.PhaseProgressing, "step 1 (setMirror 100%)"
			s.Weights = sluicev1.TrafficWeights{Stable: 100, Mirror: "100"}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			g := NewWithT(t)
			ro := sampleRollout(t, tc.file)
			st := &ro.Status
			st.Strategy = map[string]string{"canary.yaml": "canary", "bluegreen.yaml": "blueGreen", "abtest.yaml": "abTest", "darklaunch.yaml": "darkLaunch"}[tc.file]
			st.StableRevision, st.CanaryRevision, st.CurrentStepIndex = "aaaaaaaaaa", "bbbbbbbbbb", ptr.To(tc.step)
			tc.status(st)
			v := view{rollout: ro,
				sets: []appsv1.ReplicaSet{replicaSet(ro, "bbbbbbbbbb", "app:2", 2, 1), replicaSet(ro, "aaaaaaaaaa", "app:1", 2, 2), replicaSet(ro, "9999999999", "app:0", 0, 0)},
				pods: []corev1.Pod{pod(ro.Name+"-aaaaaaaaaa-x1", "aaaaaaaaaa", true), pod(ro.Name+"-aaaaaaaaaa-x2", "aaaaaaaaaa", true),
					pod(ro.Name+"-bbbbbbbbbb-y1", "bbbbbbbbbb", true), pod(ro.Name+"-bbbbbbbbbb-y2", "bbbbbbbbbb", false)},
			}
			var out bytes.Buffer
			g.Expect(renderTree(&out, v)).To(Succeed())
			golden := filepath.Join("testdata", "tree-"+tc.file[:len(tc.file)-len(".yaml")]+".golden")
			if *update {
				g.Expect(os.MkdirAll("testdata", 0o755)).To(Succeed())
				g.Expect(os.WriteFile(golden, out.Bytes(), 0o644)).To(Succeed())
			}
			want, err := os.ReadFile(golden)
			g.Expect(err).NotTo(HaveOccurred(), "run with -update to create %s", golden)
			g.Expect(out.String()).To(Equal(string(want)))
		})
	}
}
