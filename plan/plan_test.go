package plan

import (
	"errors"
	"math"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// Spec fixtures.

func dur(s string) *v1alpha1.Duration { d := v1alpha1.Duration(s); return &d }
func pct(s string) *v1alpha1.Percent  { p := v1alpha1.Percent(s); return &p }
func i32(n int32) *int32              { return &n }

func setWeight(n int32) v1alpha1.Step { return v1alpha1.Step{SetWeight: &n} }
func pauseFor(s string) v1alpha1.Step {
	return v1alpha1.Step{Pause: &v1alpha1.PauseStep{Duration: dur(s)}}
}
func pauseUntilPromoted() v1alpha1.Step { return v1alpha1.Step{Pause: &v1alpha1.PauseStep{}} }
func setMirror(p string) v1alpha1.Step  { return v1alpha1.Step{SetMirror: pct(p)} }
func scaleReplicas(n int32) v1alpha1.Step {
	return v1alpha1.Step{SetCanaryScale: &v1alpha1.CanaryScale{Replicas: &n}}
}
func scalePercent(n int32) v1alpha1.Step {
	return v1alpha1.Step{SetCanaryScale: &v1alpha1.CanaryScale{Percent: &n}}
}
func scaleMatchWeight() v1alpha1.Step {
	return v1alpha1.Step{SetCanaryScale: &v1alpha1.CanaryScale{MatchTrafficWeight: true}}
}

func analysisSpec(names ...string) *v1alpha1.AnalysisStep {
	a := &v1alpha1.AnalysisStep{}
	for _, n := range names {
		a.Templates = append(a.Templates, v1alpha1.AnalysisTemplateRef{Name: n})
	}
	return a
}
func analysis(names ...string) v1alpha1.Step { return v1alpha1.Step{Analysis: analysisSpec(names...)} }

func approvalSpec(minApprovals int32, groups ...string) *v1alpha1.ApprovalStep {
	return &v1alpha1.ApprovalStep{Approvers: v1alpha1.Approvers{Groups: groups}, MinApprovals: &minApprovals}
}
func approval(minApprovals int32, groups ...string) v1alpha1.Step {
	return v1alpha1.Step{Approval: approvalSpec(minApprovals, groups...)}
}

func abortFault(d string, percent string, status int32) *v1alpha1.FaultStep {
	return &v1alpha1.FaultStep{Duration: v1alpha1.Duration(d), Abort: &v1alpha1.FaultAbort{Percent: v1alpha1.Percent(percent), HTTPStatus: status}}
}
func delayFault(d string, percent string, delay string) *v1alpha1.FaultStep {
	return &v1alpha1.FaultStep{Duration: v1alpha1.Duration(d), Delay: &v1alpha1.FaultDelay{Percent: v1alpha1.Percent(percent), FixedDelay: v1alpha1.Duration(delay)}}
}

func headerRoute(name, value string) *v1alpha1.MatchRoute {
	return &v1alpha1.MatchRoute{Matches: []v1alpha1.HTTPMatch{{
		Headers: map[string]v1alpha1.StringMatch{name: {Exact: &value}},
	}}}
}

// Expected-plan helpers.

func step(kind StepKind, source string, t Traffic, s Scale, replicas int32, g Gate) Step {
	return Step{Kind: kind, Source: source, Traffic: t, Scale: s, CanaryReplicas: replicas, Gate: g}
}

func indexed(steps ...Step) []Step {
	for i := range steps {
		steps[i].Index = int32(i)
	}
	return steps
}

var (
	followWeight = Scale{Mode: ScaleFollowWeight}
	full         = Scale{Mode: ScaleFull}
	noGate       = Gate{}
	untilPromote = Gate{Kind: GatePauseUntilPromoted}
)

func pauseGate(d time.Duration) Gate { return Gate{Kind: GatePause, Duration: d} }
func analysisGate(names ...string) Gate {
	return Gate{Kind: GateAnalysis, Analysis: analysisSpec(names...), AnalysisKind: AnalysisStepRun}
}
func approvalGate(minApprovals int32, groups ...string) Gate {
	return Gate{Kind: GateApproval, Approval: approvalSpec(minApprovals, groups...)}
}
func promoteStep(replicas int32) Step {
	return step(StepPromote, "promotion", Traffic{CanaryWeight: 100}, full, replicas, noGate)
}

func TestBuildStrategies(t *testing.T) {
	testRoute := headerRoute("x-canary", "true")
	previewDefault := headerRoute(DefaultPreviewHeader, DefaultPreviewValue)
	previewHost := &v1alpha1.MatchRoute{Host: "preview.shop.example.com"}
	abMatches := []v1alpha1.HTTPMatch{{Cookie: &v1alpha1.CookieMatch{Name: "beta", Value: "yes"}}}
	abRoute := &v1alpha1.MatchRoute{Matches: abMatches}

	tests := []struct {
		name     string
		strategy v1alpha1.RolloutStrategy
		replicas int32
		want     []Step
	}{{
		name: "canary 10 → 50 → 100 with timed and untimed pauses",
		strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: []v1alpha1.Step{
			setWeight(10), pauseFor("30s"), setWeight(50), pauseUntilPromoted(), setWeight(100), pauseFor("1h"),
		}}},
		replicas: 10,
		want: indexed(
			step(StepSetWeight, "strategy.canary.steps[0]", Traffic{CanaryWeight: 10}, followWeight, 1, noGate),
			step(StepPause, "strategy.canary.steps[1]", Traffic{CanaryWeight: 10}, followWeight, 1, pauseGate(30*time.Second)),
			step(StepSetWeight, "strategy.canary.steps[2]", Traffic{CanaryWeight: 50}, followWeight, 5, noGate),
			step(StepPause, "strategy.canary.steps[3]", Traffic{CanaryWeight: 50}, followWeight, 5, untilPromote),
			step(StepSetWeight, "strategy.canary.steps[4]", Traffic{CanaryWeight: 100}, followWeight, 10, noGate),
			step(StepPause, "strategy.canary.steps[5]", Traffic{CanaryWeight: 100}, followWeight, 10, pauseGate(time.Hour)),
			promoteStep(10),
		),
	}, {
		name: "canary setCanaryScale replicas, percent, matchTrafficWeight",
		strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: []v1alpha1.Step{
			scaleReplicas(2), setWeight(10), scalePercent(50), setWeight(20), scaleMatchWeight(), analysis("success-rate"),
		}}},
		replicas: 5,
		want: indexed(
			step(StepSetCanaryScale, "strategy.canary.steps[0]", Traffic{}, Scale{Mode: ScaleReplicas, Value: 2}, 2, noGate),
			step(StepSetWeight, "strategy.canary.steps[1]", Traffic{CanaryWeight: 10}, Scale{Mode: ScaleReplicas, Value: 2}, 2, noGate),
			// ceil(5 × 50%) = 3
			step(StepSetCanaryScale, "strategy.canary.steps[2]", Traffic{CanaryWeight: 10}, Scale{Mode: ScalePercent, Value: 50}, 3, noGate),
			step(StepSetWeight, "strategy.canary.steps[3]", Traffic{CanaryWeight: 20}, Scale{Mode: ScalePercent, Value: 50}, 3, noGate),
			// back to following the weight: ceil(5 × 20%) = 1
			step(StepSetCanaryScale, "strategy.canary.steps[4]", Traffic{CanaryWeight: 20}, followWeight, 1, noGate),
			step(StepAnalysis, "strategy.canary.steps[5]", Traffic{CanaryWeight: 20}, followWeight, 1, analysisGate("success-rate")),
			promoteStep(5),
		),
	}, {
		name: "canary with testRoute: match route on every step, fault only on its own step",
		strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			TestRoute: testRoute,
			Steps: []v1alpha1.Step{
				{Fault: abortFault("1m", "10", 503)}, setWeight(20), approval(2, "team-leads"),
			},
		}},
		replicas: 4,
		want: indexed(
			// weight 0 but the test route reaches the canary: at least one pod
			step(StepFault, "strategy.canary.steps[0]", Traffic{MatchRoute: MatchTestRoute, Match: testRoute, Fault: abortFault("1m", "10", 503)}, followWeight, 1, Gate{Kind: GateFault, Duration: time.Minute}),
			step(StepSetWeight, "strategy.canary.steps[1]", Traffic{CanaryWeight: 20, MatchRoute: MatchTestRoute, Match: testRoute}, followWeight, 1, noGate),
			step(StepApproval, "strategy.canary.steps[2]", Traffic{CanaryWeight: 20, MatchRoute: MatchTestRoute, Match: testRoute}, followWeight, 1, approvalGate(2, "team-leads")),
			promoteStep(4),
		),
	}, {
		name:     "canary without steps promotes at once",
		strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{}},
		replicas: 3,
		want:     indexed(promoteStep(3)),
	}, {
		name:     "blueGreen minimal: preview at full scale, manual promotion, switch",
		strategy: v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{}},
		replicas: 3,
		want: indexed(
			step(StepPreview, "strategy.blueGreen.preview", Traffic{MatchRoute: MatchPreview, Match: previewDefault}, full, 3, noGate),
			step(StepPause, "strategy.blueGreen.autoPromotionAfter", Traffic{MatchRoute: MatchPreview, Match: previewDefault}, full, 3, untilPromote),
			step(StepSwitch, "strategy.blueGreen", Traffic{CanaryWeight: 100}, full, 3, noGate),
			promoteStep(3),
		),
	}, {
		name: "blueGreen with preview replicas, steps, pre/post analysis and autoPromotionAfter",
		strategy: v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{
			PreviewReplicas:       i32(1),
			Preview:               previewHost,
			Steps:                 []v1alpha1.Step{approval(1, "qa"), {Fault: delayFault("30s", "50", "2s")}},
			PrePromotionAnalysis:  analysisSpec("smoke"),
			AutoPromotionAfter:    dur("10m"),
			PostPromotionAnalysis: analysisSpec("success-rate", "latency"),
		}},
		replicas: 4,
		want: indexed(
			step(StepPreview, "strategy.blueGreen.preview", Traffic{MatchRoute: MatchPreview, Match: previewHost}, Scale{Mode: ScaleReplicas, Value: 1}, 1, noGate),
			step(StepApproval, "strategy.blueGreen.steps[0]", Traffic{MatchRoute: MatchPreview, Match: previewHost}, Scale{Mode: ScaleReplicas, Value: 1}, 1, approvalGate(1, "qa")),
			step(StepFault, "strategy.blueGreen.steps[1]", Traffic{MatchRoute: MatchPreview, Match: previewHost, Fault: delayFault("30s", "50", "2s")}, Scale{Mode: ScaleReplicas, Value: 1}, 1, Gate{Kind: GateFault, Duration: 30 * time.Second}),
			step(StepAnalysis, "strategy.blueGreen.prePromotionAnalysis", Traffic{MatchRoute: MatchPreview, Match: previewHost}, Scale{Mode: ScaleReplicas, Value: 1}, 1, Gate{Kind: GateAnalysis, Analysis: analysisSpec("smoke"), AnalysisKind: AnalysisPrePromotion}),
			step(StepPause, "strategy.blueGreen.autoPromotionAfter", Traffic{MatchRoute: MatchPreview, Match: previewHost}, Scale{Mode: ScaleReplicas, Value: 1}, 1, pauseGate(10*time.Minute)),
			step(StepSwitch, "strategy.blueGreen.postPromotionAnalysis", Traffic{CanaryWeight: 100}, full, 4, Gate{Kind: GateAnalysis, Analysis: analysisSpec("success-rate", "latency"), AnalysisKind: AnalysisPostPromotion, SwitchBackOnFailure: true}),
			promoteStep(4),
		),
	}, {
		name:     "blueGreen previewReplicas 0 is honoured",
		strategy: v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{PreviewReplicas: i32(0), AutoPromotionAfter: dur("0s")}},
		replicas: 2,
		want: indexed(
			step(StepPreview, "strategy.blueGreen.preview", Traffic{MatchRoute: MatchPreview, Match: previewDefault}, Scale{Mode: ScaleReplicas}, 0, noGate),
			step(StepPause, "strategy.blueGreen.autoPromotionAfter", Traffic{MatchRoute: MatchPreview, Match: previewDefault}, Scale{Mode: ScaleReplicas}, 0, pauseGate(0)),
			step(StepSwitch, "strategy.blueGreen", Traffic{CanaryWeight: 100}, full, 2, noGate),
			promoteStep(2),
		),
	}, {
		name: "abTest without canarySteps",
		strategy: v1alpha1.RolloutStrategy{ABTest: &v1alpha1.ABTestStrategy{
			Matches: abMatches,
			Steps:   []v1alpha1.Step{analysis("conversion"), approval(1, "product")},
		}},
		replicas: 2,
		want: indexed(
			step(StepAnalysis, "strategy.abTest.steps[0]", Traffic{MatchRoute: MatchABTest, Match: abRoute}, full, 2, analysisGate("conversion")),
			step(StepApproval, "strategy.abTest.steps[1]", Traffic{MatchRoute: MatchABTest, Match: abRoute}, full, 2, approvalGate(1, "product")),
			promoteStep(2),
		),
	}, {
		name: "abTest with setCanaryScale and canarySteps: A/B route stays, scale carries over",
		strategy: v1alpha1.RolloutStrategy{ABTest: &v1alpha1.ABTestStrategy{
			Matches:     abMatches,
			Steps:       []v1alpha1.Step{scaleReplicas(1), pauseFor("5m")},
			CanarySteps: []v1alpha1.Step{setWeight(25), pauseFor("1h"), scaleMatchWeight()},
		}},
		replicas: 8,
		want: indexed(
			step(StepSetCanaryScale, "strategy.abTest.steps[0]", Traffic{MatchRoute: MatchABTest, Match: abRoute}, Scale{Mode: ScaleReplicas, Value: 1}, 1, noGate),
			step(StepPause, "strategy.abTest.steps[1]", Traffic{MatchRoute: MatchABTest, Match: abRoute}, Scale{Mode: ScaleReplicas, Value: 1}, 1, pauseGate(5*time.Minute)),
			step(StepSetWeight, "strategy.abTest.canarySteps[0]", Traffic{CanaryWeight: 25, MatchRoute: MatchABTest, Match: abRoute}, Scale{Mode: ScaleReplicas, Value: 1}, 1, noGate),
			step(StepPause, "strategy.abTest.canarySteps[1]", Traffic{CanaryWeight: 25, MatchRoute: MatchABTest, Match: abRoute}, Scale{Mode: ScaleReplicas, Value: 1}, 1, pauseGate(time.Hour)),
			step(StepSetCanaryScale, "strategy.abTest.canarySteps[2]", Traffic{CanaryWeight: 25, MatchRoute: MatchABTest, Match: abRoute}, followWeight, 2, noGate),
			promoteStep(8),
		),
	}, {
		name:     "abTest without any step holds the A/B route until promoted",
		strategy: v1alpha1.RolloutStrategy{ABTest: &v1alpha1.ABTestStrategy{Matches: abMatches}},
		replicas: 2,
		want: indexed(
			step(StepPause, "strategy.abTest.steps", Traffic{MatchRoute: MatchABTest, Match: abRoute}, full, 2, untilPromote),
			promoteStep(2),
		),
	}, {
		name:     "abTest with only canarySteps needs no hold: the A/B route is live during them",
		strategy: v1alpha1.RolloutStrategy{ABTest: &v1alpha1.ABTestStrategy{Matches: abMatches, CanarySteps: []v1alpha1.Step{setWeight(50)}}},
		replicas: 2,
		want: indexed(
			step(StepSetWeight, "strategy.abTest.canarySteps[0]", Traffic{CanaryWeight: 50, MatchRoute: MatchABTest, Match: abRoute}, full, 2, noGate),
			promoteStep(2),
		),
	}, {
		name: "darkLaunch with setMirror steps then canarySteps (mirror off)",
		strategy: v1alpha1.RolloutStrategy{DarkLaunch: &v1alpha1.DarkLaunchStrategy{
			Steps:       []v1alpha1.Step{analysis("errors"), setMirror("0.5"), pauseFor("1h30m")},
			CanarySteps: []v1alpha1.Step{setWeight(10), setWeight(100)},
		}},
		replicas: 6,
		want: indexed(
			step(StepAnalysis, "strategy.darkLaunch.steps[0]", Traffic{MirrorPercent: 100}, full, 6, analysisGate("errors")),
			step(StepSetMirror, "strategy.darkLaunch.steps[1]", Traffic{MirrorPercent: 0.5}, full, 6, noGate),
			step(StepPause, "strategy.darkLaunch.steps[2]", Traffic{MirrorPercent: 0.5}, full, 6, pauseGate(90*time.Minute)),
			step(StepSetWeight, "strategy.darkLaunch.canarySteps[0]", Traffic{CanaryWeight: 10}, full, 6, noGate),
			step(StepSetWeight, "strategy.darkLaunch.canarySteps[1]", Traffic{CanaryWeight: 100}, full, 6, noGate),
			promoteStep(6),
		),
	}, {
		name:     "darkLaunch without steps holds the mirror until promoted",
		strategy: v1alpha1.RolloutStrategy{DarkLaunch: &v1alpha1.DarkLaunchStrategy{MirrorPercent: pct("25")}},
		replicas: 3,
		want: indexed(
			step(StepPause, "strategy.darkLaunch.steps", Traffic{MirrorPercent: 25}, full, 3, untilPromote),
			promoteStep(3),
		),
	}, {
		name: "darkLaunch with setCanaryScale follows weight but keeps a pod for the mirror",
		strategy: v1alpha1.RolloutStrategy{DarkLaunch: &v1alpha1.DarkLaunchStrategy{
			Steps: []v1alpha1.Step{scaleMatchWeight(), setMirror("0")},
		}},
		replicas: 3,
		want: indexed(
			step(StepSetCanaryScale, "strategy.darkLaunch.steps[0]", Traffic{MirrorPercent: 100}, followWeight, 1, noGate),
			step(StepSetMirror, "strategy.darkLaunch.steps[1]", Traffic{}, followWeight, 0, noGate),
			promoteStep(3),
		),
	}}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			p, err := Build(tt.strategy, tt.replicas)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(p.Replicas).To(Equal(tt.replicas))
			g.Expect(p.Len()).To(Equal(int32(len(tt.want))))
			for i := range tt.want {
				g.Expect(p.Steps[i]).To(Equal(tt.want[i]), "step %d", i)
			}
		})
	}
}

