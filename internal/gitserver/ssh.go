package gitserver

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"

	gliderssh "github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSH is the server's SSH endpoint: the same bare repos, served by the
// system's git-upload-pack and git-receive-pack over an SSH session, as a
// Git host does.
type SSH struct {
	ln   net.Listener
	srv  *gliderssh.Server
	host gossh.PublicKey
}

// StartSSH serves the repos over SSH on 127.0.0.1, accepting only the
// authorized public key. Close stops it.
func (s *Server) StartSSH(authorized gossh.PublicKey) (*SSH, error) {
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := gossh.NewSignerFromKey(hostPriv)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e := &SSH{ln: ln, host: signer.PublicKey()}
	e.srv = &gliderssh.Server{
		Handler: s.sshSession,
		PublicKeyHandler: func(_ gliderssh.Context, key gliderssh.PublicKey) bool {
			return gliderssh.KeysEqual(key, authorized)
		},
	}
	e.srv.AddHostKey(signer)
	go func() { _ = e.srv.Serve(ln) }()
	return e, nil
}

// RepoURL is the ssh:// clone URL of a repo.
func (e *SSH) RepoURL(name string) string {
	return fmt.Sprintf("ssh://git@%s/%s.git", e.ln.Addr().String(), name)
}

// KnownHosts is the known_hosts line for this endpoint's host key.
func (e *SSH) KnownHosts() []byte {
	return []byte(knownhosts.Line([]string{knownhosts.Normalize(e.ln.Addr().String())}, e.host) + "\n")
}

// Close stops the endpoint.
func (e *SSH) Close() error { return e.srv.Close() }

// sshSession runs the git command the client asked for against the repo
// it names, refusing anything else.
func (s *Server) sshSession(sess gliderssh.Session) {
	args := sess.Command()
	if len(args) != 2 || (args[0] != "git-upload-pack" && args[0] != "git-receive-pack") {
		fmt.Fprintf(sess.Stderr(), "only git-upload-pack and git-receive-pack are served\n")
		_ = sess.Exit(1)
		return
	}
	name := strings.TrimSuffix(strings.Trim(args[1], "/'"), ".git")
	if name == "" || strings.Contains(name, "..") || strings.ContainsAny(name, "/\\") {
		fmt.Fprintf(sess.Stderr(), "no such repository\n")
		_ = sess.Exit(1)
		return
	}
	if args[0] == "git-receive-pack" {
		s.mu.Lock()
		s.receives[name]++
		s.mu.Unlock()
	}
	cmd := exec.Command("git", strings.TrimPrefix(args[0], "git-"), filepath.Join(s.dir, name+".git"))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = sess, sess, sess.Stderr()
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			_ = sess.Exit(exit.ExitCode())
			return
		}
		_ = sess.Exit(1)
		return
	}
	_ = sess.Exit(0)
}
