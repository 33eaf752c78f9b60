package gitops

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// isRemoteError tells failures of the remote or the way to it (which a
// fresh clone would meet again) from failures of the cached clone.
func isRemoteError(err error) bool {
	var netErr net.Error
	var urlErr *url.Error
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired),
		errors.Is(err, transport.ErrAuthorizationFailed),
		errors.Is(err, transport.ErrRepositoryNotFound),
		errors.Is(err, transport.ErrEmptyRemoteRepository),
		errors.Is(err, transport.ErrInvalidAuthMethod),
		errors.Is(err, git.NoMatchingRefSpecError{}),
		errors.Is(err, context.Canceled),
		errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr),
		errors.As(err, &urlErr),
		sshAuthFailure(err):
		return true
	}
	return false
}

func sshAuthFailure(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "ssh: handshake failed") || strings.Contains(msg, "knownhosts:") || strings.Contains(msg, "ssh: unable to authenticate")
}

// classifyRemote turns a go-git error about the remote into an *Error
// that says what to fix.
func classifyRemote(err error, repo Repo, branch string) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	where := describe(repo, branch)
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired):
		return terminal(ReasonAuth, "%s: the remote refused the credentials: %w; check username and password (or token) in the Secret spec.gitops.secretRef names", where, err)
	case errors.Is(err, transport.ErrAuthorizationFailed):
		return terminal(ReasonAuth, "%s: the credentials may not do this: %w; give them write access to the repo", where, err)
	case errors.Is(err, transport.ErrInvalidAuthMethod):
		return terminal(ReasonAuth, "%s: these credentials do not fit the URL's protocol: %w", where, err)
	case sshAuthFailure(err):
		return terminal(ReasonAuth, "%s: SSH refused: %w; check keys %q and %q of the Secret spec.gitops.secretRef names", where, err, SecretKeyIdentity, SecretKeyKnownHosts)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return terminal(ReasonNotFound, "%s: %w; check spec.gitops.repoURL (some hosts also say this to credentials that may not read the repo)", where, err)
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return terminal(ReasonNotFound, "%s: the repository is empty; push branch %s first", where, branch)
	case errors.Is(err, git.NoMatchingRefSpecError{}), errors.Is(err, plumbing.ErrReferenceNotFound):
		return terminal(ReasonNotFound, "%s: branch %s does not exist: %w; check spec.gitops.branch", where, branch, err)
	}
	return transient(ReasonTransient, "%s: %w", where, err)
}
