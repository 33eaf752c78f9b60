package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/gitops"
	"github.com/sluice-dev/sluice/gitops/argocd"
)

// syncArgo makes Argo CD run the pushed commit: refresh the Application
// once, ask for a sync to exactly the commit where Argo CD allows it
// (manual sync policy, no operation running), then wait, by requeueing,
// until it reports Synced and Healthy at a revision that contains the
// commit, or the timeout passes.
func (p *pass) syncArgo(ctx context.Context) error {
	a := p.ro.Spec.GitOps.ArgoCD
	gs := p.ro.Status.GitOps
	timeout := 5 * time.Minute
	if a.SyncTimeout != nil && a.SyncTimeout.Get() > 0 {
		timeout = a.SyncTimeout.Get()
	}
	// The deadline holds whatever happens below: an Argo CD that cannot be
	// reached at all must end in SyncTimeout too, not in retries forever.
	deadline := p.now.Add(timeout)
	if gs.CommittedAt != nil {
		deadline = gs.CommittedAt.Add(timeout)
	}
	if !p.now.Before(deadline) {
		p.failGitOps("SyncTimeout", fmt.Sprintf("Argo CD did not run commit %s within %s (spec.gitops.argocd.syncTimeout): %s", short(gs.Commit), timeout, gs.Message))
		return nil
	}
	target, err := p.argoTarget(ctx)
	if err != nil {
		return err
	}
	app, err := target.Get(ctx)
	if err != nil {
		return p.argoError(err)
	}
	if !app.Permits(p.ro.Namespace, p.ro.Name) {
		p.failGitOps("ArgoCDNotPermitted", fmt.Sprintf("%s deploys to namespace %q, not %q: add the annotation %s: %s/%s to the Application to let this Rollout sync it",
			target, destNamespace(app), p.ro.Namespace, argocd.AnnotationRollouts, p.ro.Namespace, p.ro.Name))
		return nil
	}
	if gs.Phase == sluicev1.GitOpsPushed {
		if err := target.Refresh(ctx); err != nil {
			return p.argoError(err)
		}
		gs.Phase = sluicev1.GitOpsSyncing
		gs.Reason = "WaitingForArgoCD"
		// The refresh changed the Application; a sync request guarded by
		// the copy read before it would be refused.
		if app, err = target.Get(ctx); err != nil {
			return p.argoError(err)
		}
	}
	// The repo (and its Secret) is only needed when Argo CD synced some
	// other revision than the commit: not on every poll.
	v, err := argocd.Evaluate(app, gs.Commit, func(rev string) (bool, error) {
		repo, err := p.gitRepo(ctx)
		if err != nil {
			return false, err
		}
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		return p.r.Git.Contains(cctx, repo, gs.Commit, rev)
	})
	if err != nil {
		var ce *configError
		switch {
		case errors.As(err, &ce):
			return err // failOnConfig ends the write-back
		case gitops.ReasonOf(err) == gitops.ReasonBusy:
			p.wakeAt(p.now.Add(time.Second))
			return nil
		}
		return p.retryWriteBack("GitFetchFailed", fmt.Errorf("judging %s: %w", target, err))
	}
	gs.SyncStatus, gs.SyncedRevision, gs.Health = app.Status.Sync.Status, app.Status.Sync.Revision, app.Status.Health.Status
	if gs.Outcome == string(gitops.OutcomeReleased) && v.Included && app.Status.Sync.Status == argocd.SyncStatusSynced && !v.Done {
		// A release starts a rollout: the Application is not Healthy again
		// until that rollout ends, which the release does not wait for.
		v.Done, v.Message = true, fmt.Sprintf("Argo CD synced %s; the release's rollout starts", short(app.Status.Sync.Revision))
	}
	if v.RequestSync && !gs.SyncRequested {
		reason := fmt.Sprintf("sluice: %s of %s/%s revision %s", gs.Outcome, p.ro.Namespace, p.ro.Name, gs.Revision)
		if err := target.Sync(ctx, app, gs.Commit, reason); err != nil {
			return p.argoError(err)
		}
		gs.SyncRequested = true
		p.event(eventNormal, "ArgoCDSyncRequested", "asked %s to sync %s", target, short(gs.Commit))
	}
	switch {
	case v.Done:
		gs.Phase, gs.Reason, gs.Message = sluicev1.GitOpsSynced, "Synced", v.Message
		gs.SyncedAt = &metav1.Time{Time: p.now}
		p.gitCondition(metav1.ConditionTrue, "Synced", v.Message)
		p.event(eventNormal, "ArgoCDSynced", "%s: %s", target, v.Message)
		gitOpsWrites.WithLabelValues(gs.Outcome, "synced").Inc()
		return nil
	case v.Failed:
		p.failGitOps("SyncFailed", fmt.Sprintf("%s: %s", target, v.Message))
		return nil
	}
	if !p.now.Before(deadline) {
		p.failGitOps("SyncTimeout", fmt.Sprintf("%s did not run commit %s within %s (spec.gitops.argocd.syncTimeout): %s", target, short(gs.Commit), timeout, v.Message))
		return nil
	}
	gs.Message = v.Message
	p.gitCondition(metav1.ConditionFalse, "WaitingForArgoCD", v.Message)
	p.wakeAt(p.now.Add(argoPollInterval))
	return nil
}

func destNamespace(app *argocd.Application) string {
	if app.Spec.Destination == nil {
		return ""
	}
	return app.Spec.Destination.Namespace
}

// argoError fails the write-back on errors a person must fix and retries
// the others.
func (p *pass) argoError(err error) error {
	if apierrors.IsConflict(err) {
		// Argo CD's controller wrote the Application between our read and
		// our sync request: read it again shortly.
		return errRequeue
	}
	if argocd.IsRetryable(err) {
		return p.retryWriteBack("ArgoCDUnreachable", err)
	}
	p.failGitOps("ArgoCDRefused", err.Error())
	return nil
}
