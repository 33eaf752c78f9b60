package plan

import (
	"fmt"
	"strings"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// Build compiles a Rollout's spec.strategy for spec.replicas. The plans, one
// spec step to one plan step, each ending with Promote:
//
//   - canary: its steps at the weights they set, the canary following the
//     weight unless setCanaryScale says otherwise; canary.testRoute, when
//     set, is in place on every step.
//   - blueGreen: preview (green at previewReplicas, reachable only through
//     the preview route), its steps, prePromotionAnalysis, the promotion
//     gate (autoPromotionAfter or until promoted), the switch (all traffic,
//     gated by postPromotionAnalysis).
//   - abTest: its steps with the A/B route and a full-size canary, then its
//     canarySteps with the A/B route still in place.
//   - darkLaunch: its steps mirroring mirrorPercent (default 100) to a
//     full-size canary, then its canarySteps without the mirror.
//
// An abTest with no steps at all, or a darkLaunch without steps, gets one
// step that holds the route or mirror until promoted (Source
// "strategy.abTest.steps" or "strategy.darkLaunch.steps"): otherwise it would
// be promoted the moment it was in place, which tests nothing.
//
// It never panics on user input. Admission refuses most bad specs, but an
// object written before a CRD upgrade, or with validation bypassed, can still
// arrive; whatever admission would have refused comes back as a *FieldError
// naming the field, for the controller to report in a Stalled condition.
// Build checks a little more than admission where the spec would otherwise
// do something unsafe or meaningless (setMirror in canary.steps, an empty
// HTTP match that would catch every request).
func Build(strategy v1alpha1.RolloutStrategy, replicas int32) (Plan, error) {
	if replicas < 0 {
		return Plan{}, fieldErrorf("spec.replicas", "must not be negative, got %d", replicas)
	}
	name, err := strategyName(strategy)
	if err != nil {
		return Plan{}, err
	}
	b := &builder{replicas: replicas}
	switch name {
	case StrategyCanary:
		err = b.canary(strategy.Canary)
	case StrategyBlueGreen:
		err = b.blueGreen(strategy.BlueGreen)
	case StrategyABTest:
		err = b.abTest(strategy.ABTest)
	case StrategyDarkLaunch:
		err = b.darkLaunch(strategy.DarkLaunch)
	}
	if err != nil {
		return Plan{}, err
	}
	b.promote()

	p := Plan{
		Strategy:       name,
		Steps:          b.steps,
		Replicas:       replicas,
		Baseline:       strategy.Canary != nil && strategy.Canary.Baseline,
		ScaleDownDelay: DefaultScaleDownDelay,
	}
	if d := strategy.ScaleDownDelay; d != nil {
		if p.ScaleDownDelay, err = duration("spec.strategy.scaleDownDelay", *d); err != nil {
			return Plan{}, err
		}
	}
	if p.BackgroundAnalysis, err = background(strategy, name); err != nil {
		return Plan{}, err
	}
	return p, nil
}

func strategyName(s v1alpha1.RolloutStrategy) (string, error) {
	var set []string
	if s.Canary != nil {
		set = append(set, StrategyCanary)
	}
	if s.BlueGreen != nil {
		set = append(set, StrategyBlueGreen)
	}
	if s.ABTest != nil {
		set = append(set, StrategyABTest)
	}
	if s.DarkLaunch != nil {
		set = append(set, StrategyDarkLaunch)
	}
	switch len(set) {
	case 1:
		return set[0], nil
	case 0:
		return "", fieldErrorf("spec.strategy", "must set exactly one of canary, blueGreen, abTest or darkLaunch; none is set")
	default:
		return "", fieldErrorf("spec.strategy", "must set exactly one of canary, blueGreen, abTest or darkLaunch; %s are set, remove all but one", strings.Join(set, " and "))
	}
}

// builder accumulates steps. traffic and scale are the cumulative state that
// user steps change; every emitted step copies them.
type builder struct {
	replicas int32
	steps    []Step
	traffic  Traffic // Fault is always nil here: a fault lasts one step
	scale    Scale
}

func (b *builder) add(kind StepKind, source string, gate Gate, fault *v1alpha1.FaultStep) {
	t := b.traffic
	t.Fault = fault
	b.steps = append(b.steps, Step{
		Index:          int32(len(b.steps)),
		Kind:           kind,
		Source:         source,
		Traffic:        t,
		Scale:          b.scale,
		CanaryReplicas: canaryReplicas(b.scale, t, b.replicas),
		Gate:           gate,
	})
}

func canaryReplicas(s Scale, t Traffic, spec int32) int32 {
	n := s.Replicas(spec, t.CanaryWeight)
	// A test route, preview or mirror sends requests to the canary even at
	// weight 0; a weight-following canary would have no pod to answer them.
	// Explicit replicas or percent are the user's choice and stay as given.
	if n == 0 && s.Mode == ScaleFollowWeight && spec > 0 && (t.MatchRoute != MatchNone || t.MirrorPercent > 0) {
		n = 1
	}
	return n
}

// forbidden maps a step action to why it is not allowed in a step list.
type forbidden map[StepKind]string

func (b *builder) userSteps(path string, steps []v1alpha1.Step, forbid forbidden) error {
	for i := range steps {
		if err := b.userStep(fmt.Sprintf("%s[%d]", path, i), &steps[i], forbid); err != nil {
			return err
		}
	}
	return nil
}

// userStep applies one spec step to the cumulative state and emits it.
func (b *builder) userStep(src string, s *v1alpha1.Step, forbid forbidden) error {
	field := "spec." + src
	kind, err := stepAction(field, s)
	if err != nil {
		return err
	}
	if why, ok := forbid[kind]; ok {
		return fieldErrorf(field+"."+actionField[kind], "%s", why)
	}
	gate := Gate{}
	switch kind {
	case StepSetWeight:
		w := *s.SetWeight
		if w < 0 || w > 100 {
			return fieldErrorf(field+".setWeight", "must be a percentage from 0 to 100, got %d", w)
		}
		b.traffic.CanaryWeight = w
	case StepPause:
		gate.Kind = GatePauseUntilPromoted
		if s.Pause.Duration != nil {
			d, err := duration(field+".pause.duration", *s.Pause.Duration)
			if err != nil {
				return err
			}
			gate = Gate{Kind: GatePause, Duration: d}
		}
	case StepSetCanaryScale:
		sc, err := canaryScale(field+".setCanaryScale", s.SetCanaryScale)
		if err != nil {
			return err
		}
		b.scale = sc
	case StepSetMirror:
		pct, err := percent(field+".setMirror", *s.SetMirror)
		if err != nil {
			return err
		}
		b.traffic.MirrorPercent = pct
	case StepAnalysis:
		if err := validateAnalysis(field+".analysis", s.Analysis); err != nil {
			return err
		}
		gate = Gate{Kind: GateAnalysis, Analysis: s.Analysis.DeepCopy(), AnalysisKind: AnalysisStepRun}
	case StepApproval:
		if err := validateApproval(field+".approval", s.Approval); err != nil {
			return err
		}
		gate = Gate{Kind: GateApproval, Approval: s.Approval.DeepCopy()}
	case StepFault:
		if b.traffic.MatchRoute == MatchNone {
			// The forbid lists cover this; kept so that a fault can never
			// land on a weighted route that stable users share.
			return fieldErrorf(field+".fault", "needs a route that reaches the new revision alone (a test, preview or A/B route)")
		}
		d, err := validateFault(field+".fault", s.Fault)
		if err != nil {
			return err
		}
		b.add(kind, src, Gate{Kind: GateFault, Duration: d}, s.Fault.DeepCopy())
		return nil
	}
	b.add(kind, src, gate, nil)
	return nil
}

// actionField is the spec field of each user step action.
var actionField = map[StepKind]string{
	StepSetWeight:      "setWeight",
	StepPause:          "pause",
	StepSetCanaryScale: "setCanaryScale",
	StepSetMirror:      "setMirror",
	StepAnalysis:       "analysis",
	StepApproval:       "approval",
	StepFault:          "fault",
}

func stepAction(field string, s *v1alpha1.Step) (StepKind, error) {
	var set []StepKind
	for _, a := range []struct {
		kind StepKind
		has  bool
	}{
		{StepSetWeight, s.SetWeight != nil},
		{StepPause, s.Pause != nil},
		{StepSetCanaryScale, s.SetCanaryScale != nil},
		{StepSetMirror, s.SetMirror != nil},
		{StepAnalysis, s.Analysis != nil},
		{StepApproval, s.Approval != nil},
		{StepFault, s.Fault != nil},
	} {
		if a.has {
			set = append(set, a.kind)
		}
	}
	switch len(set) {
	case 1:
		return set[0], nil
	case 0:
		return 0, fieldErrorf(field, "sets none of setWeight, pause, setCanaryScale, setMirror, analysis, approval or fault; each step sets exactly one")
	default:
		names := make([]string, len(set))
		for i, k := range set {
			names[i] = actionField[k]
		}
		return 0, fieldErrorf(field, "sets %s; each step sets exactly one, split a step that does two things into two steps", strings.Join(names, " and "))
	}
}

func (b *builder) canary(c *v1alpha1.CanaryStrategy) error {
	b.scale = Scale{Mode: ScaleFollowWeight}
	forbid := forbidden{StepSetMirror: "setMirror belongs to darkLaunch; a canary moves traffic with setWeight"}
	if c.TestRoute != nil {
		if err := validateMatchRoute("spec.strategy.canary.testRoute", c.TestRoute); err != nil {
			return err
		}
		b.traffic = Traffic{MatchRoute: MatchTestRoute, Match: c.TestRoute.DeepCopy()}
	} else {
		forbid[StepFault] = "a fault step needs strategy.canary.testRoute, because a fault on a weighted route would also hit stable users; add canary.testRoute or remove the fault step"
	}
	return b.userSteps("strategy.canary.steps", c.Steps, forbid)
}

func (b *builder) blueGreen(bg *v1alpha1.BlueGreenStrategy) error {
	const path = "strategy.blueGreen"
	preview := &v1alpha1.MatchRoute{Matches: []v1alpha1.HTTPMatch{{
		Headers: map[string]v1alpha1.StringMatch{DefaultPreviewHeader: {Exact: ptr(DefaultPreviewValue)}},
	}}}
	if bg.Preview != nil {
		if err := validateMatchRoute("spec."+path+".preview", bg.Preview); err != nil {
			return err
		}
		preview = bg.Preview.DeepCopy()
	}
	b.traffic = Traffic{MatchRoute: MatchPreview, Match: preview}
	b.scale = Scale{Mode: ScaleFull}
	if n := bg.PreviewReplicas; n != nil {
		if *n < 0 {
			return fieldErrorf("spec."+path+".previewReplicas", "must not be negative, got %d", *n)
		}
		b.scale = Scale{Mode: ScaleReplicas, Value: *n}
	}
	b.add(StepPreview, path+".preview", Gate{}, nil)

	const why = "blueGreen.steps may only pause, analyse, ask for approval or inject faults; setWeight, setMirror and setCanaryScale belong to canary and darkLaunch"
	if err := b.userSteps(path+".steps", bg.Steps, forbidden{StepSetWeight: why, StepSetMirror: why, StepSetCanaryScale: why}); err != nil {
		return err
	}

	if a := bg.PrePromotionAnalysis; a != nil {
		if err := validateAnalysis("spec."+path+".prePromotionAnalysis", a); err != nil {
			return err
		}
		b.add(StepAnalysis, path+".prePromotionAnalysis", Gate{Kind: GateAnalysis, Analysis: a.DeepCopy(), AnalysisKind: AnalysisPrePromotion}, nil)
	}

	// The promotion gate keeps the preview scale: green is brought to full
	// scale by the switch step, before its traffic moves.
	gate := Gate{Kind: GatePauseUntilPromoted}
	if d := bg.AutoPromotionAfter; d != nil {
		v, err := duration("spec."+path+".autoPromotionAfter", *d)
		if err != nil {
			return err
		}
		gate = Gate{Kind: GatePause, Duration: v}
	}
	b.add(StepPause, path+".autoPromotionAfter", gate, nil)

	b.traffic = Traffic{CanaryWeight: 100}
	b.scale = Scale{Mode: ScaleFull}
	if a := bg.PostPromotionAnalysis; a != nil {
		if err := validateAnalysis("spec."+path+".postPromotionAnalysis", a); err != nil {
			return err
		}
		b.add(StepSwitch, path+".postPromotionAnalysis", Gate{Kind: GateAnalysis, Analysis: a.DeepCopy(), AnalysisKind: AnalysisPostPromotion, SwitchBackOnFailure: true}, nil)
	} else {
		b.add(StepSwitch, path, Gate{}, nil)
	}
	return nil
}

func (b *builder) abTest(ab *v1alpha1.ABTestStrategy) error {
	const path = "strategy.abTest"
	if len(ab.Matches) == 0 {
		return fieldErrorf("spec."+path+".matches", "needs at least one match to select the users who see the new revision")
	}
	route := &v1alpha1.MatchRoute{Matches: ab.DeepCopy().Matches}
	if err := validateMatchRoute("spec."+path, route); err != nil {
		return err
	}
	b.traffic = Traffic{MatchRoute: MatchABTest, Match: route}
	b.scale = Scale{Mode: ScaleFull}

	const why = "abTest.steps may not setWeight or setMirror: an A/B test sends matching users 100% to the new revision; put weights in abTest.canarySteps"
	if err := b.userSteps(path+".steps", ab.Steps, forbidden{StepSetWeight: why, StepSetMirror: why}); err != nil {
		return err
	}
	if len(ab.Steps) == 0 && len(ab.CanarySteps) == 0 {
		// Without any step the A/B route would go in and be promoted at
		// once, which tests nothing: hold it until someone promotes.
		b.add(StepPause, path+".steps", Gate{Kind: GatePauseUntilPromoted}, nil)
	}
	// The A/B route stays while weights shift, and the canary keeps the
	// scale it had: it already serves the matching users.
	const whyCanary = "abTest.canarySteps may not setMirror or inject faults"
	return b.userSteps(path+".canarySteps", ab.CanarySteps, forbidden{StepSetMirror: whyCanary, StepFault: whyCanary})
}

func (b *builder) darkLaunch(dl *v1alpha1.DarkLaunchStrategy) error {
	const path = "strategy.darkLaunch"
	mirror := 100.0
	if p := dl.MirrorPercent; p != nil {
		var err error
		if mirror, err = percent("spec."+path+".mirrorPercent", *p); err != nil {
			return err
		}
	}
	b.traffic = Traffic{MirrorPercent: mirror}
	b.scale = Scale{Mode: ScaleFull}

	const why = "darkLaunch.steps may not setWeight or inject faults: mirrored responses are discarded; put weights in darkLaunch.canarySteps"
	if err := b.userSteps(path+".steps", dl.Steps, forbidden{StepSetWeight: why, StepFault: why}); err != nil {
		return err
	}
	if len(dl.Steps) == 0 {
		// Without a step the mirror would be promoted (or replaced by the
		// canary steps) the moment it is in place, so nobody could look at
		// the new revision under real load: hold it until promoted.
		b.add(StepPause, path+".steps", Gate{Kind: GatePauseUntilPromoted}, nil)
	}
	// Mirroring ends when real traffic starts; the canary keeps its scale.
	b.traffic.MirrorPercent = 0
	const whyCanary = "darkLaunch.canarySteps may not setMirror or inject faults"
	return b.userSteps(path+".canarySteps", dl.CanarySteps, forbidden{StepSetMirror: whyCanary, StepFault: whyCanary})
}

func (b *builder) promote() {
	b.traffic = Traffic{CanaryWeight: 100}
	b.scale = Scale{Mode: ScaleFull}
	b.add(StepPromote, "promotion", Gate{}, nil)
}

func canaryScale(field string, c *v1alpha1.CanaryScale) (Scale, error) {
	n := 0
	for _, has := range []bool{c.Replicas != nil, c.Percent != nil, c.MatchTrafficWeight} {
		if has {
			n++
		}
	}
	if n != 1 {
		return Scale{}, fieldErrorf(field, "sets exactly one of replicas, percent or matchTrafficWeight: true")
	}
	switch {
	case c.Replicas != nil:
		if *c.Replicas < 0 {
			return Scale{}, fieldErrorf(field+".replicas", "must not be negative, got %d", *c.Replicas)
		}
		return Scale{Mode: ScaleReplicas, Value: *c.Replicas}, nil
	case c.Percent != nil:
		if *c.Percent < 0 || *c.Percent > 100 {
			return Scale{}, fieldErrorf(field+".percent", "must be a percentage from 0 to 100, got %d", *c.Percent)
		}
		return Scale{Mode: ScalePercent, Value: *c.Percent}, nil
	default:
		return Scale{Mode: ScaleFollowWeight}, nil
	}
}

// background resolves strategy.analysis. startingStep indexes the strategy's
// own steps, which are plan steps 0.. for canary, abTest and darkLaunch; for
// blueGreen only 0 (the preview step) is allowed, as admission says.
func background(s v1alpha1.RolloutStrategy, name string) (*v1alpha1.BackgroundAnalysis, error) {
	a := s.Analysis
	if a == nil {
		return nil, nil
	}
	const field = "spec.strategy.analysis"
	if err := validateAnalysis(field, &a.AnalysisStep); err != nil {
		return nil, err
	}
	start := int32(0)
	if a.StartingStep != nil {
		start = *a.StartingStep
		var limit int
		switch name {
		case StrategyCanary:
			limit = len(s.Canary.Steps)
		case StrategyABTest:
			limit = len(s.ABTest.Steps)
		case StrategyDarkLaunch:
			limit = len(s.DarkLaunch.Steps)
		case StrategyBlueGreen:
			limit = 1
		}
		if name == StrategyBlueGreen && start != 0 {
			return nil, fieldErrorf(field+".startingStep", "must be 0 for blueGreen (its preview step), got %d", start)
		}
		if start < 0 || int(start) >= limit {
			return nil, fieldErrorf(field+".startingStep", "must be the index of an existing step of strategy.%s.steps, got %d with %d steps; lower it or add steps", name, start, limit)
		}
	}
	out := a.DeepCopy()
	out.StartingStep = &start
	return out, nil
}

func ptr[T any](v T) *T { return &v }
