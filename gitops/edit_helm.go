package gitops

import (
	"bytes"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/sluice-dev/sluice/gitops/yamledit"
)

// EditHelmValues rolls the image keys of a Helm values file back to the
// stable images: HelmImages maps each container to a dotted key path. A
// path ending in .tag holds only the tag, one ending in .digest only the
// digest, any other the whole image; keys themselves cannot contain dots.
// A promotion leaves the file alone.
// A key that holds neither the canary's nor the stable value is a
// Conflict; a missing key is NotFound.
func EditHelmValues(src []byte, ch Change) ([]byte, error) {
	f, err := yamledit.Parse(src)
	if err != nil {
		return nil, terminal(ReasonInvalid, "%s is not YAML sluice can edit: %w", ch.Path, err)
	}
	if !ch.Outcome.writesTemplate() {
		return src, nil
	}
	if f.Node(0) == nil || f.Node(0).YNode().Kind != yaml.MappingNode {
		return nil, terminal(ReasonInvalid, "%s is not a values file: its first document is not a mapping", ch.Path)
	}
	_, err = f.Edit(0, func(rn *yaml.RNode) error {
		for _, c := range sortedKeys(ch.HelmImages) {
			if err := rollBackHelmKey(rn, c, ch.HelmImages[c], ch); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, editFailed(ch.Path, err)
	}
	if out := f.Bytes(); !bytes.Equal(out, src) {
		return out, nil
	}
	return src, nil
}

func rollBackHelmKey(rn *yaml.RNode, container, keyPath string, ch Change) error {
	stableImage, ok := ch.StableImages[container]
	if !ok {
		return terminal(ReasonInvalid, "spec.gitops.helmValues.images names container %s, but the stable revision has no such container", container)
	}
	canaryImage, ok := ch.Images[container]
	if !ok {
		return terminal(ReasonInvalid, "spec.gitops.helmValues.images names container %s, but the rolled-back revision has no such container", container)
	}
	path := strings.Split(keyPath, ".")
	want, from := helmValue(path, parseImage(stableImage)), helmValue(path, parseImage(canaryImage))
	if want == "" {
		return terminal(ReasonInvalid, "key %s (spec.gitops.helmValues.images.%s) takes the image's %s, but the stable image %s has none; map the container to a key that holds the whole image",
			keyPath, container, path[len(path)-1], stableImage)
	}
	node := field(rn.YNode(), path...)
	if node == nil {
		return terminal(ReasonNotFound, "no key %s (spec.gitops.helmValues.images.%s); fix the key path or add the key", keyPath, container)
	}
	if node.Kind != yaml.ScalarNode {
		return terminal(ReasonInvalid, "key %s (spec.gitops.helmValues.images.%s) is not a scalar; point it at the image or its tag", keyPath, container)
	}
	switch node.Value {
	case want:
		return nil // rolled back already
	case from:
		yamledit.SetString(node, want)
		return nil
	}
	return terminal(ReasonConflict, "key %s is %q, but the rolled-back revision %s had %q (stable %s has %q); someone changed it since the rollout started, so sluice leaves it alone (roll back by hand if still needed)",
		keyPath, node.Value, ch.Revision, from, ch.StableRevision, want)
}

// helmValue is what a key of the given path holds for an image.
func helmValue(path []string, img imageRef) string {
	switch path[len(path)-1] {
	case "tag":
		return img.Tag
	case "digest":
		return img.Digest
	}
	return img.String()
}
