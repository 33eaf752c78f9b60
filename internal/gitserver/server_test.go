package gitserver

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	. "github.com/onsi/gomega"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// clone clones repo with go-git, as the code under test does.
func clone(t *testing.T, url string, auth transport.AuthMethod) (*git.Repository, error) {
	return git.PlainCloneContext(ctx(t), t.TempDir(), false, &git.CloneOptions{URL: url, Auth: auth})
}

// commitAndPush changes one file in a clone, commits and pushes.
func commitAndPush(t *testing.T, r *git.Repository, path, content string, auth transport.AuthMethod) error {
	t.Helper()
	wt, err := r.Worktree()
	Expect(err).NotTo(HaveOccurred())
	Expect(os.WriteFile(filepath.Join(wt.Filesystem.Root(), path), []byte(content), 0o644)).To(Succeed())
	_, err = wt.Add(path)
	Expect(err).NotTo(HaveOccurred())
	_, err = wt.Commit("change "+path, &git.CommitOptions{
		Author: &object.Signature{Name: "tester", Email: "tester@example.test", When: time.Unix(1767225700, 0)},
	})
	Expect(err).NotTo(HaveOccurred())
	return r.PushContext(ctx(t), &git.PushOptions{Auth: auth})
}

func TestCloneCommitPush(t *testing.T) {
	RegisterTestingT(t)
	s := StartTest(t, Options{})
	url, err := s.CreateRepo("app", "main", map[string]string{"deploy/rollout.yaml": "kind: Rollout\n", "README.md": "hi\n"}, "seed")
	Expect(err).NotTo(HaveOccurred())
	Expect(url).To(Equal(s.URL() + "/app.git"))
	seed, err := s.Head("app", "main")
	Expect(err).NotTo(HaveOccurred())

	r, err := clone(t, url, nil)
	Expect(err).NotTo(HaveOccurred())
	head, err := r.Head()
	Expect(err).NotTo(HaveOccurred())
	Expect(head.Hash().String()).To(Equal(seed))
	Expect(head.Name().Short()).To(Equal("main"))

	Expect(commitAndPush(t, r, "README.md", "hello\n", nil)).To(Succeed())
	Expect(s.ReceivePacks("app")).To(Equal(1))
	Expect(s.ReadFile("app", "main", "README.md")).To(Equal("hello\n"))
	Expect(s.ReadFile("app", seed, "README.md")).To(Equal("hi\n"))

	log, err := s.Log("app", "main", 10)
	Expect(err).NotTo(HaveOccurred())
	Expect(log).To(HaveLen(2))
	Expect(log[0].Parents).To(Equal([]string{seed}))
	Expect(log[0].Author).To(Equal("tester <tester@example.test>"))
	Expect(log[1].SHA).To(Equal(seed))
	Expect(log[1].Parents).To(BeEmpty())
	Expect(log[1].Message).To(Equal("seed"))
}

func TestSeedCommitIsDeterministic(t *testing.T) {
	RegisterTestingT(t)
	files := map[string]string{"a.yaml": "a: 1\n", "dir/b.yaml": "b: 2\n"}
	var heads []string
	for range 2 {
		s := StartTest(t, Options{})
		_, err := s.CreateRepo("app", "main", files, "seed")
		Expect(err).NotTo(HaveOccurred())
		h, err := s.Head("app", "main")
		Expect(err).NotTo(HaveOccurred())
		heads = append(heads, h)
	}
	Expect(heads[0]).To(Equal(heads[1]))
}

func TestCreateRepoRefusesBadNames(t *testing.T) {
	RegisterTestingT(t)
	s := StartTest(t, Options{})
	for _, name := range []string{"", "../x", "a/b", "x.git", ".hidden"} {
		_, err := s.CreateRepo(name, "main", nil, "seed")
		Expect(err).To(MatchError(ContainSubstring("invalid repository name")), name)
	}
	_, err := s.CreateRepo("app", "main", nil, "seed")
	Expect(err).NotTo(HaveOccurred())
	_, err = s.CreateRepo("app", "main", nil, "seed")
	Expect(err).To(MatchError(ContainSubstring("already exists")))
}

