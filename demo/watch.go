package demo

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/gitops/argocd"
	"github.com/sluice-dev/sluice/plan"
)

// snapshot is what the demo last read of the Rollout, its AnalysisRuns and
// the Application.
type snapshot struct {
	ro   *sluicev1.Rollout
	runs map[string]*sluicev1.AnalysisRun
	app  *argocd.Application
}

// current reports whether the Rollout's status describes its spec.
func (s snapshot) current() bool {
	return s.ro != nil && s.ro.Status.ObservedGeneration == s.ro.Generation
}

// watcher reads the objects every 200 ms, prints what changed and lets
// the scenario wait for a state. (The demo polls to narrate; sluice itself
// never polls.)
type watcher struct {
	d *Demo

	mu      sync.Mutex
	cur     snapshot
	changed chan struct{}

	// what was last narrated
	phase, stable, canary, gitKey, history, commit string
	step                                           int32
	weights                                        sluicev1.TrafficWeights
	measured                                       map[string]int
	runPhase                                       map[string]sluicev1.AnalysisPhase
	versions                                       map[string]string // revision → version
	// gitSeen is the last status.gitops seen per revision and outcome; a
	// write-back can be replaced by the next one between two reads.
	gitSeen map[string]sluicev1.GitOpsStatus
}

func newWatcher(d *Demo) *watcher {
	return &watcher{d: d, changed: make(chan struct{}), step: -1, measured: map[string]int{}, runPhase: map[string]sluicev1.AnalysisPhase{}, versions: map[string]string{}, gitSeen: map[string]sluicev1.GitOpsStatus{}}
}

func (w *watcher) run(ctx context.Context) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		if s, err := w.read(ctx); err == nil {
			w.narrate(s)
			w.mu.Lock()
			w.cur = s
			close(w.changed)
			w.changed = make(chan struct{})
			w.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *watcher) read(ctx context.Context) (snapshot, error) {
	c := w.d.Env.Client
	s := snapshot{runs: map[string]*sluicev1.AnalysisRun{}}
	ro := &sluicev1.Rollout{}
	switch err := c.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: RolloutName}, ro); {
	case err == nil:
		s.ro = ro
	case client.IgnoreNotFound(err) != nil:
		return s, err
	}
	var runs sluicev1.AnalysisRunList
	if err := c.List(ctx, &runs, client.InNamespace(Namespace)); err != nil {
		return s, err
	}
	for i := range runs.Items {
		s.runs[runs.Items[i].Name] = &runs.Items[i]
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(argocd.ApplicationGVK)
	switch err := c.Get(ctx, client.ObjectKey{Namespace: ArgoNamespace, Name: RolloutName}, u); {
	case err == nil:
		app, err := argocd.FromUnstructured(u)
		if err != nil {
			return s, err
		}
		s.app = app
	case client.IgnoreNotFound(err) != nil:
		return s, err
	}
	return s, nil
}

// wait returns the first snapshot that satisfies cond.
func (w *watcher) wait(ctx context.Context, timeout time.Duration, what string, cond func(snapshot) bool) (snapshot, error) {
	return w.waitOrFail(ctx, timeout, what, func(s snapshot) (bool, error) { return cond(s), nil })
}

// waitOrFail is wait with a way out: cond's error ends the wait at once.
func (w *watcher) waitOrFail(ctx context.Context, timeout time.Duration, what string, cond func(snapshot) (bool, error)) (snapshot, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		s, ch := w.cur, w.changed
		w.mu.Unlock()
		if ok, err := cond(s); ok || err != nil {
			return s, err
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-deadline.C:
			return s, fmt.Errorf("waited %s for %s; last seen: %s", timeout, what, describe(s))
		case <-ch:
		}
	}
}

// gitops is the last status.gitops seen for a revision's outcome.
func (w *watcher) gitops(rev, outcome string) (sluicev1.GitOpsStatus, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	gs, ok := w.gitSeen[rev+"/"+outcome]
	return gs, ok
}

