package gitops

import "sigs.k8s.io/kustomize/kyaml/yaml"

// field walks mapping keys from n and returns the node found, or nil. It
// checks node kinds at every step: kyaml's own getters assume a
// well-formed object and can panic on a file that is only YAML.
func field(n *yaml.Node, path ...string) *yaml.Node {
	for _, key := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
				break
			}
		}
		n = next
	}
	return n
}

// stringField is the value of the scalar at path, "" when there is none.
func stringField(n *yaml.Node, path ...string) string {
	f := field(n, path...)
	if f == nil || f.Kind != yaml.ScalarNode {
		return ""
	}
	return f.Value
}
