package controllers

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

func (p *pass) setPhase(phase sluicev1.RolloutPhase, msg string) {
	p.ro.Status.Phase = phase
	p.ro.Status.Message = msg
}

// finishStatus derives the conditions from the phase and the pass's
// outcome, so they always agree with it.
func (p *pass) finishStatus(err error) {
	st := &p.ro.Status
	gen := p.ro.Generation
	set := func(t string, ok bool, reason, msg string) {
		s := metav1.ConditionFalse
		if ok {
			s = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: gen})
	}
	if p.stalled != nil {
		st.Phase = sluicev1.PhaseDegraded
		st.Message = p.stalled.msg
		p.event(eventWarning, p.stalled.reason, "%s", p.stalled.msg)
	}
	st.ObservedGeneration = gen
	aborted := meta.IsStatusConditionTrue(st.Conditions, sluicev1.ConditionAborted) && st.AbortedRevision != ""
	if !aborted {
		meta.RemoveStatusCondition(&st.Conditions, sluicev1.ConditionAborted)
	}
	phase := string(st.Phase)
	if phase == "" {
		phase = "Initializing"
	}
	switch {
	case p.stalled != nil:
		set(sluicev1.ConditionStalled, true, p.stalled.reason, p.stalled.msg)
	case aborted:
		set(sluicev1.ConditionStalled, true, "Aborted", st.Message)
	default:
		set(sluicev1.ConditionStalled, false, "Working", "no error needs a person")
	}
	transient := err != nil && p.stalled == nil
	switch {
	case transient:
		set(sluicev1.ConditionReconciling, true, "RetryingAfterError", err.Error())
	case st.Phase == sluicev1.PhaseProgressing:
		set(sluicev1.ConditionReconciling, true, phase, st.Message)
	default:
		set(sluicev1.ConditionReconciling, false, phase, st.Message)
	}
	set(sluicev1.ConditionReady, st.Phase == sluicev1.PhaseHealthy && !transient, phase, st.Message)
	if st.CanaryRevision != "" && st.CurrentStepIndex != nil {
		set(sluicev1.ConditionProgressing, true, fmt.Sprintf("Step%d", *st.CurrentStepIndex), fmt.Sprintf("rolling out %s: step %d of %d", st.CanaryRevision, *st.CurrentStepIndex, st.StepCount))
	} else {
		set(sluicev1.ConditionProgressing, false, "Idle", "no rollout in progress")
	}
	set(sluicev1.ConditionPaused, st.Phase == sluicev1.PhasePaused, phase, st.Message)
}
