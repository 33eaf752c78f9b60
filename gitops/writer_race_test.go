package gitops

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	. "github.com/onsi/gomega"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sluice-dev/sluice/internal/gitserver"
)

// Someone pushes between our fetch and our push. Two moments: before our
// push reads the branch (go-git sees a stale view itself) and after (git
// refuses the update). Either way the edit is redone on their commit.
func TestWriteRebasesOverAConcurrentPush(t *testing.T) {
	tests := []struct {
		name string
		arm  func(f *fixture, pushed *string)
	}{
		{"before the push reads the branch", func(f *fixture, pushed *string) {
			var once sync.Once
			f.srv.OnRequest(func(ev gitserver.Event) {
				if ev.Service == "git-receive-pack" && ev.Advertise {
					once.Do(func() { *pushed = f.otherPush("README.md", "docs by someone else\n") })
				}
			})
		}},
		{"between reading the branch and updating it", func(f *fixture, pushed *string) {
			var once sync.Once
			f.srv.OnReceivePack(func(string) {
				once.Do(func() { *pushed = f.otherPush("README.md", "docs by someone else\n") })
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, gitserver.Options{}, nil)
			var theirs string
			tt.arm(f, &theirs)
			res, err := f.write(abort(rolloutPath, FormatManifest))
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Changed).To(BeTrue())
			Expect(res.Attempts).To(Equal(2))
			Expect(theirs).NotTo(BeEmpty())

			Expect(f.head()).To(Equal(res.Commit))
			Expect(f.lastCommit().Parents).To(Equal([]string{theirs}), "their commit is our parent")
			Expect(f.file("README.md")).To(Equal("docs by someone else\n"))
			Expect(f.file(rolloutPath)).To(ContainSubstring("web:v1"))
		})
	}
}

// Someone ships v3 while our push is on its way: the redone edit finds v3
// and stops with a Conflict; their commit stays the head.
func TestWriteConflictDuringThePush(t *testing.T) {
	f := newFixture(t, gitserver.Options{}, nil)
	var theirs string
	var once sync.Once
	f.srv.OnReceivePack(func(string) {
		once.Do(func() {
			theirs = f.otherPush(rolloutPath, strings.Replace(readTestdata(t, "rollout.yaml"), "web:v2", "web:v3", 1))
		})
	})
	_, err := f.write(abort(rolloutPath, FormatManifest))
	Expect(ReasonOf(err)).To(Equal(ReasonConflict), "%v", err)
	Expect(f.head()).To(Equal(theirs))
	Expect(f.file(rolloutPath)).To(ContainSubstring("web:v3"))
}

func TestWriteGivesUpWhenOthersKeepPushing(t *testing.T) {
	f := newFixture(t, gitserver.Options{}, nil)
	f.w.MaxAttempts = 3
	n := 0
	f.srv.OnReceivePack(func(string) {
		n++
		f.otherPush("README.md", strings.Repeat("x", n)+"\n")
	})
	res, err := f.write(promotion(rolloutPath, FormatManifest))
	Expect(ReasonOf(err)).To(Equal(ReasonPushRejected), "%v", err)
	Expect(IsRetryable(err)).To(BeTrue())
	Expect(err.Error()).To(ContainSubstring("gave up after 3 attempts"))
	Expect(res.Attempts).To(Equal(3))
	Expect(f.srv.ReceivePacks("app")).To(Equal(3))
}

func TestWritePolicyRejectionIsTerminal(t *testing.T) {
	f := newFixture(t, gitserver.Options{}, nil)
	head := f.head()
	f.srv.RejectPushes("app", 1, "main is protected: open a pull request")
	_, err := f.write(promotion(rolloutPath, FormatManifest))
	Expect(ReasonOf(err)).To(Equal(ReasonPushRejected), "%v", err)
	Expect(IsRetryable(err)).To(BeFalse())
	Expect(err.Error()).To(ContainSubstring("main is protected: open a pull request"))
	Expect(f.head()).To(Equal(head))
	Expect(f.srv.ReceivePacks("app")).To(Equal(1))
}

func TestWriteHTTPBasicAuth(t *testing.T) {
	f := newFixture(t, gitserver.Options{Username: "sluice", Password: "s3cret"}, nil)
	wrong := f.repo
	wrong.Credentials.Password = "wrong"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := f.w.Write(ctx, wrong, promotion(rolloutPath, FormatManifest))
	Expect(ReasonOf(err)).To(Equal(ReasonAuth), "%v", err)
	Expect(IsRetryable(err)).To(BeFalse())
	Expect(err.Error()).To(ContainSubstring("the remote refused the credentials"))
	Expect(err.Error()).NotTo(ContainSubstring("wrong"))

	res, err := f.write(promotion(rolloutPath, FormatManifest))
	Expect(err).NotTo(HaveOccurred())
	Expect(res.Changed).To(BeTrue())
}

