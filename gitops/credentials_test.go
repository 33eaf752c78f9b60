package gitops

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"strings"
	"testing"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

const (
	secretPassword = "hunter2-very-secret"
	secretKey      = "-----BEGIN OPENSSH PRIVATE KEY----- secret-key-material"
)

func TestCredentialsNeverPrintSecrets(t *testing.T) {
	creds := Credentials{Username: "bot", Password: secretPassword, SSHPrivateKey: []byte(secretKey), SSHKnownHosts: []byte("h ssh-ed25519 AAAA")}
	repo := Repo{URL: "https://git.example.com/app.git", Credentials: creds}
	var logged strings.Builder
	log := funcr.New(func(prefix, args string) { logged.WriteString(prefix + args + "\n") }, funcr.Options{})
	log.Info("writing", "credentials", creds, "repo", repo, "ptr", &creds)

	outputs := map[string]string{"log": logged.String()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		outputs["creds "+verb] = fmt.Sprintf(verb, creds)
		outputs["repo "+verb] = fmt.Sprintf(verb, repo)
		outputs["pointer "+verb] = fmt.Sprintf(verb, &creds)
	}
	for _, v := range []any{creds, repo} {
		b, err := json.Marshal(v)
		NewWithT(t).Expect(err).NotTo(HaveOccurred())
		outputs[fmt.Sprintf("json %T", v)] = string(b)
	}
	for name, out := range outputs {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(out).NotTo(ContainSubstring(secretPassword))
			g.Expect(out).NotTo(ContainSubstring("secret-key-material"))
		})
	}
	NewWithT(t).Expect(creds.String()).To(Equal(`gitops.Credentials{Username: "bot", Password: <redacted>, SSHPrivateKey: <redacted>, SSHKnownHosts: 18 bytes}`))
}

func TestCredentialsFromSecret(t *testing.T) {
	tests := []struct {
		name string
		data map[string][]byte
		want Credentials
	}{
		{"username and password", map[string][]byte{"username": []byte("u"), "password": []byte("p")}, Credentials{Username: "u", Password: "p"}},
		{"token alone", map[string][]byte{"token": []byte("t")}, Credentials{Password: "t"}},
		{"password wins over token", map[string][]byte{"password": []byte("p"), "token": []byte("t")}, Credentials{Password: "p"}},
		{"ssh", map[string][]byte{"identity": []byte("k"), "known_hosts": []byte("h")}, Credentials{SSHPrivateKey: []byte("k"), SSHKnownHosts: []byte("h")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(CredentialsFromSecret(tt.data)).To(Equal(tt.want))
		})
	}
}

func TestHTTPAuth(t *testing.T) {
	tests := []struct {
		name  string
		url   string
		creds Credentials
		want  any
	}{
		{"anonymous", "https://git.example.com/a.git", Credentials{}, nil},
		{"basic", "https://git.example.com/a.git", Credentials{Username: "u", Password: "p"}, &githttp.BasicAuth{Username: "u", Password: "p"}},
		{"token gets a user name", "http://git.example.com/a.git", Credentials{Password: "t"}, &githttp.BasicAuth{Username: TokenUsername, Password: "t"}},
		{"local path", "/srv/git/a.git", Credentials{Password: "t"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			auth, err := tt.creds.authMethod(tt.url)
			g.Expect(err).NotTo(HaveOccurred())
			if tt.want == nil {
				g.Expect(auth).To(BeNil())
				return
			}
			g.Expect(auth).To(Equal(tt.want))
		})
	}
	_, err := Credentials{}.authMethod("git://git.example.com/a.git")
	NewWithT(t).Expect(ReasonOf(err)).To(Equal(ReasonInvalid))
}

func TestSSHAuth(t *testing.T) {
	g := NewWithT(t)
	_, clientKey, err := ed25519.GenerateKey(rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	block, err := ssh.MarshalPrivateKey(clientKey, "")
	g.Expect(err).NotTo(HaveOccurred())
	identity := pem.EncodeToMemory(block)

	hostPub, _, err := ed25519.GenerateKey(rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	hostKey, err := ssh.NewPublicKey(hostPub)
	g.Expect(err).NotTo(HaveOccurred())
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	otherKey, _ := ssh.NewPublicKey(otherPub)
	knownHosts := []byte(knownhosts.Line([]string{"git.example.com"}, hostKey) + "\n" +
		knownhosts.Line([]string{"[git.example.com]:2222"}, otherKey) + "\n")

	tests := []struct {
		name   string
		url    string
		creds  Credentials
		user   string
		port   string
		errSub string
	}{
		{name: "scp-like URL", url: "git@git.example.com:team/app.git", creds: Credentials{SSHPrivateKey: identity, SSHKnownHosts: knownHosts}, user: "git", port: "22"},
		{name: "ssh URL with user from the Secret", url: "ssh://git.example.com/team/app.git", creds: Credentials{Username: "deploy", SSHPrivateKey: identity, SSHKnownHosts: knownHosts}, user: "deploy", port: "22"},
		{name: "no identity", url: "ssh://git@git.example.com/app.git", creds: Credentials{SSHKnownHosts: knownHosts}, errSub: `key "identity"`},
		{name: "no known_hosts", url: "ssh://git@git.example.com/app.git", creds: Credentials{SSHPrivateKey: identity}, errSub: `key "known_hosts"`},
		{name: "bad identity", url: "ssh://git@git.example.com/app.git", creds: Credentials{SSHPrivateKey: []byte("nope"), SSHKnownHosts: knownHosts}, errSub: "not a usable SSH private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			auth, err := tt.creds.authMethod(tt.url)
			if tt.errSub != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tt.errSub)))
				g.Expect(ReasonOf(err)).To(Equal(ReasonAuth))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			keys, ok := auth.(*gitssh.PublicKeys)
			g.Expect(ok).To(BeTrue())
			g.Expect(keys.User).To(Equal(tt.user))
			g.Expect(keys.Signer.PublicKey().Marshal()).To(Equal(mustSigner(t, clientKey).PublicKey().Marshal()))
			g.Expect(keys.HostKeyAlgorithms).To(ConsistOf(ssh.KeyAlgoED25519))

			cfg, err := keys.ClientConfig()
			g.Expect(err).NotTo(HaveOccurred())
			addr := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 22}
			host := net.JoinHostPort("git.example.com", tt.port)
			g.Expect(cfg.HostKeyCallback(host, addr, hostKey)).To(Succeed())
			g.Expect(cfg.HostKeyCallback(host, addr, otherKey)).NotTo(Succeed(), "a different host key is refused")
			g.Expect(cfg.HostKeyCallback("evil.example.com:22", addr, hostKey)).NotTo(Succeed(), "an unknown host is refused")
		})
	}
}

func mustSigner(t *testing.T, key ed25519.PrivateKey) ssh.Signer {
	s, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
