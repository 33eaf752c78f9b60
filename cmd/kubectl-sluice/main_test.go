package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"sigs.k8s.io/yaml"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/gitops/argocd"
	"github.com/sluice-dev/sluice/internal/testenv"
)

// The plugin's commands run against a real apiserver; the test plays the
// controller's part by writing status, so each command's own effect is
// what is asserted.
var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}, &env) }

func run(ns string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := newRootCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out})
	cmd.SetArgs(append([]string{"--kubeconfig", env.Kubeconfig, "-n", ns}, args...))
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func newRollout(t *testing.T) (string, *sluicev1.Rollout) {
	g := NewWithT(t)
	ctx := context.Background()
	ns, err := env.CreateNamespace(ctx, "plugin")
	g.Expect(err).NotTo(HaveOccurred())
	ro := &sluicev1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: sluicev1.RolloutSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:1"}}},
			},
			Strategy: sluicev1.RolloutStrategy{Canary: &sluicev1.CanaryStrategy{Steps: []sluicev1.Step{{SetWeight: ptr.To[int32](10)}, {Pause: &sluicev1.PauseStep{}}}}},
			Traffic: sluicev1.TrafficRouting{Istio: sluicev1.IstioTraffic{
				VirtualServices: []sluicev1.VirtualServiceRef{{Name: "web", Routes: []string{"primary"}}},
				DestinationRule: &sluicev1.DestinationRuleRef{Name: "web", StableSubset: "stable", CanarySubset: "canary"},
			}},
		},
	}
	g.Expect(env.Client.Create(ctx, ro)).To(Succeed())
	return ns, ro
}

// setStatus writes status as the controller would.
func setStatus(t *testing.T, ro *sluicev1.Rollout, mutate func(*sluicev1.RolloutStatus)) {
	g := NewWithT(t)
	cur := &sluicev1.Rollout{}
	g.Expect(env.Client.Get(context.Background(), client.ObjectKeyFromObject(ro), cur)).To(Succeed())
	cur.Status.ObservedGeneration = cur.Generation
	mutate(&cur.Status)
	g.Expect(env.Client.Status().Update(context.Background(), cur)).To(Succeed())
}

func get(t *testing.T, ro *sluicev1.Rollout) *sluicev1.Rollout {
	cur := &sluicev1.Rollout{}
	NewWithT(t).Expect(env.Client.Get(context.Background(), client.ObjectKeyFromObject(ro), cur)).To(Succeed())
	return cur
}

func TestActions(t *testing.T) {
	g := NewWithT(t)
	ns, ro := newRollout(t)
	setStatus(t, ro, func(s *sluicev1.RolloutStatus) {
		s.Phase, s.CurrentStepIndex, s.StepCount, s.CanaryRevision = sluicev1.PhasePaused, ptr.To[int32](1), 3, "abc"
	})

	out, err := run(ns, "promote", "web")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(ContainSubstring("sluice.dev/promote requested"))
	tok := get(t, ro).Annotations[sluicev1.AnnotationPromote]
	g.Expect(tok).To(HavePrefix("step=1;"), "promote is bound to the step it was typed at")

	_, err = run(ns, "promote", "--full", "web")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(get(t, ro).Annotations).To(HaveKey(sluicev1.AnnotationPromoteFull))

	for cmd, key := range map[string]string{"abort": sluicev1.AnnotationAbort, "retry": sluicev1.AnnotationRetry} {
		before := get(t, ro).Annotations[key]
		_, err = run(ns, cmd, "web")
		g.Expect(err).NotTo(HaveOccurred())
		after := get(t, ro).Annotations[key]
		g.Expect(after).NotTo(BeEmpty())
		g.Expect(after).NotTo(Equal(before), "each call is a new token, so it is acted on")
	}

	_, err = run(ns, "pause", "web")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(get(t, ro).Spec.Paused).To(BeTrue())
	_, err = run(ns, "resume", "web")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(get(t, ro).Spec.Paused).To(BeFalse())

	_, err = run(ns, "promote", "missing")
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).To(ContainSubstring("not found"))
}

