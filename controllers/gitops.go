package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/approval/slack"
	"github.com/sluice-dev/sluice/gitops"
)

// gitWriteTimeout bounds one write-back (fetch, edit, commit, push and its
// retries) inside a reconcile, which holds a worker meanwhile; ten writers
// racing on one branch land in a few seconds, and a timeout is retried.
const gitWriteTimeout = 45 * time.Second

// argoPollInterval is how often sluice looks at the Application while it
// waits for Argo CD; an Application in another cluster or behind the API
// server cannot be watched.
const argoPollInterval = 2 * time.Second

// writeBack records the last rollout's outcome in Git and, with
// spec.gitops.argocd, makes Argo CD sync it. It is a small state machine
// in status.gitops (Pending → Pushed → Syncing → Synced, or Failed), so a
// restart resumes where it stopped; the commit itself is found by its
// trailers if the crash came between push and status write.
func (p *pass) writeBack(ctx context.Context) error {
	g := p.ro.Spec.GitOps
	if g == nil || p.r.Git == nil {
		return nil
	}
	st := &p.ro.Status
	p.takeRelease()
	if len(st.History) > 0 {
		rec := st.History[0]
		var outcome gitops.Outcome
		switch {
		case rec.Outcome == "Promoted" && g.OnPromotion != "None":
			outcome = gitops.OutcomePromoted
		case rec.Outcome == "Aborted" && g.OnAbort != "None":
			outcome = gitops.OutcomeAborted
		}
		gs := st.GitOps
		other := gs == nil || gs.Revision != rec.Revision || gs.Outcome != string(outcome)
		newer := gs == nil || gs.RequestedAt == nil || !rec.At.Before(gs.RequestedAt)
		if gs != nil && gs.Outcome == string(gitops.OutcomeReleased) && gs.RequestedAt != nil {
			// A release asked for in the same second as this outcome
			// stands: timestamps have seconds only.
			newer = rec.At.After(gs.RequestedAt.Time)
		}
		if outcome != "" && other && newer {
			if gs != nil && gs.Outcome == string(gitops.OutcomeReleased) && gs.Phase == sluicev1.GitOpsPending {
				p.event(eventWarning, "ReleaseDropped", "the release of %s was not committed yet; the rollout's %s of %s is written instead; ask again", gs.Revision, outcome, rec.Revision)
			}
			at := rec.At
			from := st.StableRevision
			if outcome == gitops.OutcomePromoted {
				from = ""
				if prev := st.PreviousRevision; prev != nil {
					from = prev.Revision
				}
			}
			// Everything the commit needs is copied now: by the time a
			// retried write runs, History may hold a later rollout.
			st.GitOps = &sluicev1.GitOpsStatus{Revision: rec.Revision, Outcome: string(outcome), Phase: sluicev1.GitOpsPending, RequestedAt: &at,
				StableRevision: from, Cause: rec.Reason, Images: rec.Images}
			p.gitCondition(metav1.ConditionFalse, "Pending", fmt.Sprintf("writing the %s of %s to Git", outcome, rec.Revision))
		}
	}
	if st.GitOps == nil {
		return nil
	}
	switch st.GitOps.Phase {
	case sluicev1.GitOpsPending:
		if st.GitOps.Outcome == string(gitops.OutcomeReleased) {
			return p.failOnConfig(p.commitRelease(ctx))
		}
		return p.failOnConfig(p.commitOutcome(ctx))
	case sluicev1.GitOpsPushed, sluicev1.GitOpsSyncing:
		if g.ArgoCD != nil {
			return p.failOnConfig(p.syncArgo(ctx))
		}
	}
	return nil
}

// commitOutcome pushes the commit for a promotion or an abort.
func (p *pass) commitOutcome(ctx context.Context) error {
	repo, err := p.gitRepo(ctx)
	if err != nil {
		return err
	}
	ch, err := p.gitChange(ctx)
	if err != nil {
		return err
	}
	return p.push(ctx, repo, ch)
}

// push writes ch and moves the write-back on to Pushed (and to Argo CD).
func (p *pass) push(ctx context.Context, repo gitops.Repo, ch gitops.Change) error {
	g := p.ro.Spec.GitOps
	gs := p.ro.Status.GitOps
	outcome := ch.Outcome
	wctx, cancel := context.WithTimeout(ctx, gitWriteTimeout)
	defer cancel()
	res, err := p.r.Git.Write(wctx, repo, ch)
	if err != nil {
		if gitops.ReasonOf(err) == gitops.ReasonBusy {
			// Another Rollout is writing to the same branch: come back in a
			// moment rather than hold this worker.
			p.wakeAt(p.now.Add(time.Second))
			return nil
		}
		if gitops.IsRetryable(err) {
			return p.retryWriteBack("GitPushFailed", fmt.Errorf("writing the %s of %s back to Git (will retry): %w", outcome, gs.Revision, err))
		}
		reason := string(gitops.ReasonOf(err))
		p.failGitOps("Git"+reason, err.Error())
		return nil
	}
	gs.Commit = res.Commit
	gs.CommittedAt = &metav1.Time{Time: p.now}
	gs.Phase = sluicev1.GitOpsPushed
	gs.Reason = "Pushed"
	switch {
	case res.AlreadyPushed:
		gs.Message = fmt.Sprintf("commit %s was already on %s (pushed before a restart)", short(res.Commit), g.Branch)
	case !res.Changed:
		gs.Message = fmt.Sprintf("%s already records this %s at %s; nothing to commit", g.Path, outcome, short(res.Commit))
	default:
		gs.Message = fmt.Sprintf("pushed %s to %s of %s", short(res.Commit), g.Branch, gitops.RedactURL(g.RepoURL))
	}
	p.event(eventNormal, "GitCommitPushed", "%s", gs.Message)
	p.notify(slack.EventGitCommitPushed, gs.Revision, -1, fmt.Sprintf("%s: %s", gs.Outcome, gs.Message))
	gitOpsWrites.WithLabelValues(string(outcome), "pushed").Inc()
	if g.ArgoCD == nil {
		p.gitCondition(metav1.ConditionTrue, "Pushed", gs.Message)
		return nil
	}
	return p.syncArgo(ctx)
}

