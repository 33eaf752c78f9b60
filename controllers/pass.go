package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	sluicev1 "github.com/sluice-dev/sluice/api/v1alpha1"
	"github.com/sluice-dev/sluice/plan"
	"github.com/sluice-dev/sluice/revision"
)

// pass is one reconcile of one Rollout: the objects read once at its start
// and the decisions taken, which the deferred status patch records.
type pass struct {
	r    *RolloutReconciler
	ro   *sluicev1.Rollout
	now  time.Time
	plan plan.Plan
	sets replicaSets
	// desired is the revision of spec.template.
	desired string
	// actions are the user's action annotations not yet handled.
	actions pendingActions
	// requeueAfter is the earliest time-based wake-up any sub-step asked for.
	requeueAfter time.Duration
	// stalled, when set, is why the rollout cannot work as specified.
	stalled *stalledError
	events  []pendingEvent
	// nsSlack is the namespace's Slack configuration, read once per pass.
	nsSlack     *sluicev1.SlackNotifications
	nsSlackRead bool
}

// stalledError is a problem only a person can fix (a missing VirtualService,
// an unknown route). It becomes the Stalled condition, not a retry storm:
// watches bring the Rollout back when the referenced object changes.
type stalledError struct {
	reason, msg string
}

func (e *stalledError) Error() string { return e.msg }

// errRequeue asks for a quick retry without reporting an error, for example
// when the cache has not caught up with a create.
var errRequeue = errors.New("requeue")

func (p *pass) replicas() int32 {
	if p.ro.Spec.Replicas == nil {
		return 1
	}
	return *p.ro.Spec.Replicas
}

// wakeAt asks to be reconciled again at t (timed pauses, scale-down delays,
// progress deadlines). The earliest request wins.
func (p *pass) wakeAt(t time.Time) {
	d := t.Sub(p.now)
	if d <= 0 {
		d = time.Millisecond
	}
	if p.requeueAfter == 0 || d < p.requeueAfter {
		p.requeueAfter = d
	}
}

// run is the list of sub-steps: compile the plan, read the ReplicaSets, take
// the user's actions, then drive whichever situation the Rollout is in.
func (p *pass) run(ctx context.Context) (ctrl.Result, error) {
	st := &p.ro.Status
	var err error
	if p.plan, err = plan.Build(p.ro.Spec.Strategy, p.replicas()); err != nil {
		return p.stall("InvalidStrategy", fmt.Sprintf("spec.strategy cannot be planned: %v", err))
	}
	st.Strategy = p.plan.Strategy
	if p.desired, err = revision.Hash(&p.ro.Spec.Template); err != nil {
		return p.stall("InvalidTemplate", fmt.Sprintf("spec.template cannot be hashed: %v", err))
	}
	if p.sets, err = p.r.listReplicaSets(ctx, p.ro); err != nil {
		return ctrl.Result{}, err
	}
	p.actions = p.readActions()

	switch {
	case st.StableRevision == "":
		err = p.firstDeploy(ctx)
	case p.desired == st.StableRevision:
		err = p.steady(ctx)
	case p.desired == st.AbortedRevision:
		err = p.aborted(ctx)
	default:
		err = p.progress(ctx)
	}
	if err == nil {
		err = p.afterPromotion(ctx)
	}
	if err == nil {
		err = p.writeBack(ctx)
	}
	return p.result(err)
}

// result turns a sub-step's error into what controller-runtime should do.
func (p *pass) result(err error) (ctrl.Result, error) {
	var stalled *stalledError
	switch {
	case err == nil:
		return ctrl.Result{RequeueAfter: p.requeueAfter}, nil
	case errors.Is(err, errRequeue):
		return ctrl.Result{RequeueAfter: time.Second}, nil
	case errors.As(err, &stalled):
		p.stalled = stalled
		return ctrl.Result{RequeueAfter: p.requeueAfter}, nil
	default:
		return ctrl.Result{}, err
	}
}

func (p *pass) stall(reason, msg string) (ctrl.Result, error) {
	return p.result(&stalledError{reason: reason, msg: msg})
}

// firstDeploy is a Rollout's first revision: there is nothing to compare it
// with, so it becomes stable at once, with all traffic.
func (p *pass) firstDeploy(ctx context.Context) error {
	st := &p.ro.Status
	st.StableRevision = p.desired
	p.event(eventNormal, "Deployed", "first revision %s becomes stable", p.desired)
	return p.steady(ctx)
}

