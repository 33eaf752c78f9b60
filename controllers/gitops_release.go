package controllers

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/gitops"
	"github.com/sluice-dev/sluice/revision"
)

// takeRelease starts a release write-back for a new sluice.dev/release
// action: new images committed to the Rollout's manifest in Git, which
// Argo CD then syncs. A cluster patch would be reverted by Argo CD's next
// sync, so for a Rollout in Git this is how set image, undo and retry
// become real.
func (p *pass) takeRelease() {
	st := &p.ro.Status
	tok := p.ro.Annotations[sluicev1.AnnotationRelease]
	if tok == "" || tok == st.HandledActions.Release {
		return
	}
	st.HandledActions.Release = tok
	images, err := sluicev1.ParseRelease(tok)
	if err != nil {
		p.event(eventWarning, "ActionIgnored", "%s=%q: %v", sluicev1.AnnotationRelease, tok, err)
		return
	}
	argo := p.ro.Spec.GitOps.ArgoCD != nil
	if gs := st.GitOps; gs != nil && (gs.Phase == sluicev1.GitOpsPending || argo && (gs.Phase == sluicev1.GitOpsPushed || gs.Phase == sluicev1.GitOpsSyncing)) {
		p.event(eventWarning, "ActionIgnored", "release: the %s write-back of %s is still %s; ask again when status.gitops.phase is Synced or Failed", gs.Outcome, gs.Revision, gs.Phase)
		return
	}
	tmpl, err := releaseTemplate(p.ro, images)
	if err != nil {
		p.event(eventWarning, "ActionIgnored", "release: %v", err)
		return
	}
	rev, err := revision.Hash(&tmpl)
	if err != nil {
		p.event(eventWarning, "ActionIgnored", "release: hashing the new template: %v", err)
		return
	}
	if rev == p.desired {
		p.event(eventNormal, "ActionIgnored", "release: spec.template already runs those images (revision %s)", rev)
		return
	}
	var list []string
	for _, c := range append(append([]corev1.Container{}, tmpl.Spec.InitContainers...), tmpl.Spec.Containers...) {
		list = append(list, c.Name+"="+c.Image)
	}
	st.GitOps = &sluicev1.GitOpsStatus{Revision: rev, Outcome: string(gitops.OutcomeReleased), Phase: sluicev1.GitOpsPending,
		RequestedAt: &metav1.Time{Time: p.now}, Images: list, StableRevision: p.desired}
	p.gitCondition(metav1.ConditionFalse, "Pending", fmt.Sprintf("committing release %s to Git", rev))
	p.event(eventNormal, "ReleaseRequested", "committing %s (revision %s) to Git for Argo CD to sync", strings.Join(list, ", "), rev)
}

// commitRelease pushes a requested release.
func (p *pass) commitRelease(ctx context.Context) error {
	g := p.ro.Spec.GitOps
	gs := p.ro.Status.GitOps
	repo, err := p.gitRepo(ctx)
	if err != nil {
		return err
	}
	target := sluicev1.ParseImageList(gs.Images)
	tmpl, err := releaseTemplate(p.ro, target)
	if err != nil {
		return &configError{reason: "InvalidRelease", msg: err.Error()}
	}
	// Revision is the release's, so its trailers tell two releases apart;
	// StableRevision is what the file holds now.
	ch := gitops.Change{
		Rollout:        types.NamespacedName{Namespace: p.ro.Namespace, Name: p.ro.Name},
		Revision:       gs.Revision,
		StableRevision: p.desired,
		Outcome:        gitops.OutcomeReleased,
		Reason:         "requested with " + sluicev1.AnnotationRelease,
		Path:           g.Path,
		Format:         gitops.Format(g.Format),
		Images:         map[string]string{},
		StableImages:   target,
		StableTemplate: &tmpl,
	}
	for _, c := range append(append([]corev1.Container{}, p.ro.Spec.Template.Spec.InitContainers...), p.ro.Spec.Template.Spec.Containers...) {
		ch.Images[c.Name] = c.Image
	}
	if g.HelmValues != nil {
		ch.HelmImages = g.HelmValues.Images
	}
	if g.Author != nil {
		ch.Author = gitops.Author{Name: g.Author.Name, Email: g.Author.Email}
	}
	if ch.Message, err = gitops.RenderMessage(g.CommitMessage, ch.MessageData()); err != nil {
		return &configError{reason: "InvalidCommitMessage", msg: fmt.Sprintf("spec.gitops.commitMessage: %v", err)}
	}
	return p.push(ctx, repo, ch)
}

// releaseTemplate is spec.template with the given containers' images.
func releaseTemplate(ro *sluicev1.Rollout, images map[string]string) (corev1.PodTemplateSpec, error) {
	tmpl := *ro.Spec.Template.DeepCopy()
	seen := map[string]bool{}
	for i, c := range tmpl.Spec.Containers {
		if img, ok := images[c.Name]; ok {
			tmpl.Spec.Containers[i].Image = img
			seen[c.Name] = true
		}
	}
	for i, c := range tmpl.Spec.InitContainers {
		if img, ok := images[c.Name]; ok {
			tmpl.Spec.InitContainers[i].Image = img
			seen[c.Name] = true
		}
	}
	var missing []string
	for name := range images {
		if !seen[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return tmpl, fmt.Errorf("spec.template has no container %s", strings.Join(missing, ", "))
	}
	return tmpl, nil
}
