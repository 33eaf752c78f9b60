package gitserver

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Commit is one commit of a repository's history.
type Commit struct {
	SHA     string
	Parents []string
	Author  string // "Name <email>"
	Message string // full message, trailing newline removed
}

const (
	// rejectFile is where armRejection leaves the message for preReceive.
	rejectFile = "gitserver-reject"
	// preReceive refuses a push when a rejection is armed. mv is atomic, so
	// two concurrent pushes cannot both take one armed rejection.
	preReceive = `#!/bin/sh
taken="$GIT_DIR/` + rejectFile + `.$$"
if mv "$GIT_DIR/` + rejectFile + `" "$taken" 2>/dev/null; then
	cat "$taken" >&2
	rm -f "$taken"
	exit 1
fi
exit 0
`
	// A fixed date makes the seeded commits' SHAs the same on every run.
	fixedDate = "1767225600 +0000" // 2026-01-01T00:00:00Z
)

// Identities of the server's own commits: the seeding commit and the
// commits of "someone else" racing the code under test.
var (
	seedAuthor  = identity{name: "gitserver", email: "gitserver@example.test"}
	otherAuthor = identity{name: "Someone Else", email: "someone@example.test"}
)

type identity struct{ name, email string }

var repoName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func (s *Server) repoDir(name string) string { return filepath.Join(s.dir, name+".git") }

// CreateRepo creates the bare repository name, accepting pushes, with branch
// as its default branch and one commit holding files (path → content).
// It returns the clone URL (empty before Start).
func (s *Server) CreateRepo(name, branch string, files map[string]string, message string) (string, error) {
	if !repoName.MatchString(name) || strings.HasSuffix(name, ".git") {
		return "", fmt.Errorf("gitserver: invalid repository name %q (letters, digits, '.', '_', '-'; no .git suffix)", name)
	}
	dir := s.repoDir(name)
	if _, err := os.Stat(dir); err == nil {
		return "", fmt.Errorf("gitserver: repository %q already exists", name)
	}
	if _, err := s.git("", nil, nil, "init", "--quiet", "--bare", "--initial-branch="+branch, dir); err != nil {
		return "", err
	}
	if _, err := s.git(dir, nil, nil, "config", "http.receivepack", "true"); err != nil {
		return "", err
	}
	hook := filepath.Join(dir, "hooks", "pre-receive")
	if err := os.WriteFile(hook, []byte(preReceive), 0o755); err != nil {
		return "", fmt.Errorf("gitserver: installing pre-receive hook: %w", err)
	}
	if _, err := s.commit(name, branch, files, message, seedAuthor); err != nil {
		return "", err
	}
	return s.RepoURL(name), nil
}

// Push commits files (path → content) on top of branch as "Someone Else",
// straight into the repository: it simulates another person's push without
// passing through the HTTP hooks. It creates the branch if it is missing.
func (s *Server) Push(repo, branch string, files map[string]string, message string) (string, error) {
	return s.commit(repo, branch, files, message, otherAuthor)
}

