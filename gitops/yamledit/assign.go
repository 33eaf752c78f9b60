package yamledit

import (
	"bytes"
	"encoding/json"
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// cloneTree deep-copies n. corr maps every copy back to its original, which
// is how the splicer knows what an edit kept; seen maps originals to copies
// so that aliases point into the copy.
func cloneTree(n *yaml.Node, corr, seen map[*yaml.Node]*yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	if c, ok := seen[n]; ok {
		return c
	}
	c := *n
	seen[n] = &c
	if corr != nil {
		corr[&c] = n
	}
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, e := range n.Content {
		c.Content[i] = cloneTree(e, corr, seen)
	}
	if n.Alias != nil {
		c.Alias = cloneTree(n.Alias, corr, seen)
	}
	return &c
}

// fresh copies n with no tie to any original: nodes that an edit adds.
func fresh(n *yaml.Node) *yaml.Node { return cloneTree(n, nil, map[*yaml.Node]*yaml.Node{}) }

// Assign makes dst hold the data of src while keeping dst's own nodes, and
// so their comments, quoting and place in the file, wherever the two agree:
// mapping keys keep their order (new ones go last), list items are matched
// by their name field or scalar value, scalars keep their style.
func Assign(dst, src *yaml.Node) {
	if dst.Kind != src.Kind || dst.Kind == yaml.AliasNode || dst.Kind == yaml.DocumentNode {
		replace(dst, src)
		return
	}
	switch dst.Kind {
	case yaml.ScalarNode:
		if dst.ShortTag() != src.ShortTag() {
			dst.Style = src.Style // "8080" becoming 8080 must lose its quotes
		}
		dst.Value, dst.Tag = src.Value, src.ShortTag()
		if dst.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 && !bytes.ContainsAny([]byte(src.Value), "\n") {
			dst.Style = 0 // a one-line value reads better plain than as a block
		}
	case yaml.MappingNode:
		assignMapping(dst, src)
	case yaml.SequenceNode:
		assignSequence(dst, src)
	}
}

func replace(dst, src *yaml.Node) {
	head, line := dst.HeadComment, dst.LineComment
	*dst = *fresh(src)
	dst.HeadComment, dst.LineComment = head, line
}

func assignMapping(dst, src *yaml.Node) {
	want := map[string]*yaml.Node{}
	for i := 0; i+1 < len(src.Content); i += 2 {
		want[src.Content[i].Value] = src.Content[i+1]
	}
	kept := map[string]bool{}
	var content []*yaml.Node
	for i := 0; i+1 < len(dst.Content); i += 2 {
		k, v := dst.Content[i], dst.Content[i+1]
		sv, ok := want[k.Value]
		if !ok || kept[k.Value] {
			continue
		}
		kept[k.Value] = true
		Assign(v, sv)
		content = append(content, k, v)
	}
	for i := 0; i+1 < len(src.Content); i += 2 {
		if k := src.Content[i]; !kept[k.Value] {
			kept[k.Value] = true
			content = append(content, fresh(k), fresh(src.Content[i+1]))
		}
	}
	dst.Content = content
}

func assignSequence(dst, src *yaml.Node) {
	match := matchItems(dst.Content, src.Content)
	content := make([]*yaml.Node, len(src.Content))
	for i, s := range src.Content {
		if d := match[i]; d != nil {
			Assign(d, s)
			content[i] = d
			continue
		}
		content[i] = fresh(s)
	}
	dst.Content = content
}

// matchItems pairs each src item with a dst item: by identity key (the
// name field of a mapping, the value of a scalar) when every item has a
// distinct one, by position otherwise.
func matchItems(dst, src []*yaml.Node) []*yaml.Node {
	match := make([]*yaml.Node, len(src))
	dk, dOK := itemKeys(dst)
	sk, sOK := itemKeys(src)
	if dOK && sOK {
		byKey := map[string]*yaml.Node{}
		for i, d := range dst {
			byKey[dk[i]] = d
		}
		for i := range src {
			match[i] = byKey[sk[i]]
		}
		return match
	}
	for i := range src {
		if i < len(dst) && dst[i].Kind == src[i].Kind {
			match[i] = dst[i]
		}
	}
	return match
}

func itemKeys(items []*yaml.Node) ([]string, bool) {
	keys := make([]string, len(items))
	seen := map[string]bool{}
	for i, n := range items {
		switch n.Kind {
		case yaml.ScalarNode:
			keys[i] = "value=" + n.ShortTag() + ":" + n.Value
		case yaml.MappingNode:
			for j := 0; j+1 < len(n.Content); j += 2 {
				if n.Content[j].Value == "name" && n.Content[j+1].Kind == yaml.ScalarNode {
					keys[i] = "name=" + n.Content[j+1].Value
				}
			}
		}
		if keys[i] == "" || seen[keys[i]] {
			return nil, false
		}
		seen[keys[i]] = true
	}
	return keys, true
}

// FromJSON turns JSON into a block-style tree, as if it had been written
// as YAML by hand: no flow collections, strings quoted only where needed.
func FromJSON(data []byte) (*yaml.Node, error) {
	if !json.Valid(data) {
		return nil, fmt.Errorf("invalid JSON")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("reading JSON as YAML: %w", err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("empty JSON")
	}
	var plain func(n *yaml.Node)
	plain = func(n *yaml.Node) {
		n.Tag = n.ShortTag()
		n.Style = 0
		for _, c := range n.Content {
			plain(c)
		}
	}
	root := doc.Content[0]
	plain(root)
	return root, nil
}

// SetString gives scalar n a string value the way Assign would: keeping a
// quoted style, dropping a block style that a one-line value does not need.
func SetString(n *yaml.Node, value string) {
	Assign(n, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value})
}