func TestBasicAuth(t *testing.T) {
	RegisterTestingT(t)
	s := StartTest(t, Options{Username: "sluice", Password: "s3cret"})
	url, err := s.CreateRepo("app", "main", map[string]string{"f": "1\n"}, "seed")
	Expect(err).NotTo(HaveOccurred())

	tests := []struct {
		name string
		auth transport.AuthMethod
		want error
	}{
		{"no credentials", nil, transport.ErrAuthenticationRequired},
		{"wrong password", &githttp.BasicAuth{Username: "sluice", Password: "nope"}, transport.ErrAuthenticationRequired},
		{"wrong user", &githttp.BasicAuth{Username: "root", Password: "s3cret"}, transport.ErrAuthenticationRequired},
		{"right credentials", &githttp.BasicAuth{Username: "sluice", Password: "s3cret"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := clone(t, url, tt.auth)
			if tt.want == nil {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(errors.Is(err, tt.want)).To(BeTrue(), "got %v", err)
		})
	}

	res, err := http.Get(url + "/info/refs?service=git-upload-pack")
	Expect(err).NotTo(HaveOccurred())
	_ = res.Body.Close()
	Expect(res.StatusCode).To(Equal(http.StatusUnauthorized))
	Expect(res.Header.Get("WWW-Authenticate")).To(HavePrefix("Basic "))
}

func TestOnRequestSeesEveryPhase(t *testing.T) {
	RegisterTestingT(t)
	s := StartTest(t, Options{})
	url, err := s.CreateRepo("app", "main", map[string]string{"f": "1\n"}, "seed")
	Expect(err).NotTo(HaveOccurred())
	var mu sync.Mutex
	var events []Event
	s.OnRequest(func(ev Event) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, ev)
	})
	r, err := clone(t, url, nil)
	Expect(err).NotTo(HaveOccurred())
	Expect(commitAndPush(t, r, "f", "2\n", nil)).To(Succeed())
	Expect(events).To(Equal([]Event{
		{Repo: "app", Service: "git-upload-pack", Advertise: true},
		{Repo: "app", Service: "git-upload-pack"},
		{Repo: "app", Service: "git-receive-pack", Advertise: true},
		{Repo: "app", Service: "git-receive-pack"},
	}))
}

// A commit that lands between the client's ref advertisement and its POST
// makes git refuse the update: the client's old value no longer matches.
func TestOnReceivePackInjectsConcurrentCommit(t *testing.T) {
	RegisterTestingT(t)
	s := StartTest(t, Options{})
	url, err := s.CreateRepo("app", "main", map[string]string{"f": "1\n"}, "seed")
	Expect(err).NotTo(HaveOccurred())
	r, err := clone(t, url, nil)
	Expect(err).NotTo(HaveOccurred())

	var other string
	var otherErr error
	s.OnReceivePack(func(repo string) {
		s.OnReceivePack(nil) // only the first push races
		other, otherErr = s.Push(repo, "main", map[string]string{"g": "other\n"}, "someone else's change")
	})
	err = commitAndPush(t, r, "f", "2\n", nil)
	Expect(otherErr).NotTo(HaveOccurred())
	Expect(err).To(MatchError(ContainSubstring("command error on refs/heads/main")))
	Expect(s.Head("app", "main")).To(Equal(other))
	log, err := s.Log("app", "main", 1)
	Expect(err).NotTo(HaveOccurred())
	Expect(log[0].Author).To(Equal("Someone Else <someone@example.test>"))
	Expect(s.ReceivePacks("app")).To(Equal(1))
}

