package gitops

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
)

// Writer writes changes to Git. Its zero value works: clones go under the
// user's cache directory, five attempts, exponential backoff. A Writer is
// safe for concurrent use; writes to one repo and branch take turns.
type Writer struct {
	// CacheDir holds one clone per repo URL and branch. Defaults to
	// <user cache dir>/sluice/gitops.
	CacheDir string
	// MaxAttempts bounds the passes of fetch, edit, commit, push when
	// others keep pushing first. Defaults to 5.
	MaxAttempts int
	// Backoff is the pause after the failed attempt-th push. Defaults to
	// 250ms doubling up to 8s, with jitter.
	Backoff func(attempt int) time.Duration
	// HistoryDepth bounds how many commits back a previous identical write
	// is looked for. Defaults to 100.
	HistoryDepth int
	// Timeout bounds a Write whose context has no deadline. Defaults to 5m.
	Timeout time.Duration
	// LockWait bounds the wait for another write to the same repo and
	// branch in this process (ReasonBusy after it); 0 waits as long as
	// the context allows. A controller sets it so a busy repo does not
	// hold its workers.
	LockWait time.Duration
	// Now stamps commits. Defaults to time.Now.
	Now func() time.Time
	Log logr.Logger
}

func (w *Writer) log() logr.Logger {
	if w.Log.GetSink() == nil {
		return logr.Discard()
	}
	return w.Log
}

func (w *Writer) cacheDir() (string, error) {
	if w.CacheDir != "" {
		return filepath.Abs(w.CacheDir)
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding a cache directory for clones (set Writer.CacheDir): %w", err)
	}
	return filepath.Join(base, "sluice", "gitops"), nil
}

func (w *Writer) backoff(attempt int) time.Duration {
	if w.Backoff != nil {
		return w.Backoff(attempt)
	}
	d := min(250*time.Millisecond<<(attempt-1), 8*time.Second)
	return d/2 + rand.N(d/2+1) // jitter keeps racing writers apart
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Write commits ch to repo's branch and pushes it, or finds that it is
// there already. On a push that loses a race it fetches, redoes the edit on
// the new head, and tries again, up to MaxAttempts. Errors are *Error.
func (w *Writer) Write(ctx context.Context, repo Repo, ch Change) (Result, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, orDefault(w.Timeout, 5*time.Minute))
		defer cancel()
	}
	if err := ch.validate(); err != nil {
		return Result{}, err
	}
	branch := orDefault(repo.Branch, "main")
	log := w.log().WithValues("repo", redactURL(repo.URL), "branch", branch, "path", ch.Path,
		"rollout", ch.Rollout.String(), "revision", ch.Revision, "outcome", ch.Outcome)
	msg := ch.Message
	if msg == "" {
		var err error
		if msg, err = RenderMessage("", ch.MessageData()); err != nil {
			return Result{}, err
		}
	}
	msg = withTrailers(msg, ch.trailers())
	author := Author{Name: orDefault(ch.Author.Name, DefaultAuthor.Name), Email: orDefault(ch.Author.Email, DefaultAuthor.Email)}
	auth, err := repo.Credentials.authMethod(repo.URL)
	if err != nil {
		return Result{}, err
	}
	root, err := w.cacheDir()
	if err != nil {
		return Result{}, transient(ReasonTransient, "%w", err)
	}
	dir := filepath.Join(root, cacheKey(repo.URL, branch))
	unlock, err := lockClone(ctx, dir, w.LockWait)
	if err != nil {
		return Result{}, err
	}
	defer unlock()

	c := &clone{dir: dir, repo: repo, branch: branch, auth: auth, log: log}
	return w.attempts(ctx, c, ch, msg, author, log)
}

// attempts is Write's loop of fetch, edit, commit and push.
func (w *Writer) attempts(ctx context.Context, c *clone, ch Change, msg string, author Author, log logr.Logger) (Result, error) {
	edits := plan(ch)
	where := describe(c.repo, c.branch)
	maxAttempts := orDefault(w.MaxAttempts, 5)
	var res Result
	for attempt := 1; ; attempt++ {
		res.Attempts = attempt
		h, err := c.sync(ctx)
		if err != nil {
			return res, err
		}
		commit, err := c.r.CommitObject(h)
		if err != nil {
			return res, transient(ReasonTransient, "%s: reading head %s: %w", where, h, err)
		}
		prev, found, err := findWrite(commit, ch.trailers(), planPaths(edits), orDefault(w.HistoryDepth, 100))
		if err != nil {
			return res, within(where, err)
		}
		if found {
			log.Info("write-back already on the branch", "commit", prev.String())
			res.Commit, res.AlreadyPushed = prev.String(), true
			return res, nil
		}
		files, err := applyEdits(commit, ch, edits)
		if err != nil {
			return res, within(where, err)
		}
		if len(files) == 0 {
			log.Info("files already hold the outcome; nothing to commit", "head", h.String())
			res.Commit = h.String()
			return res, nil
		}
		now := time.Now
		if w.Now != nil {
			now = w.Now
		}
		mine, err := c.commit(files, msg, author, ch.SignKey, now())
		if err != nil {
			return res, within(where, err)
		}
		result, err := c.push(ctx)
		switch result {
		case pushed:
			log.Info("pushed write-back", "commit", mine.String(), "attempt", attempt)
			res.Commit, res.Changed = mine.String(), true
			return res, nil
		case pushFailed:
			return res, err
		case pushRefused:
			// A fetch tells a lost race (the branch moved) from a policy.
			moved, serr := c.sync(ctx)
			if serr != nil {
				return res, serr
			}
			if moved == h {
				return res, terminal(ReasonPushRejected, "%s refused the push: %w; check branch protection and hooks for sluice's credentials", where, err)
			}
		}
		if attempt >= maxAttempts {
			return res, transient(ReasonPushRejected, "%s: gave up after %d attempts, someone pushed first each time: %w", where, attempt, err)
		}
		log.Info("branch moved while pushing; redoing the edit on the new head", "attempt", attempt, "reason", err.Error())
		if err := sleep(ctx, w.backoff(attempt)); err != nil {
			return res, transient(ReasonTransient, "%s: %w", where, err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
