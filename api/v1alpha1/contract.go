package v1alpha1

// This file is the contract between the controller, the kubectl plugin, Slack
// and the people who read a Rollout: the labels sluice stamps, the
// annotations that carry user actions, and the phases a Rollout goes through.

// Labels sluice puts on the ReplicaSets and Pods it owns.
const (
	// LabelRevision is the hash of the pod template's canonical JSON (empty
	// fields omitted, so it does not change when the Kubernetes API gains
	// fields). DestinationRule subsets select on it.
	LabelRevision = "sluice.dev/revision"
	// LabelRole tells the stable, canary and baseline ReplicaSets apart.
	LabelRole = "sluice.dev/role"
	// LabelRollout names the Rollout a ReplicaSet belongs to.
	LabelRollout = "sluice.dev/rollout"
	// LabelCanonicalRevision is Istio's own label; its telemetry reports it as
	// destination_canonical_revision, so metrics tell revisions apart.
	LabelCanonicalRevision = "service.istio.io/canonical-revision"
)

// Role values of LabelRole.
const (
	RoleStable   = "stable"
	RoleCanary   = "canary"
	RoleBaseline = "baseline"
)

// User actions reach the controller as annotations on the Rollout whose value
// is a token chosen by the caller (kubectl sluice writes a timestamp). The
// controller acts once per distinct token and records the token it handled in
// status.handledActions, so a repeated patch with the same token is not
// applied twice and a crash between acting and recording repeats nothing
// harmful (every action is idempotent for a given step).
//
// A token of the form "step=<N>;<anything>" binds the action to step N: if the
// rollout is no longer at step N when the controller sees it, the action is
// recorded as handled and ignored (an event says so), so a promote typed for
// step 2 never skips step 3.
//
// No action passes an open approval gate: only an Approval does.
const (
	// AnnotationPromote moves past the current step's pause or analysis gate.
	AnnotationPromote = "sluice.dev/promote"
	// AnnotationPromoteFull skips every remaining step up to full promotion,
	// stopping at an approval gate that has not been approved.
	AnnotationPromoteFull = "sluice.dev/promote-full"
	// AnnotationAbort returns all traffic to stable, then scales the canary
	// down; the phase becomes Degraded with reason Aborted.
	AnnotationAbort = "sluice.dev/abort"
	// AnnotationRetry restarts an aborted rollout of the same revision from
	// step 0.
	AnnotationRetry = "sluice.dev/retry"
	// AnnotationRelease asks sluice to commit new images to the Rollout's
	// manifest in Git (spec.gitops) instead of patching the cluster, which
	// Argo CD would revert: "<token>;<container>=<image>[,<container>=<image>]".
	// kubectl sluice set image, undo and retry (after a rollback was
	// written to Git) use it. The commit then goes through the same Argo CD
	// sync as a write-back.
	AnnotationRelease = "sluice.dev/release"
)

// Pause and resume are a desired state, not an event: spec.paused.

// Finalizer lets sluice return traffic to stable and remove the routes it
// inserted before a Rollout's ReplicaSets go.
const Finalizer = "sluice.dev/traffic"

// FieldManager is the field manager of every write sluice makes.
const FieldManager = "sluice"

// ManagedRoutePrefix starts the name of every HTTP route sluice inserts into a
// VirtualService, for example "sluice-abtest-<route>" or
// "sluice-preview-<route>"; a person reading the VirtualService can tell what
// added a route and why.
const ManagedRoutePrefix = "sluice-"

// RolloutPhase summarises a Rollout for people and for kubectl sluice status.
// +kubebuilder:validation:Enum=Progressing;Paused;Healthy;Degraded
type RolloutPhase string

const (
	// PhaseProgressing: a new revision is moving through the plan's steps.
	PhaseProgressing RolloutPhase = "Progressing"
	// PhasePaused: the rollout waits at a gate for a person (a pause without
	// duration, an approval, an inconclusive analysis) or spec.paused is set.
	PhasePaused RolloutPhase = "Paused"
	// PhaseHealthy: all traffic goes to the stable revision, which is the
	// desired template, and it has its full ready replicas.
	PhaseHealthy RolloutPhase = "Healthy"
	// PhaseDegraded: the rollout was aborted (by a person, a failed analysis
	// or the progress deadline), or cannot work (Stalled); traffic is on
	// stable. The Aborted or Stalled condition says why.
	PhaseDegraded RolloutPhase = "Degraded"
)

// Condition types. Ready, Reconciling and Stalled follow kstatus so that
// `kubectl wait --for=condition=Ready` and Argo CD/Flux health work.
const (
	ConditionReady       = "Ready"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
	ConditionProgressing = "Progressing"
	ConditionPaused      = "Paused"
	ConditionAborted     = "Aborted"
	// ConditionTrafficVerified is false when the weights read back from the
	// VirtualService differ from what sluice wrote.
	ConditionTrafficVerified = "TrafficVerified"
	// ConditionGitOpsSynced is true once the last write-back is pushed and,
	// with spec.gitops.argocd, Argo CD has synced a revision containing it
	// and reports Healthy; false with the reason while it is not.
	ConditionGitOpsSynced = "GitOpsSynced"
)

// GitOps write-back phases, in status.gitops.phase.
const (
	// GitOpsPending: the outcome is to be committed.
	GitOpsPending = "Pending"
	// GitOpsPushed: the commit is on the branch; without spec.gitops.argocd
	// this is the end.
	GitOpsPushed = "Pushed"
	// GitOpsSyncing: Argo CD was refreshed (and asked to sync); sluice
	// waits for Synced, Healthy and a revision that contains the commit.
	GitOpsSyncing = "Syncing"
	// GitOpsSynced: Argo CD runs a revision containing the commit.
	GitOpsSynced = "Synced"
	// GitOpsFailed: a person has to look (conflict, credentials, timeout);
	// the condition says what.
	GitOpsFailed = "Failed"
)

// AnnotationPodTemplate, on a revision's ReplicaSet, keeps the Rollout's pod
// template as the user wrote it (the ReplicaSet's own template has the
// apiserver's defaults filled in), so an abort can write it back to Git.
const AnnotationPodTemplate = "sluice.dev/pod-template"

// PromotedRevisionAnnotation is what a promotion's write-back records on
// the Rollout's manifest in Git.
const PromotedRevisionAnnotation = "sluice.dev/promoted-revision"