// gitRepo is spec.gitops's repo with its credentials.
func (p *pass) gitRepo(ctx context.Context) (gitops.Repo, error) {
	g := p.ro.Spec.GitOps
	repo := gitops.Repo{URL: g.RepoURL, Branch: g.Branch}
	if repo.Branch == "" {
		repo.Branch = "main"
	}
	if g.SecretRef == nil {
		return repo, nil
	}
	_, s, err := p.secretValue(ctx, g.SecretRef, "spec.gitops.secretRef", "")
	if err != nil {
		return repo, err
	}
	repo.Credentials = gitops.CredentialsFromSecret(s.Data)
	return repo, nil
}

// gitChange describes the edit: for a promotion the revision is recorded;
// for an abort the stable revision's whole pod template is written back.
func (p *pass) gitChange(ctx context.Context) (gitops.Change, error) {
	g := p.ro.Spec.GitOps
	gs := p.ro.Status.GitOps
	outcome := gitops.Outcome(gs.Outcome)
	ch := gitops.Change{
		Rollout:        types.NamespacedName{Namespace: p.ro.Namespace, Name: p.ro.Name},
		Revision:       gs.Revision,
		StableRevision: gs.StableRevision,
		Outcome:        outcome,
		Reason:         gs.Cause,
		Path:           g.Path,
		Format:         gitops.Format(g.Format),
		Images:         sluicev1.ParseImageList(gs.Images),
	}
	if g.HelmValues != nil {
		ch.HelmImages = g.HelmValues.Images
	}
	if g.Author != nil {
		ch.Author = gitops.Author{Name: g.Author.Name, Email: g.Author.Email}
	}
	if outcome == gitops.OutcomeAborted {
		stable := p.sets[gs.StableRevision]
		if stable == nil {
			return ch, &configError{reason: "StableRevisionGone", msg: fmt.Sprintf("the ReplicaSet of stable revision %s, whose template the rollback writes, is gone; write the rollback by hand", gs.StableRevision)}
		}
		tmpl := userTemplate(stable)
		ch.StableTemplate = &tmpl
		ch.StableImages = map[string]string{}
		for _, c := range tmpl.Spec.Containers {
			ch.StableImages[c.Name] = c.Image
		}
	}
	msg, err := gitops.RenderMessage(g.CommitMessage, ch.MessageData())
	if err != nil {
		return ch, &configError{reason: "InvalidCommitMessage", msg: fmt.Sprintf("spec.gitops.commitMessage: %v", err)}
	}
	ch.Message = msg
	if g.SigningKeySecretRef != nil {
		key, _, err := p.secretValue(ctx, g.SigningKeySecretRef, "spec.gitops.signingKeySecretRef", "signing-key")
		if err != nil {
			return ch, err
		}
		_, ks, _ := p.secretValue(ctx, g.SigningKeySecretRef, "spec.gitops.signingKeySecretRef", "")
		var pass []byte
		if ks != nil {
			pass = ks.Data["passphrase"]
		}
		if ch.SignKey, err = gitops.ParseSigningKey(key, pass); err != nil {
			return ch, &configError{reason: "InvalidSigningKey", msg: fmt.Sprintf("spec.gitops.signingKeySecretRef: %v", err)}
		}
	}
	return ch, nil
}

// writeBackRetry is the pause before another attempt after a transient
// Git or Argo CD failure.
const writeBackRetry = 15 * time.Second

// retryWriteBack records a transient failure and asks to come back later.
// It is not returned as an error: controller-runtime's error backoff grows
// to many minutes and would override the rollout's own timers (a pause, a
// progress deadline) while Git is down.
func (p *pass) retryWriteBack(reason string, err error) error {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	p.ro.Status.GitOps.Message = msg
	p.gitCondition(metav1.ConditionFalse, reason, msg)
	p.wakeAt(p.now.Add(writeBackRetry))
	return nil
}

// failOnConfig turns a configuration problem into a Failed write-back.
func (p *pass) failOnConfig(err error) error {
	var ce *configError
	if errors.As(err, &ce) {
		p.failGitOps(ce.reason, ce.msg)
		return nil
	}
	return err
}

func (p *pass) failGitOps(reason, msg string) {
	msg = strings.Join(strings.Fields(msg), " ") // remote errors carry newlines
	gs := p.ro.Status.GitOps
	gs.Phase, gs.Reason, gs.Message = sluicev1.GitOpsFailed, reason, msg
	p.gitCondition(metav1.ConditionFalse, reason, msg)
	p.event(eventWarning, "GitOpsFailed", "%s: %s", reason, msg)
	gitOpsWrites.WithLabelValues(gs.Outcome, "failed").Inc()
}

func (p *pass) gitCondition(status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&p.ro.Status.Conditions, metav1.Condition{
		Type: sluicev1.ConditionGitOpsSynced, Status: status, Reason: reason, Message: msg, ObservedGeneration: p.ro.Generation,
	})
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
