package gitops

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	. "github.com/onsi/gomega"

	"github.com/sluice-dev/sluice/internal/gitserver"
)

const rolloutPath = "apps/web/rollout.yaml"

// fixture is a real Git server with one app repo, and a Writer with its
// own cache.
type fixture struct {
	t    *testing.T
	srv  *gitserver.Server
	repo Repo
	w    *Writer
}

func newFixture(t *testing.T, opts gitserver.Options, files map[string]string) *fixture {
	t.Helper()
	RegisterTestingT(t)
	srv := gitserver.StartTest(t, opts)
	if files == nil {
		files = map[string]string{rolloutPath: readTestdata(t, "rollout.yaml"), "README.md": "app\n"}
	}
	url, err := srv.CreateRepo("app", "main", files, "initial import")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{
		t: t, srv: srv,
		repo: Repo{URL: url, Branch: "main", Credentials: Credentials{Username: opts.Username, Password: opts.Password}},
		w:    newWriter(t),
	}
}

func newWriter(t *testing.T) *Writer {
	return &Writer{CacheDir: t.TempDir(), Backoff: func(int) time.Duration { return 0 }, Log: testr.New(t)}
}

func (f *fixture) write(ch Change) (Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return f.w.Write(ctx, f.repo, ch)
}

func (f *fixture) head() string {
	h, err := f.srv.Head("app", "main")
	Expect(err).NotTo(HaveOccurred())
	return h
}

func (f *fixture) file(path string) string {
	s, err := f.srv.ReadFile("app", "main", path)
	Expect(err).NotTo(HaveOccurred())
	return s
}

func (f *fixture) lastCommit() gitserver.Commit {
	log, err := f.srv.Log("app", "main", 1)
	Expect(err).NotTo(HaveOccurred())
	return log[0]
}

func TestWritePromotionRecordsRevisionWithTrailers(t *testing.T) {
	f := newFixture(t, gitserver.Options{}, nil)
	seed := f.head()
	ch := promotion(rolloutPath, FormatManifest)

	res, err := f.write(ch)
	Expect(err).NotTo(HaveOccurred())
	Expect(res).To(Equal(Result{Commit: f.head(), Changed: true, Attempts: 1}))
	want, err := EditManifest([]byte(readTestdata(t, "rollout.yaml")), ch)
	Expect(err).NotTo(HaveOccurred())
	Expect(f.file(rolloutPath)).To(Equal(string(want)))
	Expect(f.file(rolloutPath)).To(ContainSubstring("sluice.dev/promoted-revision: " + canaryRev))

	c := f.lastCommit()
	Expect(c.Parents).To(Equal([]string{seed}))
	Expect(c.Author).To(Equal("sluice <sluice@noreply>"))
	Expect(c.Message).To(HavePrefix("sluice: promote default/web to 7c9f1a2b3c\n\n"))
	Expect(c.Message).To(HaveSuffix("\n\nSluice-Rollout: default/web\nSluice-Revision: 7c9f1a2b3c\nSluice-Outcome: promoted"))
	Expect(f.srv.ReceivePacks("app")).To(Equal(1))

	// The same change again finds the commit instead of making another.
	again, err := f.write(ch)
	Expect(err).NotTo(HaveOccurred())
	Expect(again).To(Equal(Result{Commit: res.Commit, AlreadyPushed: true, Attempts: 1}))
	Expect(f.head()).To(Equal(res.Commit))
	Expect(f.srv.ReceivePacks("app")).To(Equal(1))
}

