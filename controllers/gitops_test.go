package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-logr/logr/testr"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/gitops"
	"github.com/sluice-dev/sluice/gitops/argocd"
	"github.com/sluice-dev/sluice/internal/argostandin"
	"github.com/sluice-dev/sluice/internal/gitserver"
)

const gitopsSteps = `
- setWeight: 50
- pause: {}
`

// istioManifests are the VirtualService and DestinationRule as the app repo
// holds them; the canary destination is declared with weight 0, as the
// README recommends, so Git and the cluster agree at rest.
const istioManifests = `# Traffic for web. sluice manages the weights of route "primary".
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: web
spec:
  hosts: [web]
  http:
  - name: primary
    route:
    - destination: {host: web, subset: stable}
      weight: 100
    - destination: {host: web, subset: canary}
      weight: 0
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: web
spec:
  host: web
  subsets:
  - name: stable
    labels: {app: web}
  - name: canary
    labels: {app: web}
`

// gitopsFixture is an app repo on a real Git server (smart HTTP, basic
// auth), an Argo CD Application over the real CRD, the Argo CD stand-in
// acting on it, and the Rollout that the stand-in applies from Git.
type gitopsFixture struct {
	*fixture
	git     *gitserver.Server
	repoURL string
	syncs   atomic.Int32
	access  string
}

func newGitOpsFixture(t *testing.T, access string, mutate func(*gitopsFixture, *sluicev1.GitOpsSpec)) *gitopsFixture {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	ns, err := env.CreateNamespace(ctx, "gitops")
	g.Expect(err).NotTo(HaveOccurred())
	f := &gitopsFixture{fixture: &fixture{t: t, g: g, ns: ns}, access: access}
	f.git = gitserver.StartTest(t, gitserver.Options{Username: "sluice", Password: "s3cret"})
	g.Expect(env.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "git"},
		Data:       map[string][]byte{"username": []byte("sluice"), "password": []byte("s3cret")},
	})).To(Succeed())

	f.repoURL = f.git.RepoURL("web-deploy")
	gs := &sluicev1.GitOpsSpec{
		RepoURL: f.repoURL, Branch: "main", Path: "deploy/rollout.yaml", Format: "Manifest",
		SecretRef:   &sluicev1.LocalSecretReference{Name: "git"},
		OnPromotion: "RecordRevision", OnAbort: "WriteRollback",
		ArgoCD: &sluicev1.ArgoCDTarget{Namespace: ns, Name: "web"},
	}
	switch access {
	case "kubeconfig":
		kc, err := os.ReadFile(env.Kubeconfig)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "argocd-cluster"}, Data: map[string][]byte{"kubeconfig": kc}})).To(Succeed())
		gs.ArgoCD.KubeconfigSecretRef = &sluicev1.LocalSecretReference{Name: "argocd-cluster"}
	case "apiserver":
		api := httptest.NewServer(&argostandin.APIServer{Client: env.Client, Token: "argo-token", DefaultNamespace: ns})
		t.Cleanup(api.Close)
		g.Expect(env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "argocd-token"}, Data: map[string][]byte{"token": []byte("argo-token")}})).To(Succeed())
		gs.ArgoCD.Server = &sluicev1.ArgoCDServer{URL: api.URL, TokenSecretRef: sluicev1.LocalSecretReference{Name: "argocd-token"}}
	}
	if mutate != nil {
		mutate(f, gs)
	}
	_, err = f.git.CreateRepo("web-deploy", "main", map[string]string{
		"deploy/rollout.yaml": f.manifest("web:1", gs),
		"deploy/istio.yaml":   istioManifests,
	}, "web 1")
	g.Expect(err).NotTo(HaveOccurred())

	standin := &argostandin.Controller{
		Client: env.Client, Namespace: ns, Interval: 200 * time.Millisecond,
		Auth: &githttp.BasicAuth{Username: "sluice", Password: "s3cret"}, Log: testr.New(t),
		OnSync: func(string, string) { f.syncs.Add(1) },
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = standin.Run(sctx) }()
	t.Cleanup(func() { cancel(); <-done })

	app := &unstructured.Unstructured{}
	g.Expect(json.Unmarshal([]byte(fmt.Sprintf(`{"apiVersion":"argoproj.io/v1alpha1","kind":"Application",
	  "metadata":{"name":"web","namespace":%q},
	  "spec":{"project":"default","source":{"repoURL":%q,"targetRevision":"main","path":"deploy"},"destination":{"server":"https://kubernetes.default.svc","namespace":%q}},
	  "operation":{"sync":{},"initiatedBy":{"username":"test"}}}`, ns, f.repoURL, ns)), &app.Object)).To(Succeed())
	g.Expect(env.Client.Create(ctx, app)).To(Succeed())
	// The stand-in's first sync creates the Rollout from Git.
	g.Eventually(func() error {
		return env.Client.Get(ctx, keyOf(ns, "web"), &sluicev1.Rollout{})
	}, timeout, poll).Should(Succeed(), "the Argo CD stand-in applies deploy/ from Git")
	return f
}

