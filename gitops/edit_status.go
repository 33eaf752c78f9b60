package gitops

import (
	"bytes"
	"encoding/json"
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/sluice-dev/sluice/gitops/yamledit"
)

// statusHeader starts a new status file, so whoever finds it in the repo
// knows what it is.
const statusHeader = `# Written by sluice: the last outcome it recorded for Rollout %s.
# Not a Kubernetes manifest; nothing applies it unless it is listed somewhere.
`

// statusRecord is the content of a status file.
type statusRecord struct {
	Rollout        string            `json:"rollout"`
	Outcome        Outcome           `json:"outcome"`
	Revision       string            `json:"revision"`
	StableRevision string            `json:"stableRevision,omitempty"`
	Reason         string            `json:"reason,omitempty"`
	Images         map[string]string `json:"images,omitempty"`
}

// EditStatusFile writes the outcome into the status file of a Kustomize or
// HelmValues change (Change.StatusFilePath): the file that holds the images
// cannot hold the Rollout's own record. src is nil when the file does not
// exist yet. The images recorded are the ones now in Git: the promoted
// images, or the stable ones after a rollback.
func EditStatusFile(src []byte, ch Change) ([]byte, error) {
	rec := statusRecord{
		Rollout:        ch.Rollout.String(),
		Outcome:        ch.Outcome,
		Revision:       ch.Revision,
		StableRevision: ch.StableRevision,
		Reason:         ch.Reason,
		Images:         ch.Images,
	}
	if ch.Outcome.writesTemplate() {
		rec.Images = ch.StableImages
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return nil, terminal(ReasonInvalid, "encoding %s: %w", ch.StatusFilePath(), err)
	}
	want, err := yamledit.FromJSON(raw)
	if err != nil {
		return nil, terminal(ReasonInvalid, "encoding %s: %w", ch.StatusFilePath(), err)
	}
	if len(bytes.TrimSpace(src)) == 0 {
		src = fmt.Appendf(nil, statusHeader, ch.Rollout)
		src = append(src, "rollout: "+ch.Rollout.String()+"\n"...)
	}
	f, err := yamledit.Parse(src)
	if err == nil && (f.Node(0) == nil || f.Node(0).YNode().Kind != yaml.MappingNode) {
		err = fmt.Errorf("not a mapping")
	}
	if err != nil {
		return nil, terminal(ReasonInvalid, "%s is sluice's status file but does not read as one (%v); delete it and sluice writes it anew", ch.StatusFilePath(), err)
	}
	if _, err := f.Edit(0, func(rn *yaml.RNode) error {
		yamledit.Assign(rn.YNode(), want)
		return nil
	}); err != nil {
		return nil, terminal(ReasonInvalid, "writing %s: %w", ch.StatusFilePath(), err)
	}
	return f.Bytes(), nil
}
