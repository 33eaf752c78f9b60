package gitserver

import (
	"testing"

	"github.com/go-logr/logr/testr"
)

// StartTest starts a server on a loopback port with its repositories in a
// temporary directory, logging to t, and stops it when the test ends.
func StartTest(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Log.GetSink() == nil {
		opts.Log = testr.NewWithInterface(t, testr.Options{})
	}
	s, err := New(t.TempDir(), opts)
	if err != nil {
		t.Fatalf("gitserver: %v", err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("gitserver: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("gitserver: %v", err)
		}
	})
	return s
}
