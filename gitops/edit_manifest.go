package gitops

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/sluice-dev/sluice/gitops/yamledit"
	"github.com/sluice-dev/sluice/revision"
)

// EditManifest writes ch into a plain manifest holding the Rollout: a
// promotion sets the sluice.dev/promoted-revision annotation, an abort puts
// the stable pod template back into spec.template. Other documents, and
// everything in the Rollout's document that does not change, keep their
// bytes. It returns src itself when nothing needs to change.
func EditManifest(src []byte, ch Change) ([]byte, error) {
	f, err := yamledit.Parse(src)
	if err != nil {
		return nil, terminal(ReasonInvalid, "%s is not YAML sluice can edit: %w", ch.Path, err)
	}
	i, err := findRollout(f, ch)
	if err != nil {
		return nil, err
	}
	switch ch.Outcome {
	case OutcomePromoted:
		_, err = f.Edit(i, func(rn *yaml.RNode) error {
			n, err := rn.Pipe(yaml.LookupCreate(yaml.ScalarNode, "metadata", "annotations", PromotedRevisionAnnotation))
			if err != nil {
				return err
			}
			yamledit.SetString(n.YNode(), ch.Revision)
			return nil
		})
	case OutcomeAborted, OutcomeReleased:
		err = rollBackTemplate(f, i, ch)
	}
	if err != nil {
		return nil, editFailed(fmt.Sprintf("Rollout %s in %s", ch.Rollout, ch.Path), err)
	}
	if out := f.Bytes(); !bytes.Equal(out, src) {
		return out, nil
	}
	return src, nil
}

// findRollout finds the document of the Rollout: apiVersion sluice.dev/*,
// kind Rollout, its name, and its namespace where the document sets one.
func findRollout(f *yamledit.File, ch Change) (int, error) {
	var found []int
	exact := -1
	for i := range f.Docs() {
		rn := f.Node(i)
		if rn == nil || rn.YNode().Kind != yaml.MappingNode {
			continue
		}
		doc := rn.YNode()
		if !strings.HasPrefix(stringField(doc, "apiVersion"), "sluice.dev/") || stringField(doc, "kind") != "Rollout" || stringField(doc, "metadata", "name") != ch.Rollout.Name {
			continue
		}
		switch stringField(doc, "metadata", "namespace") {
		case ch.Rollout.Namespace:
			exact = i
			found = append(found, i)
		case "":
			found = append(found, i)
		}
	}
	switch {
	case exact >= 0:
		return exact, nil
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return 0, terminal(ReasonInvalid, "%s has %d Rollout documents named %s without a namespace; set metadata.namespace on them", ch.Path, len(found), ch.Rollout.Name)
	}
	return 0, terminal(ReasonNotFound, "%s has no Rollout document named %s (apiVersion sluice.dev/*, kind Rollout, metadata.name %s); point spec.gitops.path at the file that holds it", ch.Path, ch.Rollout, ch.Rollout.Name)
}

func rollBackTemplate(f *yamledit.File, i int, ch Change) error {
	t := field(f.Node(i).YNode(), "spec", "template")
	if t == nil || t.Kind != yaml.MappingNode {
		return terminal(ReasonNotFound, "the document has no spec.template to roll back")
	}
	tmpl := yaml.NewRNode(t)
	current, err := templateImages(tmpl)
	if err != nil {
		return err
	}
	write, err := rollbackPrecondition(current, ch, tmpl)
	if err != nil || !write {
		return err
	}
	stable, err := templateNode(ch.StableTemplate)
	if err != nil {
		return terminal(ReasonInvalid, "encoding the stable pod template: %w", err)
	}
	_, err = f.Edit(i, func(rn *yaml.RNode) error {
		yamledit.Assign(field(rn.YNode(), "spec", "template"), stable)
		return nil
	})
	return err
}

// rollbackPrecondition decides whether the rollback may be written: the
// file must still hold the rolled-back revision. When it already holds the
// stable one, someone rolled back first and there is nothing to do. When
// the canary and stable images are the same, images cannot tell the
// revisions apart, so the template's revision hash decides.
func rollbackPrecondition(current map[string]string, ch Change, tmpl *yaml.RNode) (bool, error) {
	if sameImages(ch.Images, ch.StableImages) {
		var t corev1.PodTemplateSpec
		raw, err := tmpl.MarshalJSON()
		if err == nil {
			err = json.Unmarshal(raw, &t)
		}
		if err != nil {
			return false, terminal(ReasonInvalid, "spec.template is not a pod template: %w", err)
		}
		h, err := revision.Hash(&t)
		if err != nil {
			return false, terminal(ReasonInvalid, "hashing spec.template: %w", err)
		}
		switch h {
		case ch.Revision:
			return true, nil
		case ch.StableRevision:
			return false, nil
		}
		return false, terminal(ReasonConflict, "spec.template is revision %s, neither the rolled-back %s nor the stable %s: someone changed it since the rollout started, so sluice leaves it alone; roll back by hand if still needed", h, ch.Revision, ch.StableRevision)
	}
	if holds(current, ch.Images) {
		return true, nil
	}
	if holds(current, ch.StableImages) {
		return false, nil
	}
	return false, conflict("spec.template", current, ch)
}

// conflict names the containers whose images are neither the canary's nor
// the stable ones.
func conflict(where string, current map[string]string, ch Change) error {
	var diffs []string
	for _, c := range sortedKeys(ch.Images) {
		if current[c] != ch.Images[c] {
			got := current[c]
			if got == "" {
				got = "no image"
			}
			diffs = append(diffs, fmt.Sprintf("container %s has %s, the rolled-back revision %s had %s and the stable %s has %s", c, got, ch.Revision, ch.Images[c], ch.StableRevision, ch.StableImages[c]))
		}
	}
	return terminal(ReasonConflict, "%s: %s; someone changed it since the rollout started, so sluice leaves it alone (roll back by hand if still needed)", where, strings.Join(diffs, "; "))
}

func holds(current, want map[string]string) bool {
	for c, img := range want {
		if current[c] != img {
			return false
		}
	}
	return true
}

func sameImages(a, b map[string]string) bool {
	return len(a) == len(b) && holds(a, b)
}

// templateImages reads container name → image from a pod template.
func templateImages(tmpl *yaml.RNode) (map[string]string, error) {
	images := map[string]string{}
	for _, field := range []string{"initContainers", "containers"} {
		list, err := tmpl.Pipe(yaml.Lookup("spec", field))
		if err != nil {
			return nil, terminal(ReasonInvalid, "spec.template.spec.%s: %w", field, err)
		}
		if list == nil {
			continue
		}
		items, err := list.Elements()
		if err != nil {
			return nil, terminal(ReasonInvalid, "spec.template.spec.%s is not a list: %w", field, err)
		}
		for _, c := range items {
			name, image := c.Field("name"), c.Field("image")
			if name == nil || image == nil {
				continue
			}
			images[yaml.GetValue(name.Value)] = yaml.GetValue(image.Value)
		}
	}
	return images, nil
}

// templateNode renders a pod template as YAML without empty fields
// (creationTimestamp: null, resources: {}), the way a person writes one.
func templateNode(t *corev1.PodTemplateSpec) (*yaml.Node, error) {
	raw, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	pruned, err := json.Marshal(revision.Prune(v))
	if err != nil {
		return nil, err
	}
	return yamledit.FromJSON(pruned)
}