// manifest is the Rollout as the app repo holds it, with a comment that
// sluice's edits must keep.
func (f *gitopsFixture) manifest(image string, gs *sluicev1.GitOpsSpec) string {
	ro := f.rollout(image, gitopsSteps)
	ro.Namespace = ""
	ro.Spec.GitOps = gs
	ro.APIVersion, ro.Kind = sluicev1.GroupVersion.String(), "Rollout"
	raw, err := json.Marshal(ro)
	f.g.Expect(err).NotTo(HaveOccurred())
	m := map[string]any{}
	f.g.Expect(json.Unmarshal(raw, &m)).To(Succeed())
	delete(m, "status")
	delete(m["metadata"].(map[string]any), "creationTimestamp")
	delete(m["spec"].(map[string]any)["template"].(map[string]any)["metadata"].(map[string]any), "creationTimestamp")
	out, err := yaml.Marshal(m)
	f.g.Expect(err).NotTo(HaveOccurred())
	return "# web's Rollout: edit the image to release.\n" + string(out)
}

// developerRelease is a person pushing a new image and clicking Sync.
func (f *gitopsFixture) developerRelease(image string) string {
	f.t.Helper()
	cur, err := f.git.ReadFile("web-deploy", "main", "deploy/rollout.yaml")
	f.g.Expect(err).NotTo(HaveOccurred())
	old := f.get().Spec.Template.Spec.Containers[0].Image
	next := strings.Replace(cur, "image: "+old, "image: "+image, 1)
	f.g.Expect(next).NotTo(Equal(cur), "the manifest holds image %s", old)
	sha, err := f.git.Push("web-deploy", "main", map[string]string{"deploy/rollout.yaml": next}, "release "+image)
	f.g.Expect(err).NotTo(HaveOccurred())
	f.requestSync("")
	return sha
}

func (f *gitopsFixture) application() *argocd.Application {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(argocd.ApplicationGVK)
	f.g.Expect(env.Client.Get(context.Background(), keyOf(f.ns, "web"), u)).To(Succeed())
	a, err := argocd.FromUnstructured(u)
	f.g.Expect(err).NotTo(HaveOccurred())
	return a
}

func (f *gitopsFixture) requestSync(rev string) {
	f.t.Helper()
	patch := fmt.Sprintf(`{"operation":{"sync":{"revision":%q},"initiatedBy":{"username":"test"}}}`, rev)
	f.g.Eventually(func() error {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(argocd.ApplicationGVK)
		u.SetNamespace(f.ns)
		u.SetName("web")
		return env.Client.Patch(context.Background(), u, client.RawPatch("application/merge-patch+json", []byte(patch)))
	}, timeout, poll).Should(Succeed())
}

func (f *gitopsFixture) waitGitOps(outcome, phase string) *sluicev1.Rollout {
	f.t.Helper()
	return f.waitFor("gitops "+outcome+" "+phase, func(ro *sluicev1.Rollout) bool {
		gs := ro.Status.GitOps
		return gs != nil && gs.Outcome == outcome && gs.Phase == phase
	})
}

func (f *gitopsFixture) commit(sha string) gitserver.Commit {
	f.t.Helper()
	log, err := f.git.Log("web-deploy", "main", 20)
	f.g.Expect(err).NotTo(HaveOccurred())
	for _, c := range log {
		if c.SHA == sha {
			return c
		}
	}
	f.t.Fatalf("commit %s is not on main: %+v", sha, log)
	return gitserver.Commit{}
}