func TestBuildStrategyName(t *testing.T) {
	for s, want := range map[*v1alpha1.RolloutStrategy]string{
		{Canary: &v1alpha1.CanaryStrategy{}}:       StrategyCanary,
		{BlueGreen: &v1alpha1.BlueGreenStrategy{}}: StrategyBlueGreen,
		{ABTest: &v1alpha1.ABTestStrategy{Matches: []v1alpha1.HTTPMatch{{Method: &v1alpha1.StringMatch{Exact: new("GET")}}}}}: StrategyABTest,
		{DarkLaunch: &v1alpha1.DarkLaunchStrategy{}}: StrategyDarkLaunch,
	} {
		p, err := Build(*s, 1)
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		NewWithT(t).Expect(p.Strategy).To(Equal(want))
	}
}

func TestBuildPlanSettings(t *testing.T) {
	g := NewWithT(t)

	p, err := Build(v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Baseline: true}}, 1)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(p.Baseline).To(BeTrue())
	g.Expect(p.ScaleDownDelay).To(Equal(DefaultScaleDownDelay))
	g.Expect(p.BackgroundAnalysis).To(BeNil())

	p, err = Build(v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{}, ScaleDownDelay: dur("5m")}, 1)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(p.Baseline).To(BeFalse())
	g.Expect(p.ScaleDownDelay).To(Equal(5 * time.Minute))
}

