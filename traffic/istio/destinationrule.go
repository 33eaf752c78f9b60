package istio

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// AnnotationCanaryTrafficPolicy, on the DestinationRule, records the
// trafficPolicy sluice wrote on the canary subset as
// "<subset>:<first 16 hex digits of the SHA-256 of the policy's JSON>".
// A subset policy is sluice's only while its JSON still has that digest, so
// sluice never removes or overwrites a policy a person wrote or edited. (A
// marker inside the subset is not possible: subset labels are pod selectors
// and the CRD's schema prunes unknown fields.)
const AnnotationCanaryTrafficPolicy = "sluice.dev/canary-traffic-policy"

// subsetRole is one subset sluice manages in a rendering.
type subsetRole struct {
	role, name, revision string
}

func (d Desired) subsetRoles() []subsetRole {
	rs := []subsetRole{
		{roleStable, d.StableSubset, d.StableRevision},
		{roleCanary, d.CanarySubset, d.CanaryRevision},
	}
	if d.BaselineSubset != "" {
		rs = append(rs, subsetRole{roleBaseline, d.BaselineSubset, d.BaselineRevision})
	}
	return rs
}

// SubsetLabels are the labels sluice sets on a subset that selects rev:
// sluice.dev/revision, and for the baseline also sluice.dev/role=baseline,
// because the baseline runs the stable template (the same revision hash) and
// would otherwise be indistinguishable from stable. The stable subset
// selects by revision only, so that promoted pods (labelled with the canary
// role) keep receiving stable traffic; it therefore also reaches baseline
// pods.
func SubsetLabels(role, rev string) map[string]any {
	l := map[string]any{v1alpha1.LabelRevision: rev}
	if role == roleBaseline {
		l[v1alpha1.LabelRole] = v1alpha1.RoleBaseline
	}
	return l
}