// commit writes a commit with git's plumbing on a temporary index, so no
// working tree is involved, and moves the branch only if nobody moved it
// meanwhile.
func (s *Server) commit(repo, branch string, files map[string]string, message string, who identity) (string, error) {
	dir := s.repoDir(repo)
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("gitserver: repository %q: %w", repo, err)
	}
	ref := "refs/heads/" + branch
	parent, _ := s.git(dir, nil, nil, "rev-parse", "--verify", "--quiet", ref+"^{commit}")
	index, err := os.CreateTemp("", "gitserver-index-*")
	if err != nil {
		return "", fmt.Errorf("gitserver: temporary index: %w", err)
	}
	_ = index.Close()
	_ = os.Remove(index.Name()) // git wants to create the index itself
	defer func() { _ = os.Remove(index.Name()) }()
	env := append(who.env(), "GIT_INDEX_FILE="+index.Name())

	if parent != "" {
		_, err = s.git(dir, env, nil, "read-tree", parent)
	} else {
		_, err = s.git(dir, env, nil, "read-tree", "--empty")
	}
	if err != nil {
		return "", err
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		blob, err := s.git(dir, env, strings.NewReader(files[p]), "hash-object", "-w", "--stdin")
		if err != nil {
			return "", err
		}
		if _, err := s.git(dir, env, nil, "update-index", "--add", "--cacheinfo", "100644,"+blob+","+p); err != nil {
			return "", err
		}
	}
	tree, err := s.git(dir, env, nil, "write-tree")
	if err != nil {
		return "", err
	}
	args := []string{"commit-tree", tree, "-F", "-"}
	old := strings.Repeat("0", 40) // "must not exist yet" to update-ref
	if parent != "" {
		args = append(args, "-p", parent)
		old = parent
	}
	sha, err := s.git(dir, env, strings.NewReader(message), args...)
	if err != nil {
		return "", err
	}
	if _, err := s.git(dir, env, nil, "update-ref", "-m", "gitserver commit", ref, sha, old); err != nil {
		return "", err
	}
	return sha, nil
}

func (id identity) env() []string {
	return []string{
		"GIT_AUTHOR_NAME=" + id.name, "GIT_AUTHOR_EMAIL=" + id.email, "GIT_AUTHOR_DATE=" + fixedDate,
		"GIT_COMMITTER_NAME=" + id.name, "GIT_COMMITTER_EMAIL=" + id.email, "GIT_COMMITTER_DATE=" + fixedDate,
	}
}

// Head is the commit branch points at.
func (s *Server) Head(repo, branch string) (string, error) {
	return s.git(s.repoDir(repo), nil, nil, "rev-parse", "--verify", "refs/heads/"+branch+"^{commit}")
}

// Log lists the newest n commits reachable from branch, newest first.
func (s *Server) Log(repo, branch string, n int) ([]Commit, error) {
	out, err := s.git(s.repoDir(repo), nil, nil, "log", fmt.Sprintf("--max-count=%d", n),
		"--format=%H%x1f%P%x1f%an <%ae>%x1f%B%x1e", "refs/heads/"+branch, "--")
	if err != nil {
		return nil, err
	}
	var commits []Commit
	for rec := range strings.SplitSeq(out, "\x1e") {
		rec = strings.TrimLeft(rec, "\n")
		if rec == "" {
			continue
		}
		f := strings.SplitN(rec, "\x1f", 4)
		if len(f) != 4 {
			return nil, fmt.Errorf("gitserver: unexpected git log record %q", rec)
		}
		commits = append(commits, Commit{
			SHA:     f[0],
			Parents: strings.Fields(f[1]),
			Author:  f[2],
			Message: strings.TrimRight(f[3], "\n"),
		})
	}
	return commits, nil
}

// ReadFile returns the content of path at ref (a branch, tag or SHA).
func (s *Server) ReadFile(repo, ref, path string) (string, error) {
	var out bytes.Buffer
	if err := s.run(s.repoDir(repo), nil, nil, &out, "cat-file", "blob", ref+":"+path); err != nil {
		return "", err
	}
	return out.String(), nil
}

// git runs one git command and returns its trimmed stdout.
func (s *Server) git(gitDir string, env []string, stdin *strings.Reader, args ...string) (string, error) {
	var out bytes.Buffer
	if err := s.run(gitDir, env, stdin, &out, args...); err != nil {
		return "", err
	}
	return strings.TrimSpace(out.String()), nil
}

func (s *Server) run(gitDir string, env []string, stdin *strings.Reader, stdout *bytes.Buffer, args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Env = append(append(os.Environ(), gitEnv(s.dir)...), env...)
	if gitDir != "" {
		cmd.Env = append(cmd.Env, "GIT_DIR="+gitDir)
	}
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return fmt.Errorf("gitserver: git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return fmt.Errorf("gitserver: git %s: %w", strings.Join(args, " "), err)
	}
	return nil
}
