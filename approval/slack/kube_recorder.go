package slack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"

	authnv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/approval"
	"github.com/sluice-dev/sluice/plan"
	"github.com/sluice-dev/sluice/revision"
)

// Annotations on Approvals recorded from Slack, for people reading them;
// nothing decides on them.
const (
	AnnotationSlackUserName = "sluice.dev/slack-user-name"
	AnnotationSlackMessage  = "sluice.dev/slack-message"
)

// KubeRecorder records Slack decisions as Approval objects, after checking
// that the click still applies: the Rollout (by UID) exists, is rolling
// out that revision and stands at that step, the step is an approval gate,
// and the Slack user is on the gate's Slack allow-list.
//
// The Approval's name is derived from (rollout UID, revision, step, Slack
// user), so a retried or repeated click meets AlreadyExists and changes
// nothing: one decision per person per gate, as for kubectl (Approvals are
// immutable).
//
// Client must authenticate as the identity the approval-identity admission
// policy accepts for Slack approvals (the manager's ServiceAccount); the
// apiserver refuses channel slack from anyone else.
type KubeRecorder struct {
	// Client creates Approvals.
	Client client.Client
	// Reader reads Rollouts and Approvals; Client when nil. A cached reader
	// is fine: a stale Rollout can only refuse a click that would have
	// counted (the clicker is told to try again) or record a decision
	// bound to a step the Rollout has left, which approval.Decide never
	// counts.
	Reader client.Reader
	// Groups resolves the gates' Slack user groups; nil when none are used.
	Groups *UserGroups
	// Username is written to spec.approver.username: the Kubernetes user
	// that creates the Approval. When empty it is asked from the apiserver
	// (SelfSubjectReview) once.
	Username string

	mu     sync.Mutex
	whoAmI string
}

// Record implements Recorder.
func (r *KubeRecorder) Record(ctx context.Context, d Decision) (Outcome, error) {
	ro, refusal, err := r.rollout(ctx, d.Binding)
	if err != nil || refusal != "" {
		return Refused("%s", refusal), err
	}
	gate, refusal, err := openGate(ro, d.Binding)
	if err != nil || refusal != "" {
		return Refused("%s", refusal), err
	}
	ok, via, err := allowedVia(ctx, r.Groups, gate.Spec.Approvers, d.SlackUser)
	if err != nil {
		return Outcome{}, fmt.Errorf("checking the gate's Slack approvers: %w", err)
	}
	if !ok {
		return Refused("You are not on this gate's approver list (step %d of %s/%s).", d.Step, ro.Namespace, ro.Name), nil
	}
	username, err := r.username(ctx)
	if err != nil {
		return Outcome{}, err
	}
	a := newApproval(ro, d, via, username)
	mine := a
	switch err := r.Client.Create(ctx, a); {
	case apierrors.IsAlreadyExists(err):
		existing := &sluicev1.Approval{}
		if err := r.reader().Get(ctx, client.ObjectKeyFromObject(a), existing); err != nil {
			return Outcome{}, fmt.Errorf("reading the existing Approval %s/%s: %w", a.Namespace, a.Name, err)
		}
		if !sameDecider(existing.Spec, a.Spec) {
			return Outcome{}, fmt.Errorf("approval %s/%s exists but records another gate or person", a.Namespace, a.Name)
		}
		mine = existing
	case err != nil:
		return Outcome{}, fmt.Errorf("creating Approval %s/%s: %w", a.Namespace, a.Name, err)
	}
	o, err := r.verdict(ctx, gate, mine)
	o.Duplicate = mine != a
	return o, err
}

func (r *KubeRecorder) reader() client.Reader {
	if r.Reader != nil {
		return r.Reader
	}
	return r.Client
}

