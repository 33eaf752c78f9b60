package plan

import (
	"encoding/binary"
	"math"
	"reflect"
	"testing"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// fuzzSource turns fuzz bytes into spec values; once the bytes run out every
// read returns zero. Small byte values decode to valid, common choices and
// large ones to malformed or out-of-range values, so the fuzzer reaches both
// the plans and the errors.
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

func pick[T any](f *fuzzSource, choices ...T) T { return choices[int(f.byte())%len(choices)] }

// int32 is 0..199, a small negative number, or any 32-bit value.
func (f *fuzzSource) int32() int32 {
	switch v := f.byte(); {
	case v < 200:
		return int32(v)
	case v < 224:
		return 199 - int32(v)
	default:
		var buf [4]byte
		for i := range buf {
			buf[i] = f.byte()
		}
		return int32(binary.LittleEndian.Uint32(buf[:]))
	}
}

func (f *fuzzSource) optInt32() *int32 {
	if !f.bool() {
		return nil
	}
	return ptr(f.int32())
}

func (f *fuzzSource) duration() v1alpha1.Duration {
	return v1alpha1.Duration(pick(f, "30s", "0s", "5m", "1h30m", "500ms", "1.5h", "0", "1us", "", "-5s", "abc", "9999999h"))
}

func (f *fuzzSource) optDuration() *v1alpha1.Duration {
	if !f.bool() {
		return nil
	}
	return ptr(f.duration())
}

func (f *fuzzSource) percent() v1alpha1.Percent {
	return v1alpha1.Percent(pick(f, "10", "0", "0.5", "100", "-0", "1e2", "100.000001", "101", "-1", "NaN", "Inf", "-Inf", "0x1p-2", "abc", ""))
}

func (f *fuzzSource) optPercent() *v1alpha1.Percent {
	if !f.bool() {
		return nil
	}
	return ptr(f.percent())
}

func (f *fuzzSource) stringMatch() v1alpha1.StringMatch {
	v := "v"
	m := f.byte()
	switch m % 8 {
	case 0:
		return v1alpha1.StringMatch{Exact: &v}
	case 1:
		return v1alpha1.StringMatch{Prefix: &v}
	case 2:
		return v1alpha1.StringMatch{Regex: &v}
	}
	var s v1alpha1.StringMatch // none or several
	if m&8 != 0 {
		s.Exact = &v
	}
	if m&16 != 0 {
		s.Prefix = &v
	}
	if m&32 != 0 {
		s.Regex = &v
	}
	return s
}

func (f *fuzzSource) httpMatches() []v1alpha1.HTTPMatch {
	out := make([]v1alpha1.HTTPMatch, pick(f, 1, 2, 0, 3))
	for i := range out {
		m := f.byte()
		if m == 255 {
			continue // an empty match
		}
		m = m%63 + 1
		if m&1 != 0 {
			out[i].Headers = map[string]v1alpha1.StringMatch{"x-h": f.stringMatch()}
		}
		if m&2 != 0 {
			out[i].QueryParams = map[string]v1alpha1.StringMatch{"q": f.stringMatch()}
		}
		if m&4 != 0 {
			out[i].URI = ptr(f.stringMatch())
		}
		if m&8 != 0 {
			out[i].Method = ptr(f.stringMatch())
		}
		if m&16 != 0 {
			out[i].SourceLabels = map[string]string{"app": "x"}
		}
		if m&32 != 0 {
			out[i].Cookie = &v1alpha1.CookieMatch{Name: pick(f, "c", ""), Value: "v"}
		}
	}
	return out
}

func (f *fuzzSource) matchRoute() *v1alpha1.MatchRoute {
	if !f.bool() {
		return nil
	}
	r := &v1alpha1.MatchRoute{}
	switch f.byte() % 4 {
	case 0:
		r.Matches = f.httpMatches()
	case 1:
		r.Host = "preview.example.com"
	case 2:
		r.Matches, r.Host = f.httpMatches(), "preview.example.com"
	}
	return r
}

func (f *fuzzSource) analysis() *v1alpha1.AnalysisStep {
	a := &v1alpha1.AnalysisStep{}
	for range pick(f, 1, 2, 0) {
		a.Templates = append(a.Templates, v1alpha1.AnalysisTemplateRef{Name: pick(f, "success-rate", "latency", ""), ClusterScope: f.bool()})
	}
	switch f.byte() % 3 {
	case 1:
		a.Args = []v1alpha1.AnalysisArg{{Name: "host", Value: "v"}}
	case 2:
		a.Args = []v1alpha1.AnalysisArg{{Value: "v"}}
	}
	return a
}

func (f *fuzzSource) approval() *v1alpha1.ApprovalStep {
	a := &v1alpha1.ApprovalStep{MinApprovals: f.optInt32(), Timeout: f.optDuration()}
	m := f.byte() ^ 2 // 0: groups only
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
	a.OnTimeout = pick(f, "", "Abort", "StayPaused", "Bogus")
	return a
}

func (f *fuzzSource) fault() *v1alpha1.FaultStep {
	ft := &v1alpha1.FaultStep{Duration: f.duration()}
	m := f.byte() % 4 // 0 abort, 1 delay, 2 both, 3 neither
	if m == 1 || m == 2 {
		ft.Delay = &v1alpha1.FaultDelay{Percent: f.percent(), FixedDelay: f.duration()}
	}
	if m == 0 || m == 2 {
		status := pick(f, int32(503), 500, 200, 599, 199, 600, -1)
		ft.Abort = &v1alpha1.FaultAbort{Percent: f.percent(), HTTPStatus: status}
	}
	return ft
}

func (f *fuzzSource) canaryScale() *v1alpha1.CanaryScale {
	switch f.byte() % 4 {
	case 0:
		return &v1alpha1.CanaryScale{Replicas: ptr(f.int32())}
	case 1:
		return &v1alpha1.CanaryScale{Percent: ptr(f.int32())}
	case 2:
		return &v1alpha1.CanaryScale{MatchTrafficWeight: true}
	}
	return &v1alpha1.CanaryScale{Replicas: f.optInt32(), Percent: f.optInt32(), MatchTrafficWeight: f.bool()}
}

// step sets one action chosen by the first byte (0 setWeight, 1 pause,
// 2 setCanaryScale, 3 setMirror, 4 analysis, 5 approval, 6 fault), or from
// 200 on any subset of them.
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
		s.SetCanaryScale = f.canaryScale()
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
	for range int(f.byte()) % 12 {
		out = append(out, f.step())
	}
	return out
}

