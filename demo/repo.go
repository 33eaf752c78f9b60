package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/template"
	"time"

	"github.com/go-git/go-billy/v5/memfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
)

// The sample app repo: what a team that deploys web with Argo CD and sluice
// would keep in Git. Argo CD's Application points at deploy/.
const (
	repoName     = "web-deploy"
	repoBranch   = "main"
	rolloutPath  = "deploy/rollout.yaml"
	istioPath    = "deploy/istio.yaml"
	analysisPath = "deploy/analysis.yaml"
	gitUser      = "sluice"
	gitPassword  = "demo"
	imageRepo    = "demo-app"
)

// repoParams fill the repo's templates.
type repoParams struct {
	RepoURL    string
	Prometheus string
	Image      string
	Node       string
	ArgoNS     string
}

var rolloutTemplate = template.Must(template.New("rollout").Delims("[[", "]]").Parse(`# web's Rollout. To release, change the image below, push, and sync the
# Argo CD Application "web". sluice records promotions here and writes
# rollbacks back here, so Git stays the truth.
apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
  replicas: 4
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      # The demo's pods are kwok fakes on this node (no scheduler runs).
      nodeName: [[.Node]]
      containers:
        - name: web
          image: [[.Image]]
  progressDeadlineSeconds: 60
  strategy:
    canary:
      steps:
        - setWeight: 20
        - pause: {duration: 4s}
        - analysis:
            templates:
              - name: error-rate
        - setWeight: 50
        - pause: {duration: 4s}
        - setWeight: 80
        - pause: {duration: 3s}
    scaleDownDelay: 5s
  traffic:
    istio:
      virtualServices:
        - name: web
          routes: [primary]
      destinationRule:
        name: web
        stableSubset: stable
        canarySubset: canary
  gitops:
    repoURL: [[.RepoURL]]
    branch: main
    path: deploy/rollout.yaml
    format: Manifest
    secretRef:
      name: git-credentials
    onPromotion: RecordRevision
    onAbort: WriteRollback
    argocd:
      namespace: [[.ArgoNS]]
      name: web
      syncTimeout: 1m
`))

var istioTemplate = template.Must(template.New("istio").Delims("[[", "]]").Parse(`# Traffic for web. sluice manages the weights of route "primary" and the
# revision labels of the two subsets; everything else here is yours.
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: web
spec:
  hosts: [web]
  http:
    - name: primary
      route:
        - destination: {host: web, subset: stable}
          weight: 100
        - destination: {host: web, subset: canary}
          weight: 0
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: web
spec:
  host: web
  subsets:
    - name: stable
      labels: {app: web}
    - name: canary
      labels: {app: web}
`))

var analysisTemplate = template.Must(template.New("analysis").Delims("[[", "]]").Parse(`# The canary's share of 5xx responses, from Istio's standard request
# metric. sluice fills {{args.service}} and {{args.canary-revision}} in.
apiVersion: sluice.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: error-rate
spec:
  metrics:
    - name: error-rate
      initialDelay: 4s
      interval: 3s
      count: 3
      successCondition: result < 0.05
      prometheus:
        address: [[.Prometheus]]
        query: |
          (sum(rate(istio_requests_total{reporter="destination",destination_service_name="{{args.service}}",destination_canonical_revision="{{args.canary-revision}}",response_code=~"5.."}[10s])) or vector(0))
          /
          sum(rate(istio_requests_total{reporter="destination",destination_service_name="{{args.service}}",destination_canonical_revision="{{args.canary-revision}}"}[10s]))
`))

const readme = `# web-deploy

The deployment repo of the web service, synced into the cluster by Argo CD
(Application "web", path deploy/, manual sync).

- deploy/rollout.yaml: the sluice Rollout (a canary with analysis)
- deploy/istio.yaml: the VirtualService and DestinationRule sluice steers
- deploy/analysis.yaml: the AnalysisTemplate judging the canary

Release: change the image in deploy/rollout.yaml, push, sync.
`

func render(t *template.Template, p repoParams) string {
	var b bytes.Buffer
	if err := t.Execute(&b, p); err != nil {
		panic(err) // the templates are constants
	}
	return b.String()
}

// seedFiles is the repo's first commit.
func seedFiles(p repoParams) map[string]string {
	return map[string]string{
		"README.md":  readme,
		rolloutPath:  render(rolloutTemplate, p),
		istioPath:    render(istioTemplate, p),
		analysisPath: render(analysisTemplate, p),
	}
}

// imageLine finds the demo app's image in a manifest, in block or flow
// style: "image: demo-app:v1", "- image: demo-app:v1", "image: 'demo-app:v1'".
var imageLine = regexp.MustCompile(`(?m)^(\s*(?:-\s+)?image:\s*["']?)(` + imageRepo + `:[A-Za-z0-9._-]+)(.*)$`)

// developer pushes releases the way a person would: clone, edit the image
// line of deploy/rollout.yaml, commit, push.
type developer struct {
	name, email string
	repoURL     string
}

func (d developer) auth() *githttp.BasicAuth {
	return &githttp.BasicAuth{Username: gitUser, Password: gitPassword}
}

// release changes the image in deploy/rollout.yaml to image and pushes;
// it returns the new commit.
func (d developer) release(ctx context.Context, image, subject string) (string, error) {
	fs := memfs.New()
	repo, err := git.CloneContext(ctx, memory.NewStorage(), fs, &git.CloneOptions{
		URL: d.repoURL, Auth: d.auth(), ReferenceName: plumbing.NewBranchReferenceName(repoBranch), SingleBranch: true,
	})
	if err != nil {
		return "", fmt.Errorf("cloning %s: %w", d.repoURL, err)
	}
	f, err := fs.Open(rolloutPath)
	if err != nil {
		return "", err
	}
	body, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return "", err
	}
	var out []string
	changed := false
	for _, line := range strings.SplitAfter(string(body), "\n") {
		if m := imageLine.FindStringSubmatchIndex(line); m != nil {
			line = line[:m[3]] + image + line[m[5]:]
			changed = true
		}
		out = append(out, line)
	}
	if !changed {
		return "", fmt.Errorf("%s has no image line for %s", rolloutPath, imageRepo)
	}
	nf, err := fs.Create(rolloutPath)
	if err != nil {
		return "", err
	}
	if _, err := io.WriteString(nf, strings.Join(out, "")); err != nil {
		return "", err
	}
	nf.Close()
	wt, err := repo.Worktree()
	if err != nil {
		return "", err
	}
	if _, err := wt.Add(rolloutPath); err != nil {
		return "", err
	}
	h, err := wt.Commit(subject, &git.CommitOptions{
		Author: &object.Signature{Name: d.name, Email: d.email, When: time.Now()},
	})
	if err != nil {
		return "", err
	}
	if err := repo.PushContext(ctx, &git.PushOptions{Auth: d.auth()}); err != nil {
		return "", fmt.Errorf("pushing %s: %w", h, err)
	}
	return h.String(), nil
}