func TestBuildBackgroundAnalysis(t *testing.T) {
	g := NewWithT(t)
	steps := []v1alpha1.Step{setWeight(10), setWeight(20), setWeight(30)}

	// Unset startingStep resolves to 0.
	bg := &v1alpha1.BackgroundAnalysis{AnalysisStep: *analysisSpec("success-rate")}
	p, err := Build(v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: steps}, Analysis: bg}, 3)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(p.BackgroundAnalysis).NotTo(BeNil())
	g.Expect(p.BackgroundAnalysis.StartingStep).To(Equal(i32(0)))
	g.Expect(p.BackgroundAnalysis.Templates).To(Equal(analysisSpec("success-rate").Templates))
	g.Expect(bg.StartingStep).To(BeNil(), "the input is not modified")

	// A set startingStep is the same index in the plan as in the spec.
	bg.StartingStep = i32(2)
	p, err = Build(v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: steps}, Analysis: bg}, 3)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(*p.BackgroundAnalysis.StartingStep).To(Equal(int32(2)))
	g.Expect(p.Steps[2].Source).To(Equal("strategy.canary.steps[2]"))

	// blueGreen starts at the preview step.
	bg.StartingStep = i32(0)
	p, err = Build(v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{}, Analysis: bg}, 3)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(p.Steps[*p.BackgroundAnalysis.StartingStep].Kind).To(Equal(StepPreview))
}