// RenderTrafficPolicy turns a SubsetTrafficPolicy into an Istio
// TrafficPolicy (raw JSON). A nil or empty policy renders as nil.
func RenderTrafficPolicy(p *v1alpha1.SubsetTrafficPolicy) (map[string]any, error) {
	if p == nil {
		return nil, nil
	}
	out := map[string]any{}
	switch p.LoadBalancer {
	case "":
	case "RANDOM", "ROUND_ROBIN", "LEAST_REQUEST":
		out["loadBalancer"] = map[string]any{"simple": p.LoadBalancer}
	default:
		return nil, invalid("canaryTrafficPolicy.loadBalancer %q is not RANDOM, ROUND_ROBIN or LEAST_REQUEST", p.LoadBalancer)
	}
	positive := func(m map[string]any, field string, v *int32) error {
		if v == nil {
			return nil
		}
		if *v < 1 {
			return invalid("canaryTrafficPolicy %s must be at least 1, not %d", field, *v)
		}
		m[field] = int64(*v)
		return nil
	}
	duration := func(m map[string]any, field string, v *v1alpha1.Duration) error {
		if v == nil {
			return nil
		}
		d, err := time.ParseDuration(string(*v))
		if err != nil || d < time.Millisecond {
			return invalid("canaryTrafficPolicy.outlierDetection.%s %q must be a duration of at least 1ms", field, *v)
		}
		m[field] = protoDuration(d)
		return nil
	}
	if cp := p.ConnectionPool; cp != nil {
		tcp, http := map[string]any{}, map[string]any{}
		if err := positive(tcp, "maxConnections", cp.MaxConnections); err != nil {
			return nil, err
		}
		if err := positive(http, "http1MaxPendingRequests", cp.HTTP1MaxPendingRequests); err != nil {
			return nil, err
		}
		if err := positive(http, "http2MaxRequests", cp.HTTP2MaxRequests); err != nil {
			return nil, err
		}
		pool := map[string]any{}
		if len(tcp) > 0 {
			pool["tcp"] = tcp
		}
		if len(http) > 0 {
			pool["http"] = http
		}
		if len(pool) > 0 {
			out["connectionPool"] = pool
		}
	}
	if od := p.OutlierDetection; od != nil {
		m := map[string]any{}
		if err := positive(m, "consecutive5xxErrors", od.Consecutive5xxErrors); err != nil {
			return nil, err
		}
		if err := duration(m, "interval", od.Interval); err != nil {
			return nil, err
		}
		if err := duration(m, "baseEjectionTime", od.BaseEjectionTime); err != nil {
			return nil, err
		}
		if v := od.MaxEjectionPercent; v != nil {
			if *v < 0 || *v > 100 {
				return nil, invalid("canaryTrafficPolicy.outlierDetection.maxEjectionPercent must be from 0 to 100, not %d", *v)
			}
			m["maxEjectionPercent"] = int64(*v)
		}
		if len(m) > 0 {
			out["outlierDetection"] = m
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// policyMarker is the AnnotationCanaryTrafficPolicy value for a policy.
func policyMarker(subset string, policy any) string {
	b, _ := json.Marshal(policy)
	sum := sha256.Sum256(b)
	return subset + ":" + hex.EncodeToString(sum[:8])
}

// absenceGuard tests the object's resourceVersion: the only RFC 6902 way to
// make sure a member that was absent when read is still absent (a test of a
// missing path fails). Used only where a whole container is created.
func absenceGuard(obj map[string]any) Operation {
	if rv := lookupString(obj, "metadata", "resourceVersion"); rv != "" {
		return testOp("/metadata/resourceVersion", rv)
	}
	md, _ := lookup(obj, "metadata")
	return testOp("/metadata", md)
}

type drContext struct {
	t       DestinationRuleTarget
	d       Desired
	subsets []any
	index   map[string]int
}

func (c *drContext) object() string { return "DestinationRule " + c.t.Key.String() }

func newDRContext(obj map[string]any, t DestinationRuleTarget, d Desired) (*drContext, error) {
	c := &drContext{t: t, d: d, index: map[string]int{}}
	if s, ok := lookup(obj, "spec", "subsets"); ok {
		c.subsets, _ = asSlice(s)
	}
	dup := map[string][]int{}
	for i, s := range c.subsets {
		n := lookupString(s, "name")
		dup[n] = append(dup[n], i)
		c.index[n] = i
	}
	for _, r := range d.subsetRoles() {
		if idx := dup[r.name]; len(idx) > 1 {
			return nil, &ConfigError{Code: ReasonDuplicateSubset, Message: fmt.Sprintf(
				"%s has %d subsets named %q (indices %v); give each subset a unique name", c.object(), len(idx), r.name, idx)}
		}
	}
	return c, nil
}

// RenderDestinationRule computes the guarded JSON patch that makes the
// stable, canary and baseline subsets of a DestinationRule (obj, raw JSON)
// select d's revisions, and writes or removes d.CanaryTrafficPolicy on the
// canary subset. A missing subset is added with just sluice's labels (and
// the canary policy). Empty patch: already there.
//
// Each changed subset is preceded by tests of its name at its index and of
// the whole subset as read; appending subsets tests the whole list.
func RenderDestinationRule(obj map[string]any, t DestinationRuleTarget, d Desired) (Patch, error) {
	if err := d.validateBackends(); err != nil {
		return nil, err
	}
	if !d.subsetRouting() {
		return nil, invalid("DestinationRule %s: host routing (stableService/canaryService) uses no DestinationRule subsets", t.Key)
	}
	policyWant, err := RenderTrafficPolicy(d.CanaryTrafficPolicy)
	if err != nil {
		return nil, err
	}
	c, err := newDRContext(obj, t, d)
	if err != nil {
		return nil, err
	}
	annotations, hasAnnotations := lookupMap(obj, "metadata", "annotations")
	markerVal, hasMarker := annotations[AnnotationCanaryTrafficPolicy]
	marker := asString(markerVal)
	markerWant := ""

	var subsetOps Patch
	var appends []any
	for _, r := range d.subsetRoles() {
		var labelsWant map[string]any
		if r.revision != "" {
			labelsWant = SubsetLabels(r.role, r.revision)
		}
		policy := r.role == roleCanary
		j, found := c.index[r.name]
		if !found {
			if labelsWant == nil && (!policy || policyWant == nil) {
				continue
			}
			s := map[string]any{"name": r.name}
			if labelsWant != nil {
				s["labels"] = labelsWant
			}
			if policy && policyWant != nil {
				s["trafficPolicy"] = policyWant
				markerWant = policyMarker(r.name, policyWant)
			}
			appends = append(appends, s)
			continue
		}
		subset, ok := asMap(c.subsets[j])
		if !ok {
			return nil, &ConfigError{Code: ReasonMalformedObject, Message: fmt.Sprintf("%s: subset %d is not an object; fix the DestinationRule", c.object(), j)}
		}
		path := pointer("spec", "subsets", j)
		var muts Patch
		if labelsWant != nil {
			labels, hasLabels := asMap(subset["labels"])
			if !hasLabels {
				muts = append(muts, setOp(path+"/labels", labelsWant, hasKey(subset, "labels")))
			} else {
				for _, k := range sortedKeys(labelsWant) {
					if cur, has := labels[k]; !has || !jsonEqual(cur, labelsWant[k]) {
						muts = append(muts, setOp(path+pointer("labels", k), labelsWant[k], has))
					}
				}
			}
		}
		if policy {
			cur, hasCur := subset["trafficPolicy"]
			owned := hasCur && hasMarker && marker == policyMarker(r.name, cur)
			switch {
			case policyWant != nil && !hasCur:
				muts = append(muts, addOp(path+"/trafficPolicy", policyWant))
				markerWant = policyMarker(r.name, policyWant)
			case policyWant != nil && jsonEqual(cur, policyWant):
				if owned {
					markerWant = marker
				}
			case policyWant != nil && owned:
				muts = append(muts, replaceOp(path+"/trafficPolicy", policyWant))
				markerWant = policyMarker(r.name, policyWant)
			case policyWant != nil:
				return nil, &ConfigError{Code: ReasonForeignTrafficPolicy, Message: fmt.Sprintf(
					"the canary subset %q of %s has a trafficPolicy sluice did not write; remove it from the DestinationRule, or remove spec.strategy.canaryTrafficPolicy from the Rollout",
					r.name, c.object())}
			case owned:
				muts = append(muts, removeOp(path+"/trafficPolicy"))
			}
		}
		if len(muts) > 0 {
			subsetOps = append(subsetOps, testOp(path+"/name", r.name), testOp(path, subset))
			subsetOps = append(subsetOps, muts...)
		}
	}

	var ops Patch
	if len(appends) > 0 {
		if list, ok := lookup(obj, "spec", "subsets"); ok && c.subsets != nil {
			ops = append(ops, testOp("/spec/subsets", list))
			ops = append(ops, subsetOps...)
			for k, s := range appends {
				ops = append(ops, addOp(pointer("spec", "subsets", len(c.subsets)+k), s))
			}
		} else {
			ops = append(ops, absenceGuard(obj))
			ops = append(ops, subsetOps...)
			ops = append(ops, addOp("/spec/subsets", appends))
		}
	} else {
		ops = subsetOps
	}

	if markerWant != marker || (markerWant == "" && hasMarker) {
		key := pointer("metadata", "annotations", AnnotationCanaryTrafficPolicy)
		switch {
		case markerWant == "":
			ops = append(ops, testOp(key, markerVal), removeOp(key))
		case hasMarker:
			ops = append(ops, testOp(key, markerVal), replaceOp(key, markerWant))
		case hasAnnotations:
			// Written only with the policy it describes, whose subset test
			// guards it.
			ops = append(ops, addOp(key, markerWant))
		default:
			ops = append(ops, absenceGuard(obj), addOp("/metadata/annotations", map[string]any{AnnotationCanaryTrafficPolicy: markerWant}))
		}
	}
	if ops.Mutations() == 0 {
		return Patch{}, nil
	}
	return ops, nil
}

// SubsetState is one managed subset as it is now.
type SubsetState struct {
	Role, Name string
	Found      bool
	Index      int
	// Revision is the subset's sluice.dev/revision label.
	Revision string
	// TrafficPolicy is true when the subset has a trafficPolicy;
	// TrafficPolicyBySluice when it is the one sluice wrote.
	TrafficPolicy, TrafficPolicyBySluice bool
}

// DestinationRuleState is the managed subsets of one DestinationRule.
type DestinationRuleState struct {
	Key             types.NamespacedName
	ResourceVersion string
	Subsets         []SubsetState
}

// ObserveDestinationRule reads the managed subsets from obj (raw JSON).
// Only d's subset names are used; it never fails.
func ObserveDestinationRule(obj map[string]any, t DestinationRuleTarget, d Desired) DestinationRuleState {
	s := DestinationRuleState{Key: t.Key, ResourceVersion: lookupString(obj, "metadata", "resourceVersion")}
	subsets, _ := asSlice(lookupOr(obj, "spec", "subsets"))
	marker := lookupString(obj, "metadata", "annotations", AnnotationCanaryTrafficPolicy)
	for _, r := range d.subsetRoles() {
		if r.name == "" {
			continue
		}
		ss := SubsetState{Role: r.role, Name: r.name, Index: -1}
		for i, sub := range subsets {
			if lookupString(sub, "name") != r.name {
				continue
			}
			ss.Found, ss.Index = true, i
			ss.Revision = lookupString(sub, "labels", v1alpha1.LabelRevision)
			if p, ok := lookup(sub, "trafficPolicy"); ok {
				ss.TrafficPolicy = true
				ss.TrafficPolicyBySluice = marker == policyMarker(r.name, p)
			}
			break
		}
		s.Subsets = append(s.Subsets, ss)
	}
	return s
}

// VerifyDestinationRule checks that obj holds d's subsets: labels, and the
// canary policy when set; rendering d against it must change nothing.
func VerifyDestinationRule(obj map[string]any, t DestinationRuleTarget, d Desired) error {
	p, err := RenderDestinationRule(obj, t, d)
	if err != nil {
		return err
	}
	var diffs []string
	for _, s := range ObserveDestinationRule(obj, t, d).Subsets {
		var want string
		for _, r := range d.subsetRoles() {
			if r.role == s.Role {
				want = r.revision
			}
		}
		if want != "" && s.Revision != want {
			diffs = append(diffs, fmt.Sprintf("subset %s selects revision %q, want %q", s.Name, s.Revision, want))
		}
	}
	if len(diffs) == 0 && p.Mutations() > 0 {
		diffs = append(diffs, "rendering again would still change it: "+p.String())
	}
	if len(diffs) > 0 {
		return &TrafficMismatchError{Object: "DestinationRule " + t.Key.String(), Differences: diffs}
	}
	return nil
}