// The whole loop, with Argo CD's Application in this cluster: a promotion
// is recorded in Git and Argo CD is synced to exactly that commit; an
// abort writes the stable template back and Argo CD syncs the rollback; a
// sync in the middle of a rollout overwrites sluice's weights and sluice
// restores them.
func TestGitOpsPromoteAndAbort(t *testing.T) {
	f := newGitOpsFixture(t, "in-cluster", nil)
	v1 := f.revisionOf("web:1")
	f.waitHealthy(v1)

	f.developerRelease("web:2")
	v2 := f.revisionOf("web:2")
	f.waitStep(1, sluicev1.PhasePaused)
	f.expectWeights(50, 50)

	// Argo CD syncs mid-rollout (someone clicks Sync): Git's weights (100/0)
	// are applied, and sluice puts its own back.
	before := f.syncs.Load()
	f.requestSync("")
	f.g.Eventually(f.syncs.Load, timeout, poll).Should(BeNumerically(">", before))
	f.g.Eventually(f.weights, timeout, poll).Should(Equal(map[string]int64{"stable": 50, "canary": 50}))
	f.g.Expect(*f.get().Status.CurrentStepIndex).To(BeEquivalentTo(1), "the rollout did not move")

	f.action(sluicev1.AnnotationPromote)
	f.waitHealthy(v2)
	ro := f.waitGitOps("promoted", sluicev1.GitOpsSynced)
	gs := ro.Status.GitOps
	head, err := f.git.Head("web-deploy", "main")
	f.g.Expect(err).NotTo(HaveOccurred())
	f.g.Expect(gs.Commit).To(Equal(head))
	c := f.commit(gs.Commit)
	f.g.Expect(c.Message).To(ContainSubstring("Sluice-Rollout: " + f.ns + "/web"))
	f.g.Expect(c.Message).To(ContainSubstring("Sluice-Revision: " + v2))
	f.g.Expect(c.Message).To(ContainSubstring("Sluice-Outcome: promoted"))
	file, err := f.git.ReadFile("web-deploy", gs.Commit, "deploy/rollout.yaml")
	f.g.Expect(err).NotTo(HaveOccurred())
	f.g.Expect(file).To(HavePrefix("# web's Rollout: edit the image to release.\n"), "the comment survives")
	f.g.Expect(file).To(ContainSubstring(sluicev1.PromotedRevisionAnnotation + ": " + v2))
	app := f.application()
	f.g.Expect(app.Status.Sync.Revision).To(Equal(gs.Commit))
	f.g.Expect(app.Status.Sync.Status).To(Equal(argocd.SyncStatusSynced))
	f.g.Expect(app.Status.Health.Status).To(Equal(argocd.HealthHealthy))
	f.g.Expect(gs.SyncRequested).To(BeTrue(), "a manual-sync Application is asked to sync the commit")
	f.g.Expect(meta.IsStatusConditionTrue(ro.Status.Conditions, sluicev1.ConditionGitOpsSynced)).To(BeTrue())

	// v3 is aborted: the stable (v2) template goes back to Git and Argo CD
	// syncs it, so the Rollout's template is v2 again.
	release := f.developerRelease("web:3")
	f.waitStep(1, sluicev1.PhasePaused)
	f.action(sluicev1.AnnotationAbort)
	ro = f.waitGitOps("aborted", sluicev1.GitOpsSynced)
	f.waitHealthy(v2)
	gs = ro.Status.GitOps
	c = f.commit(gs.Commit)
	f.g.Expect(c.Message).To(ContainSubstring("Sluice-Outcome: aborted"))
	f.g.Expect(c.Parents).To(ConsistOf(release), "the rollback sits on the release it undoes")
	file, err = f.git.ReadFile("web-deploy", gs.Commit, "deploy/rollout.yaml")
	f.g.Expect(err).NotTo(HaveOccurred())
	f.g.Expect(file).To(ContainSubstring("image: web:2"))
	f.g.Expect(file).NotTo(ContainSubstring("web:3"))
	f.g.Expect(file).NotTo(ContainSubstring(sluicev1.LabelRevision), "no sluice bookkeeping in Git")
	f.g.Expect(f.get().Spec.Template.Spec.Containers[0].Image).To(Equal("web:2"))
	f.g.Expect(f.application().Status.Sync.Revision).To(Equal(gs.Commit))

	// Retrying v3 after the rollback is in Git is a release commit too
	// (what `kubectl sluice retry` asks for), never a cluster patch that
	// Argo CD would undo.
	f.annotate(sluicev1.AnnotationRelease, "t-retry;web=web:3")
	ro = f.waitGitOps("released", sluicev1.GitOpsSynced)
	c = f.commit(ro.Status.GitOps.Commit)
	f.g.Expect(c.Message).To(ContainSubstring("Sluice-Outcome: released"))
	f.g.Expect(c.Parents).To(ConsistOf(gs.Commit))
	file, err = f.git.ReadFile("web-deploy", c.SHA, "deploy/rollout.yaml")
	f.g.Expect(err).NotTo(HaveOccurred())
	f.g.Expect(file).To(ContainSubstring("image: web:3"))
	ro = f.waitStep(1, sluicev1.PhasePaused)
	f.g.Expect(ro.Status.CanaryRevision).To(Equal(f.revisionOf("web:3")), "v3 rolls out again from Git")
}

