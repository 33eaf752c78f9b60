package yamledit

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// errReplace says a change cannot be spliced inside a node: the caller
// rewrites the whole entry or item holding it instead.
var errReplace = errors.New("yamledit: rewrite the enclosing node")

// op replaces src[start:end] with text; start == end inserts.
type op struct {
	start, end int
	text       string
	seq        int // emission order: orders inserts at one offset
}

// splicer turns the differences between an edited copy of a document and
// the original into text operations on the original bytes.
type splicer struct {
	l    *lines
	lay  layout
	corr map[*yaml.Node]*yaml.Node // copy → original
	end  map[*yaml.Node]int        // original → first line after its subtree
	ops  []op
}

func splice(l *lines, lay layout, corr map[*yaml.Node]*yaml.Node, work, orig *yaml.Node) ([]byte, error) {
	s := &splicer{l: l, lay: lay, corr: corr, end: endLines(orig, l.count())}
	if corr[work] != orig {
		return nil, errReplace
	}
	if err := s.node(work, orig); err != nil {
		return nil, err
	}
	return s.apply()
}

// endLines finds for every node the line where the next node after its
// subtree starts (or one past the last line): in block style a node's
// text ends before it.
func endLines(root *yaml.Node, count int) map[*yaml.Node]int {
	var order []*yaml.Node
	after := map[*yaml.Node]int{}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		order = append(order, n)
		for _, c := range n.Content {
			walk(c)
		}
		after[n] = len(order)
	}
	walk(root)
	end := make(map[*yaml.Node]int, len(order))
	for n, i := range after {
		end[n] = count + 1
		if i < len(order) {
			end[n] = order[i].Line
		}
	}
	return end
}

// try runs f and forgets the operations it emitted if it gives up, so the
// caller can rewrite the node as a whole instead.
func (s *splicer) try(f func() error) error {
	n := len(s.ops)
	err := f()
	if err != nil {
		s.ops = s.ops[:n]
	}
	return err
}

func (s *splicer) node(w, o *yaml.Node) error {
	if w.Kind != o.Kind || w.Anchor != o.Anchor {
		return errReplace
	}
	switch {
	case w.Kind == yaml.AliasNode:
		if w.Alias == nil || s.corr[w.Alias] != o.Alias {
			return errReplace
		}
		return nil
	case w.Kind == yaml.ScalarNode:
		if w.Value == o.Value && w.ShortTag() == o.ShortTag() {
			return nil
		}
		return s.scalar(w, o)
	case o.Style&yaml.FlowStyle != 0 || len(o.Content) == 0:
		if equalTree(w, o) {
			return nil
		}
		return errReplace
	case w.Kind == yaml.MappingNode:
		return s.mapping(w, o)
	case w.Kind == yaml.SequenceNode:
		return s.sequence(w, o)
	}
	return errReplace
}

func equalTree(a, b *yaml.Node) bool {
	if a.Kind != b.Kind || a.ShortTag() != b.ShortTag() || a.Value != b.Value || a.Anchor != b.Anchor || len(a.Content) != len(b.Content) {
		return false
	}
	for i := range a.Content {
		if !equalTree(a.Content[i], b.Content[i]) {
			return false
		}
	}
	return true
}

func (s *splicer) emit(start, end int, text string) {
	src := s.l.src
	if end == len(src) && len(src) > 0 && src[len(src)-1] != '\n' {
		// Keep a file that ends without a line break ending without one.
		text = string(bytes.TrimSuffix([]byte(text), []byte(s.lay.newline)))
		if start == end && text != "" {
			text = s.lay.newline + text
		}
	}
	s.ops = append(s.ops, op{start: start, end: end, text: text, seq: len(s.ops)})
}

func (s *splicer) apply() ([]byte, error) {
	ops := slices.Clone(s.ops)
	slices.SortStableFunc(ops, func(a, b op) int {
		if a.start != b.start {
			return a.start - b.start
		}
		// At one offset, inserts go before a range that starts there, in
		// the order they were emitted.
		ar, br := a.end > a.start, b.end > b.start
		if ar != br {
			if ar {
				return 1
			}
			return -1
		}
		return a.seq - b.seq
	})
	src := s.l.src
	var out bytes.Buffer
	pos := 0
	for _, o := range ops {
		if o.start < pos {
			return nil, fmt.Errorf("yamledit: overlapping edits at byte %d", o.start)
		}
		out.Write(src[pos:o.start])
		out.WriteString(o.text)
		pos = o.end
	}
	out.Write(src[pos:])
	return out.Bytes(), nil
}

// scalar rewrites one scalar in place, when its text can be found exactly:
// one line, plain or quoted.
func (s *splicer) scalar(w, o *yaml.Node) error {
	if o.Style&(yaml.LiteralStyle|yaml.FoldedStyle|yaml.TaggedStyle|yaml.FlowStyle) != 0 {
		return errReplace
	}
	start := s.l.offset(o.Line, o.Column)
	if start < 0 {
		return errReplace
	}
	end, ok := s.scalarEnd(o, start)
	if !ok {
		return errReplace
	}
	text, ok := scalar(w, o.Style)
	if !ok {
		return errReplace
	}
	s.emit(start, end, text)
	return nil
}

// scalarEnd finds where the text of scalar o, starting at start, ends; ok
// is false unless that text provably is the whole scalar.
func (s *splicer) scalarEnd(o *yaml.Node, start int) (int, bool) {
	line := s.l.text(o.Line)
	rest := line[start-s.l.start(o.Line):]
	var raw []byte
	switch o.Style {
	case 0:
		raw = []byte(o.Value)
	case yaml.SingleQuotedStyle:
		raw = []byte("'" + string(bytes.ReplaceAll([]byte(o.Value), []byte("'"), []byte("''"))) + "'")
	case yaml.DoubleQuotedStyle:
		i := 1
		for i < len(rest) && rest[i] != '"' {
			if rest[i] == '\\' {
				i++
			}
			i++
		}
		if i >= len(rest) {
			return 0, false
		}
		raw = rest[:i+1]
		var v string
		if err := yaml.Unmarshal(raw, &v); err != nil || v != o.Value {
			return 0, false
		}
	default:
		return 0, false
	}
	if !bytes.HasPrefix(rest, raw) {
		return 0, false
	}
	after := bytes.TrimLeft(rest[len(raw):], " \t")
	if len(after) != len(rest)-len(raw) && len(after) > 0 && after[0] == '#' {
		after = nil // a comment follows
	}
	if len(after) != 0 {
		return 0, false
	}
	return start + len(raw), true
}
