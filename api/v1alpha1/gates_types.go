package v1alpha1

// AnalysisStep runs analysis templates and gates on their verdict.
type AnalysisStep struct {
	// Templates to run together; every metric of every template counts.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	Templates []AnalysisTemplateRef `json:"templates"`
	// Args fill the templates' arguments. Built-in arguments are always
	// available: namespace, name, stable-revision, canary-revision,
	// baseline-revision, service.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	Args []AnalysisArg `json:"args,omitempty"`
}

// AnalysisTemplateRef names an AnalysisTemplate in the Rollout's namespace or
// a ClusterAnalysisTemplate.
type AnalysisTemplateRef struct {
	// Name of the template.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// ClusterScope refers to a ClusterAnalysisTemplate.
	// +optional
	ClusterScope bool `json:"clusterScope,omitempty"`
}

// AnalysisArg is a named value passed to a template.
type AnalysisArg struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// +kubebuilder:validation:MaxLength=1024
	Value string `json:"value"`
}

// ApprovalStep waits until enough allowed people approve.
// +kubebuilder:validation:XValidation:rule="has(self.approvers.users) || has(self.approvers.groups) || has(self.approvers.slackUsers) || has(self.approvers.slackUserGroups)",message="approval.approvers must name at least one user, group, Slack user or Slack user group; an approval nobody may give would never pass"
type ApprovalStep struct {
	// Approvers who may decide.
	Approvers Approvers `json:"approvers"`
	// MinApprovals distinct approvers needed. Defaults to 1.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	// +optional
	MinApprovals *int32 `json:"minApprovals,omitempty"`
	// Timeout after which onTimeout applies. Without it the gate waits.
	// +optional
	Timeout *Duration `json:"timeout,omitempty"`
	// OnTimeout is Abort or StayPaused. Defaults to StayPaused.
	// +kubebuilder:validation:Enum=Abort;StayPaused
	// +kubebuilder:default=StayPaused
	// +optional
	OnTimeout string `json:"onTimeout,omitempty"`
	// Message shown to approvers.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Message string `json:"message,omitempty"`
}

// Approvers lists who may approve: Kubernetes identities (checked by the
// apiserver) and Slack identities (checked by signed requests).
type Approvers struct {
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Users []string `json:"users,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Groups []string `json:"groups,omitempty"`
	// SlackUsers are Slack user IDs (U…).
	// +optional
	// +kubebuilder:validation:MaxItems=64
	SlackUsers []string `json:"slackUsers,omitempty"`
	// SlackUserGroups are Slack user group IDs (S…).
	// +optional
	// +kubebuilder:validation:MaxItems=16
	SlackUserGroups []string `json:"slackUserGroups,omitempty"`
}

// NotificationSpec says where rollout events are posted.
type NotificationSpec struct {
	// Slack posts events and approval requests to a channel.
	// +optional
	Slack *SlackNotifications `json:"slack,omitempty"`
}

// SlackNotifications configures Slack.
type SlackNotifications struct {
	// Channel ID to post to.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Channel string `json:"channel"`
	// SecretRef holds keys bot-token and signing-secret.
	SecretRef LocalSecretReference `json:"secretRef"`
	// Events to post; defaults to all: Started, StepReached, AnalysisFailed,
	// Aborted, Promoted, GitCommitPushed.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:Enum=Started;StepReached;AnalysisFailed;Aborted;Promoted;GitCommitPushed
	Events []string `json:"events,omitempty"`
}

// NotificationsStatus tracks Slack posts. chat.postMessage has no
// idempotency key, so an event is recorded in Pending first, each message
// carries its event ID in its metadata, and before posting a pending event
// again after a restart the channel's recent history is searched for it.
type NotificationsStatus struct {
	// Pending events are recorded but not yet known to be posted.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	Pending []PendingNotification `json:"pending,omitempty"`
	// Posted are the IDs of the latest posted events, newest first.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	Posted []string `json:"posted,omitempty"`
	// LastError is why the last post failed, if it did.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	LastError string `json:"lastError,omitempty"`
}

// PendingNotification is one event to post.
type PendingNotification struct {
	// ID is <rollout-uid>/<revision>/<kind>/<step>.
	// +kubebuilder:validation:MaxLength=256
	ID string `json:"id"`
	// Kind is the event: Started, StepReached, AnalysisFailed, Aborted,
	// Promoted, GitCommitPushed or ApprovalRequested.
	// +kubebuilder:validation:MaxLength=32
	Kind string `json:"kind"`
	// Revision the event is about.
	// +kubebuilder:validation:MaxLength=64
	Revision string `json:"revision"`
	// Step index, -1 for none.
	Step int32 `json:"step"`
	// Detail is shown under the event line.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Detail string `json:"detail,omitempty"`
}