// The Application reached through a kubeconfig Secret and through Argo CD's
// API server behaves the same.
func TestGitOpsArgoCDAccess(t *testing.T) {
	for _, access := range []string{"kubeconfig", "apiserver"} {
		t.Run(access, func(t *testing.T) {
			f := newGitOpsFixture(t, access, nil)
			f.waitHealthy(f.revisionOf("web:1"))
			f.developerRelease("web:2")
			f.waitStep(1, sluicev1.PhasePaused)
			f.action(sluicev1.AnnotationPromote)
			ro := f.waitGitOps("promoted", sluicev1.GitOpsSynced)
			f.g.Expect(f.application().Status.Sync.Revision).To(Equal(ro.Status.GitOps.Commit))
		})
	}
}

// Problems a person must fix end the write-back with a condition that
// says what to do, not a retry loop: a path that is not in the repo, and
// an Argo CD that never syncs within syncTimeout.
func TestGitOpsFailures(t *testing.T) {
	t.Run("file not in the repo", func(t *testing.T) {
		f := newGitOpsFixture(t, "in-cluster", func(_ *gitopsFixture, gs *sluicev1.GitOpsSpec) { gs.Path = "deploy/missing.yaml" })
		f.waitHealthy(f.revisionOf("web:1"))
		f.developerRelease("web:2")
		f.waitStep(1, sluicev1.PhasePaused)
		f.action(sluicev1.AnnotationPromote)
		ro := f.waitGitOps("promoted", sluicev1.GitOpsFailed)
		c := meta.FindStatusCondition(ro.Status.Conditions, sluicev1.ConditionGitOpsSynced)
		f.g.Expect(c).NotTo(BeNil())
		f.g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		f.g.Expect(c.Message).To(ContainSubstring("deploy/missing.yaml"))
	})
	t.Run("Argo CD never syncs", func(t *testing.T) {
		f := newGitOpsFixture(t, "in-cluster", func(_ *gitopsFixture, gs *sluicev1.GitOpsSpec) {
			d := sluicev1.Duration("3s")
			gs.ArgoCD.SyncTimeout = &d
			gs.ArgoCD.Name = "nobody-syncs-this"
		})
		other := &unstructured.Unstructured{}
		f.g.Expect(json.Unmarshal([]byte(fmt.Sprintf(`{"apiVersion":"argoproj.io/v1alpha1","kind":"Application","metadata":{"name":"nobody-syncs-this","namespace":%q},
		  "spec":{"project":"default","destination":{"namespace":%q}}}`, f.ns, f.ns)), &other.Object)).To(Succeed())
		f.g.Expect(env.Client.Create(context.Background(), other)).To(Succeed())
		f.waitHealthy(f.revisionOf("web:1"))
		f.developerRelease("web:2")
		f.waitStep(1, sluicev1.PhasePaused)
		f.action(sluicev1.AnnotationPromote)
		ro := f.waitGitOps("promoted", sluicev1.GitOpsFailed)
		f.g.Expect(ro.Status.GitOps.Reason).To(Equal("SyncTimeout"))
		f.g.Expect(ro.Status.GitOps.Message).To(ContainSubstring("spec.gitops.argocd.syncTimeout"))
		f.g.Expect(ro.Status.GitOps.Commit).NotTo(BeEmpty(), "the commit was pushed; only the sync is missing")
	})
	t.Run("wrong credentials", func(t *testing.T) {
		// sluice reaches the Git server through a counting proxy and with a
		// wrong password; the Argo CD stand-in goes straight and right.
		var requests atomic.Int32
		f := newGitOpsFixture(t, "in-cluster", func(f *gitopsFixture, gs *sluicev1.GitOpsSpec) {
			proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				f.git.ServeHTTP(w, r)
			}))
			t.Cleanup(proxy.Close)
			gs.RepoURL = proxy.URL + strings.TrimPrefix(gs.RepoURL, f.git.URL())
			f.g.Expect(env.Client.Create(context.Background(), &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "git-wrong"},
				Data:       map[string][]byte{"username": []byte("sluice"), "password": []byte("not-the-password")},
			})).To(Succeed())
			gs.SecretRef = &sluicev1.LocalSecretReference{Name: "git-wrong"}
		})
		f.waitHealthy(f.revisionOf("web:1"))
		f.developerRelease("web:2")
		f.waitStep(1, sluicev1.PhasePaused)
		f.action(sluicev1.AnnotationPromote)
		ro := f.waitGitOps("promoted", sluicev1.GitOpsFailed)
		f.g.Expect(ro.Status.GitOps.Reason).To(Equal("GitAuth"))
		c := meta.FindStatusCondition(ro.Status.Conditions, sluicev1.ConditionGitOpsSynced)
		f.g.Expect(c).NotTo(BeNil())
		f.g.Expect(c.Message).To(ContainSubstring("spec.gitops.secretRef"), "the message says where the credentials come from")
		f.g.Expect(c.Message).NotTo(ContainSubstring("not-the-password"))
		seen := requests.Load()
		f.g.Expect(seen).To(BeNumerically(">", 0))
		f.annotate("test.sluice.dev/poke", "1") // more reconciles
		f.g.Consistently(requests.Load, "3s", poll).Should(Equal(seen), "no retry storm: a failed write-back is not retried")
	})
}