func TestBuildDoesNotAliasSpec(t *testing.T) {
	g := NewWithT(t)
	s := v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
		TestRoute: headerRoute("x-canary", "true"),
		Steps:     []v1alpha1.Step{analysis("a"), approval(1, "g"), {Fault: abortFault("1m", "5", 500)}},
	}}
	p, err := Build(s, 2)
	g.Expect(err).NotTo(HaveOccurred())

	s.Canary.Steps[0].Analysis.Templates[0].Name = "changed"
	s.Canary.Steps[1].Approval.Approvers.Groups[0] = "changed"
	s.Canary.Steps[2].Fault.Abort.HTTPStatus = 599
	*s.Canary.TestRoute.Matches[0].Headers["x-canary"].Exact = "changed"

	g.Expect(p.Steps[0].Gate.Analysis.Templates[0].Name).To(Equal("a"))
	g.Expect(p.Steps[1].Gate.Approval.Approvers.Groups[0]).To(Equal("g"))
	g.Expect(p.Steps[2].Traffic.Fault.Abort.HTTPStatus).To(Equal(int32(500)))
	g.Expect(*p.Steps[0].Traffic.Match.Matches[0].Headers["x-canary"].Exact).To(Equal("true"))
}

func TestBuildErrors(t *testing.T) {
	canary := func(steps ...v1alpha1.Step) v1alpha1.RolloutStrategy {
		return v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: steps}}
	}
	ab := []v1alpha1.HTTPMatch{{Headers: map[string]v1alpha1.StringMatch{"x-beta": {Exact: new("1")}}}}

	tests := []struct {
		name      string
		strategy  v1alpha1.RolloutStrategy
		replicas  int32
		field     string
		substring string
	}{
		{"no strategy", v1alpha1.RolloutStrategy{}, 1, "spec.strategy", "none is set"},
		{"two strategies", v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{}, DarkLaunch: &v1alpha1.DarkLaunchStrategy{}}, 1, "spec.strategy", "canary and darkLaunch are set"},
		{"negative replicas", canary(), -1, "spec.replicas", "must not be negative"},
		{"weight above 100", canary(setWeight(10), setWeight(150)), 1, "spec.strategy.canary.steps[1].setWeight", "from 0 to 100, got 150"},
		{"negative weight", canary(setWeight(-1)), 1, "spec.strategy.canary.steps[0].setWeight", "got -1"},
		{"empty step", canary(v1alpha1.Step{}), 1, "spec.strategy.canary.steps[0]", "sets none of"},
		{"step doing two things", canary(v1alpha1.Step{SetWeight: i32(5), Pause: &v1alpha1.PauseStep{}}), 1, "spec.strategy.canary.steps[0]", "sets setWeight and pause"},
		{"malformed pause", canary(pauseFor("ten minutes")), 1, "spec.strategy.canary.steps[0].pause.duration", `got "ten minutes"`},
		{"negative pause", canary(pauseFor("-5s")), 1, "spec.strategy.canary.steps[0].pause.duration", "must not be negative"},
		{"fault without testRoute", canary(v1alpha1.Step{Fault: abortFault("1m", "10", 503)}), 1, "spec.strategy.canary.steps[0].fault", "needs strategy.canary.testRoute"},
		{"setMirror in canary", canary(setMirror("5")), 1, "spec.strategy.canary.steps[0].setMirror", "belongs to darkLaunch"},
		{"canary scale with two choices", canary(v1alpha1.Step{SetCanaryScale: &v1alpha1.CanaryScale{Replicas: i32(1), Percent: i32(2)}}), 1, "spec.strategy.canary.steps[0].setCanaryScale", "exactly one"},
		{"canary scale with nothing", canary(v1alpha1.Step{SetCanaryScale: &v1alpha1.CanaryScale{}}), 1, "spec.strategy.canary.steps[0].setCanaryScale", "exactly one"},
		{"canary scale negative replicas", canary(scaleReplicas(-2)), 1, "spec.strategy.canary.steps[0].setCanaryScale.replicas", "got -2"},
		{"canary scale percent above 100", canary(scalePercent(101)), 1, "spec.strategy.canary.steps[0].setCanaryScale.percent", "got 101"},
		{"analysis without templates", canary(v1alpha1.Step{Analysis: &v1alpha1.AnalysisStep{}}), 1, "spec.strategy.canary.steps[0].analysis.templates", "at least one"},
		{"approval nobody can give", canary(v1alpha1.Step{Approval: &v1alpha1.ApprovalStep{}}), 1, "spec.strategy.canary.steps[0].approval.approvers", "at least one"},
		{"approval minApprovals 0", canary(approval(0, "g")), 1, "spec.strategy.canary.steps[0].approval.minApprovals", "got 0"},
		{"approval onTimeout", canary(v1alpha1.Step{Approval: &v1alpha1.ApprovalStep{Approvers: v1alpha1.Approvers{Users: []string{"a"}}, OnTimeout: "Explode"}}), 1, "spec.strategy.canary.steps[0].approval.onTimeout", "Explode"},
		{"testRoute with matches and host", v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{TestRoute: &v1alpha1.MatchRoute{Host: "h", Matches: ab}}}, 1, "spec.strategy.canary.testRoute", "exactly one of matches or host"},
		{"fault abort status", v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{TestRoute: headerRoute("x", "y"), Steps: []v1alpha1.Step{{Fault: abortFault("1m", "10", 99)}}}}, 1, "spec.strategy.canary.steps[0].fault.abort.httpStatus", "got 99"},
		{"fault percent NaN", v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{TestRoute: headerRoute("x", "y"), Steps: []v1alpha1.Step{{Fault: abortFault("1m", "NaN", 500)}}}}, 1, "spec.strategy.canary.steps[0].fault.abort.percent", "NaN"},
		{"fault without delay or abort", v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{TestRoute: headerRoute("x", "y"), Steps: []v1alpha1.Step{{Fault: &v1alpha1.FaultStep{Duration: "1m"}}}}}, 1, "spec.strategy.canary.steps[0].fault", "needs delay, abort or both"},
		{"blueGreen setWeight", v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{Steps: []v1alpha1.Step{setWeight(10)}}}, 1, "spec.strategy.blueGreen.steps[0].setWeight", "may only pause"},
		{"blueGreen negative previewReplicas", v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{PreviewReplicas: i32(-1)}}, 1, "spec.strategy.blueGreen.previewReplicas", "negative"},
		{"blueGreen malformed autoPromotionAfter", v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{AutoPromotionAfter: dur("soon")}}, 1, "spec.strategy.blueGreen.autoPromotionAfter", "soon"},
		{"blueGreen startingStep 1", v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{}, Analysis: &v1alpha1.BackgroundAnalysis{AnalysisStep: *analysisSpec("a"), StartingStep: i32(1)}}, 1, "spec.strategy.analysis.startingStep", "must be 0 for blueGreen"},
		{"abTest without matches", v1alpha1.RolloutStrategy{ABTest: &v1alpha1.ABTestStrategy{}}, 1, "spec.strategy.abTest.matches", "at least one match"},
		{"abTest empty match catches everyone", v1alpha1.RolloutStrategy{ABTest: &v1alpha1.ABTestStrategy{Matches: []v1alpha1.HTTPMatch{{}}}}, 1, "spec.strategy.abTest.matches[0]", "catch every request"},
		{"abTest empty string match", v1alpha1.RolloutStrategy{ABTest: &v1alpha1.ABTestStrategy{Matches: []v1alpha1.HTTPMatch{{URI: &v1alpha1.StringMatch{}}}}}, 1, "spec.strategy.abTest.matches[0].uri", "exactly one of exact, prefix or regex"},
		{"abTest setWeight", v1alpha1.RolloutStrategy{ABTest: &v1alpha1.ABTestStrategy{Matches: ab, Steps: []v1alpha1.Step{setWeight(5)}}}, 1, "spec.strategy.abTest.steps[0].setWeight", "abTest.canarySteps"},
		{"abTest canarySteps fault", v1alpha1.RolloutStrategy{ABTest: &v1alpha1.ABTestStrategy{Matches: ab, CanarySteps: []v1alpha1.Step{{Fault: abortFault("1m", "1", 500)}}}}, 1, "spec.strategy.abTest.canarySteps[0].fault", "may not setMirror or inject faults"},
		{"darkLaunch fault", v1alpha1.RolloutStrategy{DarkLaunch: &v1alpha1.DarkLaunchStrategy{Steps: []v1alpha1.Step{{Fault: abortFault("1m", "1", 500)}}}}, 1, "spec.strategy.darkLaunch.steps[0].fault", "mirrored responses are discarded"},
		{"darkLaunch mirror above 100", v1alpha1.RolloutStrategy{DarkLaunch: &v1alpha1.DarkLaunchStrategy{MirrorPercent: pct("100.5")}}, 1, "spec.strategy.darkLaunch.mirrorPercent", "100.5"},
		{"darkLaunch setMirror NaN", v1alpha1.RolloutStrategy{DarkLaunch: &v1alpha1.DarkLaunchStrategy{Steps: []v1alpha1.Step{setMirror("NaN")}}}, 1, "spec.strategy.darkLaunch.steps[0].setMirror", "NaN"},
		{"darkLaunch canarySteps setMirror", v1alpha1.RolloutStrategy{DarkLaunch: &v1alpha1.DarkLaunchStrategy{CanarySteps: []v1alpha1.Step{setMirror("1")}}}, 1, "spec.strategy.darkLaunch.canarySteps[0].setMirror", "may not setMirror"},
		{"startingStep past the steps", v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: []v1alpha1.Step{setWeight(1)}}, Analysis: &v1alpha1.BackgroundAnalysis{AnalysisStep: *analysisSpec("a"), StartingStep: i32(1)}}, 1, "spec.strategy.analysis.startingStep", "got 1 with 1 steps"},
		{"negative startingStep", v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: []v1alpha1.Step{setWeight(1)}}, Analysis: &v1alpha1.BackgroundAnalysis{AnalysisStep: *analysisSpec("a"), StartingStep: i32(-1)}}, 1, "spec.strategy.analysis.startingStep", "got -1"},
		{"background analysis without templates", v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{}, Analysis: &v1alpha1.BackgroundAnalysis{}}, 1, "spec.strategy.analysis.templates", "at least one"},
		{"malformed scaleDownDelay", v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{}, ScaleDownDelay: dur("")}, 1, "spec.strategy.scaleDownDelay", "must be a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			p, err := Build(tt.strategy, tt.replicas)
			g.Expect(err).To(HaveOccurred())
			g.Expect(p.Steps).To(BeEmpty())
			var fe *FieldError
			g.Expect(errors.As(err, &fe)).To(BeTrue())
			g.Expect(fe.Field).To(Equal(tt.field))
			g.Expect(err.Error()).To(HavePrefix(tt.field + ": "))
			g.Expect(err.Error()).To(ContainSubstring(tt.substring))
		})
	}
}