func TestStatusExitCodes(t *testing.T) {
	g := NewWithT(t)
	ns, ro := newRollout(t)

	setStatus(t, ro, func(s *sluicev1.RolloutStatus) { s.Phase, s.Message = sluicev1.PhaseProgressing, "step 0" })
	out, err := run(ns, "status", "web", "--timeout", "2s")
	g.Expect(exitCode(err)).To(Equal(2), "timeout: %v", err)
	g.Expect(out).To(ContainSubstring("phase Progressing"))

	setStatus(t, ro, func(s *sluicev1.RolloutStatus) { s.Phase, s.Message = sluicev1.PhaseHealthy, "all good" })
	out, err = run(ns, "status", "web", "--timeout", "10s")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(ContainSubstring("phase Healthy"))

	setStatus(t, ro, func(s *sluicev1.RolloutStatus) { s.Phase, s.Message = sluicev1.PhaseDegraded, "aborted: error-rate" })
	_, err = run(ns, "status", "web", "--timeout", "10s")
	var e *exitError
	g.Expect(errors.As(err, &e)).To(BeTrue())
	g.Expect(e.code).To(Equal(1))
	g.Expect(err.Error()).To(ContainSubstring("aborted: error-rate"))
}

func TestListAndVersion(t *testing.T) {
	g := NewWithT(t)
	ns, ro := newRollout(t)
	setStatus(t, ro, func(s *sluicev1.RolloutStatus) {
		s.Strategy, s.Phase, s.StableRevision, s.CanaryRevision = "canary", sluicev1.PhasePaused, "aaa", "bbb"
		s.CurrentStepIndex, s.StepCount, s.Weights = ptr.To[int32](1), 3, sluicev1.TrafficWeights{Stable: 90, Canary: 10}
	})
	out, err := run(ns, "list")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(MatchRegexp(`NAME\s+STRATEGY\s+PHASE\s+STEP\s+WEIGHT\s+STABLE\s+CANARY`))
	g.Expect(out).To(MatchRegexp(`web\s+canary\s+Paused\s+1/3\s+10\s+aaa\s+bbb`))

	out, err = run(ns, "list", "-A")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(MatchRegexp(`NAMESPACE\s+NAME\s+STRATEGY`))
	g.Expect(out).To(MatchRegexp(ns + `\s+web\s+canary\s+Paused`))

	out, err = run(ns, "get", "web", "-o", "yaml")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(ContainSubstring("stableRevision: aaa"))
	out, err = run(ns, "get", "web", "-o", "json")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(ContainSubstring(`"canaryRevision": "bbb"`))
	_, err = run(ns, "get", "web", "-o", "xml")
	g.Expect(err).To(MatchError(ContainSubstring("unknown output format")))

	out, err = run(ns, "get", "rollout", "web")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(HavePrefix("Rollout " + ns + "/web\n"))
	g.Expect(out).To(ContainSubstring("│  ▶ 1  pause until promoted"))

	setStatus(t, ro, func(s *sluicev1.RolloutStatus) {
		s.History = []sluicev1.RolloutRecord{
			{Revision: "ccc", Outcome: "Aborted", Reason: "AnalysisFailed: metric \"error-rate\"", At: metav1.Unix(1_800_000_000, 0), Images: []string{"web=web:3"}},
			{Revision: "bbb", Outcome: "Promoted", At: metav1.Unix(1_799_000_000, 0), Images: []string{"web=web:2"}},
		}
	})
	out, err = run(ns, "history", "web")
	g.Expect(err).NotTo(HaveOccurred())
	lines := strings.Split(strings.TrimSpace(out), "\n")
	g.Expect(lines).To(HaveLen(3))
	g.Expect(lines[1]).To(MatchRegexp(`^ccc\s+Aborted\s+2027-01-15T08:00:00Z\s+web=web:3\s+AnalysisFailed: metric "error-rate"$`))
	g.Expect(lines[2]).To(MatchRegexp(`^bbb\s+Promoted\s+\S+\s+web=web:2\s+-$`))

	out, err = run(ns, "version")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(Equal("kubectl-sluice dev\n"))
}

