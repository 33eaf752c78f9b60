// Package plan turns a Rollout's spec.strategy into an ordered list of steps.
//
// All four strategies compile to one vocabulary, so the controller executes
// one kind of thing: a Step is the cumulative state the mesh and the canary
// ReplicaSet should be in while the step runs, plus the gate that must pass
// before the next step. The last step is always the Promote step.
//
// The package is pure (no I/O, no clients, no clock). Build is cheap, so the
// controller rebuilds the plan on every reconcile from the current spec; the
// status only stores the index of the current step.
//
// Step indices are stable and meaningful to users: the i-th entry of
// canary.steps, abTest.steps and darkLaunch.steps is plan step i, so
// strategy.analysis.startingStep and the step numbers in approvals and
// "step=<N>" action tokens mean the same thing in the spec and in the plan.
// canarySteps follow the strategy's own steps; blueGreen prepends its preview
// step, which is why admission only accepts startingStep 0 there. Step.Source
// names the spec field of every step.
package plan

import (
	"time"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// Strategy names as they appear in status.strategy.
const (
	StrategyCanary     = "canary"
	StrategyBlueGreen  = "blueGreen"
	StrategyABTest     = "abTest"
	StrategyDarkLaunch = "darkLaunch"
)

// DefaultScaleDownDelay applies when strategy.scaleDownDelay is unset (the
// CRD defaults it too, this covers objects that bypassed defaulting).
const DefaultScaleDownDelay = 30 * time.Second

// The preview route of blueGreen matches this header when
// strategy.blueGreen.preview is unset.
const (
	DefaultPreviewHeader = "x-sluice-preview"
	DefaultPreviewValue  = "true"
)

// Plan is the compiled strategy.
type Plan struct {
	// Strategy is StrategyCanary, StrategyBlueGreen, StrategyABTest or
	// StrategyDarkLaunch.
	Strategy string
	// Steps in order; never empty, the last one has Kind StepPromote.
	Steps []Step
	// Replicas is the spec.replicas the steps' CanaryReplicas were computed
	// for.
	Replicas int32
	// Baseline is strategy.canary.baseline: a ReplicaSet of the stable
	// template sized like the canary (Step.CanaryReplicas) runs on every
	// step before Promote, and is removed at Promote.
	Baseline bool
	// ScaleDownDelay is how long the old revision keeps full capacity after
	// promotion (default DefaultScaleDownDelay).
	ScaleDownDelay time.Duration
	// BackgroundAnalysis is strategy.analysis with StartingStep always set
	// (default 0); nil when there is none. It runs from plan step
	// *StartingStep until the rollout ends, and a failure aborts.
	BackgroundAnalysis *v1alpha1.BackgroundAnalysis
}

// Step is one step of a plan: the traffic and scale to hold, and the gate
// that ends it.
//
// The controller is expected to make before it breaks: when a step asks for
// more canary traffic, it first brings the canary to CanaryReplicas and waits
// for them to be ready, then moves traffic; when traffic to the canary goes
// down, it moves traffic first and scales afterwards. The gate starts once
// both are in place (status.stepReadyAt).
type Step struct {
	// Index of the step in Plan.Steps.
	Index int32
	// Kind says what the step does, for messages and String.
	Kind StepKind
	// Source is the spec field the step came from, for messages:
	// "strategy.canary.steps[2]", "strategy.blueGreen.prePromotionAnalysis",
	// "promotion".
	Source string
	// Traffic is the whole traffic state during the step, not a delta.
	Traffic Traffic
	// Scale is how the canary ReplicaSet is sized during the step.
	Scale Scale
	// CanaryReplicas is Scale resolved for Plan.Replicas and this step's
	// traffic. It is at least 1 while a match route or a mirror sends
	// requests to a weight-following canary, so those requests never meet
	// a canary with no pods.
	CanaryReplicas int32
	// Gate must pass before the next step starts.
	Gate Gate
}

// StepKind says what a step does.
type StepKind int

// The zero StepKind is not produced by Build.
const (
	StepSetWeight StepKind = iota + 1
	StepPause
	StepSetCanaryScale
	StepSetMirror
	StepAnalysis
	StepApproval
	StepFault
	// StepPreview is blueGreen's first step: green runs beside blue,
	// reachable only through the preview route.
	StepPreview
	// StepSwitch is blueGreen's switch of all traffic to green, gated by
	// the post-promotion analysis when there is one.
	StepSwitch
	// StepPromote makes the canary the stable revision: all traffic, full
	// scale, sluice's routes removed, the old revision scaled down after
	// Plan.ScaleDownDelay.
	StepPromote
)

// Traffic is what the mesh looks like during a step. Weights apply to the
// named routes; the match route, when present, sits above each of them.
type Traffic struct {
	// CanaryWeight is the percentage of the named routes' traffic sent to
	// the canary, 0 to 100.
	CanaryWeight int32
	// MirrorPercent of the named routes' traffic is mirrored to the canary
	// (darkLaunch); 0 means no mirror.
	MirrorPercent float64
	// MatchRoute is the kind of sluice-inserted route that sends matching
	// requests to the canary alone.
	MatchRoute MatchKind
	// Match is that route's definition (blueGreen's default preview header
	// already filled in); nil exactly when MatchRoute is MatchNone. Shared
	// between steps: read only.
	Match *v1alpha1.MatchRoute
	// Fault is injected on the match route during a fault step only; nil
	// otherwise.
	Fault *v1alpha1.FaultStep
}

// MatchKind names the route sluice inserts above each named route.
type MatchKind int

const (
	// MatchNone: no sluice route.
	MatchNone MatchKind = iota
	// MatchABTest: abTest.matches go to the canary.
	MatchABTest
	// MatchPreview: blueGreen's preview route reaches green.
	MatchPreview
	// MatchTestRoute: canary.testRoute reaches the canary.
	MatchTestRoute
)

// ScaleMode says how the canary ReplicaSet is sized.
type ScaleMode int

const (
	// ScaleFollowWeight: ceil(spec.replicas × weight / 100), the canary
	// default.
	ScaleFollowWeight ScaleMode = iota
	// ScaleReplicas: exactly Value replicas.
	ScaleReplicas
	// ScalePercent: ceil(spec.replicas × Value / 100).
	ScalePercent
	// ScaleFull: spec.replicas.
	ScaleFull
)

// Scale sizes the canary ReplicaSet.
type Scale struct {
	Mode ScaleMode
	// Value is the replica count (ScaleReplicas) or percentage
	// (ScalePercent); unused otherwise.
	Value int32
}

// Replicas resolves the scale for spec.replicas and the step's canary
// weight, rounding up so that a canary with any traffic has a pod.
// Out-of-range inputs are clamped rather than trusted.
func (s Scale) Replicas(specReplicas, canaryWeight int32) int32 {
	spec := max(int64(specReplicas), 0)
	switch s.Mode {
	case ScaleReplicas:
		return max(s.Value, 0)
	case ScalePercent:
		return ceilPercent(spec, s.Value)
	case ScaleFull:
		return int32(spec)
	default:
		return ceilPercent(spec, canaryWeight)
	}
}

func ceilPercent(spec int64, pct int32) int32 {
	p := min(max(int64(pct), 0), 100)
	return int32((spec*p + 99) / 100)
}

// Gate is what must happen before the next step starts.
type Gate struct {
	Kind GateKind
	// Duration of a GatePause or GateFault, counted from the step being
	// ready.
	Duration time.Duration
	// Analysis to run for a GateAnalysis.
	Analysis *v1alpha1.AnalysisStep
	// AnalysisKind is the kind the run is recorded with in
	// status.analysis[].kind; set with Analysis.
	AnalysisKind AnalysisKind
	// Approval to wait for at a GateApproval.
	Approval *v1alpha1.ApprovalStep
	// SwitchBackOnFailure marks blueGreen's post-promotion analysis: a
	// failure switches all traffic back to blue, which is still the stable
	// revision at full scale (Promote has not run), so events and the abort
	// reason should say "switched back" rather than a plain abort.
	SwitchBackOnFailure bool
}

// GateKind says what a gate waits for.
type GateKind int

const (
	// GateNone: advance once the step's traffic and replicas are ready.
	GateNone GateKind = iota
	// GatePause: wait Duration.
	GatePause
	// GatePauseUntilPromoted: wait for kubectl sluice promote.
	GatePauseUntilPromoted
	// GateAnalysis: run Analysis, advance on success, abort on failure.
	GateAnalysis
	// GateApproval: wait until Approval is satisfied; promote does not pass
	// it.
	GateApproval
	// GateFault: hold Traffic.Fault for Duration, then remove it.
	GateFault
)

// AnalysisKind is the kind of an analysis run as recorded in
// status.analysis[].kind.
type AnalysisKind string

const (
	AnalysisStepRun       AnalysisKind = "Step"
	AnalysisBackground    AnalysisKind = "Background"
	AnalysisPrePromotion  AnalysisKind = "PrePromotion"
	AnalysisPostPromotion AnalysisKind = "PostPromotion"
)

// Len is the number of steps (status.stepCount).
func (p Plan) Len() int32 { return int32(len(p.Steps)) }

// Step returns step i, or false when i is out of range (for example when
// status.currentStepIndex equals the step count because the plan is done).
func (p Plan) Step(i int32) (Step, bool) {
	if i < 0 || int(i) >= len(p.Steps) {
		return Step{}, false
	}
	return p.Steps[i], true
}

// Last returns the Promote step (a zero Step for a zero Plan).
func (p Plan) Last() Step {
	if len(p.Steps) == 0 {
		return Step{}
	}
	return p.Steps[len(p.Steps)-1]
}

// NextApprovalAtOrAfter returns the index of the first approval gate at or
// after step i. promote-full advances up to that step and no further,
// because no action passes an open approval gate.
func (p Plan) NextApprovalAtOrAfter(i int32) (int32, bool) {
	for j := max(i, 0); int(j) < len(p.Steps); j++ {
		if p.Steps[j].Gate.Kind == GateApproval {
			return j, true
		}
	}
	return 0, false
}
