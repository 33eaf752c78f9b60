package controllers

import (
	"strconv"
	"strings"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

// pendingActions are the action annotations whose tokens differ from the
// ones status.handledActions recorded (see the contract in api/v1alpha1).
type pendingActions struct {
	abort, retry, promoteFull bool
	// promote is held until a gate takes it, so a promote that arrives
	// while the canary's pods are still starting is not lost.
	promote      bool
	promoteToken string
	promoteStep  *int32
}

// readActions reads the annotations. Abort, retry and promote-full are
// recorded as handled at once; a step-bound token for another step is
// dropped with an event.
func (p *pass) readActions() pendingActions {
	ann := p.ro.Annotations
	h := &p.ro.Status.HandledActions
	var a pendingActions
	take := func(key string, handled *string) bool {
		tok := ann[key]
		if tok == "" || tok == *handled {
			return false
		}
		*handled = tok
		if step, ok := boundStep(tok); ok && !p.atStep(step) {
			p.event(eventWarning, "ActionIgnored", "%s=%q is for step %d, but the rollout is not there; nothing done", key, tok, step)
			return false
		}
		return true
	}
	a.abort = take(sluicev1.AnnotationAbort, &h.Abort)
	a.retry = take(sluicev1.AnnotationRetry, &h.Retry)
	a.promoteFull = take(sluicev1.AnnotationPromoteFull, &h.PromoteFull)
	if tok := ann[sluicev1.AnnotationPromote]; tok != "" && tok != h.Promote {
		a.promote, a.promoteToken = true, tok
		if step, ok := boundStep(tok); ok {
			a.promoteStep = &step
		}
	}
	return a
}

// takePromote consumes a pending promote at the gate of step i.
func (a *pendingActions) takePromote(p *pass, i int32) bool {
	if !a.promote {
		return false
	}
	a.promote = false
	p.ro.Status.HandledActions.Promote = a.promoteToken
	if a.promoteStep != nil && *a.promoteStep != i {
		p.event(eventWarning, "ActionIgnored", "promote %q is for step %d, the rollout is at step %d; nothing done", a.promoteToken, *a.promoteStep, i)
		return false
	}
	return true
}

// dropAll records every pending action as handled with nothing to act on,
// so it does not fire later by surprise.
func (a *pendingActions) dropAll(p *pass, why string) {
	if a.promote {
		p.ro.Status.HandledActions.Promote = a.promoteToken
		p.event(eventNormal, "ActionIgnored", "promote: %s", why)
	}
	for name, pending := range map[string]bool{"abort": a.abort, "promote-full": a.promoteFull} {
		if pending {
			p.event(eventNormal, "ActionIgnored", "%s: %s", name, why)
		}
	}
	*a = pendingActions{}
}

func (p *pass) atStep(step int32) bool {
	i := p.ro.Status.CurrentStepIndex
	return i != nil && *i == step
}

// boundStep parses the optional "step=<N>;" prefix of a token.
func boundStep(tok string) (int32, bool) {
	rest, ok := strings.CutPrefix(tok, "step=")
	if !ok {
		return 0, false
	}
	num, _, _ := strings.Cut(rest, ";")
	n, err := strconv.ParseInt(num, 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}
