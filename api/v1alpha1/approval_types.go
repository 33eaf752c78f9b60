package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// ApprovalDecision is Approve or Reject.
// +kubebuilder:validation:Enum=Approve;Reject
type ApprovalDecision string

const (
	DecisionApprove ApprovalDecision = "Approve"
	DecisionReject  ApprovalDecision = "Reject"
)

// ApprovalChannel is how a decision was made.
// +kubebuilder:validation:Enum=kubectl;slack
type ApprovalChannel string

const (
	ChannelKubectl ApprovalChannel = "kubectl"
	ChannelSlack   ApprovalChannel = "slack"
)

// ApprovalSpec is one person's decision at one gate. It binds the Rollout's
// UID, the revision and the step, so it is never applied to another rollout,
// revision or step. The whole spec is immutable.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="an Approval is immutable; create a new one to change a decision"
type ApprovalSpec struct {
	// RolloutRef is the Rollout decided on.
	RolloutRef RolloutReference `json:"rolloutRef"`
	// Revision the decision applies to.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Revision string `json:"revision"`
	// Step index of the gate.
	// +kubebuilder:validation:Minimum=-1
	Step int32 `json:"step"`
	// Decision is Approve or Reject.
	Decision ApprovalDecision `json:"decision"`
	// Reason given by the approver.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Reason string `json:"reason,omitempty"`
	// Approver is who decided. For channel kubectl the admission policy in
	// config/policy requires it to equal the requesting user.
	Approver ApproverIdentity `json:"approver"`
}

// RolloutReference names a Rollout in the Approval's namespace by name and UID.
type RolloutReference struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	UID string `json:"uid"`
}

// ApproverIdentity is a Kubernetes or Slack identity.
// +kubebuilder:validation:XValidation:rule="self.channel != 'slack' || has(self.slackUser)",message="approver.slackUser is required for channel slack"
type ApproverIdentity struct {
	// Channel is kubectl or slack.
	Channel ApprovalChannel `json:"channel"`
	// Username of the Kubernetes user who created the Approval.
	// +kubebuilder:validation:MaxLength=256
	Username string `json:"username"`
	// Groups of that user.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Groups []string `json:"groups,omitempty"`
	// SlackUser is the Slack user ID who clicked, for channel slack.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	SlackUser string `json:"slackUser,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=appr,categories=sluice
// +kubebuilder:printcolumn:name="Rollout",type=string,JSONPath=`.spec.rolloutRef.name`
// +kubebuilder:printcolumn:name="Step",type=integer,JSONPath=`.spec.step`
// +kubebuilder:printcolumn:name="Decision",type=string,JSONPath=`.spec.decision`
// +kubebuilder:printcolumn:name="Approver",type=string,JSONPath=`.spec.approver.username`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Approval records one decision at an approval gate.
type Approval struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              ApprovalSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// ApprovalList is a list of Approvals.
type ApprovalList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Approval `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Approval{}, &ApprovalList{})
}
