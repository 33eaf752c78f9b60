package plan

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// fuzzSource turns fuzz bytes into spec values; once the bytes run out every
// read returns zero, so any input decodes to some strategy.
type fuzzSource struct{ b []byte }

func (f *fuzzSource) byte() byte {
	if len(f.b) == 0 {
		return 0
	}
	v := f.b[0]
	f.b = f.b[1:]
	return v
}

func (f *fuzzSource) bool() bool { return f.byte()&1 == 1 }

// int32 is mostly near the valid range, sometimes any 32-bit value.
func (f *fuzzSource) int32() int32 {
	if v := f.byte(); v < 224 {
		return int32(v) - 20 // -20..203
	}
	var buf [4]byte
	for i := range buf {
		buf[i] = f.byte()
	}
	return int32(binary.LittleEndian.Uint32(buf[:]))
}

func (f *fuzzSource) optInt32() *int32 {
	if !f.bool() {
		return nil
	}
	v := f.int32()
	return &v
}

var fuzzDurations = []string{"", "0s", "30s", "5m", "1h30m", "500ms", "-5s", "abc", "9999999h", "1.5h", "0", "1us"}

func (f *fuzzSource) duration() v1alpha1.Duration {
	return v1alpha1.Duration(fuzzDurations[int(f.byte())%len(fuzzDurations)])
}

func (f *fuzzSource) optDuration() *v1alpha1.Duration {
	if !f.bool() {
		return nil
	}
	d := f.duration()
	return &d
}

var fuzzPercents = []string{"", "0", "0.5", "10", "100", "100.000001", "101", "-1", "-0", "NaN", "Inf", "-Inf", "1e2", "0x1p-2", "abc"}

func (f *fuzzSource) percent() v1alpha1.Percent {
	return v1alpha1.Percent(fuzzPercents[int(f.byte())%len(fuzzPercents)])
}

func (f *fuzzSource) optPercent() *v1alpha1.Percent {
	if !f.bool() {
		return nil
	}
	p := f.percent()
	return &p
}

func (f *fuzzSource) stringMatch() v1alpha1.StringMatch {
	v := "v"
	var s v1alpha1.StringMatch
	m := f.byte()
	if m&1 != 0 {
		s.Exact = &v
	}
	if m&2 != 0 {
		s.Prefix = &v
	}
	if m&4 != 0 {
		s.Regex = &v
	}
	return s
}

func (f *fuzzSource) httpMatches() []v1alpha1.HTTPMatch {
	out := make([]v1alpha1.HTTPMatch, int(f.byte())%3)
	for i := range out {
		m := f.byte()
		if m&1 != 0 {
			out[i].Headers = map[string]v1alpha1.StringMatch{"x-h": f.stringMatch()}
		}
		if m&2 != 0 {
			out[i].QueryParams = map[string]v1alpha1.StringMatch{"q": f.stringMatch()}
		}
		if m&4 != 0 {
			s := f.stringMatch()
			out[i].URI = &s
		}
		if m&8 != 0 {
			s := f.stringMatch()
			out[i].Method = &s
		}
		if m&16 != 0 {
			out[i].SourceLabels = map[string]string{"app": "x"}
		}
		if m&32 != 0 {
			name := ""
			if f.bool() {
				name = "c"
			}
			out[i].Cookie = &v1alpha1.CookieMatch{Name: name, Value: "v"}
		}
	}
	return out
}

func (f *fuzzSource) matchRoute() *v1alpha1.MatchRoute {
	if !f.bool() {
		return nil
	}
	r := &v1alpha1.MatchRoute{Matches: f.httpMatches()}
	if f.bool() {
		r.Host = "preview.example.com"
	}
	return r
}

func (f *fuzzSource) analysis() *v1alpha1.AnalysisStep {
	a := &v1alpha1.AnalysisStep{}
	for range int(f.byte()) % 3 {
		name := "t"
		if f.byte()%8 == 0 {
			name = ""
		}
		a.Templates = append(a.Templates, v1alpha1.AnalysisTemplateRef{Name: name, ClusterScope: f.bool()})
	}
	if f.bool() {
		a.Args = []v1alpha1.AnalysisArg{{Name: "", Value: "v"}}
	}
	return a
}

