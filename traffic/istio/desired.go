package istio

import (
	"fmt"
	"math"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// Desired is the traffic state of one Rollout at one moment: who the stable,
// canary and baseline backends are, and how traffic is split between them.
// The controller builds it from the Rollout and the plan's current step.
//
// RenderVirtualService uses the backends (subsets or hosts), the weights,
// MirrorPercent and MatchRoute. RenderDestinationRule uses the subsets, the
// revisions and CanaryTrafficPolicy.
type Desired struct {
	// Subset routing (spec.traffic.istio.destinationRule): the named routes'
	// destinations are told apart by subset. BaselineSubset is "" without a
	// baseline.
	StableSubset, CanarySubset, BaselineSubset string
	// Host routing (spec.traffic.istio.stableService/canaryService): the
	// destinations are told apart by host; these are Service names in the
	// VirtualService's namespace, matched against short and qualified hosts
	// ("web", "web.shop", "web.shop.svc.cluster.local").
	StableHost, CanaryHost string

	// Revision hashes the DestinationRule's subsets select through the
	// sluice.dev/revision label. "" leaves that subset alone.
	StableRevision, CanaryRevision, BaselineRevision string

	// CanaryWeight is the percentage (0-100) of each named route's traffic
	// sent to the canary.
	CanaryWeight int32
	// BaselineWeight is the percentage sent to the baseline subset (0 without
	// a baseline). The stable destination gets 100-CanaryWeight-BaselineWeight.
	BaselineWeight int32
	// MirrorPercent of each named route's traffic is mirrored to the canary
	// (dark launch); 0 removes sluice's mirror.
	MirrorPercent float64
	// MatchRoute, when set, is inserted directly above each named route and
	// sends matching requests to the canary alone; nil removes sluice's
	// match routes of the named routes.
	MatchRoute *MatchRoute
	// CanaryTrafficPolicy is written to the canary subset; nil removes the
	// policy sluice wrote (never one it did not write).
	CanaryTrafficPolicy *v1alpha1.SubsetTrafficPolicy

	// AllowMissingRoutes skips named routes the VirtualService no longer has
	// instead of failing with a RouteNotFoundError. Restored sets it: a route
	// that is gone has no traffic to return to stable.
	AllowMissingRoutes bool
}

// MatchRoute kinds: the middle word of the inserted route's name
// ("sluice-abtest-web").
const (
	MatchKindABTest  = "abtest"
	MatchKindPreview = "preview"
	MatchKindTest    = "test"
)

var matchKinds = []string{MatchKindABTest, MatchKindPreview, MatchKindTest}

// MatchRoute is a route sluice inserts above each named route, named
// MatchRouteName(Kind, route). Its matches are the named route's matches
// ANDed with the requested ones, so it never catches a request the named
// route would not have received, and it sends them 100% to the canary.
type MatchRoute struct {
	// Kind is MatchKindABTest, MatchKindPreview or MatchKindTest.
	Kind string
	// Matches select requests: AND within one match, OR across matches.
	Matches []v1alpha1.HTTPMatch
	// Host is a preview hostname, matched on the request's authority (ANDed
	// with each of Matches, if any). The VirtualService must already serve
	// it (spec.hosts, exactly or by wildcard); sluice does not edit hosts.
	Host string
	// Fault is injected on this route only, never on a weighted route.
	Fault *v1alpha1.FaultStep
}

// MatchRouteName is the name of the route sluice inserts above route.
func MatchRouteName(kind, route string) string {
	return v1alpha1.ManagedRoutePrefix + kind + "-" + route
}

// Restored is the state abort and the deletion finalizer write: every named
// route 100% to stable, sluice's match routes and mirrors removed, sluice's
// canary traffic policy removed. Backends and revisions are kept.
func (d Desired) Restored() Desired {
	d.CanaryWeight, d.BaselineWeight, d.MirrorPercent = 0, 0, 0
	d.MatchRoute = nil
	d.CanaryTrafficPolicy = nil
	d.AllowMissingRoutes = true
	return d
}

// StableWeight is what the stable destination gets.
func (d Desired) StableWeight() int32 { return 100 - d.CanaryWeight - d.BaselineWeight }

func (d Desired) subsetRouting() bool { return d.StableSubset != "" }

func invalid(format string, args ...any) error {
	return &ConfigError{Code: ReasonInvalidTraffic, Message: "invalid traffic state: " + fmt.Sprintf(format, args...)}
}

// validateBackends checks that exactly one way of telling the backends apart
// is given.
func (d Desired) validateBackends() error {
	subset := d.StableSubset != "" || d.CanarySubset != "" || d.BaselineSubset != ""
	host := d.StableHost != "" || d.CanaryHost != ""
	switch {
	case subset && host:
		return invalid("both subsets and hosts are set; use subsets (destinationRule) or hosts (stableService/canaryService)")
	case subset:
		if d.StableSubset == "" || d.CanarySubset == "" {
			return invalid("subset routing needs both StableSubset and CanarySubset")
		}
		if d.StableSubset == d.CanarySubset || d.BaselineSubset == d.StableSubset || d.BaselineSubset == d.CanarySubset {
			return invalid("stable, canary and baseline subsets must differ (%q, %q, %q)", d.StableSubset, d.CanarySubset, d.BaselineSubset)
		}
	case host:
		if d.StableHost == "" || d.CanaryHost == "" {
			return invalid("host routing needs both StableHost and CanaryHost")
		}
		if d.StableHost == d.CanaryHost {
			return invalid("StableHost and CanaryHost must differ (%q)", d.StableHost)
		}
	default:
		return invalid("no backends: set StableSubset and CanarySubset, or StableHost and CanaryHost")
	}
	return nil
}

func (d Desired) validateVirtualService(t VirtualServiceTarget) error {
	if err := d.validateBackends(); err != nil {
		return err
	}
	if len(t.Routes) == 0 {
		return invalid("no routes named for VirtualService %s", t.Key)
	}
	seen := map[string]bool{}
	for _, r := range t.Routes {
		if r == "" || strings.HasPrefix(r, v1alpha1.ManagedRoutePrefix) {
			return invalid("route name %q: names starting with %q are reserved for the routes sluice inserts", r, v1alpha1.ManagedRoutePrefix)
		}
		if seen[r] {
			return invalid("route %q is named twice", r)
		}
		seen[r] = true
	}
	if d.CanaryWeight < 0 || d.CanaryWeight > 100 || d.BaselineWeight < 0 || d.BaselineWeight > 100 || d.CanaryWeight+d.BaselineWeight > 100 {
		return invalid("canary weight %d and baseline weight %d must be 0-100 and add up to at most 100", d.CanaryWeight, d.BaselineWeight)
	}
	if d.BaselineWeight > 0 && d.BaselineSubset == "" {
		return invalid("baseline weight %d needs a baseline subset (traffic.istio.destinationRule.baselineSubset)", d.BaselineWeight)
	}
	if math.IsNaN(d.MirrorPercent) || d.MirrorPercent < 0 || d.MirrorPercent > 100 {
		return invalid("mirror percent %v must be from 0 to 100", d.MirrorPercent)
	}
	if m := d.MatchRoute; m != nil {
		known := false
		for _, k := range matchKinds {
			known = known || m.Kind == k
		}
		if !known {
			return invalid("match route kind %q is not one of %s", m.Kind, strings.Join(matchKinds, ", "))
		}
		if len(m.Matches) == 0 && m.Host == "" {
			return invalid("match route %q has neither matches nor a host; it would catch every request of the named route", m.Kind)
		}
		if err := validateFault(m.Fault); err != nil {
			return err
		}
	}
	return nil
}

func validatePercent(what string, p v1alpha1.Percent) error {
	if _, err := parsePercent(p); err != nil {
		return invalid("%s: %v", what, err)
	}
	return nil
}

func validateFault(f *v1alpha1.FaultStep) error {
	if f == nil {
		return nil
	}
	if f.Delay == nil && f.Abort == nil {
		return invalid("fault needs delay, abort or both")
	}
	if f.Delay != nil {
		if err := validatePercent("fault.delay.percent", f.Delay.Percent); err != nil {
			return err
		}
		if d, err := time.ParseDuration(string(f.Delay.FixedDelay)); err != nil || d < time.Millisecond {
			return invalid("fault.delay.fixedDelay %q must be a duration of at least 1ms", f.Delay.FixedDelay)
		}
	}
	if f.Abort != nil {
		if err := validatePercent("fault.abort.percent", f.Abort.Percent); err != nil {
			return err
		}
		if f.Abort.HTTPStatus < 200 || f.Abort.HTTPStatus > 599 {
			return invalid("fault.abort.httpStatus %d must be from 200 to 599", f.Abort.HTTPStatus)
		}
	}
	return nil
}

// VirtualServiceTarget is one VirtualService and the routes in it sluice
// manages for one Rollout (an entry of spec.traffic.istio.virtualServices).
type VirtualServiceTarget struct {
	// Key names the VirtualService; its namespace also qualifies host
	// routing's Service names.
	Key types.NamespacedName
	// Routes are the names of the managed HTTP routes.
	Routes []string
	// SpecPath is the Rollout field that names this VirtualService, used in
	// error messages; for example "spec.traffic.istio.virtualServices[0]".
	// Defaults to "spec.traffic.istio.virtualServices".
	SpecPath string
}

func (t VirtualServiceTarget) specPath() string {
	if t.SpecPath != "" {
		return t.SpecPath
	}
	return "spec.traffic.istio.virtualServices"
}

// DestinationRuleTarget is the DestinationRule whose subsets select the
// revisions (spec.traffic.istio.destinationRule).
type DestinationRuleTarget struct {
	Key types.NamespacedName
	// SpecPath is the Rollout field naming it, for error messages. Defaults
	// to "spec.traffic.istio.destinationRule".
	SpecPath string
}

func (t DestinationRuleTarget) specPath() string {
	if t.SpecPath != "" {
		return t.SpecPath
	}
	return "spec.traffic.istio.destinationRule"
}

// MatchKinds lists every MatchRoute kind, for tools that must recognise
// the routes sluice may insert.
func MatchKinds() []string { return append([]string(nil), matchKinds...) }
