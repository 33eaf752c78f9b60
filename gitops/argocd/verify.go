package argocd

import (
	"fmt"
)

// Contains reports whether revision is commit or a descendant of it: Argo
// CD may sync a later commit someone else pushed on top of sluice's.
type Contains func(revision string) (bool, error)

// Verdict is what an Application says about sluice's commit.
type Verdict struct {
	// Done: Synced, Healthy, and the synced revision contains the commit.
	Done bool
	// Failed: Argo CD ran a sync of the commit and it failed; waiting longer
	// will not help.
	Failed bool
	// Included: the synced revision contains the commit (health aside).
	Included bool
	// RequestSync: sluice should ask for a sync to the commit now (manual
	// sync policy, no operation in progress, commit not synced yet).
	RequestSync bool
	// Message says what is awaited or what went wrong.
	Message string
}

// Evaluate judges an Application against sluice's commit.
func Evaluate(app *Application, commit string, contains Contains) (Verdict, error) {
	v := Verdict{}
	rev := app.Status.Sync.Revision
	if rev != "" {
		ok := rev == commit
		if !ok && contains != nil {
			var err error
			if ok, err = contains(rev); err != nil {
				return v, fmt.Errorf("checking whether %s contains %s: %w", short(rev), short(commit), err)
			}
		}
		v.Included = ok
	}
	if s := app.Status.OperationState; s != nil && (s.Phase == OperationFailed || s.Phase == OperationError) &&
		s.SyncResult != nil && s.SyncResult.Revision == commit {
		v.Failed = true
		v.Message = fmt.Sprintf("Argo CD's sync of %s ended %s: %s", short(commit), s.Phase, s.Message)
		return v, nil
	}
	synced := app.Status.Sync.Status == SyncStatusSynced
	healthy := app.Status.Health.Status == HealthHealthy
	if synced && v.Included && healthy {
		v.Done = true
		v.Message = fmt.Sprintf("Argo CD synced %s (contains %s) and reports Healthy", short(rev), short(commit))
		return v, nil
	}
	v.RequestSync = !v.Included && !app.AutomatedSync() && !app.OperationInProgress()
	health := app.Status.Health.Status
	if health == "" {
		health = "unknown"
	}
	switch {
	case !v.Included && app.AutomatedSync():
		v.Message = fmt.Sprintf("waiting for Argo CD's automated sync to reach %s (synced: %s, health %s)", short(commit), orNone(rev), health)
	case !v.Included:
		v.Message = fmt.Sprintf("waiting for Argo CD to sync %s (synced: %s, health %s)", short(commit), orNone(rev), health)
	case !synced:
		v.Message = fmt.Sprintf("Argo CD reports %s at %s; waiting for Synced", orNone(app.Status.Sync.Status), short(rev))
	default:
		v.Message = fmt.Sprintf("Argo CD synced %s; waiting for health %s to become Healthy", short(rev), health)
	}
	return v, nil
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