func TestWriteAbortWritesTheStableTemplate(t *testing.T) {
	f := newFixture(t, gitserver.Options{}, nil)
	ch := abort(rolloutPath, FormatManifest)
	ch.Author = Author{Name: "Release Bot", Email: "release@example.com"}
	ch.Message = "revert web: error rate"

	res, err := f.write(ch)
	Expect(err).NotTo(HaveOccurred())
	Expect(res.Changed).To(BeTrue())
	want, err := EditManifest([]byte(readTestdata(t, "rollout.yaml")), ch)
	Expect(err).NotTo(HaveOccurred())
	Expect(f.file(rolloutPath)).To(Equal(string(want)))
	Expect(f.file(rolloutPath)).To(ContainSubstring(`image: "registry.example.com/web:v1"   # bumped by CI`))
	Expect(f.file(rolloutPath)).NotTo(ContainSubstring("FEATURE_X"))
	c := f.lastCommit()
	Expect(c.Author).To(Equal("Release Bot <release@example.com>"))
	Expect(c.Message).To(Equal("revert web: error rate\n\nSluice-Rollout: default/web\nSluice-Revision: 7c9f1a2b3c\nSluice-Outcome: aborted"))
}

// A crash after the push and before the controller recorded the commit:
// a new process with an empty cache finds the commit on the branch.
func TestWriteAfterCrashFindsThePushedCommit(t *testing.T) {
	f := newFixture(t, gitserver.Options{}, nil)
	ch := abort(rolloutPath, FormatManifest)
	first, err := f.write(ch)
	Expect(err).NotTo(HaveOccurred())
	// Someone else's unrelated commit lands on top meanwhile.
	_, err = f.srv.Push("app", "main", map[string]string{"README.md": "docs\n"}, "docs")
	Expect(err).NotTo(HaveOccurred())

	f.w = newWriter(t)
	ch.Message = "a message rendered differently this time"
	res, err := f.write(ch)
	Expect(err).NotTo(HaveOccurred())
	Expect(res).To(Equal(Result{Commit: first.Commit, AlreadyPushed: true, Attempts: 1}))
	Expect(f.srv.ReceivePacks("app")).To(Equal(1))
}

// The same revision deployed and rolled back twice is written twice: a
// later change of the file by someone else ends the search for an earlier
// identical write.
func TestWriteAgainAfterSomeoneRestoredTheFile(t *testing.T) {
	f := newFixture(t, gitserver.Options{}, nil)
	ch := abort(rolloutPath, FormatManifest)
	first, err := f.write(ch)
	Expect(err).NotTo(HaveOccurred())
	_, err = f.srv.Push("app", "main", map[string]string{rolloutPath: readTestdata(t, "rollout.yaml")}, "try v2 again")
	Expect(err).NotTo(HaveOccurred())

	res, err := f.write(ch)
	Expect(err).NotTo(HaveOccurred())
	Expect(res.Changed).To(BeTrue())
	Expect(res.Commit).NotTo(Equal(first.Commit))
	Expect(f.file(rolloutPath)).NotTo(ContainSubstring("web:v2"))
}

func TestWriteNothingToChange(t *testing.T) {
	f := newFixture(t, gitserver.Options{}, map[string]string{
		rolloutPath: strings.Replace(readTestdata(t, "rollout.yaml"), "web:v2", "web:v1", 1),
	})
	head := f.head()
	res, err := f.write(abort(rolloutPath, FormatManifest))
	Expect(err).NotTo(HaveOccurred())
	Expect(res).To(Equal(Result{Commit: head, Attempts: 1}))
	Expect(f.head()).To(Equal(head))
	Expect(f.srv.ReceivePacks("app")).To(Equal(0))
}

func TestWriteConflictPushesNothing(t *testing.T) {
	f := newFixture(t, gitserver.Options{}, nil)
	newer, err := f.srv.Push("app", "main", map[string]string{
		rolloutPath: strings.Replace(readTestdata(t, "rollout.yaml"), "web:v2", "web:v3", 1),
	}, "ship v3")
	Expect(err).NotTo(HaveOccurred())

	_, err = f.write(abort(rolloutPath, FormatManifest))
	Expect(ReasonOf(err)).To(Equal(ReasonConflict))
	Expect(IsRetryable(err)).To(BeFalse())
	Expect(err.Error()).To(ContainSubstring("branch main of " + f.repo.URL))
	Expect(err.Error()).To(ContainSubstring("apps/web/rollout.yaml"))
	Expect(err.Error()).To(ContainSubstring("container app has registry.example.com/web:v3"))
	Expect(f.head()).To(Equal(newer))
	Expect(f.srv.ReceivePacks("app")).To(Equal(0))
}

