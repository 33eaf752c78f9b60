// Package revision names pod-template revisions: the hash sluice stamps as
// sluice.dev/revision on ReplicaSets and pods.
package revision

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// hashLen keeps labels short and readable in kubectl output while leaving
// 40 bits against accidental collisions within one Rollout's history.
const hashLen = 10

// Hash returns the revision of a pod template: a hash of its canonical JSON
// with empty values (null, "", {} and []) left out, so the hash does not
// change when the Kubernetes API gains a field that the template leaves
// unset. Map keys are sorted by encoding/json, so the JSON is canonical.
func Hash(template *corev1.PodTemplateSpec) (string, error) {
	raw, err := json.Marshal(template)
	if err != nil {
		return "", fmt.Errorf("encoding pod template: %w", err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return "", fmt.Errorf("decoding pod template: %w", err)
	}
	canonical, err := json.Marshal(Prune(doc))
	if err != nil {
		return "", fmt.Errorf("encoding canonical pod template: %w", err)
	}
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:])[:hashLen], nil
}

// Prune drops empty values (null, "", {} and []) recursively, in place.
// Zero numbers and false stay: they can differ in meaning from an unset
// field (terminationGracePeriodSeconds). The revision hash is taken over
// the pruned form; gitops writes templates to Git in it too.
func Prune(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			e = Prune(e)
			if isEmpty(e) {
				delete(t, k)
				continue
			}
			t[k] = e
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = Prune(e)
		}
		return t
	default:
		return v
	}
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return t == ""
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}