func (w *watcher) last() snapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cur
}

// version names a revision by its image tag.
func (w *watcher) version(rev string) string {
	if v, ok := w.versions[rev]; ok {
		return v
	}
	return short(rev)
}

// narrate prints what changed since the last snapshot.
func (w *watcher) narrate(s snapshot) {
	p := w.d.p
	ro := s.ro
	if ro == nil {
		return
	}
	st := ro.Status
	// Learn the versions of the revisions from the ReplicaSets' images.
	for _, ap := range w.d.apps.running() {
		w.versions[ap.Revision] = ap.Version
	}
	for _, h := range st.History {
		for _, img := range h.Images {
			if i := strings.LastIndexByte(img, ':'); i >= 0 {
				w.versions[h.Revision] = img[i+1:]
			}
		}
	}
	steps := planSteps(ro)

	if st.StableRevision != "" && st.StableRevision != w.stable {
		if w.stable == "" {
			p.event(cPlain, "Rollout %s/%s: stable revision %s (%s)", Namespace, RolloutName, short(st.StableRevision), imageOf(ro))
		} else {
			p.event(cGreen, "stable revision is now %s (%s)", short(st.StableRevision), w.version(st.StableRevision))
		}
		w.stable = st.StableRevision
	}
	if st.CanaryRevision != w.canary {
		if st.CanaryRevision != "" {
			w.versions[st.CanaryRevision] = tagOf(imageOf(ro))
			p.event(cBlue, "canary revision %s (%s): ReplicaSet web-%s, steps 0–%d", short(st.CanaryRevision), imageOf(ro), short(st.CanaryRevision), st.StepCount-1)
		}
		w.canary = st.CanaryRevision
		w.step = -1
	}
	if st.CanaryRevision != "" && st.CurrentStepIndex != nil && *st.CurrentStepIndex != w.step {
		i := *st.CurrentStepIndex
		desc := ""
		if int(i) < len(steps) {
			desc = steps[i].String()
		}
		p.event(cBlue, "step %d  %s", i, desc)
		w.step = i
	}
	if st.Weights != w.weights {
		p.event(cBlue, "weights  stable %d%% · canary %d%%", st.Weights.Stable, st.Weights.Canary)
		w.weights = st.Weights
	}
	w.narrateAnalysis(s)
	if string(st.Phase) != w.phase {
		style := map[sluicev1.RolloutPhase]string{sluicev1.PhaseHealthy: cGreen, sluicev1.PhaseDegraded: cRed, sluicev1.PhasePaused: cYellow}[st.Phase]
		msg := st.Message
		if msg != "" {
			msg = ": " + msg
		}
		p.event(style, "phase %s%s", st.Phase, msg)
		w.phase = string(st.Phase)
	}
	if len(st.History) > 0 {
		h := st.History[0]
		key := h.Revision + "/" + h.Outcome + "/" + h.At.String()
		if key != w.history {
			if w.history != "" || time.Since(h.At.Time) < time.Minute {
				switch h.Outcome {
				case "Promoted":
					p.event(cGreen, "Promoted %s (%s)", short(h.Revision), w.version(h.Revision))
				default:
					reason := h.Reason
					if c := meta.FindStatusCondition(st.Conditions, sluicev1.ConditionAborted); c != nil && c.Status == "True" {
						reason = c.Reason
					}
					reason, _, _ = strings.Cut(reason, ":")
					p.event(cRed, "%s %s (%s): %s; traffic is back on %s", h.Outcome, short(h.Revision), w.version(h.Revision), reason, w.version(st.StableRevision))
				}
			}
			w.history = key
		}
	}
	w.narrateGitOps(s)
	if w.d.opts.Live {
		p.setStatus(w.statusLine(s, steps))
	}
}

