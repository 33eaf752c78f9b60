package gitops

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Contains reports whether revision is commit or one of its descendants
// on repo's branch: Argo CD may have synced a later commit that others
// pushed on top of sluice's. It uses the cached clone and fetches when
// revision is not known locally yet.
func (w *Writer) Contains(ctx context.Context, repo Repo, commit, revision string) (bool, error) {
	if commit == revision {
		return true, nil
	}
	branch := orDefault(repo.Branch, "main")
	auth, err := repo.Credentials.authMethod(repo.URL)
	if err != nil {
		return false, err
	}
	root, err := w.cacheDir()
	if err != nil {
		return false, transient(ReasonTransient, "%w", err)
	}
	dir := filepath.Join(root, cacheKey(repo.URL, branch))
	unlock, err := lockClone(ctx, dir, w.LockWait)
	if err != nil {
		return false, err
	}
	defer unlock()
	c := &clone{dir: dir, repo: repo, branch: branch, auth: auth, log: w.log()}
	rev, err := c.commitObject(ctx, revision)
	if err != nil {
		return false, err
	}
	if rev == nil {
		// Argo CD synced something the branch does not have (another
		// branch, or a commit since force-pushed away): it cannot contain
		// ours.
		return false, nil
	}
	base, err := c.commitObject(ctx, commit)
	if err != nil || base == nil {
		return false, err
	}
	return base.IsAncestor(rev)
}

// commitObject finds a commit in the clone, fetching once if it is
// missing; nil when the branch does not have it.
func (c *clone) commitObject(ctx context.Context, sha string) (*object.Commit, error) {
	if c.r == nil {
		if r, err := git.PlainOpen(c.dir); err == nil && c.originMatches(r) {
			c.r = r
		}
	}
	if c.r != nil {
		if co, err := c.r.CommitObject(plumbing.NewHash(sha)); err == nil {
			return co, nil
		}
	}
	if _, err := c.sync(ctx); err != nil {
		return nil, err
	}
	co, err := c.r.CommitObject(plumbing.NewHash(sha))
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return nil, nil
	}
	return co, err
}