func TestScaleReplicas(t *testing.T) {
	tests := []struct {
		scale        Scale
		spec, weight int32
		want         int32
	}{
		{followWeight, 10, 0, 0},
		{followWeight, 10, 25, 3}, // 2.5 → 3
		{followWeight, 3, 10, 1},  // 0.3 → 1
		{followWeight, 10, 30, 3}, // exact
		{followWeight, 10, 100, 10},
		{followWeight, 0, 50, 0},
		{followWeight, 10, 150, 10}, // clamped
		{followWeight, 10, -5, 0},   // clamped
		{followWeight, -3, 50, 0},   // clamped
		{followWeight, math.MaxInt32, 100, math.MaxInt32},
		{followWeight, math.MaxInt32, 1, 21474837},
		{Scale{Mode: ScalePercent, Value: 33}, 10, 0, 4}, // 3.3 → 4, weight ignored
		{Scale{Mode: ScalePercent, Value: 0}, 10, 50, 0},
		{Scale{Mode: ScalePercent, Value: 200}, 10, 0, 10},
		{Scale{Mode: ScaleReplicas, Value: 7}, 3, 0, 7}, // may exceed spec.replicas
		{Scale{Mode: ScaleReplicas, Value: -1}, 3, 0, 0},
		{full, 4, 0, 4},
	}
	for _, tt := range tests {
		NewWithT(t).Expect(tt.scale.Replicas(tt.spec, tt.weight)).To(Equal(tt.want), "%v of %d at weight %d", tt.scale.Mode, tt.spec, tt.weight)
	}
}