// strategy: the first byte picks one strategy (0 canary, 1 blueGreen,
// 2 abTest, 3 darkLaunch), or from 224 on any set of them.
func (f *fuzzSource) strategy() v1alpha1.RolloutStrategy {
	var mask byte
	if m := f.byte(); m < 224 {
		mask = 1 << (m % 4)
	} else {
		mask = m & 15
	}
	var s v1alpha1.RolloutStrategy
	if mask&1 != 0 {
		s.Canary = &v1alpha1.CanaryStrategy{TestRoute: f.matchRoute(), Baseline: f.bool(), Steps: f.steps()}
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
	// Each seed decodes to a valid plan (see the byte maps above).
	f.Add([]byte{}, int32(3)) // canary without steps
	// canary with testRoute: 10%, pause 30s, 50%, pause, fault, approval; background analysis from step 2
	f.Add([]byte{0, 1, 0, 0, 0, 0, 0, 6, 0, 10, 1, 1, 0, 0, 50, 1, 0, 6, 2, 0, 0, 0, 5, 1, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2}, int32(10))
	// blueGreen: 1 preview replica on a host, approval, analysis, delay fault, pre and post analysis, auto-promotion
	f.Add([]byte{1, 1, 1, 1, 1, 3, 5, 0, 0, 0, 0, 4, 0, 0, 0, 0, 6, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 1, 2, 1, 0, 0, 0, 0, 0, 0}, int32(4))
	// abTest: cookie and query matches, setCanaryScale, analysis, pause, then canarySteps
	f.Add([]byte{2, 1, 31, 0, 1, 1, 3, 2, 0, 2, 4, 0, 0, 0, 0, 1, 1, 3, 2, 0, 25, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0}, int32(2))
	// darkLaunch: mirror 0.5%, setMirror 10%, analysis, setCanaryScale 50%, pause, then canarySteps
	f.Add([]byte{3, 1, 2, 4, 3, 0, 4, 0, 0, 0, 0, 2, 1, 50, 1, 1, 2, 2, 0, 50, 0, 100, 0, 0}, int32(6))
	f.Add([]byte{255, 255, 255, 255, 255, 255, 255, 255}, int32(-1)) // all strategies, malformed
	f.Fuzz(func(t *testing.T, data []byte, replicas int32) {
		src := &fuzzSource{b: data}
		strategy := src.strategy()
		before := strategy.DeepCopy()
		p, err := Build(strategy, replicas)
		if !reflect.DeepEqual(before, &strategy) {
			t.Fatal("Build modified its input")
		}
		if again, err2 := Build(strategy, replicas); !reflect.DeepEqual(p, again) || (err == nil) != (err2 == nil) {
			t.Fatal("Build is not deterministic")
		}
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
