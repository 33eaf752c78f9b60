package yamledit

import (
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

func setString(path []string, value string) func(*yaml.RNode) error {
	return func(rn *yaml.RNode) error {
		n, err := rn.Pipe(yaml.LookupCreate(yaml.ScalarNode, path...))
		if err != nil {
			return err
		}
		SetString(n.YNode(), value)
		return nil
	}
}

func assignJSON(path []string, js string) func(*yaml.RNode) error {
	return func(rn *yaml.RNode) error {
		src, err := FromJSON([]byte(js))
		if err != nil {
			return err
		}
		target, err := rn.Pipe(yaml.Lookup(path...))
		if err != nil {
			return err
		}
		Assign(target.YNode(), src)
		return nil
	}
}

func TestEditSplices(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		doc       int
		edit      func(*yaml.RNode) error
		want      string
		reencoded bool
	}{
		{
			name: "plain scalar keeps comments, blank lines and spacing",
			src: `# head
a:    1   # keep me

b:
    c: old   # line
    d: x
`,
			edit: setString([]string{"b", "c"}, "new"),
			want: `# head
a:    1   # keep me

b:
    c: new   # line
    d: x
`,
		},
		{
			name: "quoted scalars keep their quotes",
			src:  "a: \"v1\"\nb: 'v1'\n",
			edit: func(rn *yaml.RNode) error {
				if err := setString([]string{"a"}, "v2 \"x\"")(rn); err != nil {
					return err
				}
				return setString([]string{"b"}, "it's")(rn)
			},
			want: "a: \"v2 \\\"x\\\"\"\nb: 'it''s'\n",
		},
		{
			name: "plain scalar that would change type gets quotes",
			src:  "tag: v1\n",
			edit: setString([]string{"tag"}, "1.0"),
			want: "tag: \"1.0\"\n",
		},
		{
			name: "unicode before the value",
			src:  "\"ä\": x\nb: [1, 2]\n",
			edit: setString([]string{"ä"}, "y"),
			want: "\"ä\": y\nb: [1, 2]\n",
		},
		{
			name: "new key goes after the last entry of its mapping, before what follows",
			src: `metadata:
  name: web
  labels:
    app: web

  # spec comment
spec: {}
`,
			edit: setString([]string{"metadata", "annotations", "sluice.dev/x"}, "abc"),
			want: `metadata:
  name: web
  labels:
    app: web
  annotations:
    sluice.dev/x: abc

  # spec comment
spec: {}
`,
		},
		{
			name: "four-space indentation is followed",
			src:  "metadata:\n    name: web\n",
			edit: setString([]string{"metadata", "annotations", "k"}, "v"),
			want: "metadata:\n    name: web\n    annotations:\n        k: v\n",
		},
		{
			name: "no final newline stays so",
			src:  "a:\n  b: 1",
			edit: setString([]string{"a", "c"}, "2"),
			want: "a:\n  b: 1\n  c: \"2\"",
		},
		{
			name: "CRLF line breaks are kept",
			src:  "a:\r\n  b: 1\r\n",
			edit: setString([]string{"a", "c"}, "x"),
			want: "a:\r\n  b: 1\r\n  c: x\r\n",
		},
		{
			name: "only the edited document of several changes",
			src: `# first
kind: A
metadata:   {name: a}
---
kind: B   # second
metadata:
  name: b
...
---
kind: C
`,
			doc:  1,
			edit: setString([]string{"metadata", "name"}, "bb"),
			want: `# first
kind: A
metadata:   {name: a}
---
kind: B   # second
metadata:
  name: bb
...
---
kind: C
`,
		},
		{
			name: "assign keeps list items by name and rewrites only what differs",
			src: `spec:
  containers:
    # the app
    - name: app
      image: repo/app:v2   # canary
      env:
        - name: A
          value: "1"

        - name: B
          value: "2"
    - name: sidecar
      image: proxy:1
  restartPolicy: Always
`,
			edit: assignJSON([]string{"spec"}, `{"containers":[
				{"name":"app","image":"repo/app:v1","env":[{"name":"A","value":"1"}]},
				{"name":"sidecar","image":"proxy:1","args":["--x"]}],
				"restartPolicy":"Always"}`),
			want: `spec:
  containers:
    # the app
    - name: app
      image: repo/app:v1   # canary
      env:
        - name: A
          value: "1"

    - name: sidecar
      image: proxy:1
      args:
        - --x
  restartPolicy: Always
`,
		},
		{
			name: "a value changing kind rewrites its entry only",
			src:  "a:\n  b: scalar # note\n  c: 1\n",
			edit: assignJSON([]string{"a"}, `{"b":{"x":1},"c":1}`),
			want: "a:\n  b: # note\n    x: 1\n  c: 1\n",
		},
		{
			name: "new first item of a compact list",
			src:  "l:\n- b\n- c\n",
			edit: assignJSON([]string{"l"}, `["a","b","c"]`),
			want: "l:\n- a\n- b\n- c\n",
		},
		{
			name: "emptied list is rewritten with its key",
			src:  "l:\n  - a # x\nk: 1\n",
			edit: assignJSON(nil, `{"l":[],"k":1}`),
			want: "l: []\nk: 1\n",
		},
		{
			name: "flow mapping that changes is re-encoded",
			src:  "m: {a: 1, b: 2}\n\nn: 1\n",
			edit: assignJSON([]string{"m"}, `{"a":1,"b":3}`),
			want: "m: {a: 1, b: 3}\n\nn: 1\n",
		},
		{
			name: "deleted key takes its head comment along",
			src:  "a: 1\n# about b\nb: 2\nc: 3\n",
			edit: assignJSON(nil, `{"a":1,"c":3}`),
			want: "a: 1\nc: 3\n",
		},
		{
			name: "literal block scalar replaced",
			src:  "s: |\n  line1\n  line2\nt: 1\n",
			edit: setString([]string{"s"}, "one"),
			want: "s: one\nt: 1\n",
		},
		{
			name: "reordered keys fall back to re-encoding the document",
			src:  "a:  1\n\nb: 2\n",
			edit: func(rn *yaml.RNode) error {
				c := rn.YNode().Content
				c[0], c[1], c[2], c[3] = c[2], c[3], c[0], c[1]
				return nil
			},
			want:      "b: 2\na: 1\n",
			reencoded: true,
		},
		{
			name: "no change, no difference",
			src:  "a:   1 # c\n\n\nb:\n- x\n",
			edit: func(*yaml.RNode) error { return nil },
			want: "a:   1 # c\n\n\nb:\n- x\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			f, err := Parse([]byte(tt.src))
			g.Expect(err).NotTo(HaveOccurred())
			reencoded, err := f.Edit(tt.doc, tt.edit)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(f.Bytes())).To(Equal(tt.want))
			g.Expect(reencoded).To(Equal(tt.reencoded))
		})
	}
}

func TestParse(t *testing.T) {
	g := NewWithT(t)
	f, err := Parse([]byte("a: 1\n---\n---   # c\nb: 2\n"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(f.Docs()).To(Equal(3))
	g.Expect(f.Node(1)).To(BeNil())
	g.Expect(f.Node(2).MustString()).To(Equal("b: 2\n"))
	_, err = f.Edit(1, func(*yaml.RNode) error { return nil })
	g.Expect(err).To(MatchError(ErrEmptyDocument))

	_, err = Parse([]byte("a: 1\n--- |\n  text\n"))
	g.Expect(err).To(MatchError(ContainSubstring("content on the document marker line")))
	_, err = Parse([]byte("a: 1\n---\nb: [\n"))
	g.Expect(err).To(MatchError(HavePrefix("document 2:")))
	f, err = Parse([]byte("---x: 1\n"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(f.Docs()).To(Equal(1))
	g.Expect(f.Node(0).Field("---x")).NotTo(BeNil())
}
