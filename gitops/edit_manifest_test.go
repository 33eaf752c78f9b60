package gitops

import (
	"encoding/json"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/sluice-dev/sluice/revision"
)

// replaced applies old→new replacements that must each match once, so a
// want reads as "the source, except for these lines".
func replaced(t *testing.T, src string, pairs ...string) string {
	t.Helper()
	for i := 0; i < len(pairs); i += 2 {
		if strings.Count(src, pairs[i]) != 1 {
			t.Fatalf("%q occurs %d times in the source", pairs[i], strings.Count(src, pairs[i]))
		}
		src = strings.Replace(src, pairs[i], pairs[i+1], 1)
	}
	return src
}

func TestEditManifest(t *testing.T) {
	src := readTestdata(t, "rollout.yaml")
	withCanaryTemplate := func(ch Change) Change { return ch }
	tests := []struct {
		name   string
		src    string
		change func() Change
		want   string // "" when the source must come back unchanged
		reason Reason // set when an error is expected
		errSub string
	}{
		{
			name:   "promotion adds the annotation to the Rollout document only",
			src:    src,
			change: func() Change { return promotion("rollout.yaml", FormatManifest) },
			want: replaced(t, src, "  labels:\n    app: web\n\nspec:\n  replicas: 3",
				"  labels:\n    app: web\n  annotations:\n    sluice.dev/promoted-revision: "+canaryRev+"\n\nspec:\n  replicas: 3"),
		},
		{
			name: "promotion updates an existing annotation in place",
			src:  "apiVersion: sluice.dev/v1alpha1\nkind: Rollout\nmetadata:\n  name: web\n  annotations:\n    sluice.dev/promoted-revision: 'old'   # by sluice\n    other: x\nspec: {}\n",
			change: func() Change {
				return promotion("r.yaml", FormatManifest)
			},
			want: "apiVersion: sluice.dev/v1alpha1\nkind: Rollout\nmetadata:\n  name: web\n  annotations:\n    sluice.dev/promoted-revision: '" + canaryRev + "'   # by sluice\n    other: x\nspec: {}\n",
		},
		{
			name: "promotion already recorded changes nothing",
			src:  "apiVersion: sluice.dev/v1\nkind: Rollout\nmetadata:\n  name: web\n  annotations: {sluice.dev/promoted-revision: " + canaryRev + "}\n",
			change: func() Change {
				return promotion("r.yaml", FormatManifest)
			},
		},
		{
			name:   "abort writes the stable template back, nothing else moves",
			src:    src,
			change: func() Change { return withCanaryTemplate(abort("rollout.yaml", FormatManifest)) },
			want: replaced(t, src,
				`image: "registry.example.com/web:v2"   # bumped by CI`, `image: "registry.example.com/web:v1"   # bumped by CI`,
				"          env:\n            - name: FEATURE_X\n              value: \"on\"\n", ""),
		},
		{
			name:   "abort when the file already holds the stable images changes nothing",
			src:    strings.Replace(src, "web:v2", "web:v1", 1),
			change: func() Change { return abort("rollout.yaml", FormatManifest) },
		},
		{
			name:   "abort over someone else's newer image is a conflict",
			src:    strings.Replace(src, "web:v2", "web:v3", 1),
			change: func() Change { return abort("rollout.yaml", FormatManifest) },
			reason: ReasonConflict,
			errSub: "container app has registry.example.com/web:v3, the rolled-back revision 7c9f1a2b3c had registry.example.com/web:v2",
		},
		{
			name: "Rollout in another namespace is not ours",
			src:  src,
			change: func() Change {
				ch := promotion("rollout.yaml", FormatManifest)
				ch.Rollout.Namespace = "prod"
				return ch
			},
			reason: ReasonNotFound,
			errSub: "rollout.yaml has no Rollout document named prod/web",
		},
		{
			name: "a document without namespace matches",
			src:  "apiVersion: sluice.dev/v1alpha1\nkind: Rollout\nmetadata:\n  name: web\n",
			change: func() Change {
				return promotion("r.yaml", FormatManifest)
			},
			want: "apiVersion: sluice.dev/v1alpha1\nkind: Rollout\nmetadata:\n  name: web\n  annotations:\n    sluice.dev/promoted-revision: " + canaryRev + "\n",
		},
		{
			name:   "two unnamespaced candidates are ambiguous",
			src:    "apiVersion: sluice.dev/v1\nkind: Rollout\nmetadata: {name: web}\n---\napiVersion: sluice.dev/v1\nkind: Rollout\nmetadata: {name: web}\n",
			change: func() Change { return promotion("r.yaml", FormatManifest) },
			reason: ReasonInvalid,
			errSub: "2 Rollout documents named web",
		},
		{
			name:   "a Deployment of the same name is not the Rollout",
			src:    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\n",
			change: func() Change { return promotion("r.yaml", FormatManifest) },
			reason: ReasonNotFound,
		},
		{
			name:   "abort without spec.template",
			src:    "apiVersion: sluice.dev/v1\nkind: Rollout\nmetadata: {name: web}\nspec: {}\n",
			change: func() Change { return abort("r.yaml", FormatManifest) },
			reason: ReasonNotFound,
			errSub: "no spec.template",
		},
		{
			name:   "not YAML",
			src:    "a: [\n",
			change: func() Change { return promotion("r.yaml", FormatManifest) },
			reason: ReasonInvalid,
			errSub: "r.yaml is not YAML sluice can edit",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			out, err := EditManifest([]byte(tt.src), tt.change())
			if tt.reason != "" {
				g.Expect(err).To(HaveOccurred())
				g.Expect(ReasonOf(err)).To(Equal(tt.reason), err.Error())
				g.Expect(err.Error()).To(ContainSubstring(tt.errSub))
				g.Expect(IsRetryable(err)).To(BeFalse())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			want := tt.want
			if want == "" {
				want = tt.src
			}
			g.Expect(string(out)).To(Equal(want))
		})
	}
}