// A crash between the push and the status write leaves Git ahead of
// status. Here an earlier "incarnation" pushed the promotion's commit (the
// same Writer, the same change) before this manager got to it: the
// manager finds it by its trailers, records it, and pushes nothing.
func TestGitOpsCrashAfterPushMakesNoSecondCommit(t *testing.T) {
	f := newGitOpsFixture(t, "in-cluster", nil)
	f.waitHealthy(f.revisionOf("web:1"))
	f.developerRelease("web:2")
	v2 := f.revisionOf("web:2")
	f.waitStep(1, sluicev1.PhasePaused)

	earlier := &gitops.Writer{CacheDir: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := earlier.Write(ctx, gitops.Repo{URL: f.repoURL, Branch: "main", Credentials: gitops.Credentials{Username: "sluice", Password: "s3cret"}}, gitops.Change{
		Rollout: keyOf(f.ns, "web"), Revision: v2, Outcome: gitops.OutcomePromoted,
		Path: "deploy/rollout.yaml", Format: gitops.FormatManifest, Images: map[string]string{"web": "web:2"},
	})
	f.g.Expect(err).NotTo(HaveOccurred())
	pushes := f.git.ReceivePacks("web-deploy")

	f.action(sluicev1.AnnotationPromote)
	ro := f.waitGitOps("promoted", sluicev1.GitOpsSynced)
	f.g.Expect(ro.Status.GitOps.Commit).To(Equal(res.Commit), "the commit already on the branch is the write-back")
	f.g.Expect(f.git.ReceivePacks("web-deploy")).To(Equal(pushes), "no second push")
	log, err := f.git.Log("web-deploy", "main", 20)
	f.g.Expect(err).NotTo(HaveOccurred())
	n := 0
	for _, c := range log {
		if strings.Contains(c.Message, "Sluice-Outcome: promoted") {
			n++
		}
	}
	f.g.Expect(n).To(Equal(1), "one promotion commit")
}
