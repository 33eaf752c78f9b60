package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// GitOpsSpec writes the outcome of a rollout back to the app's Git repo.
// +kubebuilder:validation:XValidation:rule="self.format != 'HelmValues' || has(self.helmValues)",message="gitops.format HelmValues needs gitops.helmValues mapping each container to its image key path"
// +kubebuilder:validation:XValidation:rule="self.repoURL.startsWith('https://') || self.repoURL.startsWith('http://') || self.repoURL.startsWith('ssh://') || self.repoURL.matches('^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:.+$')",message="gitops.repoURL must be an https://, http://, ssh:// or user@host:path Git URL"
type GitOpsSpec struct {
	// RepoURL of the app repo.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	RepoURL string `json:"repoURL"`
	// Branch to commit to. Defaults to main.
	// +kubebuilder:default=main
	// +kubebuilder:validation:MaxLength=255
	// +optional
	Branch string `json:"branch,omitempty"`
	// Path of the file holding this Rollout's manifest, relative to the repo.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && !self.contains('..')",message="gitops.path must be relative to the repo root and must not contain .."
	Path string `json:"path"`
	// Format of that file: Manifest (plain YAML), Kustomize (a
	// kustomization's images:) or HelmValues. Defaults to Manifest.
	// +kubebuilder:validation:Enum=Manifest;Kustomize;HelmValues
	// +kubebuilder:default=Manifest
	// +optional
	Format string `json:"format,omitempty"`
	// HelmValues maps container names to the dotted key path of their image
	// in the values file.
	// +optional
	HelmValues *HelmValuesMapping `json:"helmValues,omitempty"`
	// SecretRef holds the credentials: username and password (or token) for
	// HTTPS; identity and known_hosts for SSH.
	// +optional
	SecretRef *LocalSecretReference `json:"secretRef,omitempty"`
	// Author of sluice's commits.
	// +optional
	Author *GitAuthor `json:"author,omitempty"`
	// CommitMessage is a Go text/template over .Rollout, .Revision,
	// .StableRevision, .Images, .Outcome and .Reason.
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	CommitMessage string `json:"commitMessage,omitempty"`
	// SigningKeySecretRef holds an armored OpenPGP key (key signing-key) to
	// sign commits with.
	// +optional
	SigningKeySecretRef *LocalSecretReference `json:"signingKeySecretRef,omitempty"`
	// OnPromotion: RecordRevision (annotate the promoted revision) or None.
	// +kubebuilder:validation:Enum=RecordRevision;None
	// +kubebuilder:default=RecordRevision
	// +optional
	OnPromotion string `json:"onPromotion,omitempty"`
	// OnAbort: WriteRollback (write the stable pod template back) or None.
	// +kubebuilder:validation:Enum=WriteRollback;None
	// +kubebuilder:default=WriteRollback
	// +optional
	OnAbort string `json:"onAbort,omitempty"`
	// ArgoCD names the Application to sync after a commit.
	// +optional
	ArgoCD *ArgoCDTarget `json:"argocd,omitempty"`
}

// HelmValuesMapping maps container names to image key paths.
type HelmValuesMapping struct {
	// Images: container name to dotted key path, e.g. app: image.tag.
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=16
	Images map[string]string `json:"images"`
}

// GitAuthor is a commit author.
type GitAuthor struct {
	// +kubebuilder:validation:MaxLength=256
	Name string `json:"name"`
	// +kubebuilder:validation:MaxLength=256
	Email string `json:"email"`
}

// ArgoCDTarget names an Argo CD Application and how to reach it.
// +kubebuilder:validation:XValidation:rule="!(has(self.kubeconfigSecretRef) && has(self.server))",message="gitops.argocd reaches the Application either through kubeconfigSecretRef or through server, not both"
type ArgoCDTarget struct {
	// Namespace of the Application. Defaults to argocd.
	// +kubebuilder:default=argocd
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Name of the Application.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// KubeconfigSecretRef holds a kubeconfig (key kubeconfig) for the cluster
	// where the Application lives, when it is not this one.
	// +optional
	KubeconfigSecretRef *LocalSecretReference `json:"kubeconfigSecretRef,omitempty"`
	// Server reaches the Application through Argo CD's API server.
	// +optional
	Server *ArgoCDServer `json:"server,omitempty"`
	// SyncTimeout bounds the wait for Synced and Healthy. Defaults to 5m.
	// +kubebuilder:default="5m"
	// +optional
	SyncTimeout *Duration `json:"syncTimeout,omitempty"`
}

// ArgoCDServer is Argo CD's API server.
type ArgoCDServer struct {
	// URL of the API server, https://argocd.example.com.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.startsWith('https://') || self.startsWith('http://')",message="gitops.argocd.server.url must start with https:// or http://"
	URL string `json:"url"`
	// TokenSecretRef holds an API token (key token).
	TokenSecretRef LocalSecretReference `json:"tokenSecretRef"`
}

// GitOpsStatus records the last write-back.
type GitOpsStatus struct {
	// Revision the write-back is for.
	// +optional
	Revision string `json:"revision,omitempty"`
	// RequestedAt is when the outcome or release this write-back is for
	// happened; a rollout outcome older than that is not written again.
	// +optional
	RequestedAt *metav1.Time `json:"requestedAt,omitempty"`
	// Outcome written: promoted, aborted or released.
	// +optional
	Outcome string `json:"outcome,omitempty"`
	// Phase of the write-back: Pending, Pushed, Syncing, Synced or Failed.
	// +optional
	Phase string `json:"phase,omitempty"`
	// Reason is a CamelCase word for the phase, such as Conflict or
	// SyncTimeout when Failed.
	// +optional
	Reason string `json:"reason,omitempty"`
	// StableRevision is the other side of the outcome: the revision an abort
	// returns to, the one a promotion replaced, the one a release replaces.
	// +optional
	StableRevision string `json:"stableRevision,omitempty"`
	// Cause is why the rollout ended (an abort's reason), for the commit
	// message.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Cause string `json:"cause,omitempty"`
	// Images of the revision written ("container=image"): the promoted or
	// aborted canary's, or a release's.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	Images []string `json:"images,omitempty"`
	// SyncRequested is set once sluice asked Argo CD to sync the commit, so
	// a restart does not ask twice.
	// +optional
	SyncRequested bool `json:"syncRequested,omitempty"`
	// Commit pushed.
	// +optional
	Commit string `json:"commit,omitempty"`
	// CommittedAt is when it was pushed.
	// +optional
	CommittedAt *metav1.Time `json:"committedAt,omitempty"`
	// SyncStatus of the Argo CD Application after the commit.
	// +optional
	SyncStatus string `json:"syncStatus,omitempty"`
	// SyncedRevision Argo CD reports.
	// +optional
	SyncedRevision string `json:"syncedRevision,omitempty"`
	// Health of the Argo CD Application.
	// +optional
	Health string `json:"health,omitempty"`
	// SyncedAt is when Argo CD was seen synced to a revision containing
	// the commit.
	// +optional
	SyncedAt *metav1.Time `json:"syncedAt,omitempty"`
	// Message about the last attempt.
	// +optional
	Message string `json:"message,omitempty"`
}
