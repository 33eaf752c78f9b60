package gitops

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// fileEdit is one file a change touches.
type fileEdit struct {
	path   string
	create bool // a missing file is written from nothing (the status file)
	edit   func(src []byte, ch Change) ([]byte, error)
}

// plan lists the files a change touches, in the order they are edited.
func plan(ch Change) []fileEdit {
	switch ch.format() {
	case FormatKustomize:
		return []fileEdit{{path: ch.Path, edit: EditKustomization}, {path: ch.StatusFilePath(), create: true, edit: EditStatusFile}}
	case FormatHelmValues:
		return []fileEdit{{path: ch.Path, edit: EditHelmValues}, {path: ch.StatusFilePath(), create: true, edit: EditStatusFile}}
	}
	return []fileEdit{{path: ch.Path, edit: EditManifest}}
}

func planPaths(edits []fileEdit) []string {
	paths := make([]string, len(edits))
	for i, e := range edits {
		paths[i] = e.path
	}
	return paths
}

// applyEdits runs the edits on the files of commit and returns the files
// whose content changes. The files are read from the commit, never from a
// working tree, so leftovers of an interrupted write cannot leak in.
func applyEdits(commit *object.Commit, ch Change, edits []fileEdit) (map[string][]byte, error) {
	tree, err := commit.Tree()
	if err != nil {
		return nil, transient(ReasonTransient, "reading the tree of %s: %w", commit.Hash, err)
	}
	changed := map[string][]byte{}
	for _, e := range edits {
		src, exists, err := readFile(tree, e.path)
		if err != nil {
			return nil, err
		}
		if !exists && !e.create {
			return nil, terminal(ReasonNotFound, "%s does not exist; point spec.gitops.path at the file that holds the Rollout's manifest", e.path)
		}
		out, err := e.edit(src, ch)
		if err != nil {
			return nil, err
		}
		if !exists || !bytes.Equal(out, src) {
			changed[e.path] = out
		}
	}
	return changed, nil
}

// readFile reads path from tree. A symlink anywhere on the path is
// refused: writing through it could leave the clone.
func readFile(tree *object.Tree, path string) ([]byte, bool, error) {
	parts := strings.Split(path, "/")
	for i := range parts {
		prefix := strings.Join(parts[:i+1], "/")
		entry, err := tree.FindEntry(prefix)
		if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, transient(ReasonTransient, "looking up %s: %w", prefix, err)
		}
		last := i == len(parts)-1
		switch {
		case entry.Mode == filemode.Symlink:
			return nil, false, terminal(ReasonInvalid, "%s is a symbolic link; sluice edits only regular files, point spec.gitops.path at the real file", prefix)
		case !last && entry.Mode != filemode.Dir:
			return nil, false, terminal(ReasonInvalid, "%s is a file, not a directory, in path %s", prefix, path)
		case last && entry.Mode != filemode.Regular && entry.Mode != filemode.Executable:
			return nil, false, terminal(ReasonInvalid, "%s is not a regular file", path)
		}
	}
	f, err := tree.File(path)
	if err != nil {
		return nil, false, transient(ReasonTransient, "reading %s: %w", path, err)
	}
	r, err := f.Reader()
	if err != nil {
		return nil, false, transient(ReasonTransient, "reading %s: %w", path, err)
	}
	defer func() { _ = r.Close() }()
	content, err := io.ReadAll(r)
	if err != nil {
		return nil, false, transient(ReasonTransient, "reading %s: %w", path, err)
	}
	return content, true, nil
}

// describe names a repo and branch in messages.
func describe(repo Repo, branch string) string {
	return fmt.Sprintf("branch %s of %s", branch, redactURL(repo.URL))
}
