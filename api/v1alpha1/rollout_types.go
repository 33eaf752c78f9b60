package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RolloutSpec is the desired state of a Rollout. It replaces a Deployment:
// the same replicas, selector and template, plus how a new template reaches
// users.
// +kubebuilder:validation:XValidation:rule="!has(self.strategy.canary) || !has(self.strategy.canary.baseline) || !self.strategy.canary.baseline || (has(self.traffic.istio.destinationRule) && has(self.traffic.istio.destinationRule.baselineSubset))",message="strategy.canary.baseline needs traffic.istio.destinationRule.baselineSubset, the subset that selects the baseline pods; add it or turn baseline off"
type RolloutSpec struct {
	// Replicas of the stable revision. Defaults to 1.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// Selector of the Rollout's pods; it must match the template's labels.
	// sluice adds sluice.dev/revision and sluice.dev/role to it per ReplicaSet.
	Selector *metav1.LabelSelector `json:"selector"`

	// Template of the pods. A change of it starts a rollout.
	Template corev1.PodTemplateSpec `json:"template"`

	// RevisionHistoryLimit is how many old, scaled-down ReplicaSets to keep for
	// `kubectl sluice undo`. Defaults to 10.
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`

	// ProgressDeadlineSeconds bounds how long one step may wait for its pods
	// to become ready; past it the rollout is aborted with reason
	// ProgressDeadlineExceeded. Waiting at a pause or approval does not count.
	// Defaults to 600.
	// +kubebuilder:default=600
	// +kubebuilder:validation:Minimum=1
	// +optional
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`

	// Paused stops the rollout where it is (traffic stays as it is) until set
	// back to false. `kubectl sluice pause|resume` set it.
	// +optional
	Paused bool `json:"paused,omitempty"`

	// Strategy names exactly one of canary, blueGreen, abTest, darkLaunch.
	Strategy RolloutStrategy `json:"strategy"`

	// Traffic says which Istio objects carry this Rollout's traffic.
	Traffic TrafficRouting `json:"traffic"`

	// GitOps writes promotions and rollbacks back to the app's Git repo and
	// syncs Argo CD to that commit. Optional.
	// +optional
	GitOps *GitOpsSpec `json:"gitops,omitempty"`

	// Notifications posts rollout events to Slack. Optional.
	// +optional
	Notifications *NotificationSpec `json:"notifications,omitempty"`
}

