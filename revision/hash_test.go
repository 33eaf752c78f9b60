package revision

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func template(image string) *corev1.PodTemplateSpec {
	return &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
}

func TestHash(t *testing.T) {
	g := NewWithT(t)
	a, err := Hash(template("web:1"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(a).To(HaveLen(hashLen))
	g.Expect(a).To(MatchRegexp("^[0-9a-f]+$"))

	again, _ := Hash(template("web:1"))
	g.Expect(again).To(Equal(a), "same template, same revision")

	other, _ := Hash(template("web:2"))
	g.Expect(other).NotTo(Equal(a), "a new image is a new revision")

	labelled := template("web:1")
	labelled.Labels["tier"] = "front"
	l, _ := Hash(labelled)
	g.Expect(l).NotTo(Equal(a), "labels are part of the template")
}

// Empty values must not count: a template with explicitly empty maps,
// slices and strings (what a newer API's zero values look like on the wire)
// hashes like one without them.
func TestHashIgnoresEmptyValues(t *testing.T) {
	g := NewWithT(t)
	plain, _ := Hash(template("web:1"))

	explicit := template("web:1")
	explicit.Annotations = map[string]string{}
	explicit.Spec.Containers[0].Env = []corev1.EnvVar{}
	explicit.Spec.Containers[0].Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{}}
	explicit.Spec.NodeSelector = map[string]string{}
	e, _ := Hash(explicit)
	g.Expect(e).To(Equal(plain))

	withResources := template("web:1")
	withResources.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
	r, _ := Hash(withResources)
	g.Expect(r).NotTo(Equal(plain), "a real value still counts")
}

// Zero and false differ from unset for some fields, so they stay.
func TestHashKeepsZeroNumbers(t *testing.T) {
	g := NewWithT(t)
	plain, _ := Hash(template("web:1"))
	zero := template("web:1")
	var z int64
	zero.Spec.TerminationGracePeriodSeconds = &z
	h, _ := Hash(zero)
	g.Expect(h).NotTo(Equal(plain))
}

func FuzzHash(f *testing.F) {
	f.Add("web:1", "app", "k", "v")
	f.Fuzz(func(t *testing.T, image, name, k, v string) {
		tpl := template(image)
		tpl.Spec.Containers[0].Name = name
		tpl.Labels[k] = v
		h1, err := Hash(tpl)
		if err != nil {
			t.Fatal(err)
		}
		h2, _ := Hash(tpl.DeepCopy())
		if h1 != h2 || len(h1) != hashLen {
			t.Fatalf("unstable hash %q vs %q", h1, h2)
		}
	})
}