func (w *watcher) narrateAnalysis(s snapshot) {
	p := w.d.p
	for _, sum := range s.ro.Status.Analysis {
		run := s.runs[sum.Name]
		if run == nil {
			continue
		}
		for _, m := range run.Status.MetricResults {
			key := run.Name + "/" + m.Name
			for i := w.measured[key]; i < len(m.Measurements); i++ {
				ms := m.Measurements[i]
				if ms.Phase == sluicev1.AnalysisRunning || ms.Phase == sluicev1.AnalysisPending || ms.FinishedAt == nil {
					break
				}
				cond := metricCondition(run, m.Name)
				style := cYellow
				switch ms.Phase {
				case sluicev1.AnalysisSuccessful:
					style = cGreen
				case sluicev1.AnalysisFailed:
					style = cRed
				}
				value := ms.Value
				if f, err := strconv.ParseFloat(value, 64); err == nil {
					value = strconv.FormatFloat(f, 'f', 4, 64)
				}
				if value == "" {
					value = "(no value) " + ms.Message
				}
				p.event(style, "analysis %s = %s → %s (%d of %d, %s)%s", m.Name, value, ms.Phase, i+1, countOf(run, m.Name), cond, w.dataPlane(s.ro.Status.CanaryRevision))
				w.measured[key] = i + 1
			}
		}
		if run.Status.Phase != w.runPhase[run.Name] {
			switch run.Status.Phase {
			case sluicev1.AnalysisSuccessful:
				p.event(cGreen, "AnalysisRun %s Successful: %s", run.Name, run.Status.Message)
			case sluicev1.AnalysisFailed, sluicev1.AnalysisError, sluicev1.AnalysisInconclusive:
				p.event(cRed, "AnalysisRun %s %s: %s", run.Name, run.Status.Phase, run.Status.Message)
			case sluicev1.AnalysisRunning:
				p.event(cYellow, "AnalysisRun %s running: querying Prometheus %s", run.Name, w.d.prom.URL)
			}
			w.runPhase[run.Name] = run.Status.Phase
		}
	}
}

func (w *watcher) narrateGitOps(s snapshot) {
	p := w.d.p
	gs := s.ro.Status.GitOps
	if gs == nil {
		return
	}
	w.mu.Lock()
	w.gitSeen[gs.Revision+"/"+gs.Outcome] = *gs.DeepCopy()
	w.mu.Unlock()
	if gs.Commit != "" && gs.Commit != w.commit {
		p.event(cGit, "sluice pushed %s %s to %s", shortSHA(gs.Commit), quote(cut(w.d.subject(gs.Commit), 72)), repoBranch)
		w.commit = gs.Commit
	}
	key := gs.Revision + "/" + gs.Outcome + "/" + gs.Phase
	if key == w.gitKey {
		return
	}
	w.gitKey = key
	switch gs.Phase {
	case sluicev1.GitOpsPending:
		p.event(cGit, "write-back: recording the %s of %s in Git", gs.Outcome, short(gs.Revision))
	case sluicev1.GitOpsSyncing:
		p.event(cGit, "write-back: Argo CD asked to sync %s; sluice waits for Synced and Healthy", shortSHA(gs.Commit))
	case sluicev1.GitOpsSynced:
		p.event(cGreen, "write-back done: Argo CD runs %s (%s, %s)", shortSHA(gs.Commit), gs.SyncStatus, gs.Health)
	case sluicev1.GitOpsFailed:
		p.event(cRed, "write-back failed (%s): %s", gs.Reason, gs.Message)
	}
}

// dataPlane describes what the traffic generator saw of a revision.
func (w *watcher) dataPlane(rev string) string {
	if rev == "" || w.d.traffic == nil {
		return ""
	}
	sp := w.d.traffic.split()
	share, ok := sp.Shares[rev]
	if !ok {
		return ""
	}
	return fmt.Sprintf("; data plane: %s got %.0f%% of %.0f req/s, %.1f%% 5xx", w.version(rev), share*100, sp.RPS, sp.Errors[rev]*100)
}

