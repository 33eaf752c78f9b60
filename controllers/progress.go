package controllers

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/approval/slack"
	"github.com/sluice-dev/sluice/plan"
)

// progress moves a new revision through the plan, as many steps as can be
// taken now. Each step makes before it breaks: the canary is scaled and
// ready before traffic moves to it.
func (p *pass) progress(ctx context.Context) error {
	st := &p.ro.Status
	if st.CanaryRevision != p.desired {
		if err := p.startRevision(ctx); err != nil {
			return err
		}
	}
	if p.actions.abort {
		p.actions.abort = false
		return p.abort(ctx, "AbortedByUser", "aborted on request (sluice.dev/abort)")
	}
	if p.actions.promoteFull && !st.FullPromotion {
		st.FullPromotion = true
		p.event(eventNormal, "PromotingFully", "promote-full: skipping remaining steps except approval gates")
	}
	p.actions.promoteFull = false
	st.StepCount = p.plan.Len()

	for {
		// Status can be edited by hand; an index out of range is clamped
		// rather than trusted.
		if st.CurrentStepIndex == nil || *st.CurrentStepIndex < 0 {
			zero := int32(0)
			st.CurrentStepIndex = &zero
		}
		i := *st.CurrentStepIndex
		if i >= p.plan.Len() {
			i = p.plan.Len() - 1
			st.CurrentStepIndex = &i
		}
		if st.StepStartedAt == nil {
			st.StepStartedAt = &metav1.Time{Time: p.now}
		}
		if st.FullPromotion {
			p.skipToApprovalOrEnd()
			i = *st.CurrentStepIndex
		}
		step, _ := p.plan.Step(i)
		if p.ro.Spec.Paused {
			p.setPhase(sluicev1.PhasePaused, fmt.Sprintf("paused by spec.paused at step %d (%s)", i, step))
			return nil
		}
		if hold, err := p.backgroundAnalysis(ctx, i); err != nil || hold {
			return err
		}
		done, err := p.runStep(ctx, step)
		if err != nil || !done {
			return err
		}
		if step.Kind == plan.StepPromote {
			return p.promote(ctx)
		}
		p.advance(step)
	}
}

// startRevision begins (or restarts, when the template changed mid-rollout)
// the plan for the desired revision. Traffic leaves an abandoned canary
// before its pods go.
func (p *pass) startRevision(ctx context.Context) error {
	st := &p.ro.Status
	if old := st.CanaryRevision; old != "" {
		if err := p.restoreTraffic(ctx, false); err != nil {
			return err
		}
		if err := p.scaleDown(ctx, old); err != nil {
			return err
		}
		p.record(old, "Superseded", "spec.template changed during the rollout")
		p.event(eventNormal, "Restarted", "template changed during the rollout: %s replaces canary %s, the plan restarts", p.desired, old)
	} else {
		p.event(eventNormal, "Started", "rolling out revision %s over stable %s (%s, %d steps)", p.desired, st.StableRevision, p.plan.Strategy, p.plan.Len())
	}
	p.notify(slack.EventStarted, p.desired, -1, fmt.Sprintf("%s over stable %s, %d steps", p.plan.Strategy, st.StableRevision, p.plan.Len()))
	zero := int32(0)
	st.CanaryRevision = p.desired
	st.CurrentStepIndex = &zero
	st.StepStartedAt = &metav1.Time{Time: p.now}
	st.StepReadyAt = nil
	st.FullPromotion = false
	st.Analysis = nil
	st.Approvals = nil
	meta.RemoveStatusCondition(&st.Conditions, sluicev1.ConditionAborted)
	stepTransitions.WithLabelValues(p.plan.Strategy, "Started").Inc()
	return nil
}

