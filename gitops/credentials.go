package gitops

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// Keys of the Secret that spec.gitops.secretRef names.
const (
	SecretKeyUsername   = "username"
	SecretKeyPassword   = "password"
	SecretKeyToken      = "token"
	SecretKeyIdentity   = "identity"
	SecretKeyKnownHosts = "known_hosts"
)

// TokenUsername is the user name sent with a token when the Secret has a
// token but no username. GitHub requires a non-empty name with tokens and
// documents this one; GitLab and Gitea accept any name with a token.
const TokenUsername = "x-access-token"

// Credentials reach a Git remote: a username and password or token for
// HTTPS, a private key and known_hosts for SSH. Printing or logging them
// shows which parts are set, never their values.
type Credentials struct {
	Username string
	// Password is a password or an access token.
	Password string
	// SSHPrivateKey is a PEM or OpenSSH private key without passphrase.
	SSHPrivateKey []byte
	// SSHKnownHosts holds known_hosts lines for the server; SSH is refused
	// without it rather than trusting any host key.
	SSHKnownHosts []byte
}

// CredentialsFromSecret reads a Secret's data: username, password or
// token, identity and known_hosts. A password wins over a token.
func CredentialsFromSecret(data map[string][]byte) Credentials {
	c := Credentials{
		Username:      string(data[SecretKeyUsername]),
		Password:      string(data[SecretKeyPassword]),
		SSHPrivateKey: data[SecretKeyIdentity],
		SSHKnownHosts: data[SecretKeyKnownHosts],
	}
	if c.Password == "" {
		c.Password = string(data[SecretKeyToken])
	}
	return c
}

func (c Credentials) String() string {
	set := func(ok bool) string {
		if ok {
			return "<redacted>"
		}
		return `""`
	}
	return fmt.Sprintf("gitops.Credentials{Username: %q, Password: %s, SSHPrivateKey: %s, SSHKnownHosts: %d bytes}",
		c.Username, set(c.Password != ""), set(len(c.SSHPrivateKey) > 0), len(c.SSHKnownHosts))
}

// GoString keeps %#v from printing the fields.
func (c Credentials) GoString() string { return c.String() }

// Format makes every verb (%v, %+v, %s, %q, %x) print the redacted form.
func (c Credentials) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// MarshalLog is what logr sinks print for Credentials.
func (c Credentials) MarshalLog() any { return c.String() }

// MarshalJSON keeps secrets out of JSON too: credentials are never meant
// to leave the process.
func (c Credentials) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

// authMethod picks the go-git auth for url: basic auth for HTTP(S), a
// public key checked against known_hosts for SSH, nothing for local paths.
func (c Credentials) authMethod(url string) (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(url)
	if err != nil {
		return nil, terminal(ReasonInvalid, "repo URL %q is not a Git URL: %w", redactURL(url), err)
	}
	switch ep.Protocol {
	case "http", "https":
		if c.Username == "" && c.Password == "" {
			return nil, nil
		}
		user := c.Username
		if user == "" {
			user = TokenUsername
		}
		return &githttp.BasicAuth{Username: user, Password: c.Password}, nil
	case "ssh":
		return c.sshAuth(ep)
	case "file":
		return nil, nil
	}
	return nil, terminal(ReasonInvalid, "repo URL %q: unsupported protocol %q (use https, http or ssh)", redactURL(url), ep.Protocol)
}

func (c Credentials) sshAuth(ep *transport.Endpoint) (transport.AuthMethod, error) {
	if len(c.SSHPrivateKey) == 0 {
		return nil, terminal(ReasonAuth, "SSH repo %s needs a private key: add it under key %q of the Secret spec.gitops.secretRef names", ep.Host, SecretKeyIdentity)
	}
	if len(c.SSHKnownHosts) == 0 {
		return nil, terminal(ReasonAuth, "SSH repo %s needs the server's host key: add `ssh-keyscan %s` output under key %q of the Secret spec.gitops.secretRef names", ep.Host, ep.Host, SecretKeyKnownHosts)
	}
	user := ep.User
	if user == "" {
		user = c.Username
	}
	if user == "" {
		user = "git"
	}
	keys, err := gitssh.NewPublicKeys(user, c.SSHPrivateKey, "")
	if err != nil {
		return nil, terminal(ReasonAuth, "key %q of the Secret is not a usable SSH private key (passphrases are not supported): %w", SecretKeyIdentity, err)
	}
	port := ep.Port
	if port == 0 {
		port = 22
	}
	check, algos, err := hostKeyCheck(c.SSHKnownHosts, net.JoinHostPort(ep.Host, strconv.Itoa(port)))
	if err != nil {
		return nil, terminal(ReasonAuth, "key %q of the Secret: %w", SecretKeyKnownHosts, err)
	}
	keys.HostKeyCallback = check
	// Offer only the host key types known_hosts has for this host, so a
	// server that also has another key type cannot fail the check.
	keys.HostKeyAlgorithms = algos
	return keys, nil
}

// hostKeyCheck parses known_hosts content into a host key check and the
// key types known for hostport. The parsers read files only, so the
// content goes through a private temporary file, removed at once.
func hostKeyCheck(content []byte, hostport string) (ssh.HostKeyCallback, []string, error) {
	f, err := os.CreateTemp("", "sluice-known-hosts-*")
	if err != nil {
		return nil, nil, fmt.Errorf("temporary known_hosts file: %w", err)
	}
	defer func() { _ = os.Remove(f.Name()) }()
	if _, err := f.Write(content); err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("temporary known_hosts file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, nil, fmt.Errorf("temporary known_hosts file: %w", err)
	}
	db, err := gitssh.NewKnownHostsDb(f.Name())
	if err != nil {
		return nil, nil, fmt.Errorf("parsing known_hosts: %w", err)
	}
	return db.HostKeyCallback(), db.HostKeyAlgorithms(hostport), nil
}