func (f *fuzzSource) approval() *v1alpha1.ApprovalStep {
	a := &v1alpha1.ApprovalStep{MinApprovals: f.optInt32(), Timeout: f.optDuration()}
	m := f.byte()
	if m&1 != 0 {
		a.Approvers.Users = []string{"alice", "bob"}
	}
	if m&2 != 0 {
		a.Approvers.Groups = []string{"leads"}
	}
	if m&4 != 0 {
		a.Approvers.SlackUsers = []string{"U1", "U2", "U3"}
	}
	if m&8 != 0 {
		a.Approvers.SlackUserGroups = []string{"S1"}
	}
	a.OnTimeout = []string{"", "Abort", "StayPaused", "Bogus"}[int(f.byte())%4]
	return a
}

func (f *fuzzSource) fault() *v1alpha1.FaultStep {
	ft := &v1alpha1.FaultStep{Duration: f.duration()}
	if f.bool() {
		ft.Delay = &v1alpha1.FaultDelay{Percent: f.percent(), FixedDelay: f.duration()}
	}
	if f.bool() {
		ft.Abort = &v1alpha1.FaultAbort{Percent: f.percent(), HTTPStatus: f.int32() * 5}
	}
	return ft
}

// step sets a random subset of actions, usually exactly one.
func (f *fuzzSource) step() v1alpha1.Step {
	var mask byte
	if m := f.byte(); m < 200 {
		mask = 1 << (m % 7)
	} else {
		mask = f.byte()
	}
	var s v1alpha1.Step
	if mask&1 != 0 {
		s.SetWeight = ptr(f.int32())
	}
	if mask&2 != 0 {
		s.Pause = &v1alpha1.PauseStep{Duration: f.optDuration()}
	}
	if mask&4 != 0 {
		s.SetCanaryScale = &v1alpha1.CanaryScale{Replicas: f.optInt32(), Percent: f.optInt32(), MatchTrafficWeight: f.bool()}
	}
	if mask&8 != 0 {
		s.SetMirror = ptr(f.percent())
	}
	if mask&16 != 0 {
		s.Analysis = f.analysis()
	}
	if mask&32 != 0 {
		s.Approval = f.approval()
	}
	if mask&64 != 0 {
		s.Fault = f.fault()
	}
	return s
}

func (f *fuzzSource) steps() []v1alpha1.Step {
	var out []v1alpha1.Step
	for range int(f.byte()) % 9 {
		out = append(out, f.step())
	}
	return out
}

func (f *fuzzSource) strategy() v1alpha1.RolloutStrategy {
	var mask byte
	if m := f.byte(); m < 224 {
		mask = 1 << (m % 4) // exactly one strategy, usually
	} else {
		mask = m & 15
	}
	var s v1alpha1.RolloutStrategy
	if mask&1 != 0 {
		s.Canary = &v1alpha1.CanaryStrategy{Steps: f.steps(), Baseline: f.bool(), TestRoute: f.matchRoute()}
	}
	if mask&2 != 0 {
		s.BlueGreen = &v1alpha1.BlueGreenStrategy{PreviewReplicas: f.optInt32(), Preview: f.matchRoute(), Steps: f.steps()}
		if f.bool() {
			s.BlueGreen.PrePromotionAnalysis = f.analysis()
		}
		s.BlueGreen.AutoPromotionAfter = f.optDuration()
		if f.bool() {
			s.BlueGreen.PostPromotionAnalysis = f.analysis()
		}
	}
	if mask&4 != 0 {
		s.ABTest = &v1alpha1.ABTestStrategy{Matches: f.httpMatches(), Steps: f.steps(), CanarySteps: f.steps()}
	}
	if mask&8 != 0 {
		s.DarkLaunch = &v1alpha1.DarkLaunchStrategy{MirrorPercent: f.optPercent(), Steps: f.steps(), CanarySteps: f.steps()}
	}
	s.ScaleDownDelay = f.optDuration()
	if f.bool() {
		s.Analysis = &v1alpha1.BackgroundAnalysis{AnalysisStep: *f.analysis(), StartingStep: f.optInt32()}
	}
	return s
}

