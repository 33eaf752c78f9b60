package plan

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// String summarises the step for people, as in kubectl sluice's step list:
// "setWeight 25%", "pause 30s", "pause until promoted",
// "analysis success-rate", "approval (2 of team-leads)", "promote".
func (s Step) String() string {
	switch s.Kind {
	case StepSetWeight:
		return fmt.Sprintf("setWeight %d%%", s.Traffic.CanaryWeight)
	case StepPause:
		return s.Gate.String()
	case StepSetCanaryScale:
		switch s.Scale.Mode {
		case ScaleReplicas:
			return fmt.Sprintf("setCanaryScale %s", plural(s.Scale.Value, "replica"))
		case ScalePercent:
			return fmt.Sprintf("setCanaryScale %d%%", s.Scale.Value)
		default:
			return "setCanaryScale matchTrafficWeight"
		}
	case StepSetMirror:
		return "setMirror " + formatPercent(s.Traffic.MirrorPercent)
	case StepAnalysis:
		if s.Gate.AnalysisKind == AnalysisPrePromotion {
			return "pre-promotion " + s.Gate.String()
		}
		return s.Gate.String()
	case StepApproval:
		return s.Gate.String()
	case StepFault:
		return s.Gate.String() + faultDetail(s.Traffic)
	case StepPreview:
		return fmt.Sprintf("preview (%s, no live traffic)", plural(s.CanaryReplicas, "replica"))
	case StepSwitch:
		if s.Gate.Kind == GateAnalysis {
			return "switch to green, post-promotion " + s.Gate.String() + " (switch back on failure)"
		}
		return "switch to green"
	case StepPromote:
		return "promote"
	}
	return "unknown step"
}

// String summarises the gate alone.
func (g Gate) String() string {
	switch g.Kind {
	case GateNone:
		return "no gate"
	case GatePause:
		return "pause " + formatDuration(g.Duration)
	case GatePauseUntilPromoted:
		return "pause until promoted"
	case GateAnalysis:
		if g.Analysis == nil {
			return "analysis"
		}
		names := make([]string, len(g.Analysis.Templates))
		for i, t := range g.Analysis.Templates {
			names[i] = t.Name
		}
		return "analysis " + strings.Join(names, ", ")
	case GateApproval:
		if g.Approval == nil {
			return "approval"
		}
		n := int32(1)
		if g.Approval.MinApprovals != nil {
			n = *g.Approval.MinApprovals
		}
		names := approverNames(g.Approval.Approvers)
		if len(names) > 3 {
			names = append(names[:2:2], fmt.Sprintf("%d more", len(names)-2))
		}
		return fmt.Sprintf("approval (%d of %s)", n, strings.Join(names, ", "))
	case GateFault:
		return "fault " + formatDuration(g.Duration)
	}
	return "unknown gate"
}

func faultDetail(t Traffic) string {
	f := t.Fault
	if f == nil {
		return ""
	}
	var parts []string
	if f.Delay != nil {
		parts = append(parts, fmt.Sprintf("delay %s%% by %s", f.Delay.Percent, f.Delay.FixedDelay))
	}
	if f.Abort != nil {
		parts = append(parts, fmt.Sprintf("abort %s%% with %d", f.Abort.Percent, f.Abort.HTTPStatus))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func plural(n int32, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func formatPercent(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64) + "%"
}

// formatDuration drops the zero units time.Duration.String keeps: "5m", not
// "5m0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func (k StepKind) String() string {
	switch k {
	case StepSetWeight, StepPause, StepSetCanaryScale, StepSetMirror, StepAnalysis, StepApproval, StepFault:
		return actionField[k]
	case StepPreview:
		return "preview"
	case StepSwitch:
		return "switch"
	case StepPromote:
		return "promote"
	}
	return "StepKind(" + strconv.Itoa(int(k)) + ")"
}

func (k GateKind) String() string {
	switch k {
	case GateNone:
		return "None"
	case GatePause:
		return "Pause"
	case GatePauseUntilPromoted:
		return "PauseUntilPromoted"
	case GateAnalysis:
		return "Analysis"
	case GateApproval:
		return "Approval"
	case GateFault:
		return "Fault"
	}
	return "GateKind(" + strconv.Itoa(int(k)) + ")"
}

func (k MatchKind) String() string {
	switch k {
	case MatchNone:
		return "None"
	case MatchABTest:
		return "ABTest"
	case MatchPreview:
		return "Preview"
	case MatchTestRoute:
		return "TestRoute"
	}
	return "MatchKind(" + strconv.Itoa(int(k)) + ")"
}

func (m ScaleMode) String() string {
	switch m {
	case ScaleFollowWeight:
		return "FollowWeight"
	case ScaleReplicas:
		return "Replicas"
	case ScalePercent:
		return "Percent"
	case ScaleFull:
		return "Full"
	}
	return "ScaleMode(" + strconv.Itoa(int(m)) + ")"
}
