package gitops

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

const kustomization = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - rollout.yaml   # the Rollout
images:
  # pinned by CI
  - name: web
    newName: registry.example.com/web
    newTag: v2
  - name: redis
    newTag: "7"
`

func TestEditKustomization(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		change func() Change
		want   string
		reason Reason
		errSub string
	}{
		{
			name:   "abort sets the entry's tag back",
			src:    kustomization,
			change: func() Change { return abort("kustomization.yaml", FormatKustomize) },
			want:   strings.Replace(kustomization, "newTag: v2", "newTag: v1", 1),
		},
		{
			name: "abort to a digest replaces the tag",
			src:  kustomization,
			change: func() Change {
				ch := abort("kustomization.yaml", FormatKustomize)
				ch.StableImages = map[string]string{"app": "registry.example.com/web@sha256:abc"}
				return ch
			},
			want: strings.Replace(kustomization, "    newTag: v2\n", "    digest: sha256:abc\n", 1),
		},
		{
			name: "abort to another registry sets newName",
			src:  kustomization,
			change: func() Change {
				ch := abort("kustomization.yaml", FormatKustomize)
				ch.StableImages = map[string]string{"app": "old.example.com/web:v1"}
				return ch
			},
			want: strings.Replace(kustomization, "    newName: registry.example.com/web\n    newTag: v2\n", "    newName: old.example.com/web\n    newTag: v1\n", 1),
		},
		{
			name: "no entry for the image: one is added",
			src:  "resources:\n- rollout.yaml\n",
			change: func() Change {
				return abort("kustomization.yaml", FormatKustomize)
			},
			want: "resources:\n- rollout.yaml\nimages:\n- name: registry.example.com/web\n  newTag: v1\n",
		},
		{
			name:   "already stable changes nothing",
			src:    strings.Replace(kustomization, "newTag: v2", "newTag: v1", 1),
			change: func() Change { return abort("kustomization.yaml", FormatKustomize) },
		},
		{
			name:   "someone pinned v3 meanwhile: conflict",
			src:    strings.Replace(kustomization, "newTag: v2", "newTag: v3", 1),
			change: func() Change { return abort("kustomization.yaml", FormatKustomize) },
			reason: ReasonConflict,
			errSub: "images entry web is registry.example.com/web:v3",
		},
		{
			name:   "promotion leaves the kustomization alone",
			src:    kustomization,
			change: func() Change { return promotion("kustomization.yaml", FormatKustomize) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			out, err := EditKustomization([]byte(tt.src), tt.change())
			if tt.reason != "" {
				g.Expect(ReasonOf(err)).To(Equal(tt.reason), "%v", err)
				g.Expect(err.Error()).To(ContainSubstring(tt.errSub))
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

const values = `# Values for the web chart.
replicaCount: 3

image:
  repository: registry.example.com/web
  tag: "v2"        # set by CI
  pullPolicy: IfNotPresent

sidecars:
  proxy: proxy.example.com/envoy:1.30
`

func TestEditHelmValues(t *testing.T) {
	helm := func(keys map[string]string) func() Change {
		return func() Change {
			ch := abort("values.yaml", FormatHelmValues)
			ch.HelmImages = keys
			ch.Images["proxy"] = "proxy.example.com/envoy:1.31"
			ch.StableImages["proxy"] = "proxy.example.com/envoy:1.30"
			return ch
		}
	}
	tests := []struct {
		name   string
		src    string
		change func() Change
		want   string
		reason Reason
		errSub string
	}{
		{
			name:   "a .tag key takes only the tag, quotes and comment stay",
			src:    values,
			change: helm(map[string]string{"app": "image.tag"}),
			want:   strings.Replace(values, `tag: "v2"        # set by CI`, `tag: "v1"        # set by CI`, 1),
		},
		{
			name: "a whole-image key takes the whole image",
			src:  strings.Replace(values, "envoy:1.30", "envoy:1.31", 1),
			change: func() Change {
				ch := helm(map[string]string{"proxy": "sidecars.proxy"})()
				return ch
			},
			want: values,
		},
		{
			name:   "already stable changes nothing",
			src:    values,
			change: helm(map[string]string{"proxy": "sidecars.proxy"}),
		},
		{
			name:   "missing key is NotFound and names the mapping",
			src:    values,
			change: helm(map[string]string{"app": "image.version"}),
			reason: ReasonNotFound,
			errSub: "no key image.version (spec.gitops.helmValues.images.app)",
		},
		{
			name:   "someone else's tag is a conflict",
			src:    strings.Replace(values, `"v2"`, `"v3"`, 1),
			change: helm(map[string]string{"app": "image.tag"}),
			reason: ReasonConflict,
			errSub: `key image.tag is "v3"`,
		},
		{
			name: "a stable digest cannot go into a tag key",
			src:  values,
			change: func() Change {
				ch := helm(map[string]string{"app": "image.tag"})()
				ch.StableImages["app"] = "registry.example.com/web@sha256:abc"
				return ch
			},
			reason: ReasonInvalid,
			errSub: "has none",
		},
		{
			name: "promotion leaves the values alone",
			src:  values,
			change: func() Change {
				ch := promotion("values.yaml", FormatHelmValues)
				ch.HelmImages = map[string]string{"app": "image.tag"}
				return ch
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			out, err := EditHelmValues([]byte(tt.src), tt.change())
			if tt.reason != "" {
				g.Expect(ReasonOf(err)).To(Equal(tt.reason), "%v", err)
				g.Expect(err.Error()).To(ContainSubstring(tt.errSub))
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

func TestEditStatusFile(t *testing.T) {
	g := NewWithT(t)
	ch := promotion("apps/web/kustomization.yaml", FormatKustomize)
	g.Expect(ch.StatusFilePath()).To(Equal("apps/web/.sluice/default.web.yaml"))

	created, err := EditStatusFile(nil, ch)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(created)).To(Equal(`# Written by sluice: the last outcome it recorded for Rollout default/web.
# Not a Kubernetes manifest; nothing applies it unless it is listed somewhere.
rollout: default/web
outcome: promoted
revision: 7c9f1a2b3c
stableRevision: 5d2a0e4f6b
images:
  app: registry.example.com/web:v2
`))

	again, err := EditStatusFile(created, ch)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(again).To(Equal(created), "the same outcome twice changes nothing")

	aborted, err := EditStatusFile(created, abort("apps/web/kustomization.yaml", FormatKustomize))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(aborted)).To(Equal(replacedOnce(string(created),
		"outcome: promoted\n", "outcome: aborted\n",
		"images:\n  app: registry.example.com/web:v2\n", "images:\n  app: registry.example.com/web:v1\nreason: analysis error-rate failed\n")))

	_, err = EditStatusFile([]byte("- not\n- a mapping\n"), ch)
	g.Expect(ReasonOf(err)).To(Equal(ReasonInvalid))
}

func replacedOnce(s string, pairs ...string) string {
	for i := 0; i < len(pairs); i += 2 {
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}
