package gitops

import (
	"errors"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// findWrite looks back along the branch's first parents, at most depth
// commits, for a commit with the same trailers: the same write made
// before (pushed, then the controller restarted before recording it).
//
// The search stops at the first commit by anyone else that changed one of
// the files: a write older than that no longer describes the file (the
// same revision deployed and rolled back again must be written again).
// Write-backs of other Rollouts sharing the file do not stop it.
func findWrite(head *object.Commit, want Trailers, paths []string, depth int) (plumbing.Hash, bool, error) {
	c := head
	for range depth {
		t, sluice := ParseTrailers(c.Message)
		if sluice && t == want {
			return c.Hash, true, nil
		}
		if !sluice || t.Rollout == want.Rollout {
			touched, err := touches(c, paths)
			if err != nil {
				return plumbing.ZeroHash, false, err
			}
			if touched {
				return plumbing.ZeroHash, false, nil
			}
		}
		if c.NumParents() == 0 {
			break
		}
		parent, err := c.Parent(0)
		if err != nil {
			return plumbing.ZeroHash, false, transient(ReasonTransient, "reading history at %s: %w", c.Hash, err)
		}
		c = parent
	}
	return plumbing.ZeroHash, false, nil
}

// touches reports whether commit c changed any of paths against its first
// parent.
func touches(c *object.Commit, paths []string) (bool, error) {
	tree, err := c.Tree()
	if err != nil {
		return false, transient(ReasonTransient, "reading tree of %s: %w", c.Hash, err)
	}
	var parentTree *object.Tree
	if c.NumParents() > 0 {
		p, err := c.Parent(0)
		if err != nil {
			return false, transient(ReasonTransient, "reading parent of %s: %w", c.Hash, err)
		}
		if parentTree, err = p.Tree(); err != nil {
			return false, transient(ReasonTransient, "reading tree of %s: %w", p.Hash, err)
		}
	}
	for _, path := range paths {
		now, err := blobAt(tree, path)
		if err != nil {
			return false, err
		}
		var before plumbing.Hash
		if parentTree != nil {
			if before, err = blobAt(parentTree, path); err != nil {
				return false, err
			}
		}
		if now != before {
			return true, nil
		}
	}
	return false, nil
}

// blobAt is the object at path, ZeroHash when there is none.
func blobAt(tree *object.Tree, path string) (plumbing.Hash, error) {
	e, err := tree.FindEntry(path)
	switch {
	case errors.Is(err, object.ErrEntryNotFound), errors.Is(err, object.ErrDirectoryNotFound):
		return plumbing.ZeroHash, nil
	case err != nil:
		return plumbing.ZeroHash, transient(ReasonTransient, "looking up %s: %w", path, err)
	}
	return e.Hash, nil
}
