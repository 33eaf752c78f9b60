// Package gitserver runs a real Git server over smart HTTP, for tests and for
// a local demo: the system's `git http-backend` behind net/http/cgi, with
// optional HTTP basic auth and hooks that make push races deterministic.
//
// Repositories are bare directories <dir>/<name>.git; their clone URL is
// URL()/<name>.git.
package gitserver

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// Options configure a Server.
type Options struct {
	// Username and Password, when either is set, require HTTP basic auth on
	// every request; anything else gets 401 with WWW-Authenticate.
	Username string
	Password string
	// Log receives request and git http-backend diagnostics. Defaults to
	// discarding them.
	Log logr.Logger
}

// Event describes one Git smart-HTTP request, handed to the OnRequest hook
// before git sees it.
type Event struct {
	// Repo is the repository name without ".git".
	Repo string
	// Service is git-upload-pack (fetch, clone) or git-receive-pack (push).
	Service string
	// Advertise is true for the GET of info/refs that starts every fetch
	// and push, false for the POST that carries the request itself.
	Advertise bool
}

// Server is a smart-HTTP Git server. It is an http.Handler, so a demo can
// mount it anywhere; Start serves it on its own listener.
type Server struct {
	dir     string
	opts    Options
	log     logr.Logger
	backend *cgi.Handler

	mu        sync.Mutex
	onRequest func(Event)
	onReceive func(repo string)
	receives  map[string]int
	rejects   map[string]rejection
	listener  net.Listener
	srv       *http.Server
	served    chan struct{}
}

type rejection struct {
	remaining int
	message   string
}

// New prepares a server whose repositories live under dir. It finds
// git-http-backend through `git --exec-path`, so git must be installed.
func New(dir string, opts Options) (*Server, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolving repository root %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("creating repository root %q: %w", abs, err)
	}
	backend, err := findHTTPBackend()
	if err != nil {
		return nil, err
	}
	log := opts.Log
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	s := &Server{
		dir:      abs,
		opts:     opts,
		log:      log,
		receives: map[string]int{},
		rejects:  map[string]rejection{},
	}
	s.backend = &cgi.Handler{
		Path: backend,
		Root: "/",
		Env: append(gitEnv(abs),
			"GIT_PROJECT_ROOT="+abs,
			"GIT_HTTP_EXPORT_ALL=1",
		),
		Stderr: logWriter{log: log.WithName("http-backend")},
	}
	return s, nil
}

// findHTTPBackend asks git where its helper programs live rather than
// hard-coding a distribution's path.
func findHTTPBackend() (string, error) {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return "", fmt.Errorf("finding git's exec path (is git installed?): %w", err)
	}
	path := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("git-http-backend not found beside git: %w", err)
	}
	return path, nil
}

// gitEnv isolates every git process of the server from the user's and the
// system's configuration, so tests behave the same on every machine.
func gitEnv(root string) []string {
	return []string{
		"HOME=" + root,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=" + os.DevNull,
		"GIT_TERMINAL_PROMPT=0",
		"LC_ALL=C",
	}
}

// Dir is the directory holding the bare repositories.
func (s *Server) Dir() string { return s.dir }

// Start serves on addr (for example 127.0.0.1:0) until Close.
func (s *Server) Start(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener != nil {
		_ = l.Close()
		return errors.New("gitserver: already started")
	}
	s.listener = l
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error(err, "serving git over HTTP")
		}
	}()
	return nil
}

// URL is the server's base URL, http://127.0.0.1:port, without a trailing
// slash; empty before Start.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil {
		return ""
	}
	return "http://" + s.listener.Addr().String()
}

// RepoURL is the clone URL of the named repository.
func (s *Server) RepoURL(name string) string { return s.URL() + "/" + name + ".git" }

// Close stops serving, waiting briefly for requests in flight.
func (s *Server) Close() error {
	s.mu.Lock()
	srv, served := s.srv, s.served
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(ctx)
	<-served
	if err != nil {
		return fmt.Errorf("shutting down git server: %w", err)
	}
	return nil
}

// ServeHTTP authenticates, runs the hooks and hands the request to git.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="gitserver", charset="UTF-8"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	ev, ok := parseEvent(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	s.log.V(1).Info("git request", "repo", ev.Repo, "service", ev.Service, "advertise", ev.Advertise)
	s.mu.Lock()
	onRequest, onReceive := s.onRequest, s.onReceive
	s.mu.Unlock()
	if onRequest != nil {
		onRequest(ev)
	}
	if ev.Service == "git-receive-pack" && !ev.Advertise {
		if onReceive != nil {
			onReceive(ev.Repo)
		}
		if err := s.armRejection(ev.Repo); err != nil {
			s.log.Error(err, "arming push rejection", "repo", ev.Repo)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		s.mu.Lock()
		s.receives[ev.Repo]++
		s.mu.Unlock()
	}
	if len(r.TransferEncoding) > 0 {
		body, err := unchunk(r)
		if err != nil {
			s.log.Error(err, "reading chunked request body", "repo", ev.Repo)
			http.Error(w, "cannot read request body", http.StatusBadRequest)
			return
		}
		defer body.Close()
	}
	s.backend.ServeHTTP(w, r)
}

// unchunk spools a chunked request body to a temporary file and gives the
// request a Content-Length: CGI has no way to pass a chunked body on, and
// the git CLI sends large pushes chunked.
func unchunk(r *http.Request) (io.Closer, error) {
	f, err := os.CreateTemp("", "gitserver-body-*")
	if err != nil {
		return nil, fmt.Errorf("spooling request body: %w", err)
	}
	spool := spooled{f}
	n, err := io.Copy(f, r.Body)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		_ = spool.Close()
		return nil, fmt.Errorf("spooling request body: %w", err)
	}
	r.Body, r.ContentLength, r.TransferEncoding = io.NopCloser(f), n, nil
	return spool, nil
}

// spooled removes its file when closed.
type spooled struct{ f *os.File }

func (s spooled) Close() error {
	_ = s.f.Close()
	return os.Remove(s.f.Name())
}

func (s *Server) authorized(r *http.Request) bool {
	if s.opts.Username == "" && s.opts.Password == "" {
		return true
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	// Both comparisons always run so timing does not tell which one failed.
	u := subtle.ConstantTimeCompare([]byte(user), []byte(s.opts.Username))
	p := subtle.ConstantTimeCompare([]byte(pass), []byte(s.opts.Password))
	return u&p == 1
}

// parseEvent recognises the two smart-HTTP endpoints of a repository:
// /<repo>.git/info/refs?service=<svc> and /<repo>.git/<svc>.
func parseEvent(r *http.Request) (Event, bool) {
	repoPath, rest, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), ".git/")
	if !ok || repoPath == "" {
		return Event{}, false
	}
	switch {
	case rest == "info/refs" && r.Method == http.MethodGet:
		svc := r.URL.Query().Get("service")
		if svc != "git-upload-pack" && svc != "git-receive-pack" {
			return Event{}, false
		}
		return Event{Repo: repoPath, Service: svc, Advertise: true}, true
	case (rest == "git-upload-pack" || rest == "git-receive-pack") && r.Method == http.MethodPost:
		return Event{Repo: repoPath, Service: rest}, true
	}
	return Event{}, false
}

// logWriter turns git http-backend's stderr into log lines.
type logWriter struct{ log logr.Logger }

func (l logWriter) Write(p []byte) (int, error) {
	for line := range strings.SplitSeq(strings.TrimRight(string(p), "\n"), "\n") {
		l.log.Info(line)
	}
	return len(p), nil
}
