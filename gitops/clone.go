package gitops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-logr/logr"
)

// repoLocks serialises writers of one clone within the process: two
// writes to one branch would race each other's pushes and share a working
// tree. Keys are clone directories.
var repoLocks sync.Map // string → chan struct{}

// lockClone takes the clone's lock, or gives up when ctx ends or, when
// wait > 0, after wait (ReasonBusy).
func lockClone(ctx context.Context, dir string, wait time.Duration) (func(), error) {
	v, _ := repoLocks.LoadOrStore(dir, make(chan struct{}, 1))
	ch := v.(chan struct{})
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-timeout:
		return nil, transient(ReasonBusy, "another write to the same repo and branch is in progress")
	case <-ctx.Done():
		return nil, transient(ReasonTransient, "waiting for another write to the same repo and branch: %w", ctx.Err())
	}
}

// clone is a cached working copy of one branch.
type clone struct {
	dir    string
	repo   Repo
	branch string
	auth   transport.AuthMethod
	log    logr.Logger
	r      *git.Repository
}

func (c *clone) remoteRef() plumbing.ReferenceName {
	return plumbing.NewRemoteReferenceName("origin", c.branch)
}

// sync brings the clone to the remote branch head, cloning when the cache
// is missing and re-cloning when it is unusable, and returns that head.
func (c *clone) sync(ctx context.Context) (plumbing.Hash, error) {
	if c.r == nil {
		r, err := git.PlainOpen(c.dir)
		switch {
		case err == nil && c.originMatches(r):
			c.r = r
		case errors.Is(err, git.ErrRepositoryNotExists):
		default:
			c.log.Info("cached clone is unusable; cloning again", "dir", c.dir, "reason", fmt.Sprint(err))
		}
	}
	if c.r != nil {
		head, err := c.fetchAndReset(ctx)
		if err == nil {
			return head, nil
		}
		if isRemoteError(err) || ctx.Err() != nil {
			return plumbing.ZeroHash, classifyRemote(err, c.repo, c.branch)
		}
		c.log.Info("cached clone is unusable; cloning again", "dir", c.dir, "reason", err.Error())
		c.r = nil
	}
	if err := c.fresh(ctx); err != nil {
		return plumbing.ZeroHash, classifyRemote(err, c.repo, c.branch)
	}
	head, err := c.resetToRemote()
	if err != nil {
		return plumbing.ZeroHash, classifyRemote(err, c.repo, c.branch)
	}
	return head, nil
}

func (c *clone) originMatches(r *git.Repository) bool {
	remote, err := r.Remote("origin")
	return err == nil && len(remote.Config().URLs) > 0 && remote.Config().URLs[0] == c.repo.URL
}

// fresh clones into a temporary directory and renames it into place, so
// a crash mid-clone never leaves a half clone that looks usable.
func (c *clone) fresh(ctx context.Context) error {
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("removing old clone: %w", err)
	}
	parent := filepath.Dir(c.dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return fmt.Errorf("creating cache directory: %w", err)
	}
	// Clones a crashed process left half done; the lock makes them ours.
	if stale, err := filepath.Glob(c.dir + ".tmp-*"); err == nil {
		for _, d := range stale {
			_ = os.RemoveAll(d)
		}
	}
	tmp, err := os.MkdirTemp(parent, filepath.Base(c.dir)+".tmp-")
	if err != nil {
		return fmt.Errorf("creating cache directory: %w", err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	if _, err := git.PlainCloneContext(ctx, tmp, false, &git.CloneOptions{
		URL:           c.repo.URL,
		Auth:          c.auth,
		RemoteName:    "origin",
		ReferenceName: plumbing.NewBranchReferenceName(c.branch),
		SingleBranch:  true,
		Tags:          git.NoTags,
	}); err != nil {
		return err
	}
	if err := os.Rename(tmp, c.dir); err != nil {
		return fmt.Errorf("moving clone into place: %w", err)
	}
	r, err := git.PlainOpen(c.dir)
	if err != nil {
		return fmt.Errorf("opening fresh clone: %w", err)
	}
	c.r = r
	return nil
}

// fetchAndReset fetches the branch and hard-resets the local branch and
// working tree to it, dropping whatever an earlier attempt left behind.
func (c *clone) fetchAndReset(ctx context.Context) (plumbing.Hash, error) {
	spec := config.RefSpec(fmt.Sprintf("+%s:%s", plumbing.NewBranchReferenceName(c.branch), c.remoteRef()))
	err := c.r.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin",
		RefSpecs:   []config.RefSpec{spec},
		Auth:       c.auth,
		Tags:       git.NoTags,
		Force:      true,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return plumbing.ZeroHash, err
	}
	return c.resetToRemote()
}

func (c *clone) resetToRemote() (plumbing.Hash, error) {
	ref, err := c.r.Reference(c.remoteRef(), true)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("reading %s after fetch: %w", c.remoteRef(), err)
	}
	return ref.Hash(), c.resetTo(ref.Hash())
}

func (c *clone) resetTo(head plumbing.Hash) error {
	local := plumbing.NewBranchReferenceName(c.branch)
	if err := c.r.Storer.SetReference(plumbing.NewHashReference(local, head)); err != nil {
		return fmt.Errorf("moving %s: %w", local, err)
	}
	if err := c.r.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, local)); err != nil {
		return fmt.Errorf("checking out %s: %w", local, err)
	}
	wt, err := c.r.Worktree()
	if err != nil {
		return fmt.Errorf("opening working tree: %w", err)
	}
	if err := wt.Reset(&git.ResetOptions{Commit: head, Mode: git.HardReset}); err != nil {
		return fmt.Errorf("resetting working tree to %s: %w", head, err)
	}
	return nil
}