func TestPlanHelpers(t *testing.T) {
	g := NewWithT(t)
	p, err := Build(v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: []v1alpha1.Step{
		setWeight(10), approval(1, "g"), setWeight(50), pauseUntilPromoted(), approval(2, "h"), setWeight(90),
	}}}, 4)
	g.Expect(err).NotTo(HaveOccurred())

	g.Expect(p.Len()).To(Equal(int32(7)))
	s, ok := p.Step(2)
	g.Expect(ok).To(BeTrue())
	g.Expect(s.Traffic.CanaryWeight).To(Equal(int32(50)))
	_, ok = p.Step(7) // currentStepIndex == stepCount: done
	g.Expect(ok).To(BeFalse())
	_, ok = p.Step(-1)
	g.Expect(ok).To(BeFalse())
	g.Expect(p.Last().Kind).To(Equal(StepPromote))
	g.Expect(p.Last().Index).To(Equal(int32(6)))
	g.Expect(Plan{}.Last()).To(Equal(Step{}))

	for _, tt := range []struct {
		from, want int32
		ok         bool
	}{{-3, 1, true}, {0, 1, true}, {1, 1, true}, {2, 4, true}, {4, 4, true}, {5, 0, false}, {99, 0, false}} {
		got, ok := p.NextApprovalAtOrAfter(tt.from)
		g.Expect(ok).To(Equal(tt.ok), "from %d", tt.from)
		g.Expect(got).To(Equal(tt.want), "from %d", tt.from)
	}
}