func TestWriteKustomizeAndHelm(t *testing.T) {
	tests := []struct {
		name      string
		format    Format
		path      string
		src       string
		change    func(Change) Change
		wantFile  string
		outcome   Outcome
		untouched bool
	}{
		{name: "kustomize abort", format: FormatKustomize, path: "apps/web/kustomization.yaml", src: kustomization,
			wantFile: strings.Replace(kustomization, "newTag: v2", "newTag: v1", 1), outcome: OutcomeAborted},
		{name: "kustomize promotion", format: FormatKustomize, path: "apps/web/kustomization.yaml", src: kustomization,
			wantFile: kustomization, outcome: OutcomePromoted},
		{name: "helm abort", format: FormatHelmValues, path: "charts/web/values.yaml", src: values,
			change:   func(ch Change) Change { ch.HelmImages = map[string]string{"app": "image.tag"}; return ch },
			wantFile: strings.Replace(values, `tag: "v2"`, `tag: "v1"`, 1), outcome: OutcomeAborted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, gitserver.Options{}, map[string]string{tt.path: tt.src})
			ch := promotion(tt.path, tt.format)
			if tt.outcome == OutcomeAborted {
				ch = abort(tt.path, tt.format)
			}
			if tt.change != nil {
				ch = tt.change(ch)
			}
			res, err := f.write(ch)
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Changed).To(BeTrue())
			Expect(f.file(tt.path)).To(Equal(tt.wantFile))
			status, err := EditStatusFile(nil, ch)
			Expect(err).NotTo(HaveOccurred())
			Expect(f.file(ch.StatusFilePath())).To(Equal(string(status)))
		})
	}
}

func TestWriteNotFound(t *testing.T) {
	f := newFixture(t, gitserver.Options{}, nil)
	tests := []struct {
		name   string
		repo   func(Repo) Repo
		change Change
		errSub string
	}{
		{"missing file", nil, promotion("apps/other/rollout.yaml", FormatManifest), "apps/other/rollout.yaml does not exist"},
		{"missing branch", func(r Repo) Repo { r.Branch = "release"; return r }, promotion(rolloutPath, FormatManifest), "branch release does not exist"},
		{"missing repo", func(r Repo) Repo { r.URL = f.srv.RepoURL("nope"); return r }, promotion(rolloutPath, FormatManifest), "repository not found"},
		{"missing helm key", nil, func() Change {
			ch := abort("apps/web/rollout.yaml", FormatHelmValues)
			ch.HelmImages = map[string]string{"app": "image.tag"}
			return ch
		}(), "no key image.tag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			repo := f.repo
			if tt.repo != nil {
				repo = tt.repo(repo)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := f.w.Write(ctx, repo, tt.change)
			g.Expect(ReasonOf(err)).To(Equal(ReasonNotFound), "%v", err)
			g.Expect(err.Error()).To(ContainSubstring(tt.errSub))
			g.Expect(IsRetryable(err)).To(BeFalse())
		})
	}
}

func TestWriteRejectsInvalidChanges(t *testing.T) {
	w := &Writer{CacheDir: t.TempDir()}
	for name, mutate := range map[string]func(*Change){
		"no name":          func(ch *Change) { ch.Rollout.Name = "" },
		"escaping path":    func(ch *Change) { ch.Path = "../etc/passwd" },
		"absolute path":    func(ch *Change) { ch.Path = "/etc/passwd" },
		"bad outcome":      func(ch *Change) { ch.Outcome = "maybe" },
		"bad format":       func(ch *Change) { ch.Format = "Jsonnet" },
		"helm without map": func(ch *Change) { ch.Format = FormatHelmValues },
		"abort without template": func(ch *Change) {
			ch.Outcome, ch.StableTemplate = OutcomeAborted, nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			ch := promotion(rolloutPath, FormatManifest)
			mutate(&ch)
			_, err := w.Write(context.Background(), Repo{URL: "http://127.0.0.1:1/app.git"}, ch)
			g.Expect(ReasonOf(err)).To(Equal(ReasonInvalid), "%v", err)
		})
	}
}