// approve and reject record the apiserver's view of who you are, bound to the
// rollout's UID, revision and current step.
func TestApproveAndReject(t *testing.T) {
	g := NewWithT(t)
	ns, ro := newRollout(t)
	_, err := run(ns, "approve", "web")
	g.Expect(err).To(MatchError(ContainSubstring("no rollout in progress")))

	setStatus(t, ro, func(s *sluicev1.RolloutStatus) {
		s.Phase, s.CurrentStepIndex, s.StepCount, s.CanaryRevision = sluicev1.PhasePaused, ptr.To[int32](1), 3, "abc"
	})
	out, err := run(ns, "approve", "web", "-m", "dashboards green")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(ContainSubstring("Approve recorded"))
	_, err = run(ns, "reject", "web")
	g.Expect(err).NotTo(HaveOccurred())

	var list sluicev1.ApprovalList
	g.Expect(env.Client.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
	g.Expect(list.Items).To(HaveLen(2))
	decisions := map[sluicev1.ApprovalDecision]sluicev1.Approval{}
	for _, a := range list.Items {
		decisions[a.Spec.Decision] = a
	}
	a := decisions[sluicev1.DecisionApprove]
	g.Expect(a.Spec.RolloutRef.UID).To(Equal(string(get(t, ro).UID)))
	g.Expect(a.Spec.Revision).To(Equal("abc"))
	g.Expect(a.Spec.Step).To(BeEquivalentTo(1))
	g.Expect(a.Spec.Reason).To(Equal("dashboards green"))
	g.Expect(a.Spec.Approver.Channel).To(Equal(sluicev1.ChannelKubectl))
	g.Expect(a.Spec.Approver.Username).To(Equal("sluice-admin"), "the identity the apiserver authenticated")
	g.Expect(a.Spec.Approver.Groups).To(ContainElement("system:masters"))
	g.Expect(decisions).To(HaveKey(sluicev1.DecisionReject))
}

// syncBuffer is a bytes.Buffer safe to read while a command writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// get -w redraws when the Rollout changes (a watch event), and stops with
// its context.
func TestGetWatchRedraws(t *testing.T) {
	g := NewWithT(t)
	ns, ro := newRollout(t)
	setStatus(t, ro, func(s *sluicev1.RolloutStatus) { s.Phase = sluicev1.PhaseProgressing })
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		cmd := newRootCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out})
		cmd.SetArgs([]string{"--kubeconfig", env.Kubeconfig, "-n", ns, "get", "web", "-w"})
		done <- cmd.ExecuteContext(ctx)
	}()
	g.Eventually(out.String, 10*time.Second, 50*time.Millisecond).Should(ContainSubstring("Phase:     Progressing"))
	setStatus(t, ro, func(s *sluicev1.RolloutStatus) { s.Phase = sluicev1.PhaseHealthy })
	g.Eventually(out.String, 10*time.Second, 50*time.Millisecond).Should(ContainSubstring("Phase:     Healthy"))
	g.Expect(strings.Count(out.String(), "Rollout "+ns+"/web")).To(BeNumerically(">=", 2))
	cancel()
	g.Eventually(done, 10*time.Second).Should(Receive(BeNil()))
}

