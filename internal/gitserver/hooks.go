package gitserver

import (
	"fmt"
	"os"
	"path/filepath"
)

// OnRequest sets a hook called synchronously for every authenticated Git
// request before git handles it; nil removes it. A hook may change the
// repository (Push) to simulate someone else acting at exactly that moment.
func (s *Server) OnRequest(fn func(Event)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onRequest = fn
}

// OnReceivePack sets a hook called before each push's POST is handed to
// git, after the client has read the advertised refs: a Push from the hook
// lands between the client's view of the branch and its update. nil removes
// it.
func (s *Server) OnReceivePack(fn func(repo string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onReceive = fn
}

// ReceivePacks counts the push POSTs of repo that reached git.
func (s *Server) ReceivePacks(repo string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.receives[repo]
}

// RejectPushes makes the next n pushes to repo fail the way a server-side
// policy refuses them: its pre-receive hook prints message and declines.
func (s *Server) RejectPushes(repo string, n int, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejects[repo] = rejection{remaining: n, message: message}
}

// armRejection leaves the message where the repository's pre-receive hook
// looks for it; the hook takes the file atomically, so one armed rejection
// refuses exactly one push.
func (s *Server) armRejection(repo string) error {
	s.mu.Lock()
	rej := s.rejects[repo]
	if rej.remaining <= 0 {
		s.mu.Unlock()
		return nil
	}
	rej.remaining--
	s.rejects[repo] = rej
	s.mu.Unlock()
	path := filepath.Join(s.repoDir(repo), rejectFile)
	if err := os.WriteFile(path, []byte(rej.message+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