// runStep puts a step's replicas and traffic in place and evaluates its
// gate. done means the gate passed and the next step may start.
func (p *pass) runStep(ctx context.Context, step plan.Step) (done bool, err error) {
	st := &p.ro.Status
	if _, err := p.ensureReplicaSet(ctx, st.StableRevision, sluicev1.RoleStable, p.replicas()); err != nil {
		return false, err
	}
	want := step.CanaryReplicas
	lowering := step.Traffic.CanaryWeight < st.Weights.Canary
	if lowering {
		// Traffic leaves the canary before its pods do.
		if err := p.applyTraffic(ctx, p.stepTraffic(step)); err != nil {
			return false, err
		}
	}
	canary, err := p.ensureReplicaSet(ctx, p.desired, sluicev1.RoleCanary, want)
	if err != nil {
		return false, err
	}
	baselineReady, err := p.ensureBaseline(ctx, step)
	if err != nil {
		return false, err
	}
	if !ready(canary, want) || !baselineReady {
		deadline := st.StepStartedAt.Add(p.progressDeadline())
		if !p.now.Before(deadline) {
			return false, p.abort(ctx, "ProgressDeadlineExceeded", fmt.Sprintf("step %d (%s): %d of %d canary pods available after %s (spec.progressDeadlineSeconds)", step.Index, step, canary.Status.AvailableReplicas, want, p.progressDeadline()))
		}
		p.wakeAt(deadline)
		// The message leaves out the running count: it would change with
		// every pod and cost a status write each time.
		p.setPhase(sluicev1.PhaseProgressing, fmt.Sprintf("step %d (%s): waiting for %d canary pods to become available%s", step.Index, step, want, map[bool]string{true: " (and as many baseline pods)"}[p.plan.Baseline]))
		return false, nil
	}
	if !lowering {
		if err := p.applyTraffic(ctx, p.stepTraffic(step)); err != nil {
			return false, err
		}
	}
	if st.StepReadyAt == nil {
		st.StepReadyAt = &metav1.Time{Time: p.now}
	}
	return p.gate(ctx, step)
}

// gate decides whether a ready step's gate has passed.
func (p *pass) gate(ctx context.Context, step plan.Step) (bool, error) {
	st := &p.ro.Status
	g := step.Gate
	promoted := p.actions.takePromote(p, step.Index)
	switch g.Kind {
	case plan.GateNone:
		return true, nil
	case plan.GatePause, plan.GateFault:
		if promoted || st.FullPromotion {
			return true, nil
		}
		end := st.StepReadyAt.Add(g.Duration)
		if !p.now.Before(end) {
			return true, nil
		}
		p.wakeAt(end)
		p.setPhase(sluicev1.PhaseProgressing, fmt.Sprintf("step %d (%s): %s left", step.Index, step, end.Sub(p.now).Round(time.Second)))
		return false, nil
	case plan.GatePauseUntilPromoted:
		if promoted || st.FullPromotion {
			return true, nil
		}
		p.setPhase(sluicev1.PhasePaused, fmt.Sprintf("step %d (%s): waiting for `kubectl sluice promote %s`", step.Index, step, p.ro.Name))
		return false, nil
	case plan.GateAnalysis:
		return p.analysisGate(ctx, step, promoted)
	case plan.GateApproval:
		if promoted {
			p.event(eventWarning, "PromoteBlocked", "step %d is an approval gate: promote cannot pass it, only an Approval can", step.Index)
		}
		return p.approvalGate(ctx, step)
	}
	return false, &stalledError{reason: "UnknownGate", msg: fmt.Sprintf("step %d has a gate this controller does not know (%v); upgrade sluice", step.Index, g.Kind)}
}

// advance moves to the next step.
func (p *pass) advance(step plan.Step) {
	st := &p.ro.Status
	next := step.Index + 1
	st.CurrentStepIndex = &next
	st.StepStartedAt = &metav1.Time{Time: p.now}
	st.StepReadyAt = nil
	stepTransitions.WithLabelValues(p.plan.Strategy, step.Kind.String()).Inc()
	if n, ok := p.plan.Step(next); ok {
		p.event(eventNormal, "StepCompleted", "step %d (%s) done; step %d: %s", step.Index, step, next, n)
		if n.Kind != plan.StepPromote { // "Promoted" follows at once
			p.notify(slack.EventStepReached, p.desired, next, n.String())
		}
	}
}

