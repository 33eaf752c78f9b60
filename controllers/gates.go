package controllers

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/approval"
	"github.com/sluice-dev/sluice/approval/slack"
	"github.com/sluice-dev/sluice/plan"
)

// analysisGate runs the step's AnalysisRun and decides on its verdict:
// Successful passes, Failed aborts with the metric named, Inconclusive
// waits for a person (promote passes it, abort ends it, retry measures
// again). It never passes on data nobody measured.
func (p *pass) analysisGate(ctx context.Context, step plan.Step, promoted bool) (bool, error) {
	g := step.Gate
	kind := g.AnalysisKind
	if kind == "" {
		kind = plan.AnalysisStepRun
	}
	run, err := p.ensureAnalysisRun(ctx, g.Analysis, kind, step.Index)
	if err != nil {
		return false, err
	}
	p.summarise(run, kind, step.Index)
	if promoted || p.ro.Status.FullPromotion {
		return true, p.terminateAnalysis(ctx, run)
	}
	switch run.Status.Phase {
	case sluicev1.AnalysisSuccessful:
		return true, nil
	case sluicev1.AnalysisFailed:
		if g.SwitchBackOnFailure {
			return false, p.abort(ctx, "PostPromotionAnalysisFailed", run.Status.Message)
		}
		return false, p.abort(ctx, "AnalysisFailed", run.Status.Message)
	case sluicev1.AnalysisInconclusive:
		if p.actions.retry {
			p.actions.retry = false
			p.event(eventNormal, "AnalysisRetried", "measuring %s again", run.Name)
			return false, p.deleteRun(ctx, run)
		}
		p.setPhase(sluicev1.PhasePaused, fmt.Sprintf("step %d (%s): analysis inconclusive: %s; promote to continue, abort, or retry to measure again", step.Index, step, run.Status.Message))
		return false, nil
	}
	p.setPhase(sluicev1.PhaseProgressing, fmt.Sprintf("step %d (%s): analysis %s running", step.Index, step, run.Name))
	return false, nil
}

// backgroundAnalysis runs strategy.analysis from its starting step until the
// rollout ends; a failure aborts, an inconclusive run pauses.
func (p *pass) backgroundAnalysis(ctx context.Context, stepIndex int32) (hold bool, err error) {
	bg := p.plan.BackgroundAnalysis
	if bg == nil || bg.StartingStep == nil || stepIndex < *bg.StartingStep {
		return false, nil
	}
	run, err := p.ensureAnalysisRun(ctx, &bg.AnalysisStep, plan.AnalysisBackground, -1)
	if err != nil {
		return false, err
	}
	p.summarise(run, plan.AnalysisBackground, -1)
	switch run.Status.Phase {
	case sluicev1.AnalysisFailed:
		return true, p.abort(ctx, "AnalysisFailed", "background analysis: "+run.Status.Message)
	case sluicev1.AnalysisInconclusive:
		p.setPhase(sluicev1.PhasePaused, "background analysis inconclusive: "+run.Status.Message+"; abort, or retry to measure again")
		if p.actions.retry {
			p.actions.retry = false
			return true, p.deleteRun(ctx, run)
		}
		return true, nil
	}
	return false, nil
}

func (p *pass) deleteRun(ctx context.Context, run *sluicev1.AnalysisRun) error {
	if err := p.r.Client.Delete(ctx, run, client.Preconditions{UID: &run.UID}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting AnalysisRun %s: %w", run.Name, err)
	}
	return errRequeue
}

// approvalGate passes when enough allowed people approved this revision at
// this step through Approval objects; a rejection aborts. Decisions for
// another Rollout (by UID), revision or step never count (package approval).
func (p *pass) approvalGate(ctx context.Context, step plan.Step) (bool, error) {
	st := &p.ro.Status
	var list sluicev1.ApprovalList
	if err := p.r.Client.List(ctx, &list, client.InNamespace(p.ro.Namespace)); err != nil {
		return false, fmt.Errorf("listing Approvals: %w", err)
	}
	gate := approval.Gate{RolloutName: p.ro.Name, RolloutUID: string(p.ro.UID), Revision: p.desired, Step: step.Index, Spec: *step.Gate.Approval}
	// Decisions from an earlier attempt at this revision (a retry after an
	// abort or a rejection) do not count: they were made before that
	// attempt ended. Decisions made in advance for a later step do.
	current := list.Items
	if len(st.History) > 0 && st.History[0].Revision == p.desired {
		ended := st.History[0].At.Time
		current = nil
		for _, a := range list.Items {
			if a.CreationTimestamp.Time.After(ended) {
				current = append(current, a)
			}
		}
	}
	v := approval.Decide(gate, current)
	for _, a := range v.Counted {
		p.recordApproval(a)
	}
	if r := v.Rejected; r != nil {
		return false, p.abort(ctx, "Rejected", fmt.Sprintf("step %d rejected by %s: %s", step.Index, approval.Identity(r.Spec.Approver), r.Spec.Reason))
	}
	if v.Passed() {
		return true, nil
	}
	if t := gate.Spec.Timeout; t != nil {
		end := st.StepReadyAt.Add(t.Get())
		if !p.now.Before(end) {
			if gate.Spec.OnTimeout == "Abort" {
				return false, p.abort(ctx, "ApprovalTimedOut", fmt.Sprintf("step %d: %d of %d approvals after %s", step.Index, len(v.Approvers), v.Needed, t.Get()))
			}
		} else {
			p.wakeAt(end)
		}
	}
	if slackApprovers(gate.Spec.Approvers) {
		p.notify(slack.EventApprovalRequested, p.desired, step.Index, "")
	}
	p.setPhase(sluicev1.PhasePaused, fmt.Sprintf("step %d (%s): %d of %d approvals; `kubectl sluice approve %s`", step.Index, step, len(v.Approvers), v.Needed, p.ro.Name))
	return false, nil
}

func (p *pass) recordApproval(a sluicev1.Approval) {
	st := &p.ro.Status
	for _, r := range st.Approvals {
		if r.Approval == a.Name {
			return
		}
	}
	who := approval.Identity(a.Spec.Approver)
	st.Approvals = append(st.Approvals, sluicev1.ApprovalRecord{
		Step: a.Spec.Step, Revision: a.Spec.Revision, Decision: a.Spec.Decision, Approver: who,
		Channel: a.Spec.Approver.Channel, At: metav1.NewTime(a.CreationTimestamp.Time), Comment: a.Spec.Reason, Approval: a.Name,
	})
	if len(st.Approvals) > 64 {
		st.Approvals = st.Approvals[len(st.Approvals)-64:]
	}
	p.event(eventNormal, "ApprovalRecorded", "%s decided %s at step %d via %s", who, a.Spec.Decision, a.Spec.Step, a.Spec.Approver.Channel)
}
