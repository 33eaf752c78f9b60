package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/internal/testenv"
)

// warnings collects the apiserver's warning headers.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.list
	w.list = nil
	return l
}

// lint's admission is checked against kube-apiserver itself: every sluice
// object in the lint test files and in config/samples is created with a
// server-side dry run and field validation Warn, and the apiserver's
// unknown-field warnings and validation causes must be exactly what lint's
// admission step reports for it. (The lint tests themselves run offline;
// this one only uses the apiserver the package's other tests start.)
func TestLintAgreesWithAPIServer(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns, err := env.CreateNamespace(ctx, "lint")
	g.Expect(err).NotTo(HaveOccurred())
	w := &warnings{}
	cfg := rest.CopyConfig(env.Config)
	cfg.WarningHandlerWithContext = w
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme, FieldValidation: "Warn"})
	g.Expect(err).NotTo(HaveOccurred())
	adm, err := loadAdmission()
	g.Expect(err).NotTo(HaveOccurred())

	root, _ := testenv.RepoRoot()
	files, _ := filepath.Glob("testdata/lint/*.yaml")
	samples, _ := filepath.Glob(filepath.Join(root, "config", "samples", "*.yaml"))
	files = append(files, samples...)
	checked, refused, warned := 0, 0, 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		g.Expect(err).NotTo(HaveOccurred())
		for _, d := range splitDocuments(data) {
			m, ok := d.value.(map[string]any)
			if !ok {
				continue
			}
			objs := []map[string]any{m}
			if m["kind"] == "List" {
				objs = nil
				items, _ := m["items"].([]any)
				for _, it := range items {
					objs = append(objs, it.(map[string]any))
				}
			}
			for _, obj := range objs {
				u := &unstructured.Unstructured{Object: runtime.DeepCopyJSON(obj)}
				gv, _ := schema.ParseGroupVersion(u.GetAPIVersion())
				cv, ours, err := adm.lookup(gv.WithKind(u.GetKind()))
				if !ours || err != nil {
					continue
				}
				name := f + ":" + u.GetKind() + "/" + u.GetName()
				v := cv.admit(ctx, runtime.DeepCopyJSON(obj))
				var fromLint []string
				for _, p := range v.unknown {
					fromLint = append(fromLint, `unknown field "`+p+`"`)
				}
				for _, e := range v.errs {
					fromLint = append(fromLint, e.Field+": "+e.ErrorBody())
				}
				g.Expect(v.unchecked).To(BeEmpty(), "%s: every rule can be evaluated offline", name)

				if cv.namespaced {
					u.SetNamespace(ns)
				}
				err = c.Create(ctx, u, client.DryRunAll)
				var fromServer []string
				for _, text := range w.take() {
					if strings.HasPrefix(text, "unknown field") || strings.HasPrefix(text, "duplicate field") {
						fromServer = append(fromServer, text)
						warned++
					}
				}
				if err != nil {
					var status apierrors.APIStatus
					g.Expect(errors.As(err, &status)).To(BeTrue(), "%s: %v", name, err)
					details := status.Status().Details
					g.Expect(details).NotTo(BeNil(), "%s: %v", name, err)
					g.Expect(details.Causes).NotTo(BeEmpty(), "%s: %v", name, err)
					for _, cause := range details.Causes {
						fromServer = append(fromServer, cause.Field+": "+cause.Message)
					}
					refused++
				}
				slices.Sort(fromLint)
				slices.Sort(fromServer)
				g.Expect(fromLint).To(Equal(fromServer), "%s: lint and the apiserver disagree", name)
				checked++
			}
		}
	}
	t.Logf("%d objects, %d refused by the apiserver and %d unknown fields, all as lint predicted", checked, refused, warned)
	g.Expect(refused).To(BeNumerically(">=", 9), "the test files exercise admission errors")
	g.Expect(warned).To(BeNumerically(">=", 3), "the test files exercise unknown fields")
}
