package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"unicode"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/plan"
)

// The table of list (and get -o wide). The normal columns are what the
// CRD's printer columns show; -o wide adds one column per kind of progress
// the status records. Cells never contain spaces except the last column's,
// so the output splits on whitespace.
var (
	tableColumns = []string{"NAME", "STRATEGY", "PHASE", "STEP", "WEIGHT", "STABLE", "CANARY"}
	wideColumns  = []string{"WEIGHTS", "MIRROR", "ANALYSIS", "APPROVAL", "COMMIT", "SYNC", "CURRENT-STEP"}
)

// printRollouts writes the table; namespace adds a NAMESPACE column.
func printRollouts(w io.Writer, items []sluicev1.Rollout, namespace, wide bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := slices.Clone(tableColumns)
	if namespace {
		header = append([]string{"NAMESPACE"}, header...)
	}
	if wide {
		header = append(header, wideColumns...)
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for i := range items {
		ro := &items[i]
		row := tableRow(ro)
		if namespace {
			row = append([]string{ro.Namespace}, row...)
		}
		if wide {
			row = append(row, wideRow(ro)...)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

func tableRow(ro *sluicev1.Rollout) []string {
	st := ro.Status
	step := "-"
	if st.CurrentStepIndex != nil {
		step = fmt.Sprintf("%d/%d", *st.CurrentStepIndex, st.StepCount)
	}
	return []string{ro.Name, orDash(st.Strategy), orDash(string(st.Phase)), step, fmt.Sprint(st.Weights.Canary), orDash(st.StableRevision), orDash(st.CanaryRevision)}
}

// wideRow is the -o wide columns, from status alone except the current
// step's description and an approval gate's quorum, which come from the
// plan of the spec (package plan, as the controller computes it).
//
//	WEIGHTS       stable/canary percent written to the routes: 90/10
//	MIRROR        percent mirrored to the canary (darkLaunch): 20%
//	ANALYSIS      the newest analysis run: step2:Successful, background:Running
//	APPROVAL      waiting:1/2 (or passed:2/2, rejected:bob) at an approval
//	              gate, else the newest decision: Approve:alice@1
//	COMMIT        the last Git write-back's commit, abbreviated
//	SYNC          Argo CD's sync status after it: Synced, OutOfSync
//	CURRENT-STEP  what the current step does: setWeight 10%, pause until promoted
func wideRow(ro *sluicev1.Rollout) []string {
	st := ro.Status
	mirror := "-"
	if st.Weights.Mirror != "" {
		mirror = st.Weights.Mirror + "%"
	}
	commit, sync := "-", "-"
	if g := st.GitOps; g != nil {
		commit, sync = orDash(short(g.Commit)), orDash(g.SyncStatus)
	}
	current, gate := currentStep(ro)
	return []string{
		fmt.Sprintf("%d/%d", st.Weights.Stable, st.Weights.Canary),
		mirror,
		lastAnalysis(st),
		approvalState(st, gate),
		commit,
		sync,
		current,
	}
}

// currentStep describes the step in progress, and returns it when it is
// an approval gate.
func currentStep(ro *sluicev1.Rollout) (string, *plan.Step) {
	st := ro.Status
	if st.CanaryRevision == "" || st.CurrentStepIndex == nil {
		return "-", nil
	}
	replicas := int32(1)
	if ro.Spec.Replicas != nil {
		replicas = *ro.Spec.Replicas
	}
	p, err := plan.Build(ro.Spec.Strategy, replicas)
	if err != nil {
		return "-", nil
	}
	s, ok := p.Step(*st.CurrentStepIndex)
	if !ok {
		return "done", nil
	}
	if s.Gate.Kind == plan.GateApproval {
		return s.String(), &s
	}
	return s.String(), nil
}

func lastAnalysis(st sluicev1.RolloutStatus) string {
	if len(st.Analysis) == 0 {
		return "-"
	}
	a := st.Analysis[len(st.Analysis)-1]
	kind := lowerFirst(orDash(a.Kind))
	if a.Kind == string(plan.AnalysisStepRun) {
		kind = fmt.Sprintf("step%d", a.Step)
	}
	return kind + ":" + orDash(string(a.Phase))
}

// approvalState counts the distinct approvers recorded for the canary
// revision at the current approval gate against the gate's minimum; away
// from a gate it shows the newest recorded decision.
func approvalState(st sluicev1.RolloutStatus, gate *plan.Step) string {
	if gate != nil && gate.Gate.Approval != nil {
		needed := int32(1)
		if n := gate.Gate.Approval.MinApprovals; n != nil {
			needed = *n
		}
		approvers := map[string]bool{}
		for _, r := range st.Approvals {
			if r.Step != gate.Index || r.Revision != st.CanaryRevision {
				continue
			}
			if r.Decision == sluicev1.DecisionReject {
				return "rejected:" + noSpace(r.Approver)
			}
			approvers[r.Approver] = true
		}
		if int32(len(approvers)) >= needed {
			return fmt.Sprintf("passed:%d/%d", len(approvers), needed)
		}
		return fmt.Sprintf("waiting:%d/%d", len(approvers), needed)
	}
	if len(st.Approvals) == 0 {
		return "-"
	}
	r := st.Approvals[len(st.Approvals)-1]
	return fmt.Sprintf("%s:%s@%d", r.Decision, noSpace(r.Approver), r.Step)
}

func short(commit string) string {
	if len(commit) > 7 {
		return commit[:7]
	}
	return commit
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToLower(r[0])
	return string(r)
}

func noSpace(s string) string { return strings.ReplaceAll(s, " ", "_") }