// steady keeps the stable revision at full scale with all traffic. A canary
// still present means the template went back to stable: a fast rollback
// with no steps.
func (p *pass) steady(ctx context.Context) error {
	st := &p.ro.Status
	if st.CanaryRevision != "" {
		if err := p.restoreTraffic(ctx, false); err != nil {
			return err
		}
		if err := p.scaleDown(ctx, st.CanaryRevision); err != nil {
			return err
		}
		p.record(st.CanaryRevision, "RolledBack", "spec.template was set back to the stable revision")
		p.event(eventNormal, "RolledBack", "template set back to stable revision %s; canary %s removed without steps", st.StableRevision, st.CanaryRevision)
		p.endRollout()
	}
	st.AbortedRevision = ""
	stable, err := p.ensureReplicaSet(ctx, st.StableRevision, sluicev1.RoleStable, p.replicas())
	if err != nil {
		return err
	}
	if err := p.applyTraffic(ctx, p.stableOnly()); err != nil {
		return err
	}
	if ready(stable, p.replicas()) {
		p.setPhase(sluicev1.PhaseHealthy, p.healthyMessage())
	} else {
		p.setPhase(sluicev1.PhaseProgressing, fmt.Sprintf("waiting for revision %s to have %d available replicas", st.StableRevision, p.replicas()))
	}
	p.actions.dropAll(p, "no rollout is in progress")
	return nil
}

// aborted holds an aborted revision off: traffic on stable, canary at zero,
// until the template changes or a retry is asked for.
func (p *pass) aborted(ctx context.Context) error {
	st := &p.ro.Status
	if p.actions.retry {
		p.actions.retry = false
		p.event(eventNormal, "Retrying", "retrying aborted revision %s from step 0", st.AbortedRevision)
		st.AbortedRevision = ""
		return p.progress(ctx)
	}
	if err := p.restoreTraffic(ctx, false); err != nil {
		return err
	}
	if err := p.scaleDown(ctx, p.desired); err != nil {
		return err
	}
	if _, err := p.ensureReplicaSet(ctx, st.StableRevision, sluicev1.RoleStable, p.replicas()); err != nil {
		return err
	}
	p.setPhase(sluicev1.PhaseDegraded, abortedMessage(p.ro))
	p.actions.dropAll(p, "the rollout is aborted; retry it first")
	return nil
}

// afterPromotion scales the previous stable revision down once its delay
// has passed, and prunes old ReplicaSets.
func (p *pass) afterPromotion(ctx context.Context) error {
	st := &p.ro.Status
	if prev := st.PreviousRevision; prev != nil {
		if prev.Revision == st.StableRevision {
			st.PreviousRevision = nil
		} else if !p.now.Before(prev.ScaleDownAt.Time) {
			if err := p.scaleDown(ctx, prev.Revision); err != nil {
				return err
			}
			st.PreviousRevision = nil
		} else {
			p.wakeAt(prev.ScaleDownAt.Time)
		}
	}
	inUse := map[string]bool{st.StableRevision: true, st.CanaryRevision: true, p.desired: true}
	if p.plan.Baseline && st.CanaryRevision != "" {
		inUse[baselineRevision(st.StableRevision)] = true
	}
	if st.PreviousRevision != nil {
		inUse[st.PreviousRevision.Revision] = true
	}
	// Anything not in use and still scaled up is left over (an abandoned
	// canary after a crash, for example): scale it down.
	for rev, rs := range p.sets {
		if !inUse[rev] && rs.Spec.Replicas != nil && *rs.Spec.Replicas > 0 {
			if err := p.scaleDown(ctx, rev); err != nil {
				return err
			}
		}
	}
	if err := p.terminateStaleRuns(ctx); err != nil {
		return err
	}
	p.counts()
	return p.pruneHistory(ctx, inUse)
}

func (p *pass) counts() {
	st := &p.ro.Status
	st.Replicas, st.ReadyReplicas, st.UpdatedReplicas, st.AvailableReplicas = p.sets.counts(st.StableRevision, p.desired)
	if sel, err := metav1.LabelSelectorAsSelector(p.ro.Spec.Selector); err == nil {
		st.Selector = sel.String()
	}
}

// record prepends a finished rollout to the bounded history.
func (p *pass) record(rev, outcome, reason string) {
	st := &p.ro.Status
	var images []string
	if rev == p.desired {
		for _, c := range p.ro.Spec.Template.Spec.Containers {
			images = append(images, c.Name+"="+c.Image)
		}
	}
	entry := sluicev1.RolloutRecord{Revision: rev, Outcome: outcome, Reason: reason, At: metav1.NewTime(p.now), Images: images}
	st.History = append([]sluicev1.RolloutRecord{entry}, st.History...)
	if len(st.History) > 20 {
		st.History = st.History[:20]
	}
}

// endRollout clears the per-rollout progress fields.
func (p *pass) endRollout() {
	st := &p.ro.Status
	st.CanaryRevision = ""
	st.CurrentStepIndex = nil
	st.StepCount = 0
	st.StepStartedAt = nil
	st.StepReadyAt = nil
	st.FullPromotion = false
}

// healthyMessage is the one Healthy message, so the reconcile after a
// promotion does not rewrite status just to reword it.
func (p *pass) healthyMessage() string {
	return fmt.Sprintf("revision %s serves all traffic with %d replicas", p.ro.Status.StableRevision, p.replicas())
}
