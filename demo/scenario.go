package demo

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
)

// Result is what the scenario did.
type Result struct {
	// Initial is the revision of v1, synced by the first sync.
	Initial string
	// Releases are v1 → v2 and v2 → v3, in order.
	Releases []Release
	// Syncs are the revisions the Argo CD stand-in applied, in order.
	Syncs []string
	// UpIn is how long the start-up took; Elapsed the whole scenario.
	UpIn, Elapsed time.Duration
}

// Release is one release: the developer's commit, the rollout, and
// sluice's write-back.
type Release struct {
	From, To string // versions, v1 → v2
	Image    string
	// Commit is the developer's release commit.
	Commit string
	// Revision is the canary revision the release started.
	Revision string
	// Outcome is the history's outcome, Promoted or Aborted, with Reason.
	Outcome, Reason string
	// Measurements are the analysis values, in order, and Condition the
	// metric's success condition.
	Measurements []string
	Condition    string
	// Duration from the push to the outcome.
	Duration time.Duration
	// WriteBack is sluice's commit for the outcome; nil when none came.
	WriteBack *WriteBack
}

// WriteBack is sluice's commit and the Argo CD sync of it.
type WriteBack struct {
	Commit, Subject, Message, Author string
	// Phase of status.gitops at the end (Synced, Failed) and its reason.
	Phase, Reason, Detail string
	// Duration from the outcome to Synced.
	Duration time.Duration
}

// The canary of the sample repo ends within ~30 s; these bound a stuck one.
const (
	syncTimeout      = 30 * time.Second
	rolloutTimeout   = 120 * time.Second
	writeBackTimeout = 90 * time.Second
)

