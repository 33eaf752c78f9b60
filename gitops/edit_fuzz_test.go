package gitops

import (
	"bytes"
	"testing"

	"github.com/sluice-dev/sluice/gitops/yamledit"
)

// FuzzEditManifest feeds arbitrary files to EditManifest. It must never
// panic; what it returns must parse, keep the number of documents, carry
// the outcome, and be a fixed point (a second edit changes nothing).
func FuzzEditManifest(f *testing.F) {
	f.Add([]byte(readTestdata(f, "rollout.yaml")), false)
	f.Add([]byte(readTestdata(f, "rollout.yaml")), true)
	rollout := "apiVersion: sluice.dev/v1alpha1\nkind: Rollout\nmetadata:\n  name: web\n"
	for _, s := range []string{
		rollout,
		rollout + "spec:\n  template: {spec: {containers: [{name: app, image: 'registry.example.com/web:v2'}]}}\n",
		rollout + "  annotations: &a {x: y}\nspec:\n  template:\n    metadata: *a\n    spec:\n      containers:\n      - name: app\n        image: >-\n          registry.example.com/web:v2\n",
		"apiVersion: sluice.dev/v1alpha1\r\nkind: Rollout\r\nmetadata:\r\n  name: web\r\n  namespace: default",
		"---\n...\n---\n" + rollout + "---\n# only a comment\n",
		"[1, 2]\n---\n" + rollout,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, src []byte, aborted bool) {
		ch := promotion("rollout.yaml", FormatManifest)
		if aborted {
			ch = abort("rollout.yaml", FormatManifest)
		}
		out, err := EditManifest(src, ch)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error is not an *Error: %v", err)
			}
			return
		}
		before, err := yamledit.Parse(src)
		if err != nil {
			t.Fatalf("accepted a file that does not parse: %v", err)
		}
		after, err := yamledit.Parse(out)
		if err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, out)
		}
		if before.Docs() != after.Docs() {
			t.Fatalf("documents: %d before, %d after", before.Docs(), after.Docs())
		}
		i, err := findRollout(after, ch)
		if err != nil {
			t.Fatalf("Rollout lost: %v\n%s", err, out)
		}
		if !aborted {
			if v := stringField(after.Node(i).YNode(), "metadata", "annotations", PromotedRevisionAnnotation); v != ch.Revision {
				t.Fatalf("annotation not written:\n%s", out)
			}
		}
		again, err := EditManifest(out, ch)
		if err != nil {
			t.Fatalf("second edit fails: %v\n%s", err, out)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("second edit changes the file again:\n%s\n---- then ----\n%s", out, again)
		}
	})
}
