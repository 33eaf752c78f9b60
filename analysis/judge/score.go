package judge

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Verdict of a whole judgement.
type Verdict string

const (
	VerdictPass     Verdict = "Pass"
	VerdictMarginal Verdict = "Marginal"
	VerdictFail     Verdict = "Fail"
)

// Default thresholds, as in the CRD's JudgeSpec.
const (
	DefaultPass     = 95
	DefaultMarginal = 75
)

// GroupScore is one group's part of a Scorecard.
type GroupScore struct {
	Name string
	// Weight is the group's share of the total in percent, after
	// normalisation over the groups that were scored (0 when not Scored).
	Weight float64
	// Score is 100 × Passed/(Passed+Failed); 0 when not Scored.
	Score float64
	// Scored: the group had at least one counted metric. A group whose
	// metrics are all NoData without MustHaveData has none and is left out,
	// its weight shared by the others.
	Scored bool
	// Metrics in the group; of those, Passed and Failed were counted and
	// NoData (NoData without MustHaveData) were left out.
	Metrics, Passed, Failed, NoData int
}

// Scorecard is the judgement of a set of metrics.
type Scorecard struct {
	// Score from 0 to 100.
	Score   float64
	Verdict Verdict
	// Groups in the order in which they first appear in the results.
	Groups []GroupScore
	// Metrics are the results scored, in the order given.
	Metrics []MetricResult
	// Reason explains the verdict in one line: what forced it, or the score
	// against the thresholds and which metrics failed.
	Reason string
}

// Score combines metric results into a Scorecard.
//
// Groups: a result's Group ("" means its Name). A metric counts as failed when
// Failed is set or it is NoData with MustHaveData; NoData without
// MustHaveData is left out of its group's denominator.
//
// Weights: groupWeights (JudgeSpec.GroupWeights) gives listed groups their
// weight, negative weights read as 0; entries for groups that have no results
// are ignored. The groups not listed share what the listed ones leave of 100
// equally (nothing if they leave nothing); with no weights all groups weigh
// the same. Weights are then normalised over the groups that were scored, so
// the total is a weighted mean from 0 to 100; should those weights all be 0,
// the scored groups weigh the same.
//
// Forced results: a failed Critical metric, or NoData for at least half of
// all the metrics, makes the score 0 and the verdict Fail regardless of the
// thresholds (a pass threshold of 0 must not let them pass); so do no results
// at all, and results none of which could be scored.
//
// Thresholds: pass and marginal are from 0 to 100; NaN or negative means the
// default (DefaultPass, DefaultMarginal), above 100 means 100, and a marginal
// above pass is lowered to pass. Pass when score ≥ pass, Marginal when
// score ≥ marginal, Fail otherwise. The score is rounded to 1e-9 first, so
// float rounding in the weights cannot turn an exact 100 into 99.999…
func Score(results []MetricResult, groupWeights map[string]int32, pass, marginal float64) Scorecard {
	pass = clampThreshold(pass, DefaultPass)
	marginal = min(clampThreshold(marginal, DefaultMarginal), pass)
	sc := Scorecard{Metrics: slices.Clone(results), Verdict: VerdictFail}
	if len(results) == 0 {
		sc.Reason = "no metrics to judge"
		return sc
	}

	index := map[string]int{}
	var noData int
	var critical, failed, missing []string
	for _, r := range results {
		name := r.Group
		if name == "" {
			name = r.Name
		}
		gi, ok := index[name]
		if !ok {
			gi = len(sc.Groups)
			index[name] = gi
			sc.Groups = append(sc.Groups, GroupScore{Name: name})
		}
		g := &sc.Groups[gi]
		g.Metrics++
		isNoData := r.Class == ClassNoData
		fails := r.Failed || (isNoData && r.MustHaveData)
		switch {
		case fails:
			g.Failed++
			failed = append(failed, describe(r))
			if r.Critical {
				critical = append(critical, describe(r))
			}
		case isNoData:
			g.NoData++
		default:
			g.Passed++
		}
		if isNoData {
			noData++
			missing = append(missing, r.Name)
		}
	}

	weigh(sc.Groups, groupWeights)
	var total float64
	anyScored := false
	for i := range sc.Groups {
		g := &sc.Groups[i]
		if g.Scored {
			anyScored = true
			g.Score = 100 * float64(g.Passed) / float64(g.Passed+g.Failed)
			total += g.Weight * g.Score / 100
		}
	}
	total = math.Round(min(max(total, 0), 100)*1e9) / 1e9

	switch {
	case len(critical) > 0:
		sc.Reason = "critical metric failed: " + strings.Join(critical, "; ")
		return sc
	case 2*noData >= len(results):
		sc.Reason = fmt.Sprintf("%d of %d metrics had no data (%s)", noData, len(results), strings.Join(missing, ", "))
		return sc
	case !anyScored:
		sc.Reason = "no metric could be scored"
		return sc
	}

	sc.Score = total
	switch {
	case total >= pass:
		sc.Verdict = VerdictPass
	case total >= marginal:
		sc.Verdict = VerdictMarginal
	}
	sc.Reason = fmt.Sprintf("score %s: %s (pass ≥ %s, marginal ≥ %s)",
		num(round1(total)), sc.Verdict, num(pass), num(marginal))
	if len(failed) > 0 {
		sc.Reason += "; failed: " + strings.Join(failed, "; ")
	}
	if len(missing) > 0 {
		sc.Reason += "; no data: " + strings.Join(missing, ", ")
	}
	return sc
}

// weigh sets Scored and Weight of each group as Score documents.
func weigh(groups []GroupScore, groupWeights map[string]int32) {
	raw := make([]float64, len(groups))
	listed, unlisted := 0.0, 0
	for i, g := range groups {
		if w, ok := groupWeights[g.Name]; ok {
			raw[i] = float64(max(w, 0))
			listed += raw[i]
		} else {
			raw[i] = -1
			unlisted++
		}
	}
	share := 0.0
	if unlisted > 0 && listed < 100 {
		share = (100 - listed) / float64(unlisted)
	}
	var sum float64
	scored := 0
	for i := range groups {
		if raw[i] < 0 {
			raw[i] = share
		}
		groups[i].Scored = groups[i].Passed+groups[i].Failed > 0
		if groups[i].Scored {
			sum += raw[i]
			scored++
		}
	}
	for i := range groups {
		switch {
		case !groups[i].Scored:
			groups[i].Weight = 0
		case sum > 0:
			groups[i].Weight = 100 * raw[i] / sum
		default:
			groups[i].Weight = 100 / float64(scored)
		}
	}
}

func clampThreshold(v, def float64) float64 {
	switch {
	case math.IsNaN(v) || v < 0:
		return def
	case v > 100:
		return 100
	default:
		return v
	}
}

// describe names a failed metric and says why, for Reason.
func describe(r MetricResult) string {
	return r.Name + " (" + r.Message + ")"
}

// round1 rounds a score down to one decimal for display, so that 94.96 shows
// as 94.9 beside a pass threshold of 95 rather than as a passing 95.
func round1(v float64) float64 { return math.Floor(v*10+1e-7) / 10 }
