package gitops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// commit writes files into the working tree and commits them on the local
// branch, whose head is the remote head the edits were made on.
func (c *clone) commit(files map[string][]byte, msg string, author Author, key *openpgp.Entity, when time.Time) (plumbing.Hash, error) {
	wt, err := c.r.Worktree()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("opening working tree: %w", err)
	}
	root := wt.Filesystem.Root()
	for _, p := range sortedKeys(files) {
		full, err := insideClone(root, p)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("writing %s: %w", p, err)
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("writing %s: %w", p, err)
		}
		if err := wt.AddWithOptions(&git.AddOptions{Path: p, SkipStatus: true}); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("adding %s: %w", p, err)
		}
	}
	sig := &object.Signature{Name: author.Name, Email: author.Email, When: when}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig, SignKey: key})
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("committing: %w", err)
	}
	return h, nil
}

// insideClone resolves a repo path in the working tree and refuses one that
// passes through a symbolic link, which could point out of the clone.
func insideClone(root, p string) (string, error) {
	cur := root
	for part := range strings.SplitSeq(p, "/") {
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("checking %s: %w", p, err)
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return "", terminal(ReasonInvalid, "%s passes through a symbolic link; sluice edits only regular files", p)
		}
	}
	return filepath.Join(root, filepath.FromSlash(p)), nil
}

// pushResult says how a push ended.
type pushResult int

const (
	pushed pushResult = iota
	// pushStale: go-git saw before sending that the remote branch is no
	// longer the commit we built on.
	pushStale
	// pushRefused: the remote answered "ng" for the branch. Either someone
	// pushed between our look at the branch and our update, or a policy
	// (protected branch, pre-receive hook) refused it; a fresh fetch tells.
	pushRefused
	pushFailed
)

// push sends the local branch to the remote branch, never forced.
func (c *clone) push(ctx context.Context) (pushResult, error) {
	ref := plumbing.NewBranchReferenceName(c.branch)
	progress := &cappedWriter{max: 4 << 10}
	err := c.r.PushContext(ctx, &git.PushOptions{
		RemoteName: "origin",
		RefSpecs:   []config.RefSpec{config.RefSpec(ref + ":" + ref)},
		Auth:       c.auth,
		// With a progress writer the remote's messages ("remote: …", such
		// as a hook's reason) reach us and go into the error.
		Progress: progress,
	})
	switch {
	case err == nil:
		return pushed, nil
	case errors.Is(err, git.ErrNonFastForwardUpdate), errors.Is(err, git.ErrForceNeeded),
		strings.HasPrefix(err.Error(), "non-fast-forward update"):
		// go-git reports a stale local view with a plain error string.
		return pushStale, err
	case strings.HasPrefix(err.Error(), "command error on "):
		if msg := remoteMessages(progress.String()); msg != "" {
			err = fmt.Errorf("%w (the remote said: %s)", err, msg)
		}
		return pushRefused, err
	}
	return pushFailed, classifyRemote(err, c.repo, c.branch)
}

// remoteMessages joins the lines the remote sent on its progress channel
// (what the git CLI prints as "remote: …"), such as a hook's reason.
func remoteMessages(progress string) string {
	var lines []string
	for line := range strings.SplitSeq(strings.ReplaceAll(progress, "\r", "\n"), "\n") {
		msg := strings.TrimSpace(line)
		msg = strings.TrimSpace(strings.TrimPrefix(msg, "remote:"))
		if msg != "" {
			lines = append(lines, msg)
		}
	}
	msg := strings.Join(lines, "; ")
	if len(msg) > maxRemoteMessage {
		msg = msg[:maxRemoteMessage] + "…"
	}
	return msg
}

// maxRemoteMessage keeps a chatty remote from flooding a status message.
const maxRemoteMessage = 1000

// cappedWriter keeps the first max bytes written to it and drops the
// rest without failing the writer.
type cappedWriter struct {
	buf strings.Builder
	max int
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	if room := w.max - w.buf.Len(); room > 0 {
		w.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (w *cappedWriter) String() string { return w.buf.String() }