func TestStepString(t *testing.T) {
	g := NewWithT(t)
	many := &v1alpha1.ApprovalStep{Approvers: v1alpha1.Approvers{Users: []string{"alice", "bob"}, Groups: []string{"sre"}, SlackUsers: []string{"U1"}}}

	p, err := Build(v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
		TestRoute: headerRoute("x-canary", "1"),
		Steps: []v1alpha1.Step{
			setWeight(25), pauseFor("30s"), pauseFor("5m"), pauseFor("1h"), pauseFor("1h30m"), pauseUntilPromoted(),
			analysis("success-rate"), analysis("success-rate", "latency"), approval(2, "team-leads"), {Approval: many},
			scaleReplicas(1), scaleReplicas(3), scalePercent(50), scaleMatchWeight(),
			{Fault: &v1alpha1.FaultStep{Duration: "2m", Delay: &v1alpha1.FaultDelay{Percent: "10", FixedDelay: "3s"}, Abort: &v1alpha1.FaultAbort{Percent: "0.5", HTTPStatus: 503}}},
		},
	}}, 4)
	g.Expect(err).NotTo(HaveOccurred())
	var got []string
	for _, s := range p.Steps {
		got = append(got, s.String())
	}
	g.Expect(got).To(Equal([]string{
		"setWeight 25%", "pause 30s", "pause 5m", "pause 1h", "pause 1h30m", "pause until promoted",
		"analysis success-rate", "analysis success-rate, latency", "approval (2 of team-leads)", "approval (1 of alice, bob, 2 more)",
		"setCanaryScale 1 replica", "setCanaryScale 3 replicas", "setCanaryScale 50%", "setCanaryScale matchTrafficWeight",
		"fault 2m (delay 10% by 3s, abort 0.5% with 503)",
		"promote",
	}))

	p, err = Build(v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{
		PreviewReplicas:       i32(1),
		PrePromotionAnalysis:  analysisSpec("smoke"),
		AutoPromotionAfter:    dur("10m"),
		PostPromotionAnalysis: analysisSpec("success-rate"),
	}}, 3)
	g.Expect(err).NotTo(HaveOccurred())
	got = nil
	for _, s := range p.Steps {
		got = append(got, s.String())
	}
	g.Expect(got).To(Equal([]string{
		"preview (1 replica, no live traffic)", "pre-promotion analysis smoke", "pause 10m",
		"switch to green, post-promotion analysis success-rate (switch back on failure)", "promote",
	}))

	p, err = Build(v1alpha1.RolloutStrategy{DarkLaunch: &v1alpha1.DarkLaunchStrategy{Steps: []v1alpha1.Step{setMirror("0.5")}}}, 3)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(p.Steps[0].String()).To(Equal("setMirror 0.5%"))

	g.Expect(GatePauseUntilPromoted.String()).To(Equal("PauseUntilPromoted"))
	g.Expect(MatchTestRoute.String()).To(Equal("TestRoute"))
	g.Expect(ScalePercent.String()).To(Equal("Percent"))
	g.Expect(StepSwitch.String()).To(Equal("switch"))
	g.Expect(Step{}.String()).To(Equal("unknown step"))
}
