package gitops

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Format of the file spec.gitops.path names; the same strings as the API.
type Format string

const (
	FormatManifest   Format = "Manifest"
	FormatKustomize  Format = "Kustomize"
	FormatHelmValues Format = "HelmValues"
)

// Outcome of a rollout that is written back.
type Outcome string

const (
	OutcomePromoted Outcome = "promoted"
	OutcomeAborted  Outcome = "aborted"
	// OutcomeReleased is a release a person asked sluice to commit for a
	// Rollout whose template lives in Git (kubectl sluice set image, undo,
	// retry after a rollback). It edits like a rollback: the file must
	// still hold Images (those of StableRevision, what runs now), and
	// StableImages and StableTemplate (those of Revision, the release) are
	// written.
	OutcomeReleased Outcome = "released"
)

// writesTemplate reports whether the change writes images or a template
// (a rollback or a release) rather than recording a promotion.
func (o Outcome) writesTemplate() bool { return o == OutcomeAborted || o == OutcomeReleased }

// PromotedRevisionAnnotation records on a Rollout document in Git the
// revision sluice last promoted.
const PromotedRevisionAnnotation = "sluice.dev/promoted-revision"

// Author of a commit.
type Author struct {
	Name  string
	Email string
}

// DefaultAuthor signs sluice's commits when the Rollout names nobody.
var DefaultAuthor = Author{Name: "sluice", Email: "sluice@noreply"}

// Repo is where to write.
type Repo struct {
	URL string
	// Branch defaults to main.
	Branch      string
	Credentials Credentials
}

// Change is one outcome to write back.
type Change struct {
	Rollout types.NamespacedName
	// Revision is the sluice revision promoted, or rolled back from.
	Revision string
	// StableRevision is the revision that was stable when the rollout began;
	// an abort returns to it.
	StableRevision string
	Outcome        Outcome
	// Reason says why, for the commit message (the failed analysis).
	Reason string

	// Path of the file, relative to the repo root, and its Format.
	Path   string
	Format Format
	// HelmImages maps container names to the dotted key path of their
	// image in a values file (image.tag, images.app). A path ending in
	// .tag takes only the tag, one ending in .digest only the digest.
	HelmImages map[string]string

	// Images are the containers' images of Revision. An abort writes only
	// when the file still holds them: anything else means someone pushed a
	// newer change, which sluice never overwrites.
	Images map[string]string
	// StableImages are the containers' images of StableRevision.
	StableImages map[string]string
	// StableTemplate is the stable pod template an abort writes back into a
	// Manifest file.
	StableTemplate *corev1.PodTemplateSpec

	// Message is the commit message without trailers, from RenderMessage;
	// empty means the default message.
	Message string
	// Author defaults to DefaultAuthor.
	Author Author
	// SignKey, when set, signs the commit (OpenPGP).
	SignKey *openpgp.Entity
}

// Result of a Write.
type Result struct {
	// Commit is the commit that carries the change: the one pushed, the one
	// found from an earlier write, or the branch head when the files
	// already said it.
	Commit string
	// AlreadyPushed: an earlier write of the same change was found on the
	// branch (say, pushed just before the controller restarted).
	AlreadyPushed bool
	// Changed: a commit was made. False when the files already said it.
	Changed bool
	// Attempts counts the passes of fetch, edit, commit and push.
	Attempts int
}

// StatusFilePath is where a Kustomize or HelmValues change records the
// outcome, beside the file: the Rollout itself is not in that file.
func (ch Change) StatusFilePath() string {
	return path.Join(path.Dir(ch.Path), ".sluice", ch.Rollout.Namespace+"."+ch.Rollout.Name+".yaml")
}

func (ch Change) format() Format {
	if ch.Format == "" {
		return FormatManifest
	}
	return ch.Format
}

func (ch Change) trailers() Trailers {
	return Trailers{Rollout: ch.Rollout.String(), Revision: ch.Revision, Outcome: ch.Outcome}
}

// validate catches a change the controller built wrong before any Git
// work; every problem here is a bug or a bad spec, not a passing failure.
func (ch Change) validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if ch.Rollout.Name == "" || ch.Rollout.Namespace == "" {
		add("the Rollout's namespace and name are required")
	}
	if ch.Revision == "" || strings.ContainsAny(ch.Revision, " \n\r") {
		add("revision %q must be a non-empty hash", ch.Revision)
	}
	switch ch.Outcome {
	case OutcomePromoted, OutcomeAborted, OutcomeReleased:
	default:
		add("outcome %q must be %q, %q or %q", ch.Outcome, OutcomePromoted, OutcomeAborted, OutcomeReleased)
	}
	if err := checkPath(ch.Path); err != nil {
		add("spec.gitops.path: %v", err)
	}
	switch ch.format() {
	case FormatManifest:
		if ch.Outcome.writesTemplate() && ch.StableTemplate == nil {
			add("rolling back a Manifest needs the stable pod template")
		}
	case FormatKustomize:
	case FormatHelmValues:
		if len(ch.HelmImages) == 0 {
			add("spec.gitops.helmValues.images must map each container to its image key path")
		}
	default:
		add("spec.gitops.format %q must be Manifest, Kustomize or HelmValues", ch.Format)
	}
	if ch.Outcome.writesTemplate() {
		if len(ch.Images) == 0 {
			add("rolling back needs the canary's images, to check that nobody changed the file since")
		}
		if len(ch.StableImages) == 0 {
			add("rolling back needs the stable images")
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return terminal(ReasonInvalid, "invalid write-back for Rollout %s: %s", ch.Rollout, strings.Join(problems, "; "))
}

// checkPath keeps edits inside the repository.
func checkPath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty")
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("%q must be relative to the repo root", p)
	case slices.Contains(strings.Split(p, "/"), ".."), path.Clean(p) != p, p == ".":
		return fmt.Errorf("%q must be a clean path without ..", p)
	case strings.Contains(p, "\\"), strings.Contains(p, "\x00"):
		return fmt.Errorf("%q contains a backslash or NUL", p)
	}
	return nil
}

// sortedKeys makes map iteration, and so edits and messages, deterministic.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