// rollout finds the Rollout the button was posted for, by namespace and
// name when the binding has them, else by UID across namespaces.
func (r *KubeRecorder) rollout(ctx context.Context, b Binding) (*sluicev1.Rollout, string, error) {
	if b.Namespace != "" && b.Rollout != "" {
		ro := &sluicev1.Rollout{}
		err := r.reader().Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: b.Rollout}, ro)
		switch {
		case apierrors.IsNotFound(err):
			return nil, fmt.Sprintf("Rollout %s/%s no longer exists.", b.Namespace, b.Rollout), nil
		case err != nil:
			return nil, "", fmt.Errorf("reading Rollout %s/%s: %w", b.Namespace, b.Rollout, err)
		case string(ro.UID) != b.RolloutUID:
			return nil, fmt.Sprintf("Rollout %s/%s was deleted and created again since this message was posted; this button was for the old one.", b.Namespace, b.Rollout), nil
		}
		return ro, "", nil
	}
	var list sluicev1.RolloutList
	if err := r.reader().List(ctx, &list); err != nil {
		return nil, "", fmt.Errorf("listing Rollouts: %w", err)
	}
	for i := range list.Items {
		if string(list.Items[i].UID) == b.RolloutUID {
			return &list.Items[i], "", nil
		}
	}
	return nil, "The Rollout this button was posted for no longer exists.", nil
}

// openGate checks that the Rollout stands at the button's revision and
// step, and that the step is an approval gate; it returns the gate as
// package approval decides it.
func openGate(ro *sluicev1.Rollout, b Binding) (approval.Gate, string, error) {
	ref := ro.Namespace + "/" + ro.Name
	if ro.DeletionTimestamp != nil {
		return approval.Gate{}, fmt.Sprintf("Rollout %s is being deleted.", ref), nil
	}
	desired, err := revision.Hash(&ro.Spec.Template)
	if err != nil {
		return approval.Gate{}, "", fmt.Errorf("hashing the template of Rollout %s: %w", ref, err)
	}
	st := ro.Status
	at := int32(-1)
	if st.CurrentStepIndex != nil {
		at = *st.CurrentStepIndex
	}
	if desired != b.Revision || st.CanaryRevision != b.Revision || st.AbortedRevision == b.Revision || at != b.Step {
		var now string
		switch {
		case st.AbortedRevision == b.Revision:
			now = fmt.Sprintf("revision %s was aborted", b.Revision)
		case desired != b.Revision && st.CanaryRevision == b.Revision:
			now = fmt.Sprintf("its template changed to revision %s", desired)
		case st.CanaryRevision == "":
			now = fmt.Sprintf("no rollout is in progress (stable is revision %s)", st.StableRevision)
		default:
			now = fmt.Sprintf("it is at revision %s step %d", st.CanaryRevision, at)
		}
		return approval.Gate{}, fmt.Sprintf("This button is for revision %s step %d of %s, and the rollout has moved on: %s.", b.Revision, b.Step, ref, now), nil
	}
	replicas := int32(1)
	if ro.Spec.Replicas != nil {
		replicas = *ro.Spec.Replicas
	}
	p, err := plan.Build(ro.Spec.Strategy, replicas)
	if err != nil {
		return approval.Gate{}, fmt.Sprintf("Rollout %s's strategy cannot be planned (%v), so no gate is open.", ref, err), nil
	}
	step, ok := p.Step(b.Step)
	if !ok || step.Gate.Kind != plan.GateApproval || step.Gate.Approval == nil {
		return approval.Gate{}, fmt.Sprintf("Step %d of %s is not an approval gate (the strategy changed?).", b.Step, ref), nil
	}
	return approval.Gate{RolloutName: ro.Name, RolloutUID: string(ro.UID), Revision: b.Revision, Step: b.Step, Spec: *step.Gate.Approval}, "", nil
}