// LocalSecretReference names a Secret in the Rollout's own namespace. There is
// deliberately no namespace field: a Rollout author must not be able to
// borrow another namespace's credentials.
type LocalSecretReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// RolloutStatus is the observed state of a Rollout. It holds all progress, so
// a restarted controller continues exactly where the last one stopped.
type RolloutStatus struct {
	// ObservedGeneration is the generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Phase summarises the rollout: Progressing, Paused, Healthy or Degraded.
	// +optional
	Phase RolloutPhase `json:"phase,omitempty"`

	// Message explains the phase in one sentence.
	// +optional
	Message string `json:"message,omitempty"`

	// Strategy is the name of the strategy in use (canary, blueGreen, abTest,
	// darkLaunch), for printer columns.
	// +optional
	Strategy string `json:"strategy,omitempty"`

	// StableRevision is the revision hash that receives live traffic.
	// +optional
	StableRevision string `json:"stableRevision,omitempty"`

	// CanaryRevision is the revision hash being rolled out; empty when none.
	// +optional
	CanaryRevision string `json:"canaryRevision,omitempty"`

	// CurrentStepIndex is the index of the plan step in progress; it equals
	// StepCount when the plan is done.
	// +optional
	CurrentStepIndex *int32 `json:"currentStepIndex,omitempty"`

	// StepCount is the number of steps in the plan for the canary revision.
	// +optional
	StepCount int32 `json:"stepCount,omitempty"`

	// StepStartedAt is when the current step began; timed pauses end
	// relative to it.
	// +optional
	StepStartedAt *metav1.Time `json:"stepStartedAt,omitempty"`

	// StepReadyAt is when the current step's traffic and replicas were in
	// place; a pause's duration counts from it.
	// +optional
	StepReadyAt *metav1.Time `json:"stepReadyAt,omitempty"`

	// FullPromotion is set by a promote-full action: every remaining gate is
	// skipped except approval gates, until the revision is promoted.
	// +optional
	FullPromotion bool `json:"fullPromotion,omitempty"`

	// Weights are the weights sluice last wrote and verified.
	// +optional
	Weights TrafficWeights `json:"weights,omitempty"`

	// Replicas counts all pods of the Rollout's ReplicaSets.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// ReadyReplicas counts ready pods of the Rollout's ReplicaSets.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// UpdatedReplicas counts pods of the desired template's revision.
	// +optional
	UpdatedReplicas int32 `json:"updatedReplicas,omitempty"`
	// AvailableReplicas counts ready pods of the stable revision.
	// +optional
	AvailableReplicas int32 `json:"availableReplicas,omitempty"`
	// Selector is the label selector in string form, for the scale subresource.
	// +optional
	Selector string `json:"selector,omitempty"`

	// AbortedRevision is the canary revision that was aborted; a retry of the
	// same template restarts it from step 0, and it is not rolled out again
	// until then.
	// +optional
	AbortedRevision string `json:"abortedRevision,omitempty"`

	// PreviousRevision is the revision that was stable before the last
	// promotion, kept at full scale until ScaleDownAt for an instant rollback.
	// +optional
	PreviousRevision *ScaleDownStatus `json:"previousRevision,omitempty"`

	// HandledActions are the tokens of the action annotations already acted
	// on.
	// +optional
	HandledActions HandledActions `json:"handledActions,omitempty"`

	// Analysis lists the AnalysisRuns of the current revision and their
	// outcome.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Analysis []AnalysisRunSummary `json:"analysis,omitempty"`

	// Approvals are the decisions recorded for the current revision's gates.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Approvals []ApprovalRecord `json:"approvals,omitempty"`

	// GitOps is the state of the last write-back to Git and Argo CD.
	// +optional
	GitOps *GitOpsStatus `json:"gitops,omitempty"`

	// Notifications are the Slack posts this Rollout asked for: recorded
	// here before they are posted, so a restart neither loses nor repeats
	// one.
	// +optional
	Notifications *NotificationsStatus `json:"notifications,omitempty"`

	// History lists the last rollouts and how they ended, newest first.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	History []RolloutRecord `json:"history,omitempty"`

	// Conditions: Ready, Reconciling, Stalled (kstatus) and Progressing,
	// Paused, Aborted, TrafficVerified.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// TrafficWeights are percentages of the named routes' traffic.
type TrafficWeights struct {
	// Stable is the stable subset's weight.
	// +optional
	Stable int32 `json:"stable"`
	// Canary is the canary subset's weight.
	// +optional
	Canary int32 `json:"canary"`
	// Mirror is the percentage of live traffic mirrored to the canary (dark
	// launch), as a decimal string.
	// +optional
	Mirror string `json:"mirror,omitempty"`
	// MatchedRoutes is true while A/B or preview routes are in place.
	// +optional
	MatchedRoutes bool `json:"matchedRoutes,omitempty"`
}

// ScaleDownStatus records when an old revision's ReplicaSet is scaled down.
type ScaleDownStatus struct {
	// Revision hash of the old stable revision.
	Revision string `json:"revision"`
	// ScaleDownAt is when it may be scaled to zero.
	ScaleDownAt metav1.Time `json:"scaleDownAt"`
}

// HandledActions are the tokens of the last handled action annotations.
type HandledActions struct {
	// +optional
	Promote string `json:"promote,omitempty"`
	// +optional
	PromoteFull string `json:"promoteFull,omitempty"`
	// +optional
	Abort string `json:"abort,omitempty"`
	// +optional
	Retry string `json:"retry,omitempty"`
	// +optional
	Release string `json:"release,omitempty"`
}

// AnalysisRunSummary is one AnalysisRun's outcome as seen by the Rollout.
type AnalysisRunSummary struct {
	// Name of the AnalysisRun.
	Name string `json:"name"`
	// Step the run gates, or -1 for background, pre- or post-promotion runs.
	Step int32 `json:"step"`
	// Kind of run: Step, Background, PrePromotion, PostPromotion.
	Kind string `json:"kind"`
	// Phase of the run.
	Phase AnalysisPhase `json:"phase"`
	// Message of the run, naming the failing metric.
	// +optional
	Message string `json:"message,omitempty"`
}

// ApprovalRecord is one decision recorded at an approval gate.
type ApprovalRecord struct {
	// Step the decision applies to.
	Step int32 `json:"step"`
	// Revision the decision applies to.
	Revision string `json:"revision"`
	// Decision is Approve or Reject.
	Decision ApprovalDecision `json:"decision"`
	// Approver is who decided, as enforced by the apiserver or Slack.
	Approver string `json:"approver"`
	// Channel is kubectl or slack.
	Channel ApprovalChannel `json:"channel"`
	// At is when the decision was made.
	At metav1.Time `json:"at"`
	// Comment given with the decision.
	// +optional
	Comment string `json:"comment,omitempty"`
	// Approval is the name of the Approval object holding the decision.
	// +optional
	Approval string `json:"approval,omitempty"`
}

// RolloutRecord is one finished rollout.
type RolloutRecord struct {
	// Revision that was rolled out.
	Revision string `json:"revision"`
	// Outcome is Promoted, Aborted or RolledBack.
	Outcome string `json:"outcome"`
	// Reason for an abort.
	// +optional
	Reason string `json:"reason,omitempty"`
	// At is when it ended.
	At metav1.Time `json:"at"`
	// Images of the revision, container=image.
	// +optional
	Images []string `json:"images,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:resource:shortName=ro;sro,categories=sluice
// +kubebuilder:printcolumn:name="Strategy",type=string,JSONPath=`.status.strategy`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Step",type=integer,JSONPath=`.status.currentStepIndex`
// +kubebuilder:printcolumn:name="Weight",type=integer,JSONPath=`.status.weights.canary`
// +kubebuilder:printcolumn:name="Stable",type=string,JSONPath=`.status.stableRevision`
// +kubebuilder:printcolumn:name="Canary",type=string,JSONPath=`.status.canaryRevision`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Rollout replaces a Deployment: it owns one ReplicaSet per pod-template
// revision and moves traffic to a new revision step by step through Istio.
type Rollout struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   RolloutSpec   `json:"spec"`
	Status RolloutStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// RolloutList is a list of Rollouts.
type RolloutList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Rollout `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Rollout{}, &RolloutList{})
}
