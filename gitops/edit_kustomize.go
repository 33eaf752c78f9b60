package gitops

import (
	"bytes"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/sluice-dev/sluice/gitops/yamledit"
)

// EditKustomization rolls a kustomization's images: entries back to the
// stable images; a promotion leaves the file alone (the images there are
// already the promoted ones). Entries are matched on the image name,
// newName when set; a container whose image has no entry gets one. An
// entry that holds neither the canary nor the stable image is a Conflict.
func EditKustomization(src []byte, ch Change) ([]byte, error) {
	f, err := yamledit.Parse(src)
	if err != nil {
		return nil, terminal(ReasonInvalid, "%s is not YAML sluice can edit: %w", ch.Path, err)
	}
	if !ch.Outcome.writesTemplate() {
		return src, nil
	}
	doc := -1
	for i := range f.Docs() {
		if rn := f.Node(i); rn != nil && rn.YNode().Kind == yaml.MappingNode {
			doc = i
			break
		}
	}
	if doc < 0 {
		return nil, terminal(ReasonInvalid, "%s holds no kustomization", ch.Path)
	}
	_, err = f.Edit(doc, func(rn *yaml.RNode) error {
		images, err := rn.Pipe(yaml.LookupCreate(yaml.SequenceNode, "images"))
		if err != nil {
			return terminal(ReasonInvalid, "images: %w", err)
		}
		for _, c := range sortedKeys(ch.StableImages) {
			if err := rollBackImage(images, c, ch); err != nil {
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

// rollBackImage sets the images: entry of container c to its stable image.
func rollBackImage(images *yaml.RNode, c string, ch Change) error {
	stable := parseImage(ch.StableImages[c])
	canaryImage, ok := ch.Images[c]
	if !ok {
		return terminal(ReasonInvalid, "container %s has a stable image but no canary image", c)
	}
	canary := parseImage(canaryImage)
	entry, err := findImageEntry(images, canary.Name, stable.Name)
	if err != nil {
		return err
	}
	if entry == nil {
		n := yaml.NewMapRNode(&map[string]string{"name": canary.Name})
		if err := images.PipeE(yaml.Append(n.YNode())); err != nil {
			return err
		}
		entry = n
	}
	field := func(name string) string { return entryField(entry, name) }
	effective := imageRef{Name: field("newName"), Tag: field("newTag"), Digest: field("digest")}
	if effective.Name == "" {
		effective.Name = field("name")
	}
	switch {
	case effective == stable:
		return nil // rolled back already
	case effective == canary, effective.Tag == "" && effective.Digest == "":
		// An entry without tag or digest keeps the resources' own tag,
		// which this file cannot check.
	default:
		return terminal(ReasonConflict, "images entry %s is %s, but the rolled-back revision %s had %s (stable %s has %s); someone changed it since the rollout started, so sluice leaves it alone (roll back by hand if still needed)",
			field("name"), effective, ch.Revision, canary, ch.StableRevision, stable)
	}
	if stable.Name != field("name") || field("newName") != "" {
		setEntryField(entry, "newName", stable.Name)
	}
	tag := stable.Tag
	if tag == "" && stable.Digest == "" {
		tag = "latest" // what an image without tag means
	}
	setEntryField(entry, "newTag", tag)
	setEntryField(entry, "digest", stable.Digest)
	return nil
}

// findImageEntry finds the entry for an image by either name; two
// different entries for it would leave kustomize's result ambiguous.
func findImageEntry(images *yaml.RNode, names ...string) (*yaml.RNode, error) {
	items, err := images.Elements()
	if err != nil {
		return nil, terminal(ReasonInvalid, "images is not a list: %w", err)
	}
	var found *yaml.RNode
	for _, item := range items {
		for _, n := range names {
			if entryField(item, "name") != n && entryField(item, "newName") != n {
				continue
			}
			if found != nil && found != item {
				return nil, terminal(ReasonInvalid, "images has more than one entry for %s", n)
			}
			found = item
		}
	}
	return found, nil
}

func entryField(entry *yaml.RNode, name string) string {
	f := entry.Field(name)
	if f == nil || f.Value == nil {
		return ""
	}
	return yaml.GetValue(f.Value)
}

// setEntryField sets or, for an empty value, removes a field.
func setEntryField(entry *yaml.RNode, name, value string) {
	if value == "" {
		_ = entry.PipeE(yaml.Clear(name))
		return
	}
	if f := entry.Field(name); f != nil && f.Value.YNode().Kind == yaml.ScalarNode {
		yamledit.SetString(f.Value.YNode(), value)
		return
	}
	_ = entry.PipeE(yaml.SetField(name, yaml.NewStringRNode(value)))
}