// ApprovalName is the deterministic name of a Slack user's Approval at a
// gate: readable like kubectl's ("<rollout>-<revision>-<step>-…"), unique
// through a hash of (rollout UID, revision, step, Slack user).
func ApprovalName(rolloutName string, b Binding, slackUser string) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{b.RolloutUID, b.Revision, strconv.Itoa(int(b.Step)), slackUser}, "\x00")))
	suffix := fmt.Sprintf("-%s-%d-slack-%s", b.Revision, b.Step, hex.EncodeToString(sum[:])[:16])
	prefix := rolloutName
	if room := validation.DNS1123SubdomainMaxLength - len(suffix); len(prefix) > room {
		// A label may not end in '.' or '-' once cut.
		prefix = strings.TrimRight(prefix[:room], ".-")
	}
	return prefix + suffix
}

func newApproval(ro *sluicev1.Rollout, d Decision, groups []string, username string) *sluicev1.Approval {
	labels := map[string]string{}
	for k, v := range map[string]string{sluicev1.LabelRollout: ro.Name, sluicev1.LabelRevision: d.Revision} {
		if len(validation.IsValidLabelValue(v)) == 0 {
			labels[k] = v
		}
	}
	ann := map[string]string{}
	if d.SlackUserName != "" {
		ann[AnnotationSlackUserName] = d.SlackUserName
	}
	if d.Channel != "" && d.MessageTS != "" {
		ann[AnnotationSlackMessage] = d.Channel + "/" + d.MessageTS
	}
	return &sluicev1.Approval{
		ObjectMeta: metav1.ObjectMeta{
			Name: ApprovalName(ro.Name, d.Binding, d.SlackUser), Namespace: ro.Namespace, Labels: labels, Annotations: ann,
		},
		Spec: sluicev1.ApprovalSpec{
			RolloutRef: sluicev1.RolloutReference{Name: ro.Name, UID: string(ro.UID)},
			Revision:   d.Revision,
			Step:       d.Step,
			Decision:   d.ApprovalDecision(),
			Reason:     d.Comment,
			// Groups holds the Slack user groups (S…) that made the
			// user an approver, as evidence; the admission policy
			// checks groups only for channel kubectl.
			Approver: sluicev1.ApproverIdentity{Channel: sluicev1.ChannelSlack, Username: username, SlackUser: d.SlackUser, Groups: groups},
		},
	}
}

func sameDecider(a, b sluicev1.ApprovalSpec) bool {
	return a.RolloutRef.UID == b.RolloutRef.UID && a.Revision == b.Revision && a.Step == b.Step &&
		a.Approver.Channel == sluicev1.ChannelSlack && a.Approver.SlackUser == b.Approver.SlackUser
}

// verdict is the gate's state with this decision counted, as the
// controller will see it.
func (r *KubeRecorder) verdict(ctx context.Context, gate approval.Gate, mine *sluicev1.Approval) (Outcome, error) {
	o := Outcome{Decision: mine.Spec.Decision, Approval: mine.Name, At: mine.CreationTimestamp.Time}
	var list sluicev1.ApprovalList
	if err := r.reader().List(ctx, &list, client.InNamespace(mine.Namespace)); err != nil {
		return o, fmt.Errorf("listing Approvals: %w", err)
	}
	found := false
	for _, a := range list.Items {
		found = found || a.Name == mine.Name
	}
	if !found { // a cached reader may not have seen the create yet
		list.Items = append(list.Items, *mine)
	}
	v := approval.Decide(gate, list.Items)
	o.Approvers, o.Needed = v.Approvers, v.Needed
	if rj := v.Rejected; rj != nil {
		o.Rejected = &Rejection{By: approval.Identity(rj.Spec.Approver), At: rj.CreationTimestamp.Time, Reason: rj.Spec.Reason}
	}
	return o, nil
}

// username is who the Client authenticates as.
func (r *KubeRecorder) username(ctx context.Context) (string, error) {
	if r.Username != "" {
		return r.Username, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.whoAmI != "" {
		return r.whoAmI, nil
	}
	review := &authnv1.SelfSubjectReview{}
	if err := r.Client.Create(ctx, review); err != nil {
		return "", fmt.Errorf("asking the apiserver who sluice is (SelfSubjectReview): %w", err)
	}
	r.whoAmI = review.Status.UserInfo.Username
	return r.whoAmI, nil
}