func TestWriteSignsCommits(t *testing.T) {
	f := newFixture(t, gitserver.Options{}, nil)
	entity, err := openpgp.NewEntity("sluice", "", "sluice@noreply", nil)
	Expect(err).NotTo(HaveOccurred())
	var private bytes.Buffer
	aw, err := armor.Encode(&private, openpgp.PrivateKeyType, nil)
	Expect(err).NotTo(HaveOccurred())
	Expect(entity.SerializePrivate(aw, nil)).To(Succeed())
	Expect(aw.Close()).To(Succeed())
	key, err := ParseSigningKey(private.Bytes(), nil)
	Expect(err).NotTo(HaveOccurred())

	ch := promotion(rolloutPath, FormatManifest)
	ch.SignKey = key
	res, err := f.write(ch)
	Expect(err).NotTo(HaveOccurred())

	var public bytes.Buffer
	aw, err = armor.Encode(&public, openpgp.PublicKeyType, nil)
	Expect(err).NotTo(HaveOccurred())
	Expect(entity.Serialize(aw)).To(Succeed())
	Expect(aw.Close()).To(Succeed())

	r, err := git.PlainClone(t.TempDir(), false, &git.CloneOptions{URL: f.repo.URL})
	Expect(err).NotTo(HaveOccurred())
	c, err := r.CommitObject(plumbing.NewHash(res.Commit))
	Expect(err).NotTo(HaveOccurred())
	Expect(c.PGPSignature).To(HavePrefix("-----BEGIN PGP SIGNATURE-----"))
	signer, err := c.Verify(public.String())
	Expect(err).NotTo(HaveOccurred())
	Expect(signer.PrimaryKey.KeyId).To(Equal(entity.PrimaryKey.KeyId))

	_, err = ParseSigningKey(public.Bytes(), nil)
	Expect(ReasonOf(err)).To(Equal(ReasonInvalid), "a public key cannot sign")
}

func TestWriteRecoversFromACorruptCache(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(dir string)
	}{
		{"HEAD is garbage", func(dir string) {
			Expect(os.WriteFile(filepath.Join(dir, ".git", "HEAD"), []byte("garbage"), 0o644)).To(Succeed())
		}},
		{"objects are gone", func(dir string) {
			Expect(os.RemoveAll(filepath.Join(dir, ".git", "objects"))).To(Succeed())
		}},
		{"not a repository", func(dir string) {
			Expect(os.RemoveAll(filepath.Join(dir, ".git"))).To(Succeed())
			Expect(os.WriteFile(filepath.Join(dir, "junk"), []byte("x"), 0o644)).To(Succeed())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, gitserver.Options{}, nil)
			_, err := f.write(promotion(rolloutPath, FormatManifest))
			Expect(err).NotTo(HaveOccurred())
			dirs, err := filepath.Glob(filepath.Join(f.w.CacheDir, "*"))
			Expect(err).NotTo(HaveOccurred())
			Expect(dirs).To(HaveLen(1), "one clone per repo and branch")
			tt.corrupt(dirs[0])

			res, err := f.write(abort(rolloutPath, FormatManifest))
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Changed).To(BeTrue())
			Expect(f.file(rolloutPath)).To(ContainSubstring("web:v1"))
		})
	}
}

// Writes of two Rollouts to one branch take turns and both land.
func TestConcurrentWritesToOneBranch(t *testing.T) {
	a, b := readTestdata(t, "rollout.yaml"), strings.ReplaceAll(readTestdata(t, "rollout.yaml"), "name: web\n  namespace: default", "name: api\n  namespace: default")
	f := newFixture(t, gitserver.Options{}, map[string]string{"a/rollout.yaml": a, "b/rollout.yaml": b})
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, target := range []struct{ path, name string }{{"a/rollout.yaml", "web"}, {"b/rollout.yaml", "api"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch := promotion(target.path, FormatManifest)
			ch.Rollout = types.NamespacedName{Namespace: "default", Name: target.name}
			_, errs[i] = f.write(ch)
		}()
	}
	wg.Wait()
	Expect(errs).To(HaveEach(BeNil()))
	log, err := f.srv.Log("app", "main", 10)
	Expect(err).NotTo(HaveOccurred())
	Expect(log).To(HaveLen(3))
	Expect(f.file("a/rollout.yaml")).To(ContainSubstring("promoted-revision"))
	Expect(f.file("b/rollout.yaml")).To(ContainSubstring("promoted-revision"))
	Expect(f.srv.ReceivePacks("app")).To(Equal(2), "no push lost a race: the writes took turns")
}

// otherPush commits as someone else straight into the server's repo.
func (f *fixture) otherPush(path, content string) string {
	sha, err := f.srv.Push("app", "main", map[string]string{path: content}, "someone else's change")
	if err != nil {
		f.t.Errorf("other push: %v", err)
	}
	return sha
}

