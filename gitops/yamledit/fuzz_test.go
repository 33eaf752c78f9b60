package yamledit

import (
	"bytes"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// FuzzAssign turns one document into another. Whatever Edit accepts must
// read back as exactly the target, and the file's other documents must
// keep their bytes.
func FuzzAssign(f *testing.F) {
	seeds := [][2]string{
		{"a: 1\nb:\n  - x\n  - y # c\n", "a: 2\nb: [x, z, y]\n"},
		{"spec:\n  containers:\n  - name: app\n    image: v2\n    env:\n    - {name: A, value: '1'}\n", "spec:\n  containers:\n  - name: app\n    image: v1\n"},
		{"k: |\n  text\n\n# c\nm: {a: 1}\n", "k: other\nm: {a: 1, b: 2}\nn: [1]\n"},
		{"a: &x {b: 1}\nc: *x\n", "a: {b: 2}\nc: {b: 2}\n"},
		{"- a\n- b\n", "- b\n"},
		{"x: 1\r\ny: 2", "y: 3\r\nz: 4"},
	}
	for _, s := range seeds {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, src, target []byte) {
		var tdoc yaml.Node
		if yaml.Unmarshal(target, &tdoc) != nil || len(tdoc.Content) == 0 {
			return
		}
		want, err := decode(&tdoc)
		if err != nil {
			return
		}
		file := append([]byte("keep: me   # as is\n---\n"), src...)
		fl, err := Parse(file)
		if err != nil || fl.Docs() != 2 || fl.Node(1) == nil {
			return
		}
		if _, err := fl.Edit(1, func(rn *yaml.RNode) error {
			Assign(rn.YNode(), tdoc.Content[0])
			return nil
		}); err != nil {
			t.Fatalf("edit: %v", err)
		}
		out := fl.Bytes()
		if !bytes.HasPrefix(out, []byte("keep: me   # as is\n---\n")) {
			t.Fatalf("first document changed:\n%s", out)
		}
		after, err := Parse(out)
		if err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, out)
		}
		doc, err := after.parse(1)
		if err != nil {
			t.Fatalf("edited document does not parse: %v", err)
		}
		got, err := decode(doc)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("edited document holds\n%s\nwant\n%s\ntext:\n%s", got, want, out)
		}
	})
}
