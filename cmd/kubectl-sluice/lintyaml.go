package main

// Reading manifests for lint: documents split the way kubectl splits them,
// values decoded the way kubectl decodes them (sigs.k8s.io/yaml, so "yes"
// is a bool as kubectl apply sends it), and a go.yaml.in/yaml/v3 node tree
// of the same text to find the line of a field path.

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

// document is one YAML document of an input.
type document struct {
	// line is the line of the document's first field in its file.
	line int
	// node is the document's root node, with line numbers of the file.
	node *yamlv3.Node
	// value is the document decoded as kubectl decodes it (JSON types,
	// integers as int64); nil for an empty document.
	value any
	// err is set when the document is not valid YAML; errLine is where.
	err     string
	errLine int
}

// splitDocuments cuts a YAML stream at lines that are exactly "---", as
// kubectl's YAML reader does, and parses each part.
func splitDocuments(data []byte) []document {
	var docs []document
	start, lineNo := 1, 0
	var cur bytes.Buffer
	flush := func() {
		if d, ok := parseDocument(cur.Bytes(), start); ok {
			docs = append(docs, d)
		}
		cur.Reset()
	}
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i+1], data[i+1:]
		} else {
			data = nil
		}
		lineNo++
		if rest, ok := bytes.CutPrefix(line, []byte("---")); ok && len(bytes.TrimSpace(rest)) == 0 {
			flush()
			start = lineNo + 1
			continue
		}
		cur.Write(line)
	}
	flush()
	return docs
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseDocument parses one document whose text starts at line start. ok is
// false for a document with nothing in it. Syntax errors are the ones
// kubectl would print (sigs.k8s.io/yaml's, whose line numbers are also the
// more precise); the node tree is only for positions, and a document that
// go.yaml.in/yaml/v3 reads differently just has no positions below its
// first line.
func parseDocument(text []byte, start int) (document, bool) {
	d := document{line: firstContentLine(text, start)}
	if d.line == 0 {
		return d, false
	}
	j, err := yaml.YAMLToJSON(text)
	if err != nil {
		d.err, d.errLine = strings.TrimPrefix(err.Error(), "error converting YAML to JSON: "), d.line
		if m := yamlLineRe.FindStringSubmatch(d.err); m != nil {
			n, _ := strconv.Atoi(m[1])
			d.errLine, d.err = start+n-1, m[2]
		}
		return d, true
	}
	if err := utiljson.Unmarshal(j, &d.value); err != nil {
		d.err, d.errLine = err.Error(), d.line
		return d, true
	}
	if d.value == nil {
		return d, false
	}
	var root yamlv3.Node
	if yamlv3.Unmarshal(text, &root) == nil && len(root.Content) > 0 {
		d.node = root.Content[0]
		shiftLines(d.node, start-1, map[*yamlv3.Node]bool{})
		d.line = d.node.Line
	}
	return d, true
}

// firstContentLine is the line of the first line of text that is neither
// blank nor a comment, or 0 if there is none.
func firstContentLine(text []byte, start int) int {
	for i, l := range strings.Split(string(text), "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			return start + i
		}
	}
	return 0
}

func shiftLines(n *yamlv3.Node, by int, seen map[*yamlv3.Node]bool) {
	if n == nil || seen[n] {
		return
	}
	seen[n] = true
	n.Line += by
	for _, c := range n.Content {
		shiftLines(c, by, seen)
	}
}

// pathToken is one step of a field path: a name (object field or map
// key) or an index.
type pathToken struct {
	name    string
	index   int
	isIndex bool
}

// parsePath reads the field paths of field errors, plan errors and pruned
// fields: "spec.strategy.canary.steps[1].pause.duration",
// "spec.strategy.abTest.matches[0].headers[x-beta]", `headers["x-beta"]`.
func parsePath(p string) []pathToken {
	var toks []pathToken
	for i := 0; i < len(p); {
		switch p[i] {
		case '.':
			i++
		case '[':
			end := strings.IndexByte(p[i:], ']')
			if end < 0 {
				toks = append(toks, pathToken{name: p[i+1:]})
				return toks
			}
			in := p[i+1 : i+end]
			i += end + 1
			if u, err := strconv.Unquote(in); err == nil {
				toks = append(toks, pathToken{name: u})
			} else if n, err := strconv.Atoi(in); err == nil && n >= 0 {
				toks = append(toks, pathToken{name: in, index: n, isIndex: true})
			} else {
				toks = append(toks, pathToken{name: in})
			}
		default:
			end := strings.IndexAny(p[i:], ".[")
			if end < 0 {
				end = len(p) - i
			}
			toks = append(toks, pathToken{name: p[i : i+end]})
			i += end
		}
	}
	return toks
}

// lineOf is the line of the field at path below n: the line of its key, or
// of the deepest part of the path that exists (a missing field's parent).
func lineOf(n *yamlv3.Node, path string) int {
	if n == nil {
		return 0
	}
	line := n.Line
	toks := parsePath(path)
	for i := 0; i < len(toks); {
		for n.Kind == yamlv3.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		switch n.Kind {
		case yamlv3.MappingNode:
			// A map key may contain dots; kube-openapi joins them into the
			// path unquoted, so try longer keys when the short one is not
			// there.
			found := false
			key := ""
			for j := i; j < len(toks) && !found; j++ {
				if j > i {
					key += "."
				}
				key += toks[j].name
				if k, v := mappingEntry(n, key); k != nil {
					line, n, i, found = k.Line, v, j+1, true
				}
			}
			if !found {
				return line
			}
		case yamlv3.SequenceNode:
			t := toks[i]
			if !t.isIndex || t.index >= len(n.Content) {
				return line
			}
			n = n.Content[t.index]
			line = n.Line
			i++
		default:
			return line
		}
	}
	return line
}

func mappingEntry(m *yamlv3.Node, key string) (k, v *yamlv3.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// duplicateKeys lists the keys given twice in one mapping below n, with the
// path and line of the second; kubectl keeps the last and says nothing.
func duplicateKeys(n *yamlv3.Node) (paths []string, lines []int) {
	if n == nil {
		return nil, nil
	}
	var walk func(n *yamlv3.Node, path string)
	walk = func(n *yamlv3.Node, path string) {
		switch n.Kind {
		case yamlv3.MappingNode:
			seen := map[string]bool{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				p := k
				if path != "" {
					p = path + "." + k
				}
				if seen[k] {
					paths, lines = append(paths, p), append(lines, n.Content[i].Line)
				}
				seen[k] = true
				walk(n.Content[i+1], p)
			}
		case yamlv3.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(n, "")
	return paths, lines
}
