package gitops

import (
	"context"
	"testing"
	"time"
)

// A writer that would wait longer than LockWait for another write to the
// same clone gives up with ReasonBusy, so a controller can requeue instead
// of holding a worker; without LockWait it waits for the context.
func TestLockWait(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockClone(context.Background(), dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = lockClone(context.Background(), dir, 50*time.Millisecond)
	if ReasonOf(err) != ReasonBusy || !IsRetryable(err) {
		t.Fatalf("want a retryable Busy error, got %v", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("gave up after %s, before LockWait", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := lockClone(ctx, dir, 0); ReasonOf(err) != ReasonTransient {
		t.Fatalf("without LockWait the context decides; got %v", err)
	}
	unlock()
	again, err := lockClone(context.Background(), dir, 50*time.Millisecond)
	if err != nil {
		t.Fatalf("the lock is free again: %v", err)
	}
	again()
}