func FuzzBuild(f *testing.F) {
	f.Add([]byte{}, int32(3))
	f.Add([]byte{0, 4, 0, 30, 1, 1, 0, 50, 3, 1, 1}, int32(10))       // canary: weights and pauses
	f.Add([]byte{1, 1, 0, 1, 2, 1, 16, 1, 5, 1, 1, 1, 0}, int32(4))    // blueGreen
	f.Add([]byte{2, 1, 1, 1, 2, 16, 1, 1, 1, 0, 5, 2, 1, 0}, int32(2)) // abTest
	f.Add([]byte{3, 1, 4, 2, 3, 4, 1, 2, 0, 60, 0, 120}, int32(6))     // darkLaunch
	f.Add([]byte{255, 255, 255, 255, 255, 255, 255, 255}, int32(-1))
	f.Fuzz(func(t *testing.T, data []byte, replicas int32) {
		src := &fuzzSource{b: data}
		strategy := src.strategy()
		p, err := Build(strategy, replicas)
		if err != nil {
			if _, ok := err.(*FieldError); !ok {
				t.Fatalf("error %v is a %T, want *FieldError", err, err)
			}
			if len(p.Steps) != 0 {
				t.Fatalf("failed Build returned %d steps", len(p.Steps))
			}
			return
		}
		checkPlan(t, p, strategy, replicas)
	})
}

// checkPlan asserts what holds for every plan Build accepts.
func checkPlan(t *testing.T, p Plan, s v1alpha1.RolloutStrategy, replicas int32) {
	t.Helper()
	if len(p.Steps) == 0 {
		t.Fatal("empty plan")
	}
	last := p.Last()
	if last.Kind != StepPromote || last.Traffic.CanaryWeight != 100 || last.Traffic.MatchRoute != MatchNone ||
		last.Traffic.MirrorPercent != 0 || last.Scale.Mode != ScaleFull || last.Gate.Kind != GateNone || last.CanaryReplicas != replicas {
		t.Fatalf("last step is not a full promotion: %+v", last)
	}
	for i, st := range p.Steps {
		if st.Index != int32(i) {
			t.Fatalf("step %d has index %d", i, st.Index)
		}
		if st.Kind == StepPromote && i != len(p.Steps)-1 {
			t.Fatalf("promote step at %d of %d", i, len(p.Steps))
		}
		if w := st.Traffic.CanaryWeight; w < 0 || w > 100 {
			t.Fatalf("step %d: canary weight %d", i, w)
		}
		if m := st.Traffic.MirrorPercent; math.IsNaN(m) || m < 0 || m > 100 {
			t.Fatalf("step %d: mirror %v", i, m)
		}
		if st.CanaryReplicas < 0 {
			t.Fatalf("step %d: %d canary replicas", i, st.CanaryReplicas)
		}
		if st.Gate.Duration < 0 {
			t.Fatalf("step %d: negative gate duration", i)
		}
		if (st.Traffic.MatchRoute == MatchNone) != (st.Traffic.Match == nil) {
			t.Fatalf("step %d: match kind %v with route %v", i, st.Traffic.MatchRoute, st.Traffic.Match)
		}
		if (st.Traffic.Fault != nil) != (st.Gate.Kind == GateFault) {
			t.Fatalf("step %d: fault %v with gate %v", i, st.Traffic.Fault, st.Gate.Kind)
		}
		if st.Traffic.Fault != nil && st.Traffic.MatchRoute == MatchNone {
			t.Fatalf("step %d: fault on the weighted routes", i)
		}
		if (st.Gate.Kind == GateAnalysis) != (st.Gate.Analysis != nil) || (st.Gate.Kind == GateApproval) != (st.Gate.Approval != nil) {
			t.Fatalf("step %d: gate %v without its spec", i, st.Gate.Kind)
		}
		if st.String() == "" || st.Source == "" {
			t.Fatalf("step %d: empty description", i)
		}
		if got, ok := p.Step(int32(i)); !ok || got.Index != int32(i) {
			t.Fatalf("Step(%d) = %v, %v", i, got, ok)
		}
	}
	if bg := p.BackgroundAnalysis; bg != nil {
		if bg.StartingStep == nil || *bg.StartingStep < 0 || *bg.StartingStep >= p.Len() {
			t.Fatalf("background analysis starts at %v of %d steps", bg.StartingStep, p.Len())
		}
	} else if s.Analysis != nil {
		t.Fatal("background analysis dropped")
	}
	if i, ok := p.NextApprovalAtOrAfter(0); ok && p.Steps[i].Gate.Kind != GateApproval {
		t.Fatalf("NextApprovalAtOrAfter(0) = %d, not an approval", i)
	}
}
