package argostandin

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/go-git/go-billy/v5/memfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sluice-dev/sluice/internal/manifests"
)

// resolve turns a target revision (a branch, HEAD, or a commit) into a
// commit, as Argo CD's repo server does.
func resolve(ctx context.Context, repoURL, target string, auth transport.AuthMethod) (string, error) {
	if isSHA(target) {
		return target, nil
	}
	rem := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{repoURL}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: auth})
	if err != nil {
		return "", fmt.Errorf("listing %s: %w", repoURL, err)
	}
	want := map[string]bool{}
	switch target {
	case "", "HEAD":
		want["HEAD"] = true
	default:
		want[plumbing.NewBranchReferenceName(target).String()] = true
		want[plumbing.NewTagReferenceName(target).String()] = true
	}
	byName := map[string]*plumbing.Reference{}
	for _, r := range refs {
		byName[r.Name().String()] = r
	}
	for name := range want {
		r, ok := byName[name]
		if !ok {
			continue
		}
		if r.Type() == plumbing.SymbolicReference {
			if t, ok := byName[r.Target().String()]; ok {
				return t.Hash().String(), nil
			}
			continue
		}
		return r.Hash().String(), nil
	}
	return "", fmt.Errorf("revision %q not found in %s", target, repoURL)
}

// manifestsAt reads the YAML documents in dir at commit, the way Argo CD's
// directory source does (not recursive, .yaml/.yml/.json, sorted by name).
func manifestsAt(ctx context.Context, repoURL, commit, dir string, auth transport.AuthMethod) ([]*unstructured.Unstructured, error) {
	repo, err := git.CloneContext(ctx, memory.NewStorage(), memfs.New(), &git.CloneOptions{URL: repoURL, Auth: auth, NoCheckout: true})
	if err != nil {
		return nil, fmt.Errorf("cloning %s: %w", repoURL, err)
	}
	c, err := repo.CommitObject(plumbing.NewHash(commit))
	if err != nil {
		return nil, fmt.Errorf("commit %s of %s: %w", commit, repoURL, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, err
	}
	dir = strings.Trim(path.Clean("/"+dir), "/")
	if dir != "" {
		if tree, err = tree.Tree(dir); err != nil {
			return nil, fmt.Errorf("path %q at %s: %w", dir, commit, err)
		}
	}
	var names []string
	for _, e := range tree.Entries {
		ext := path.Ext(e.Name)
		if e.Mode.IsFile() && (ext == ".yaml" || ext == ".yml" || ext == ".json") && !strings.HasPrefix(e.Name, ".") {
			names = append(names, e.Name)
		}
	}
	sort.Strings(names)
	var out []*unstructured.Unstructured
	for _, n := range names {
		f, err := tree.File(n)
		if err != nil {
			return nil, err
		}
		body, err := f.Contents()
		if err != nil {
			return nil, err
		}
		objs, err := manifests.Decode([]byte(body))
		if err != nil {
			return nil, fmt.Errorf("%s/%s at %s: %w", dir, n, commit[:8], err)
		}
		out = append(out, objs...)
	}
	return out, nil
}

func isSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}
