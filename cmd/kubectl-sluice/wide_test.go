package main

import (
	"bytes"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

// The -o wide columns for rollouts of each strategy in the states that
// fill them: mid-canary with analysis and a Git write-back, at an approval
// gate (waiting, passed, rejected), mirroring, and at rest.
func TestWideTable(t *testing.T) {
	g := NewWithT(t)
	at := metav1.Unix(1_800_000_000, 0)

	canary := sampleRollout(t, "canary.yaml")
	canary.Status = sluicev1.RolloutStatus{
		Strategy: "canary", Phase: sluicev1.PhaseProgressing, StableRevision: "aaaaaaaaaa", CanaryRevision: "bbbbbbbbbb",
		CurrentStepIndex: ptr.To[int32](2), StepCount: 6, Weights: sluicev1.TrafficWeights{Stable: 90, Canary: 10},
		Analysis: []sluicev1.AnalysisRunSummary{{Name: "web-bbbbbbbbbb-step2", Step: 2, Kind: "Step", Phase: sluicev1.AnalysisRunning}},
		GitOps:   &sluicev1.GitOpsStatus{Commit: "4f9c2e17a0d5b3c8e6f1a2b4c6d8e0f1a3b5c7d9", SyncStatus: "Synced", Outcome: "promoted"},
	}

	gate := func(name string, approvals ...sluicev1.ApprovalRecord) sluicev1.Rollout {
		ro := sampleRollout(t, "bluegreen.yaml")
		ro.Name = name
		ro.Status = sluicev1.RolloutStatus{
			Strategy: "blueGreen", Phase: sluicev1.PhasePaused, StableRevision: "aaaaaaaaaa", CanaryRevision: "bbbbbbbbbb",
			CurrentStepIndex: ptr.To[int32](1), StepCount: 6, Weights: sluicev1.TrafficWeights{Stable: 100, MatchedRoutes: true},
			Analysis:  []sluicev1.AnalysisRunSummary{{Name: "checkout-aaaaaaaaaa-post", Step: -1, Kind: "PostPromotion", Phase: sluicev1.AnalysisSuccessful}},
			Approvals: approvals,
		}
		return *ro
	}
	alice := sluicev1.ApprovalRecord{Step: 1, Revision: "bbbbbbbbbb", Decision: sluicev1.DecisionApprove, Approver: "alice", Channel: "kubectl", At: at}
	older := alice
	older.Revision = "9999999999" // an earlier revision's decision does not count
	bob := sluicev1.ApprovalRecord{Step: 1, Revision: "bbbbbbbbbb", Decision: sluicev1.DecisionReject, Approver: "bob", Channel: "slack", At: at}

	dark := sampleRollout(t, "darklaunch.yaml")
	dark.Status = sluicev1.RolloutStatus{
		Strategy: "darkLaunch", Phase: sluicev1.PhaseProgressing, StableRevision: "aaaaaaaaaa", CanaryRevision: "bbbbbbbbbb",
		CurrentStepIndex: ptr.To[int32](1), StepCount: 4, Weights: sluicev1.TrafficWeights{Stable: 100, Mirror: "100"},
		Analysis: []sluicev1.AnalysisRunSummary{{Name: "pricing-bbbbbbbbbb-bg", Step: -1, Kind: "Background", Phase: sluicev1.AnalysisInconclusive}},
	}

	rest := sampleRollout(t, "abtest.yaml")
	rest.Status = sluicev1.RolloutStatus{
		Strategy: "abTest", Phase: sluicev1.PhaseHealthy, StableRevision: "bbbbbbbbbb", Weights: sluicev1.TrafficWeights{Stable: 100},
		Approvals: []sluicev1.ApprovalRecord{alice},
	}

	var out bytes.Buffer
	g.Expect(printRollouts(&out, []sluicev1.Rollout{*canary, gate("waiting", older), gate("passed", older, alice), gate("rejected", alice, bob), *dark, *rest}, true, true)).To(Succeed())
	g.Expect(out.String()).To(Equal("" +
		"NAMESPACE  NAME      STRATEGY    PHASE        STEP  WEIGHT  STABLE      CANARY      WEIGHTS  MIRROR  ANALYSIS                  APPROVAL         COMMIT   SYNC    CURRENT-STEP\n" +
		"shop       web       canary      Progressing  2/6   10      aaaaaaaaaa  bbbbbbbbbb  90/10    -       step2:Running             -                4f9c2e1  Synced  analysis success-rate\n" +
		"shop       waiting   blueGreen   Paused       1/6   0       aaaaaaaaaa  bbbbbbbbbb  100/0    -       postPromotion:Successful  waiting:0/1      -        -       approval (1 of release-managers)\n" +
		"shop       passed    blueGreen   Paused       1/6   0       aaaaaaaaaa  bbbbbbbbbb  100/0    -       postPromotion:Successful  passed:1/1       -        -       approval (1 of release-managers)\n" +
		"shop       rejected  blueGreen   Paused       1/6   0       aaaaaaaaaa  bbbbbbbbbb  100/0    -       postPromotion:Successful  rejected:bob     -        -       approval (1 of release-managers)\n" +
		"shop       pricing   darkLaunch  Progressing  1/4   0       aaaaaaaaaa  bbbbbbbbbb  100/0    100%    background:Inconclusive   -                -        -       setMirror 100%\n" +
		"shop       search    abTest      Healthy      -     0       bbbbbbbbbb  -           100/0    -       -                         Approve:alice@1  -        -       -\n"))

	// Without -o wide the table is the one list always printed.
	out.Reset()
	g.Expect(printRollouts(&out, []sluicev1.Rollout{*canary}, false, false)).To(Succeed())
	g.Expect(out.String()).To(Equal("" +
		"NAME  STRATEGY  PHASE        STEP  WEIGHT  STABLE      CANARY\n" +
		"web   canary    Progressing  2/6   10      aaaaaaaaaa  bbbbbbbbbb\n"))
}

// list -o wide and get -o wide read the Rollout from the apiserver.
func TestListWide(t *testing.T) {
	g := NewWithT(t)
	ns, ro := newRollout(t)
	setStatus(t, ro, func(s *sluicev1.RolloutStatus) {
		s.Strategy, s.Phase, s.StableRevision, s.CanaryRevision = "canary", sluicev1.PhasePaused, "aaa", "bbb"
		s.CurrentStepIndex, s.StepCount, s.Weights = ptr.To[int32](1), 3, sluicev1.TrafficWeights{Stable: 90, Canary: 10}
		s.Analysis = []sluicev1.AnalysisRunSummary{{Name: "web-bbb-bg", Step: -1, Kind: "Background", Phase: sluicev1.AnalysisRunning}}
		s.GitOps = &sluicev1.GitOpsStatus{Commit: "0123456789abcdef", SyncStatus: "OutOfSync"}
	})
	out, err := run(ns, "list", "-o", "wide")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(MatchRegexp(`NAME\s+STRATEGY\s+PHASE\s+STEP\s+WEIGHT\s+STABLE\s+CANARY\s+WEIGHTS\s+MIRROR\s+ANALYSIS\s+APPROVAL\s+COMMIT\s+SYNC\s+CURRENT-STEP\n`))
	g.Expect(out).To(MatchRegexp(`\nweb\s+canary\s+Paused\s+1/3\s+10\s+aaa\s+bbb\s+90/10\s+-\s+background:Running\s+-\s+0123456\s+OutOfSync\s+pause until promoted\n`))

	out, err = run(ns, "list", "-A", "-o", "wide")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(MatchRegexp(ns + `\s+web\s+canary\s+Paused\s+1/3\s+10\s+aaa\s+bbb\s+90/10`))

	out, err = run(ns, "get", "web", "-o", "wide")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(strings.Split(strings.TrimSpace(out), "\n")).To(HaveLen(2), "a header and the Rollout's row")
	g.Expect(out).To(MatchRegexp(`\nweb\s+canary\s+Paused\s+1/3\s+10\s+aaa\s+bbb\s+90/10\s+-\s+background:Running\s+-\s+0123456\s+OutOfSync\s+pause until promoted\n`))

	_, err = run(ns, "list", "-o", "json")
	g.Expect(err).To(MatchError(`unknown output format "json": use wide, or leave -o out`))
}
