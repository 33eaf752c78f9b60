package argostandin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/gitops/argocd"
)

// APIServer stands in for the two REST endpoints of Argo CD's API server
// that sluice uses, over the same Application objects the Controller acts
// on:
//
//	GET  /api/v1/applications/{name}?appNamespace=&refresh=normal
//	POST /api/v1/applications/{name}/sync   {"revision": …, "appNamespace": …}
//
// Like Argo CD, it refuses a sync to a fixed revision for an Application
// with automated sync, and a sync while another operation is in progress.
type APIServer struct {
	Client client.Client
	// Token is the bearer token it accepts.
	Token string
	// DefaultNamespace is Argo CD's own namespace.
	DefaultNamespace string
}

func (s *APIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		apiError(w, http.StatusUnauthorized, "invalid session: token is not valid")
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/v1/applications/")
	if !ok || rest == "" {
		apiError(w, http.StatusNotFound, "not found")
		return
	}
	name, action, _ := strings.Cut(rest, "/")
	switch {
	case r.Method == http.MethodGet && action == "":
		s.get(w, r, name)
	case r.Method == http.MethodPost && action == "sync":
		s.sync(w, r, name)
	default:
		apiError(w, http.StatusNotFound, "not found")
	}
}

func (s *APIServer) read(r *http.Request, name, ns string) (*unstructured.Unstructured, error) {
	if ns == "" {
		ns = s.DefaultNamespace
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(argocd.ApplicationGVK)
	return u, s.Client.Get(r.Context(), client.ObjectKey{Namespace: ns, Name: name}, u)
}

func (s *APIServer) get(w http.ResponseWriter, r *http.Request, name string) {
	u, err := s.read(r, name, r.URL.Query().Get("appNamespace"))
	if err != nil {
		k8sError(w, name, err)
		return
	}
	if r.URL.Query().Get("refresh") != "" {
		ann := u.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann[argocd.RefreshAnnotation] = r.URL.Query().Get("refresh")
		u.SetAnnotations(ann)
		if err := s.Client.Update(r.Context(), u); err != nil {
			k8sError(w, name, err)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(u.Object)
}

func (s *APIServer) sync(w http.ResponseWriter, r *http.Request, name string) {
	var req struct {
		Revision     string `json:"revision"`
		AppNamespace string `json:"appNamespace"`
		Prune        bool   `json:"prune"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, "decoding the sync request: "+err.Error())
		return
	}
	u, err := s.read(r, name, req.AppNamespace)
	if err != nil {
		k8sError(w, name, err)
		return
	}
	app, err := argocd.FromUnstructured(u)
	if err != nil {
		apiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	target := ""
	if app.Spec.Source != nil {
		target = app.Spec.Source.TargetRevision
	}
	if app.AutomatedSync() && req.Revision != "" && req.Revision != target {
		apiError(w, http.StatusBadRequest, fmt.Sprintf("Cannot sync to %s: auto-sync currently set to %s", req.Revision, target))
		return
	}
	if app.OperationInProgress() {
		apiError(w, http.StatusBadRequest, "another operation is already in progress")
		return
	}
	op := map[string]any{
		"sync":        map[string]any{"revision": req.Revision, "prune": req.Prune},
		"initiatedBy": map[string]any{"username": "sluice-api-token"},
	}
	if err := unstructured.SetNestedField(u.Object, op, "operation"); err != nil {
		apiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if err := s.Client.Update(r.Context(), u); err != nil {
		k8sError(w, name, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(u.Object)
}

func k8sError(w http.ResponseWriter, name string, err error) {
	switch {
	case apierrors.IsNotFound(err):
		apiError(w, http.StatusNotFound, fmt.Sprintf("applications.argoproj.io %q not found", name))
	case apierrors.IsConflict(err):
		apiError(w, http.StatusConflict, err.Error())
	default:
		apiError(w, http.StatusInternalServerError, err.Error())
	}
}

// apiError answers in the shape of Argo CD's gRPC-gateway errors.
func apiError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": msg, "message": msg, "code": code})
}