// set image and undo patch spec.template (guarded by resourceVersion); a
// Rollout managed through Git refuses them with the reason.
func TestSetImageAndUndo(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns, ro := newRollout(t)
	out, err := run(ns, "set", "image", "web", "web=web:2")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(ContainSubstring("image updated"))
	g.Expect(get(t, ro).Spec.Template.Spec.Containers[0].Image).To(Equal("web:2"))
	_, err = run(ns, "set", "image", "web", "nope=x:1")
	g.Expect(err).To(MatchError(ContainSubstring(`no container "nope" (containers: web)`)))

	// undo takes the stable revision's template from its ReplicaSet.
	stable := get(t, ro).Spec.Template.DeepCopy()
	stable.Spec.Containers[0].Image = "web:1"
	stable.Labels[sluicev1.LabelRevision] = "aaa"
	g.Expect(env.Client.Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-aaa", Namespace: ns, Labels: map[string]string{sluicev1.LabelRollout: "web", sluicev1.LabelRevision: "aaa"}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", sluicev1.LabelRevision: "aaa"}},
			Template: *stable},
	})).To(Succeed())
	setStatus(t, ro, func(s *sluicev1.RolloutStatus) { s.StableRevision = "aaa" })
	_, err = run(ns, "undo", "web")
	g.Expect(err).NotTo(HaveOccurred())
	cur := get(t, ro)
	g.Expect(cur.Spec.Template.Spec.Containers[0].Image).To(Equal("web:1"))
	g.Expect(cur.Spec.Template.Labels).NotTo(HaveKey(sluicev1.LabelRevision), "sluice's own labels are not copied back")
	_, err = run(ns, "undo", "web", "--to-revision", "3")
	g.Expect(err).To(MatchError(ContainSubstring("--to-revision must be 1 to 0")))

	// Managed through Git: the same commands ask sluice for a release
	// commit (sluice.dev/release) and leave spec.template alone.
	cur.Spec.GitOps = &sluicev1.GitOpsSpec{RepoURL: "https://git.example.com/app.git", Path: "web.yaml"}
	g.Expect(env.Client.Update(ctx, cur)).To(Succeed())
	out, err = run(ns, "set", "image", "web", "web=web:3")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(ContainSubstring("managed through Git"))
	cur = get(t, ro)
	g.Expect(cur.Spec.Template.Spec.Containers[0].Image).To(Equal("web:1"), "no cluster patch")
	g.Expect(cur.Annotations[sluicev1.AnnotationRelease]).To(HaveSuffix(";web=web:3"))
	_, err = run(ns, "set", "image", "web", "nope=x:1")
	g.Expect(err).To(MatchError(ContainSubstring(`no container "nope"`)))

	_, err = run(ns, "undo", "web")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(get(t, ro).Annotations[sluicev1.AnnotationRelease]).To(HaveSuffix(";web=web:1"), "undo releases the stable revision's images")

	// Retry after a rollback that was committed: a release of the aborted images.
	setStatus(t, ro, func(s *sluicev1.RolloutStatus) {
		s.GitOps = &sluicev1.GitOpsStatus{Revision: "bbb", Outcome: "aborted", Phase: sluicev1.GitOpsSynced, Commit: "0123abcd"}
		s.History = []sluicev1.RolloutRecord{{Revision: "bbb", Outcome: "Aborted", At: metav1.Now(), Images: []string{"web=web:2"}}}
	})
	out, err = run(ns, "retry", "web")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(ContainSubstring("aborted revision bbb"))
	g.Expect(get(t, ro).Annotations[sluicev1.AnnotationRelease]).To(HaveSuffix(";web=web:2"))
	g.Expect(get(t, ro).Annotations).NotTo(HaveKey(sluicev1.AnnotationRetry))
}

func TestArgoCDIgnoreDifferences(t *testing.T) {
	g := NewWithT(t)
	ns, ro := newRollout(t)
	out, err := run(ns, "argocd", "ignore-differences", ro.Name)
	g.Expect(err).NotTo(HaveOccurred())
	var doc struct {
		IgnoreDifferences []argocd.IgnoreDifference `json:"ignoreDifferences"`
	}
	g.Expect(yaml.Unmarshal([]byte(out), &doc)).To(Succeed())
	g.Expect(doc.IgnoreDifferences).To(Equal(argocd.IgnoreDifferences(get(t, ro))))
	g.Expect(doc.IgnoreDifferences).NotTo(BeEmpty())
	g.Expect(doc.IgnoreDifferences[0].Namespace).To(Equal(ns))
}