// Ten writers, each with its own cache (as separate sluice processes
// would be, so no in-process lock orders them), promote ten Rollouts in
// one file on one branch at the same time, behind basic auth. Pushes lose
// races; every write is redone on the new head until it lands, and no
// write overwrites another's.
func TestTenConcurrentWritersAllLand(t *testing.T) {
	const n = 10
	var docs []string
	for i := range n {
		docs = append(docs, strings.ReplaceAll(readTestdata(t, "rollout.yaml"), "name: web\n", fmt.Sprintf("name: web-%d\n", i)))
	}
	f := newFixture(t, gitserver.Options{Username: "sluice", Password: "pw"}, map[string]string{"apps/all.yaml": strings.Join(docs, "---\n")})
	var wg sync.WaitGroup
	results := make([]Result, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newWriter(t)
			w.MaxAttempts = 3 * n
			w.Backoff = func(attempt int) time.Duration { return time.Duration(attempt) * 20 * time.Millisecond }
			ch := promotion("apps/all.yaml", FormatManifest)
			ch.Rollout = types.NamespacedName{Namespace: "default", Name: fmt.Sprintf("web-%d", i)}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			results[i], errs[i] = w.Write(ctx, f.repo, ch)
		}()
	}
	wg.Wait()
	Expect(errs).To(HaveEach(BeNil()))
	log, err := f.srv.Log("app", "main", 2*n)
	Expect(err).NotTo(HaveOccurred())
	Expect(log).To(HaveLen(n+1), "ten commits on the initial import, none lost")
	file := f.file("apps/all.yaml")
	Expect(strings.Count(file, PromotedRevisionAnnotation)).To(Equal(n), "every Rollout's annotation is in the file")
	retried := 0
	for i, r := range results {
		Expect(r.Changed).To(BeTrue(), "writer %d", i)
		if r.Attempts > 1 {
			retried++
		}
	}
	Expect(retried).To(BeNumerically(">", 0), "the writers really raced")
	t.Logf("%d of %d writers lost at least one race; %d receive-packs", retried, n, f.srv.ReceivePacks("app"))
}

// The same write over SSH against a real SSH endpoint (git-upload-pack and
// git-receive-pack behind it): the host key must be in known_hosts, and the
// server must accept the identity.
func TestWriteOverSSH(t *testing.T) {
	f := newFixture(t, gitserver.Options{}, nil)
	_, clientKey, err := ed25519.GenerateKey(rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	block, err := gossh.MarshalPrivateKey(clientKey, "")
	Expect(err).NotTo(HaveOccurred())
	identity := pem.EncodeToMemory(block)
	signer, err := gossh.NewSignerFromKey(clientKey)
	Expect(err).NotTo(HaveOccurred())
	endpoint, err := f.srv.StartSSH(signer.PublicKey())
	Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = endpoint.Close() })

	repo := Repo{URL: endpoint.RepoURL("app"), Branch: "main", Credentials: Credentials{SSHPrivateKey: identity, SSHKnownHosts: endpoint.KnownHosts()}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := newWriter(t).Write(ctx, repo, promotion(rolloutPath, FormatManifest))
	Expect(err).NotTo(HaveOccurred())
	Expect(res.Changed).To(BeTrue())
	Expect(f.head()).To(Equal(res.Commit), "pushed over SSH")
	Expect(f.file(rolloutPath)).To(ContainSubstring(PromotedRevisionAnnotation))

	// A host whose key is not the one in known_hosts is refused before
	// anything is sent.
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	otherSigner, _ := gossh.NewSignerFromKey(otherPriv)
	wrongHost := repo
	wrongHost.Credentials.SSHKnownHosts = []byte(knownhosts.Line([]string{knownhosts.Normalize(strings.TrimPrefix(strings.Split(repo.URL, "/")[2], "git@"))}, otherSigner.PublicKey()) + "\n")
	_, err = newWriter(t).Write(ctx, wrongHost, abort(rolloutPath, FormatManifest))
	Expect(err).To(HaveOccurred())
	Expect(ReasonOf(err)).To(Equal(ReasonAuth))
	Expect(IsRetryable(err)).To(BeFalse())

	// An identity the server does not know is refused too.
	_, strangerKey, _ := ed25519.GenerateKey(rand.Reader)
	sb, _ := gossh.MarshalPrivateKey(strangerKey, "")
	stranger := repo
	stranger.Credentials.SSHPrivateKey = pem.EncodeToMemory(sb)
	_, err = newWriter(t).Write(ctx, stranger, abort(rolloutPath, FormatManifest))
	Expect(err).To(HaveOccurred())
	Expect(ReasonOf(err)).To(Equal(ReasonAuth))
	Expect(f.srv.ReceivePacks("app")).To(Equal(1), "only the first write pushed")
}
