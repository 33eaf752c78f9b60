// Package argocd drives an Argo CD Application after sluice pushed a commit:
// refresh it, ask for a sync to exactly that commit where Argo CD allows it,
// and verify that what Argo CD synced contains the commit.
//
// sluice does not import argo-cd: its API module cannot build beside
// k8s.io 0.37. Argo CD is driven through its Application resource (in this
// cluster or another one) and through its API server's REST endpoints, with
// small typed structs for the fields used.
package argocd

import (
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ApplicationGVK is Argo CD's Application.
var ApplicationGVK = schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Application"}

// RefreshAnnotation asks Argo CD's application controller to compare the
// Application with Git again; the controller removes it when done.
const RefreshAnnotation = "argocd.argoproj.io/refresh"

// Sync and health status values Argo CD reports.
const (
	SyncStatusSynced    = "Synced"
	SyncStatusOutOfSync = "OutOfSync"
	HealthHealthy       = "Healthy"
	HealthDegraded      = "Degraded"
	HealthProgressing   = "Progressing"
	HealthSuspended     = "Suspended"
	HealthMissing       = "Missing"
	OperationRunning    = "Running"
	OperationSucceeded  = "Succeeded"
	OperationFailed     = "Failed"
	OperationError      = "Error"
)

// Application holds the fields of an Argo CD Application sluice reads and
// writes, under their real JSON names.
type Application struct {
	Namespace       string            `json:"-"`
	Name            string            `json:"-"`
	ResourceVersion string            `json:"-"`
	Annotations     map[string]string `json:"-"`
	Spec            AppSpec           `json:"spec"`
	Operation       *Operation        `json:"operation,omitempty"`
	Status          AppStatus         `json:"status"`
}

// AppSpec is the part of spec sluice needs.
type AppSpec struct {
	Source      *Source      `json:"source,omitempty"`
	Destination *Destination `json:"destination,omitempty"`
	SyncPolicy  *SyncPolicy  `json:"syncPolicy,omitempty"`
}

// Source is where the Application's manifests come from.
type Source struct {
	RepoURL        string `json:"repoURL"`
	Path           string `json:"path,omitempty"`
	TargetRevision string `json:"targetRevision,omitempty"`
}

// Destination is where the Application deploys.
type Destination struct {
	Server    string `json:"server,omitempty"`
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// AnnotationRollouts, on an Application, names the Rollouts
// ("namespace/name", comma-separated, or "*") that may drive it when its
// destination namespace is not theirs.
const AnnotationRollouts = "sluice.dev/rollouts"

// Permits reports whether a Rollout may refresh and sync this Application:
// the Application deploys into the Rollout's namespace, or names the
// Rollout in AnnotationRollouts. Without it any Rollout's author could
// make sluice sync any team's Application.
func (a *Application) Permits(namespace, name string) bool {
	if d := a.Spec.Destination; d != nil && d.Namespace == namespace {
		return true
	}
	for _, r := range strings.Split(a.Annotations[AnnotationRollouts], ",") {
		if r = strings.TrimSpace(r); r == "*" || r == namespace+"/"+name {
			return true
		}
	}
	return false
}

// SyncPolicy says whether Argo CD syncs on its own.
type SyncPolicy struct {
	Automated *Automated `json:"automated,omitempty"`
}

// Automated is automated sync; Enabled (Argo CD 3) may switch it off while
// keeping its settings.
type Automated struct {
	Enabled  *bool `json:"enabled,omitempty"`
	Prune    bool  `json:"prune,omitempty"`
	SelfHeal bool  `json:"selfHeal,omitempty"`
}

// Operation is a requested sync.
type Operation struct {
	Sync        *SyncOperation `json:"sync,omitempty"`
	InitiatedBy *InitiatedBy   `json:"initiatedBy,omitempty"`
	Info        []Info         `json:"info,omitempty"`
}

// SyncOperation syncs to Revision.
type SyncOperation struct {
	Revision string `json:"revision,omitempty"`
	Prune    bool   `json:"prune,omitempty"`
}

// InitiatedBy names who asked for an operation.
type InitiatedBy struct {
	Username  string `json:"username,omitempty"`
	Automated bool   `json:"automated,omitempty"`
}

// Info is a name/value pair shown with the operation.
type Info struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// AppStatus is the part of status sluice reads.
type AppStatus struct {
	Sync           SyncStatus      `json:"sync"`
	Health         HealthStatus    `json:"health"`
	OperationState *OperationState `json:"operationState,omitempty"`
}

// SyncStatus compares live state with Git.
type SyncStatus struct {
	Status   string `json:"status"`
	Revision string `json:"revision,omitempty"`
}

// HealthStatus is the Application's aggregated health.
type HealthStatus struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
}

// OperationState is the last or running operation.
type OperationState struct {
	Phase      string      `json:"phase"`
	Message    string      `json:"message,omitempty"`
	SyncResult *SyncResult `json:"syncResult,omitempty"`
}

// SyncResult is what an operation synced.
type SyncResult struct {
	Revision string `json:"revision"`
}

// AutomatedSync reports whether Argo CD syncs this Application on its own;
// Argo CD then refuses a sync to a fixed revision.
func (a *Application) AutomatedSync() bool {
	p := a.Spec.SyncPolicy
	return p != nil && p.Automated != nil && (p.Automated.Enabled == nil || *p.Automated.Enabled)
}

// OperationInProgress reports whether a requested or running operation
// would make a new sync request fail.
func (a *Application) OperationInProgress() bool {
	if a.Operation != nil {
		return true
	}
	s := a.Status.OperationState
	return s != nil && s.Phase == OperationRunning
}

// FromUnstructured reads the fields sluice uses from an Application object.
func FromUnstructured(u *unstructured.Unstructured) (*Application, error) {
	raw, err := json.Marshal(u.Object)
	if err != nil {
		return nil, err
	}
	return decode(raw, u.GetNamespace(), u.GetName(), u.GetResourceVersion(), u.GetAnnotations())
}

// decode reads an Application from its JSON form (the apiserver's and the
// Argo CD API server's are the same).
func decode(raw []byte, ns, name, rv string, ann map[string]string) (*Application, error) {
	app := &Application{}
	if err := json.Unmarshal(raw, app); err != nil {
		return nil, fmt.Errorf("decoding Application %s/%s: %w", ns, name, err)
	}
	var meta struct {
		Metadata struct {
			Namespace       string            `json:"namespace"`
			Name            string            `json:"name"`
			ResourceVersion string            `json:"resourceVersion"`
			Annotations     map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(raw, &meta)
	app.Namespace, app.Name, app.ResourceVersion, app.Annotations = ns, name, rv, ann
	if app.Namespace == "" {
		app.Namespace = meta.Metadata.Namespace
	}
	if app.Name == "" {
		app.Name = meta.Metadata.Name
	}
	if app.ResourceVersion == "" {
		app.ResourceVersion = meta.Metadata.ResourceVersion
	}
	if app.Annotations == nil {
		app.Annotations = meta.Metadata.Annotations
	}
	return app, nil
}