// statusLine is the live line: step, weights and the data plane's view.
func (w *watcher) statusLine(s snapshot, steps []plan.Step) string {
	st := s.ro.Status
	var b strings.Builder
	if st.CanaryRevision != "" && st.CurrentStepIndex != nil {
		i := *st.CurrentStepIndex
		desc := ""
		if int(i) < len(steps) {
			desc = steps[i].String()
		}
		fmt.Fprintf(&b, "%s → %s  step %d of 0–%d: %s  │ weights %d/%d  │ ", w.version(st.StableRevision), w.version(st.CanaryRevision), i, st.StepCount-1, desc, st.Weights.Stable, st.Weights.Canary)
	} else {
		fmt.Fprintf(&b, "%s %s  │ ", w.version(st.StableRevision), st.Phase)
	}
	sp := w.d.traffic.split()
	fmt.Fprintf(&b, "data plane %.0f req/s", sp.RPS)
	revs := make([]string, 0, len(sp.Shares))
	for r := range sp.Shares {
		revs = append(revs, r)
	}
	sort.Slice(revs, func(i, j int) bool { return w.version(revs[i]) < w.version(revs[j]) })
	for _, r := range revs {
		fmt.Fprintf(&b, "  %s %.0f%% (%.0f%% 5xx)", w.version(r), sp.Shares[r]*100, sp.Errors[r]*100)
	}
	if sp.NoUpstream > 0 {
		fmt.Fprintf(&b, "  %d without an upstream", sp.NoUpstream)
	}
	return b.String()
}

// planSteps is the Rollout's plan, for step names.
func planSteps(ro *sluicev1.Rollout) []plan.Step {
	replicas := int32(1)
	if ro.Spec.Replicas != nil {
		replicas = *ro.Spec.Replicas
	}
	pl, err := plan.Build(ro.Spec.Strategy, replicas)
	if err != nil {
		return nil
	}
	return pl.Steps
}

func metricCondition(run *sluicev1.AnalysisRun, name string) string {
	for _, m := range run.Spec.Metrics {
		if m.Name == name {
			if m.SuccessCondition != "" {
				return "success: " + m.SuccessCondition
			}
			return "failure: " + m.FailureCondition
		}
	}
	return ""
}

func countOf(run *sluicev1.AnalysisRun, name string) int32 {
	for _, m := range run.Spec.Metrics {
		if m.Name == name && m.Count != nil {
			return *m.Count
		}
	}
	return 1
}

func imageOf(ro *sluicev1.Rollout) string {
	if ro == nil || len(ro.Spec.Template.Spec.Containers) == 0 {
		return ""
	}
	return ro.Spec.Template.Spec.Containers[0].Image
}

func tagOf(image string) string {
	if i := strings.LastIndexByte(image, ':'); i >= 0 {
		return image[i+1:]
	}
	return image
}

func describe(s snapshot) string {
	if s.ro == nil {
		return "no Rollout " + Namespace + "/" + RolloutName + " yet"
	}
	st := s.ro.Status
	out := fmt.Sprintf("image %s, phase %s (%s), stable %s, canary %s, weights %d/%d", imageOf(s.ro), st.Phase, st.Message, short(st.StableRevision), short(st.CanaryRevision), st.Weights.Stable, st.Weights.Canary)
	if gs := st.GitOps; gs != nil {
		out += fmt.Sprintf(", gitops %s %s %s commit %s: %s", gs.Outcome, short(gs.Revision), gs.Phase, shortSHA(gs.Commit), gs.Message)
	} else {
		out += ", no status.gitops"
	}
	if s.app != nil {
		out += fmt.Sprintf("; Application synced to %s (%s, %s)", shortSHA(s.app.Status.Sync.Revision), s.app.Status.Sync.Status, s.app.Status.Health.Status)
	}
	return out
}
