package gitops

import (
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const (
	canaryRev = "7c9f1a2b3c"
	stableRev = "5d2a0e4f6b"
)

var web = types.NamespacedName{Namespace: "default", Name: "web"}

// stableTemplate is the pod template of revision stableRev: image v1 and no
// FEATURE_X.
func stableTemplate() *corev1.PodTemplateSpec {
	return &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:  "app",
			Image: "registry.example.com/web:v1",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
		}}},
	}
}

func promotion(path string, format Format) Change {
	return Change{
		Rollout: web, Revision: canaryRev, StableRevision: stableRev, Outcome: OutcomePromoted,
		Path: path, Format: format,
		Images:       map[string]string{"app": "registry.example.com/web:v2"},
		StableImages: map[string]string{"app": "registry.example.com/web:v1"},
	}
}

func abort(path string, format Format) Change {
	ch := promotion(path, format)
	ch.Outcome = OutcomeAborted
	ch.Reason = "analysis error-rate failed"
	ch.StableTemplate = stableTemplate()
	return ch
}