// The rolled-back template reads back as exactly the stable template.
func TestEditManifestRollbackRoundTrips(t *testing.T) {
	g := NewWithT(t)
	out, err := EditManifest([]byte(readTestdata(t, "rollout.yaml")), abort("rollout.yaml", FormatManifest))
	g.Expect(err).NotTo(HaveOccurred())
	nodes, err := kio.FromBytes(out)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(nodes).To(HaveLen(3))
	tmpl, err := nodes[1].Pipe(yaml.Lookup("spec", "template"))
	g.Expect(err).NotTo(HaveOccurred())
	raw, err := tmpl.MarshalJSON()
	g.Expect(err).NotTo(HaveOccurred())
	var got corev1.PodTemplateSpec
	g.Expect(json.Unmarshal(raw, &got)).To(Succeed())
	gotHash, err := revision.Hash(&got)
	g.Expect(err).NotTo(HaveOccurred())
	wantHash, err := revision.Hash(stableTemplate())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(gotHash).To(Equal(wantHash))
}

// With the same image in both revisions only the template's revision hash
// tells the file's state.
func TestEditManifestSameImagesUsesRevisionHash(t *testing.T) {
	stable := stableTemplate()
	canary := stable.DeepCopy()
	canary.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "FEATURE_X", Value: "on"}}
	stableHash, _ := revision.Hash(stable)
	canaryHash, _ := revision.Hash(canary)
	doc := func(tmpl string) string {
		return "apiVersion: sluice.dev/v1alpha1\nkind: Rollout\nmetadata:\n  name: web\nspec:\n  template:\n" + tmpl
	}
	canaryDoc := doc("    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: app\n        image: registry.example.com/web:v1\n        ports:\n        - containerPort: 8080\n        env:\n        - name: FEATURE_X\n          value: \"on\"\n")
	stableDoc := doc("    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: app\n        image: registry.example.com/web:v1\n        ports:\n        - containerPort: 8080\n")
	otherDoc := strings.Replace(canaryDoc, `"on"`, `"off"`, 1)
	change := func() Change {
		ch := abort("r.yaml", FormatManifest)
		ch.Revision, ch.StableRevision = canaryHash, stableHash
		ch.Images = map[string]string{"app": "registry.example.com/web:v1"}
		return ch
	}
	tests := []struct {
		name, src, want string
		reason          Reason
	}{
		{"canary revision is rolled back", canaryDoc, stableDoc, ""},
		{"stable revision stays", stableDoc, stableDoc, ""},
		{"a third revision is a conflict", otherDoc, "", ReasonConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			out, err := EditManifest([]byte(tt.src), change())
			if tt.reason != "" {
				g.Expect(ReasonOf(err)).To(Equal(tt.reason))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(out)).To(Equal(tt.want))
		})
	}
}

// A release that changes only an init container's image is a real edit,
// not mistaken for "already there".
func TestEditManifestReleaseOfAnInitContainer(t *testing.T) {
	src := `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata:
  name: web
  namespace: default
spec:
  template:
    metadata:
      labels: {app: web}
    spec:
      initContainers:
      - name: migrate
        image: migrate:1 # schema
      containers:
      - name: app
        image: web:1
`
	target := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "migrate", Image: "migrate:2"}},
			Containers:     []corev1.Container{{Name: "app", Image: "web:1"}},
		},
	}
	ch := Change{
		Rollout: types.NamespacedName{Namespace: "default", Name: "web"}, Revision: "rel", StableRevision: "cur",
		Outcome: OutcomeReleased, Path: "rollout.yaml", Format: FormatManifest,
		Images:         map[string]string{"migrate": "migrate:1", "app": "web:1"},
		StableImages:   map[string]string{"migrate": "migrate:2", "app": "web:1"},
		StableTemplate: &target,
	}
	out, err := EditManifest([]byte(src), ch)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "image: migrate:2") || strings.Contains(string(out), "migrate:1") {
		t.Fatalf("the init container's image was not released:\n%s", out)
	}
	if !strings.Contains(string(out), "# schema") {
		t.Fatalf("the comment on the edited line was lost:\n%s", out)
	}
}