// skipToApprovalOrEnd jumps over every gate up to the next approval gate (or
// the promotion), for promote-full.
func (p *pass) skipToApprovalOrEnd() {
	st := &p.ro.Status
	i := *st.CurrentStepIndex
	target := p.plan.Len() - 1
	if a, ok := p.plan.NextApprovalAtOrAfter(i); ok && a < target {
		target = a
	}
	if target > i {
		st.CurrentStepIndex = &target
		st.StepStartedAt = &metav1.Time{Time: p.now}
		st.StepReadyAt = nil
	}
}

// promote makes the canary the stable revision. The canary already has all
// traffic; the stable subset is pointed at it before the weights return to
// the stable subset, so no request meets a subset without pods.
func (p *pass) promote(ctx context.Context) error {
	st := &p.ro.Status
	old, next := st.StableRevision, st.CanaryRevision
	st.StableRevision = next
	if err := p.applyTraffic(ctx, p.stableOnly()); err != nil {
		st.StableRevision = old
		return err
	}
	if prev := st.PreviousRevision; prev != nil && prev.Revision != old && prev.Revision != next {
		// A promotion before the last one's delay ended: that revision is
		// two behind now and goes at once.
		if err := p.scaleDown(ctx, prev.Revision); err != nil {
			return err
		}
	}
	st.PreviousRevision = &sluicev1.ScaleDownStatus{Revision: old, ScaleDownAt: metav1.NewTime(p.now.Add(p.plan.ScaleDownDelay))}
	if _, err := p.ensureReplicaSet(ctx, next, sluicev1.RoleStable, p.replicas()); err != nil {
		return err
	}
	p.record(next, "Promoted", "")
	p.notify(slack.EventPromoted, next, -1, fmt.Sprintf("%s scales down after %s", old, p.plan.ScaleDownDelay))
	p.event(eventNormal, "Promoted", "revision %s promoted to stable; %s scales down after %s", next, old, p.plan.ScaleDownDelay)
	stepTransitions.WithLabelValues(p.plan.Strategy, "Promoted").Inc()
	p.endRollout()
	p.setPhase(sluicev1.PhaseHealthy, p.healthyMessage())
	return nil
}

// abort returns all traffic to stable first, then scales the canary down.
func (p *pass) abort(ctx context.Context, reason, msg string) error {
	st := &p.ro.Status
	if err := p.restoreTraffic(ctx, false); err != nil {
		return fmt.Errorf("aborting: returning traffic to stable: %w", err)
	}
	if err := p.scaleDown(ctx, st.CanaryRevision); err != nil {
		return fmt.Errorf("aborting: %w", err)
	}
	st.AbortedRevision = st.CanaryRevision
	if reason == "AnalysisFailed" || reason == "PostPromotionAnalysisFailed" {
		p.notify(slack.EventAnalysisFailed, st.CanaryRevision, -1, msg)
	}
	p.notify(slack.EventAborted, st.CanaryRevision, -1, reason+": "+msg)
	p.record(st.CanaryRevision, "Aborted", reason+": "+msg)
	p.event(eventWarning, reason, "revision %s aborted: %s; all traffic is on stable %s", st.CanaryRevision, msg, st.StableRevision)
	stepTransitions.WithLabelValues(p.plan.Strategy, "Aborted").Inc()
	p.endRollout()
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: sluicev1.ConditionAborted, Status: metav1.ConditionTrue, Reason: reason, Message: msg, ObservedGeneration: p.ro.Generation})
	p.setPhase(sluicev1.PhaseDegraded, abortedMessage(p.ro))
	return nil
}

func (p *pass) progressDeadline() time.Duration {
	s := int32(600)
	if p.ro.Spec.ProgressDeadlineSeconds != nil {
		s = *p.ro.Spec.ProgressDeadlineSeconds
	}
	return time.Duration(s) * time.Second
}

func abortedMessage(ro *sluicev1.Rollout) string {
	c := meta.FindStatusCondition(ro.Status.Conditions, sluicev1.ConditionAborted)
	why := "aborted"
	if c != nil {
		why = c.Reason + ": " + c.Message
	}
	return fmt.Sprintf("revision %s %s; traffic is on stable %s; `kubectl sluice retry %s` tries again, a new template starts a new rollout", ro.Status.AbortedRevision, why, ro.Status.StableRevision, ro.Name)
}
