package argocd

import (
	"errors"
	"strings"
	"testing"
)

func TestEvaluate(t *testing.T) {
	const commit = "1111111111111111111111111111111111111111"
	const later = "2222222222222222222222222222222222222222"
	const other = "3333333333333333333333333333333333333333"
	descendants := func(rev string) (bool, error) { return rev == later, nil }
	on := true
	off := false
	app := func(sync, rev, health string, mutate ...func(*Application)) *Application {
		a := &Application{Status: AppStatus{Sync: SyncStatus{Status: sync, Revision: rev}, Health: HealthStatus{Status: health}}}
		for _, m := range mutate {
			m(a)
		}
		return a
	}
	automated := func(enabled *bool) func(*Application) {
		return func(a *Application) { a.Spec.SyncPolicy = &SyncPolicy{Automated: &Automated{Enabled: enabled}} }
	}
	running := func(a *Application) { a.Status.OperationState = &OperationState{Phase: OperationRunning} }
	failed := func(rev string) func(*Application) {
		return func(a *Application) {
			a.Status.OperationState = &OperationState{Phase: OperationFailed, Message: "one or more objects failed to apply", SyncResult: &SyncResult{Revision: rev}}
		}
	}
	cases := []struct {
		name                        string
		app                         *Application
		done, failed, request, incl bool
		message                     string
	}{
		{"synced to the commit and healthy", app("Synced", commit, "Healthy"), true, false, false, true, "Argo CD synced 111111111111"},
		{"synced to a descendant", app("Synced", later, "Healthy"), true, false, false, true, "contains 111111111111"},
		{"synced to an unrelated revision: ask for a sync", app("Synced", other, "Healthy"), false, false, true, false, "waiting for Argo CD to sync 111111111111 (synced: 333333333333"},
		{"never synced: ask", app("OutOfSync", "", ""), false, false, true, false, "synced: none, health unknown"},
		{"automated: never ask, wait", app("OutOfSync", other, "Healthy", automated(nil)), false, false, false, false, "automated sync"},
		{"automated but disabled: ask", app("OutOfSync", other, "Healthy", automated(&off)), false, false, true, false, "waiting for Argo CD to sync"},
		{"automated explicitly enabled: wait", app("OutOfSync", other, "Healthy", automated(&on)), false, false, false, false, "automated sync"},
		{"operation running: do not ask", app("OutOfSync", other, "Healthy", running), false, false, false, false, "waiting"},
		{"included but still progressing", app("Synced", commit, "Progressing"), false, false, false, true, "waiting for health Progressing"},
		{"included but degraded: keep waiting", app("Synced", commit, "Degraded"), false, false, false, true, "Degraded"},
		{"included, OutOfSync again", app("OutOfSync", commit, "Healthy"), false, false, false, true, "reports OutOfSync"},
		{"sync of the commit failed", app("OutOfSync", other, "Healthy", failed(commit)), false, true, false, false, "ended Failed: one or more objects"},
		{"a failed sync of another revision is not ours", app("Synced", commit, "Healthy", failed(other)), true, false, false, true, "synced"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := Evaluate(c.app, commit, descendants)
			if err != nil {
				t.Fatal(err)
			}
			if v.Done != c.done || v.Failed != c.failed || v.RequestSync != c.request || v.Included != c.incl {
				t.Fatalf("got %+v, want done=%v failed=%v request=%v included=%v", v, c.done, c.failed, c.request, c.incl)
			}
			if !strings.Contains(v.Message, c.message) {
				t.Fatalf("message %q does not contain %q", v.Message, c.message)
			}
		})
	}
}

func TestEvaluateAncestryError(t *testing.T) {
	a := &Application{Status: AppStatus{Sync: SyncStatus{Status: "Synced", Revision: "abc"}}}
	_, err := Evaluate(a, "def", func(string) (bool, error) { return false, errors.New("fetch failed") })
	if err == nil || !strings.Contains(err.Error(), "fetch failed") {
		t.Fatalf("want the ancestry error, got %v", err)
	}
}

func TestApplicationPermits(t *testing.T) {
	app := func(dest string, ann string) *Application {
		a := &Application{Spec: AppSpec{Destination: &Destination{Namespace: dest}}}
		if ann != "" {
			a.Annotations = map[string]string{AnnotationRollouts: ann}
		}
		return a
	}
	cases := []struct {
		name string
		app  *Application
		want bool
	}{
		{"deploys into the Rollout's namespace", app("shop", ""), true},
		{"another team's namespace", app("payments", ""), false},
		{"no destination namespace", &Application{}, false},
		{"named in the annotation", app("payments", "other/x, shop/web"), true},
		{"another Rollout named", app("payments", "shop/api"), false},
		{"wildcard", app("payments", "*"), true},
	}
	for _, c := range cases {
		if got := c.app.Permits("shop", "web"); got != c.want {
			t.Errorf("%s: Permits = %v, want %v", c.name, got, c.want)
		}
	}
}
