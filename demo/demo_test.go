package demo_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/demo"
	"github.com/sluice-dev/sluice/gitops/argocd"
	"github.com/sluice-dev/sluice/internal/gitserver"
)

// The demo, non-interactively, on the same code path as `make demo`: v2 is
// promoted and the promotion recorded in Git, v3 fails its analysis and is
// rolled back in Git, and the Argo CD stand-in syncs both commits.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 170*time.Second)
	defer cancel()
	var out bytes.Buffer
	start := time.Now()
	var checked bool
	var promotion, revert string
	res, err := demo.Run(ctx, demo.Options{
		Out: io.MultiWriter(&out, &lineLogger{t: t}),
		AfterScenario: func(d *demo.Demo) error {
			checked = true
			promotion, revert = checkCluster(t, ctx, d)
			return nil
		},
	})
	t.Logf("the demo took %s", time.Since(start).Round(100*time.Millisecond))
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	if !checked {
		t.Fatal("AfterScenario was not called")
	}
	if len(res.Releases) != 2 {
		t.Fatalf("releases: %+v", res.Releases)
	}
	v2, v3 := res.Releases[0], res.Releases[1]
	if v2.Outcome != "Promoted" || v2.WriteBack == nil || v2.WriteBack.Phase != sluicev1.GitOpsSynced {
		t.Errorf("v1 → v2: %+v, write-back %+v", v2, v2.WriteBack)
	}
	if v3.Outcome != "Aborted" || !strings.HasPrefix(v3.Reason, "AnalysisFailed") || v3.WriteBack == nil || v3.WriteBack.Phase != sluicev1.GitOpsSynced {
		t.Errorf("v2 → v3: %+v, write-back %+v", v3, v3.WriteBack)
	}
	if t.Failed() {
		return
	}
	if v2.WriteBack.Commit != promotion || v3.WriteBack.Commit != revert {
		t.Errorf("the demo reports write-backs %s and %s; Git has %s and %s", v2.WriteBack.Commit, v3.WriteBack.Commit, promotion, revert)
	}
	for _, want := range []string{
		"NOT Argo CD", "stand-in for its application controller",
		"NOT a mesh", "stands in for Istio's data plane",
		"analysis error-rate = ", "weights  stable 80% · canary 20%",
		"kubectl sluice get rollout web", "Rollout demo/web", "Summary",
		shortSHA(v2.WriteBack.Commit), shortSHA(v3.WriteBack.Commit),
		"control plane stopped",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output lacks %q", want)
		}
	}
}

// checkCluster looks at Git, the Rollout and the Application itself while
// the demo still runs, and returns the promotion and rollback commits.
func checkCluster(t *testing.T, ctx context.Context, d *demo.Demo) (string, string) {
	t.Helper()
	c := d.Client()
	ro := &sluicev1.Rollout{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: demo.Namespace, Name: demo.RolloutName}, ro); err != nil {
		t.Fatal(err)
	}
	log, err := d.Git.Log("web-deploy", "main", 20)
	if err != nil {
		t.Fatal(err)
	}
	commits := map[string]gitserver.Commit{}
	for _, cm := range log {
		commits[cm.SHA] = cm
	}

	// The end state: back on v2, Healthy, the rollback synced.
	st := ro.Status
	if st.Phase != sluicev1.PhaseHealthy || st.CanaryRevision != "" || ro.Spec.Template.Spec.Containers[0].Image != "demo-app:v2" {
		t.Errorf("final Rollout: phase %s, canary %q, image %s", st.Phase, st.CanaryRevision, ro.Spec.Template.Spec.Containers[0].Image)
	}
	if len(st.History) < 2 {
		t.Fatalf("history: %+v", st.History)
	}
	aborted, promoted := st.History[0], st.History[1]
	if aborted.Outcome != "Aborted" || !strings.HasPrefix(aborted.Reason, "AnalysisFailed") {
		t.Errorf("newest history entry: %+v", aborted)
	}
	if promoted.Outcome != "Promoted" || promoted.Revision != st.StableRevision {
		t.Errorf("the promotion in history: %+v (stable %s)", promoted, st.StableRevision)
	}
	gs := st.GitOps
	if gs == nil || gs.Outcome != "aborted" || gs.Phase != sluicev1.GitOpsSynced || gs.Revision != aborted.Revision {
		t.Fatalf("status.gitops: %+v", gs)
	}

	// The revert commit: on the server, with sluice's trailers, and the v2
	// image back in deploy/rollout.yaml.
	revert, ok := commits[gs.Commit]
	if !ok {
		t.Fatalf("rollback commit %s is not on main: %+v", gs.Commit, log)
	}
	for _, want := range []string{"Sluice-Outcome: aborted", "Sluice-Revision: " + aborted.Revision, "Sluice-Rollout: demo/web"} {
		if !strings.Contains(revert.Message, want) {
			t.Errorf("rollback commit message lacks %q:\n%s", want, revert.Message)
		}
	}
	file, err := d.Git.ReadFile("web-deploy", gs.Commit, "deploy/rollout.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(file, "image: demo-app:v2") || strings.Contains(file, "demo-app:v3") {
		t.Errorf("deploy/rollout.yaml at the rollback commit:\n%s", file)
	}

	// The promotion commit: an ancestor of the rollback, with its trailers.
	var promotion *gitserver.Commit
	for i := range log {
		if strings.Contains(log[i].Message, "Sluice-Outcome: promoted") && strings.Contains(log[i].Message, "Sluice-Revision: "+promoted.Revision) {
			promotion = &log[i]
		}
	}
	if promotion == nil {
		t.Fatalf("no promotion commit for %s on main: %+v", promoted.Revision, log)
	}
	file, err = d.Git.ReadFile("web-deploy", promotion.SHA, "deploy/rollout.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(file, sluicev1.PromotedRevisionAnnotation+": "+promoted.Revision) {
		t.Errorf("deploy/rollout.yaml at the promotion commit does not record the revision:\n%s", file)
	}

	// The Argo CD stand-in synced both commits, the rollback last.
	syncs := d.Syncs()
	if !contains(syncs, promotion.SHA) || !contains(syncs, revert.SHA) {
		t.Errorf("the stand-in synced %v; want %s and %s", syncs, promotion.SHA, revert.SHA)
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(argocd.ApplicationGVK)
	if err := c.Get(ctx, client.ObjectKey{Namespace: demo.ArgoNamespace, Name: "web"}, u); err != nil {
		t.Fatal(err)
	}
	app, err := argocd.FromUnstructured(u)
	if err != nil {
		t.Fatal(err)
	}
	if app.Status.Sync.Revision != revert.SHA || app.Status.Sync.Status != argocd.SyncStatusSynced || app.Status.Health.Status != argocd.HealthHealthy {
		t.Errorf("Application: synced %s (%s, %s), want %s Synced Healthy", app.Status.Sync.Revision, app.Status.Sync.Status, app.Status.Health.Status, revert.SHA)
	}
	return promotion.SHA, revert.SHA
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func shortSHA(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}

// lineLogger sends the demo's narration to t.Log line by line.
type lineLogger struct {
	t   *testing.T
	mu  sync.Mutex
	buf []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.t.Log(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}
