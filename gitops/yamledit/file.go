// Package yamledit edits YAML files the way a person would: only the values
// that change are rewritten, and every other byte of the file (comments,
// blank lines, quoting, key order, other documents) stays as it was.
//
// An edit is a function over a kyaml tree of one document. The package
// compares the edited tree with the original and turns the differences
// into splices of the original text. If a difference cannot be spliced
// safely (flow style, multi-line scalars, reordered lists), that document
// alone is re-encoded with kyaml, which keeps comments but normalises
// layout. Either way the result is parsed again and must hold exactly the
// edited data, so a splice can never silently change meaning.
package yamledit

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// File is a YAML file split into its documents.
type File struct {
	parts []part
	docs  []int // indexes into parts of the documents
}

type part struct {
	text []byte
	doc  bool // false for "---" and "..." lines between documents
}

// Parse splits src into documents and checks that each one parses.
func Parse(src []byte) (*File, error) {
	f := &File{}
	cur := []byte{}
	flush := func() {
		f.docs = append(f.docs, len(f.parts))
		f.parts = append(f.parts, part{text: cur, doc: true})
		cur = []byte{}
	}
	for line := range bytes.Lines(src) {
		sep, err := separator(line)
		if err != nil {
			return nil, err
		}
		if !sep {
			cur = append(cur, line...)
			continue
		}
		flush()
		f.parts = append(f.parts, part{text: line})
	}
	flush()
	for i := range f.Docs() {
		if _, err := f.parse(i); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
	}
	return f, nil
}

// separator recognises a document marker line. A marker followed by
// content on the same line (--- |) is valid YAML but cannot be edited
// document by document, so it is refused rather than misread.
func separator(line []byte) (bool, error) {
	for _, marker := range [][]byte{[]byte("---"), []byte("...")} {
		if !bytes.HasPrefix(line, marker) {
			continue
		}
		rest := line[len(marker):]
		if len(rest) > 0 && rest[0] != ' ' && rest[0] != '\t' && rest[0] != '\n' && rest[0] != '\r' {
			return false, nil // "---x" is an ordinary scalar
		}
		rest = bytes.TrimSpace(rest)
		if len(rest) == 0 || rest[0] == '#' {
			return true, nil
		}
		return false, fmt.Errorf("unsupported YAML: content on the document marker line %q", bytes.TrimSpace(line))
	}
	return false, nil
}

// Docs is the number of documents, empty ones included.
func (f *File) Docs() int { return len(f.docs) }

func (f *File) docPart(i int) *part {
	if i < 0 || i >= len(f.docs) {
		return nil
	}
	return &f.parts[f.docs[i]]
}

// parse reads document i into a DocumentNode; Kind 0 for an empty one.
func (f *File) parse(i int) (*yaml.Node, error) {
	p := f.docPart(i)
	if p == nil {
		return nil, fmt.Errorf("no document %d", i+1)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(p.text, &doc); err != nil {
		return nil, err
	}
	return &doc, nil
}

// Node is a fresh tree of document i to read; nil for an empty document.
// Changes to it do not reach the file: use Edit.
func (f *File) Node(i int) *yaml.RNode {
	doc, err := f.parse(i)
	if err != nil || len(doc.Content) == 0 {
		return nil
	}
	return yaml.NewRNode(doc.Content[0])
}

// Bytes is the file as edited so far.
func (f *File) Bytes() []byte {
	var b bytes.Buffer
	for _, p := range f.parts {
		b.Write(p.text)
	}
	return b.Bytes()
}

// ErrEmptyDocument is returned by Edit for a document without content.
var ErrEmptyDocument = errors.New("document is empty")

// Edit runs fn on a copy of document i and writes the differences back.
// reencoded reports that the document had to be re-encoded as a whole
// rather than spliced.
func (f *File) Edit(i int, fn func(*yaml.RNode) error) (reencoded bool, err error) {
	p := f.docPart(i)
	if p == nil {
		return false, fmt.Errorf("no document %d", i+1)
	}
	origDoc, err := f.parse(i)
	if err != nil {
		return false, err
	}
	if len(origDoc.Content) == 0 {
		return false, ErrEmptyDocument
	}
	corr := map[*yaml.Node]*yaml.Node{}
	workDoc := cloneTree(origDoc, corr, map[*yaml.Node]*yaml.Node{})
	if err := fn(yaml.NewRNode(workDoc.Content[0])); err != nil {
		return false, err
	}
	want, err := decode(workDoc)
	if err != nil {
		return false, fmt.Errorf("edited document: %w", err)
	}
	l := newLines(p.text)
	lay := detectLayout(origDoc, l)
	text, err := splice(l, lay, corr, workDoc.Content[0], origDoc.Content[0])
	if err == nil && holds(text, want) {
		p.text = text
		return false, nil
	}
	text, err = reencode(lay, workDoc)
	if err != nil {
		return true, err
	}
	if !holds(text, want) {
		return true, errors.New("re-encoded document does not read back as edited")
	}
	p.text = text
	return true, nil
}

// reencode writes the whole document with kyaml's encoder.
func reencode(lay layout, doc *yaml.Node) ([]byte, error) {
	out, err := lay.encode(doc)
	if err != nil {
		return nil, err
	}
	return bytes.ReplaceAll([]byte(out), []byte("\n"), []byte(lay.newline)), nil
}

// holds reports whether text is one document carrying exactly want.
func holds(text []byte, want []byte) bool {
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil {
		return false
	}
	got, err := decode(&doc)
	return err == nil && bytes.Equal(got, want)
}

// decode is a document's data in a canonical text (map keys sorted,
// scalars with their Go type), the meaning two texts must share to count as
// the same.
func decode(doc *yaml.Node) ([]byte, error) {
	var v any
	if err := doc.Decode(&v); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	canonical(&b, v)
	return b.Bytes(), nil
}

func canonical(b *bytes.Buffer, v any) {
	switch t := v.(type) {
	case map[string]any:
		keys := slices.Sorted(maps.Keys(t))
		b.WriteByte('{')
		for _, k := range keys {
			fmt.Fprintf(b, "%q:", k)
			canonical(b, t[k])
			b.WriteByte(',')
		}
		b.WriteByte('}')
	case map[any]any:
		keys := make([]string, 0, len(t))
		byKey := make(map[string]any, len(t))
		for k, e := range t {
			var kb bytes.Buffer
			canonical(&kb, k)
			keys = append(keys, kb.String())
			byKey[kb.String()] = e
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for _, k := range keys {
			b.WriteString(k + ":")
			canonical(b, byKey[k])
			b.WriteByte(',')
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for _, e := range t {
			canonical(b, e)
			b.WriteByte(',')
		}
		b.WriteByte(']')
	case time.Time:
		b.WriteString("time:" + t.Format(time.RFC3339Nano))
	default:
		fmt.Fprintf(b, "%T:%#v", v, v)
	}
}
