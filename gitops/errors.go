package gitops

import (
	"errors"
	"fmt"
)

// Reason classifies a failed write so the controller can tell a person
// what to fix, or retry on its own.
type Reason string

const (
	// ReasonConflict: the file holds something other than what the
	// rollout expected, usually a newer change someone pushed; sluice
	// never overwrites it.
	ReasonConflict Reason = "Conflict"
	// ReasonNotFound: the repository, branch, file, Rollout document or
	// image key is missing.
	ReasonNotFound Reason = "NotFound"
	// ReasonAuth: the credentials were refused or are incomplete.
	ReasonAuth Reason = "Auth"
	// ReasonTemplate: the commit message template does not parse or run.
	ReasonTemplate Reason = "Template"
	// ReasonInvalid: the change or the file cannot be written as asked
	// (bad path, unparsable YAML, a digest for a tag key).
	ReasonInvalid Reason = "Invalid"
	// ReasonPushRejected: the remote refused the push, by policy or
	// because others kept pushing for every attempt.
	ReasonPushRejected Reason = "PushRejected"
	// ReasonTransient: network trouble, timeouts and other failures that
	// may pass.
	ReasonTransient Reason = "Transient"
	// ReasonBusy: another write to the same repo and branch held the clone
	// for longer than Writer.LockWait; try again in a moment.
	ReasonBusy Reason = "Busy"
)

// Error is a failed write with its Reason. Retryable says whether trying
// the same write later may succeed without anyone changing anything.
type Error struct {
	Reason    Reason
	Retryable bool
	Err       error
}

func (e *Error) Error() string { return e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// IsRetryable reports whether err may go away by itself. Errors that are
// not an *Error count as retryable: nothing says they are permanent.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Retryable
	}
	return true
}

// ReasonOf is the Reason of err, ReasonTransient for errors without one,
// and "" for nil.
func ReasonOf(err error) Reason {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ReasonTransient
}

// terminal builds an error that needs a person to act.
func terminal(reason Reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// transient builds an error worth retrying.
func transient(reason Reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Retryable: true, Err: fmt.Errorf(format, args...)}
}

// within prefixes an error with where it happened, keeping its Reason.
func within(where string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return &Error{Reason: e.Reason, Retryable: e.Retryable, Err: fmt.Errorf("%s: %w", where, e.Err)}
	}
	return fmt.Errorf("%s: %w", where, err)
}

// editFailed places an editor's error; one without a Reason comes from the
// YAML layer and means the file cannot be edited as it is.
func editFailed(where string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return within(where, err)
	}
	return terminal(ReasonInvalid, "%s: cannot edit the YAML: %w", where, err)
}