func TestRejectPushes(t *testing.T) {
	RegisterTestingT(t)
	s := StartTest(t, Options{})
	url, err := s.CreateRepo("app", "main", map[string]string{"f": "1\n"}, "seed")
	Expect(err).NotTo(HaveOccurred())
	seed, err := s.Head("app", "main")
	Expect(err).NotTo(HaveOccurred())
	r, err := clone(t, url, nil)
	Expect(err).NotTo(HaveOccurred())

	s.RejectPushes("app", 1, "main is protected")
	err = commitAndPush(t, r, "f", "2\n", nil)
	Expect(err).To(MatchError(ContainSubstring("pre-receive hook declined")))
	Expect(s.Head("app", "main")).To(Equal(seed))

	// Only one push was armed: the same commit goes through now.
	Expect(r.PushContext(ctx(t), &git.PushOptions{})).To(Succeed())
	Expect(s.ReadFile("app", "main", "f")).To(Equal("2\n"))
	Expect(s.ReceivePacks("app")).To(Equal(2))
}

func TestPushCreatesBranchAndKeepsHistory(t *testing.T) {
	RegisterTestingT(t)
	s := StartTest(t, Options{})
	_, err := s.CreateRepo("app", "main", map[string]string{"f": "1\n"}, "seed")
	Expect(err).NotTo(HaveOccurred())
	seed, _ := s.Head("app", "main")

	sha, err := s.Push("app", "main", map[string]string{"f": "2\n", "new/file": "x\n"}, "two\n\nbody")
	Expect(err).NotTo(HaveOccurred())
	Expect(s.Head("app", "main")).To(Equal(sha))
	log, err := s.Log("app", "main", 5)
	Expect(err).NotTo(HaveOccurred())
	Expect(log).To(HaveLen(2))
	Expect(log[0].Message).To(Equal("two\n\nbody"))
	Expect(log[0].Parents).To(Equal([]string{seed}))
	Expect(s.ReadFile("app", "main", "new/file")).To(Equal("x\n"))

	_, err = s.Push("app", "release", map[string]string{"r": "1\n"}, "release branch")
	Expect(err).NotTo(HaveOccurred())
	Expect(s.ReadFile("app", "release", "r")).To(Equal("1\n"))

	_, err = s.ReadFile("app", "main", "missing")
	Expect(err).To(HaveOccurred())
	_, err = s.Push("nope", "main", nil, "x")
	Expect(err).To(MatchError(ContainSubstring(`repository "nope"`)))
}

// The git CLI, as a person running the demo would use it, clones and
// pushes through the server too.
func TestGitCLI(t *testing.T) {
	RegisterTestingT(t)
	s := StartTest(t, Options{Username: "demo", Password: "demo"})
	_, err := s.CreateRepo("app", "main", map[string]string{"f": "1\n"}, "seed")
	Expect(err).NotTo(HaveOccurred())
	u := strings.Replace(s.RepoURL("app"), "http://", "http://demo:demo@", 1)
	dir := t.TempDir()
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), gitEnv(dir)...)
		cmd.Env = append(cmd.Env, "GIT_AUTHOR_NAME=cli", "GIT_AUTHOR_EMAIL=cli@example.test", "GIT_COMMITTER_NAME=cli", "GIT_COMMITTER_EMAIL=cli@example.test")
		out, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		return string(out)
	}
	git("clone", "--quiet", u, "work")
	dir = filepath.Join(dir, "work")
	// A large file makes git send the pack chunked, without Content-Length.
	Expect(os.WriteFile(filepath.Join(dir, "big"), bytes.Repeat([]byte("0123456789abcdef\n"), 200000), 0o644)).To(Succeed())
	git("add", "big")
	git("commit", "--quiet", "-m", "big file")
	git("-c", "http.postBuffer=65536", "push", "--quiet", "origin", "main")
	Expect(s.ReadFile("app", "main", "big")).To(HaveLen(17 * 200000))
}