// scenario is the story: the first sync, a good release, a bad one.
func (d *Demo) scenario(ctx context.Context) (*Result, error) {
	res := &Result{UpIn: d.upIn}
	start := time.Now()
	defer func() { res.Elapsed = time.Since(start); res.Syncs = d.Syncs() }()
	p := d.p

	p.section("v1: the first sync")
	if err := d.createApplication(ctx); err != nil {
		return res, fmt.Errorf("creating the Application: %w", err)
	}
	p.event(cGit, "dana creates Application %s/web (repo %s, path deploy/, manual sync) and clicks Sync", ArgoNamespace, repoName)
	s, err := d.seen.wait(ctx, rolloutTimeout, "Rollout web Healthy on demo-app:v1", func(s snapshot) bool {
		return s.current() && s.ro.Status.Phase == sluicev1.PhaseHealthy && imageOf(s.ro) == imageRepo+":v1" && s.ro.Status.StableRevision != ""
	})
	if err != nil {
		return res, err
	}
	res.Initial = s.ro.Status.StableRevision
	if _, err := d.seen.wait(ctx, syncTimeout, "traffic to v1", func(snapshot) bool { return d.traffic.split().RPS > 0 }); err != nil {
		return res, err
	}
	p.event(cGreen, "v1 serves all traffic; the traffic generator sends ~%d req/s", d.opts.RPS)

	dev := developer{name: "Dana Developer", email: "dana@example.test", repoURL: d.RepoURL}
	for _, r := range []struct {
		from, to, story, want string
	}{
		{"v1", "v2", "a good release: analysis passes, sluice promotes it and records it in Git", "Promoted"},
		{"v2", "v3", "a bad release: v3 fails 30% of its requests, analysis fails, sluice rolls back in Git", "Aborted"},
	} {
		rel, err := d.release(ctx, dev, r.from, r.to, r.story, r.want)
		res.Releases = append(res.Releases, rel)
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// release pushes a new image, clicks Sync, and follows the rollout and the
// write-back to the end.
func (d *Demo) release(ctx context.Context, dev developer, from, to, story, want string) (Release, error) {
	p := d.p
	rel := Release{From: from, To: to, Image: imageRepo + ":" + to}
	p.section(fmt.Sprintf("%s → %s: %s", from, to, story))
	before := d.seen.last()
	stable := before.ro.Status.StableRevision

	subject := "web: release " + rel.Image
	sha, err := dev.release(ctx, rel.Image, subject)
	if err != nil {
		return rel, err
	}
	rel.Commit = sha
	pushed := time.Now()
	p.event(cGit, "dana pushed %s %q to %s (deploy/rollout.yaml: image %s)", shortSHA(sha), subject, repoBranch, rel.Image)
	if err := d.requestSync(ctx, "dana"); err != nil {
		return rel, fmt.Errorf("requesting a sync: %w", err)
	}
	p.event(cGit, "dana clicks Sync on Application %s/web", ArgoNamespace)
	if _, err := d.seen.wait(ctx, syncTimeout, "the Argo CD stand-in to sync "+shortSHA(sha), func(s snapshot) bool {
		return s.app != nil && s.app.Status.Sync.Revision == sha
	}); err != nil {
		return rel, err
	}

	s, err := d.seen.wait(ctx, rolloutTimeout, "a canary of "+rel.Image, func(s snapshot) bool {
		return s.ro != nil && imageOf(s.ro) == rel.Image && s.ro.Status.CanaryRevision != "" && s.ro.Status.CanaryRevision != stable
	})
	if err != nil {
		return rel, err
	}
	rel.Revision = s.ro.Status.CanaryRevision

	s, err = d.seen.waitOrFail(ctx, rolloutTimeout, "the end of the rollout of "+rel.Image, func(s snapshot) (bool, error) {
		h := s.ro.Status.History
		if len(h) > 0 && h[0].Revision == rel.Revision && (h[0].Outcome == "Promoted" || h[0].Outcome == "Aborted") {
			return true, nil
		}
		// A rollout waiting for a person would wait forever here.
		if s.ro.Status.Phase == sluicev1.PhasePaused {
			for _, a := range s.ro.Status.Analysis {
				if a.Phase == sluicev1.AnalysisInconclusive {
					return false, fmt.Errorf("the rollout of %s paused: analysis %s is inconclusive: %s", rel.Image, a.Name, a.Message)
				}
			}
		}
		return false, nil
	})
	if err != nil {
		return rel, err
	}
	ended := time.Now()
	h := s.ro.Status.History[0]
	rel.Outcome, rel.Reason, rel.Duration = h.Outcome, h.Reason, ended.Sub(pushed)
	rel.Measurements, rel.Condition = measurements(s, rel.Revision)
	if rel.Outcome != want {
		return rel, fmt.Errorf("%s → %s ended %s (%s), expected %s", from, to, rel.Outcome, rel.Reason, want)
	}

	// sluice's write-back: the commit, then Argo CD syncing it.
	outcome := strings.ToLower(want)
	finished := func() (sluicev1.GitOpsStatus, bool) {
		gs, ok := d.seen.gitops(rel.Revision, outcome)
		return gs, ok && (gs.Phase == sluicev1.GitOpsSynced || gs.Phase == sluicev1.GitOpsFailed)
	}
	_, err = d.seen.wait(ctx, writeBackTimeout, "sluice's write-back of the "+outcome+" of "+short(rel.Revision)+" (status.gitops Synced)", func(snapshot) bool {
		_, ok := finished()
		return ok
	})
	if gs, ok := d.seen.gitops(rel.Revision, outcome); ok && gs.Commit != "" {
		wb := &WriteBack{Commit: gs.Commit, Phase: gs.Phase, Reason: gs.Reason, Detail: gs.Message, Duration: time.Since(ended)}
		if c, ok := d.commit(gs.Commit); ok {
			wb.Message, wb.Author = c.Message, c.Author
			wb.Subject, _, _ = strings.Cut(c.Message, "\n")
		}
		rel.WriteBack = wb
	}
	if err != nil {
		return rel, err
	}
	if gs, _ := finished(); gs.Phase == sluicev1.GitOpsFailed {
		return rel, fmt.Errorf("sluice's write-back of the %s failed (%s): %s", outcome, gs.Reason, gs.Message)
	}

	// After a rollback, Git holds the stable template again and the
	// Rollout, synced from it, is Healthy on the old revision.
	back, backImage := rel.Revision, rel.Image
	if want == "Aborted" {
		back, backImage = stable, imageRepo+":"+from
	}
	if _, err := d.seen.wait(ctx, rolloutTimeout, fmt.Sprintf("Rollout web Healthy on %s", backImage), func(s snapshot) bool {
		return s.current() && s.ro.Status.Phase == sluicev1.PhaseHealthy && s.ro.Status.StableRevision == back && s.ro.Status.CanaryRevision == "" && imageOf(s.ro) == backImage
	}); err != nil {
		return rel, err
	}
	p.event(cGreen, "Rollout web Healthy on %s; Git, Argo CD and the cluster agree", backImage)
	return rel, nil
}

// measurements lists the values of the canary's analysis and the success
// condition they were judged by.
func measurements(s snapshot, rev string) ([]string, string) {
	var names []string
	for name := range s.runs {
		if strings.Contains(name, rev) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var out []string
	cond := ""
	for _, name := range names {
		run := s.runs[name]
		for _, m := range run.Status.MetricResults {
			cond = metricCondition(run, m.Name)
			for _, ms := range m.Measurements {
				v := ms.Value
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					v = strconv.FormatFloat(f, 'f', 3, 64)
				}
				out = append(out, v)
			}
		}
	}
	return out, cond
}
