package yamledit

import (
	"bytes"
	"fmt"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// layout is how a document is indented, so that new lines look like their
// neighbours.
type layout struct {
	step    int  // spaces per nesting level
	compact bool // sequence dashes at the column of their parent key
	newline string
}

// detectLayout takes the first nested mapping's indentation step and the
// first block sequence's dash position; Kubernetes' own style (two spaces,
// compact sequences) when the document shows neither.
func detectLayout(root *yaml.Node, l *lines) layout {
	lay := layout{step: 2, compact: true, newline: l.newline()}
	stepFound, seqFound := false, false
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if stepFound && seqFound {
			return
		}
		if n.Kind == yaml.MappingNode && n.Style&yaml.FlowStyle == 0 {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if v.Style&yaml.FlowStyle != 0 || len(v.Content) == 0 {
					continue
				}
				switch v.Kind {
				case yaml.MappingNode:
					if d := v.Content[0].Column - k.Column; !stepFound && d > 0 && v.Content[0].Line > k.Line {
						lay.step, stepFound = d, true
					}
				case yaml.SequenceNode:
					if dash := dashColumn(l, v.Content[0]); !seqFound && dash > 0 && v.Content[0].Line > k.Line {
						lay.compact, seqFound = dash == k.Column, true
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(root)
	return lay
}

// dashColumn is the 1-based column of the "-" introducing a block
// sequence item that starts on the dash's line, or 0.
func dashColumn(l *lines, item *yaml.Node) int {
	off := l.offset(item.Line, item.Column)
	if off < 0 {
		return 0
	}
	before := l.src[l.start(item.Line):off]
	trimmed := bytes.TrimRight(before, " ")
	if !bytes.HasSuffix(trimmed, []byte("-")) || len(bytes.Trim(trimmed[:len(trimmed)-1], " ")) != 0 {
		return 0
	}
	return len(trimmed) // the dash is the last byte; columns are 1-based
}

// encode renders n as a YAML block the way kyaml does, with the
// document's indentation.
func (lay layout) encode(n *yaml.Node) (string, error) {
	n = fresh(n)
	spellNulls(n)
	var buf bytes.Buffer
	e := yaml.NewEncoder(&buf)
	e.SetIndent(lay.step)
	if lay.compact {
		e.CompactSeqIndent()
	} else {
		e.DefaultSeqIndent()
	}
	if err := e.Encode(n); err != nil {
		return "", fmt.Errorf("encoding YAML: %w", err)
	}
	if err := e.Close(); err != nil {
		return "", fmt.Errorf("encoding YAML: %w", err)
	}
	return buf.String(), nil
}

// spellNulls writes out the empty nulls ("key:" in the source), which
// yaml.v3's encoder would otherwise turn into empty strings.
func spellNulls(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Value == "" && n.ShortTag() == "!!null" {
		n.Value = "null"
	}
	for _, c := range n.Content {
		spellNulls(c)
	}
}

// block renders n shifted right by indent spaces. The first line is not
// shifted when it continues a line already in the document.
func (lay layout) block(n *yaml.Node, indent int, inline bool) (string, error) {
	out, err := lay.encode(n)
	if err != nil {
		return "", err
	}
	pad := strings.Repeat(" ", indent)
	var b strings.Builder
	for i, line := range strings.SplitAfter(out, "\n") {
		if line == "" {
			continue
		}
		if (i > 0 || !inline) && line != "\n" {
			b.WriteString(pad)
		}
		b.WriteString(line)
	}
	return strings.ReplaceAll(b.String(), "\n", lay.newline), nil
}

// entry renders a mapping entry on its own.
func (lay layout) entry(k, v *yaml.Node, indent int, inline bool) (string, error) {
	return lay.block(&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{k, v}}, indent, inline)
}

// item renders a sequence item, dash included.
func (lay layout) item(v *yaml.Node, indent int) (string, error) {
	return lay.block(&yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{v}}, indent, false)
}

// scalar renders the value of n in the style the old scalar used where that
// style can carry it, so quoting habits survive an edit; ok is false when
// no single-line form fits.
func scalar(n *yaml.Node, old yaml.Style) (string, bool) {
	if strings.ContainsAny(n.Value, "\n\r") {
		return "", false
	}
	tag := n.ShortTag()
	switch old &^ yaml.TaggedStyle {
	case yaml.SingleQuotedStyle:
		if tag == "!!str" && printable(n.Value) {
			return "'" + strings.ReplaceAll(n.Value, "'", "''") + "'", true
		}
	case yaml.DoubleQuotedStyle:
		if tag == "!!str" {
			return doubleQuoted(n.Value)
		}
	}
	if plainSafe(n.Value, tag) {
		return n.Value, true
	}
	if tag == "!!str" {
		return doubleQuoted(n.Value)
	}
	return "", false
}

// plainSafe reports whether value, written unquoted after a key, reads back
// as the same value with the same tag.
func plainSafe(value, tag string) bool {
	if value == "" {
		return false
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("k: "+value+"\n"), &doc); err != nil {
		return false
	}
	if len(doc.Content) != 1 || len(doc.Content[0].Content) != 2 {
		return false
	}
	v := doc.Content[0].Content[1]
	return v.Kind == yaml.ScalarNode && v.Style == 0 && v.Value == value && v.ShortTag() == tag
}

func doubleQuoted(value string) (string, bool) {
	var buf bytes.Buffer
	e := yaml.NewEncoder(&buf)
	if err := e.Encode(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value, Style: yaml.DoubleQuotedStyle}); err != nil {
		return "", false
	}
	out := strings.TrimSuffix(buf.String(), "\n")
	if strings.Contains(out, "\n") {
		return "", false
	}
	return out, true
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
