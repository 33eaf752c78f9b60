package istio

import (
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/types"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// RouteState is what one named route does now, as Istio reads it.
type RouteState struct {
	Route string
	// Found is false when the VirtualService has no route of this name (or
	// has several).
	Found bool
	Index int
	// Weights per role. A route with a single destination sends it 100
	// whatever its weight field says; with several, a missing weight is 0.
	Stable, Canary, Baseline int32
	// Other is the weight of destinations that are none of the three.
	Other int32
	// MirrorPercent is the share mirrored to the canary by sluice's mirror
	// (0 when there is none).
	MirrorPercent float64
	// ForeignMirror is true when the route mirrors to something else.
	ForeignMirror bool
	// MatchRoute is the name of sluice's match route directly above the
	// route, "" when there is none.
	MatchRoute string
	// Fault is true when that match route injects faults.
	Fault bool
}

// VirtualServiceState is the traffic state of the named routes of one
// VirtualService.
type VirtualServiceState struct {
	Key             types.NamespacedName
	ResourceVersion string
	Generation      int64
	Routes          []RouteState
	// StrayMatchRoutes are sluice match routes of the named routes that are
	// not directly above their route (or whose route is gone); rendering
	// removes them.
	StrayMatchRoutes []string
}

// Weights summarises the state for status.weights: the first found route's
// weights, the mirror percent as a decimal string, and whether any match
// route is in place. Verify tells whether all routes agree.
func (s VirtualServiceState) Weights() v1alpha1.TrafficWeights {
	var w v1alpha1.TrafficWeights
	first := true
	for _, r := range s.Routes {
		if !r.Found {
			continue
		}
		if first {
			w.Stable, w.Canary = r.Stable, r.Canary
			if r.MirrorPercent > 0 {
				w.Mirror = strconv.FormatFloat(r.MirrorPercent, 'f', -1, 64)
			}
			first = false
		}
		w.MatchedRoutes = w.MatchedRoutes || r.MatchRoute != ""
	}
	return w
}

// ObserveVirtualService reads the traffic state of the named routes from obj
// (raw JSON). It never fails: routes it cannot find are reported with
// Found false. Only d's backends (subsets or hosts) are used.
func ObserveVirtualService(obj map[string]any, t VirtualServiceTarget, d Desired) VirtualServiceState {
	s := VirtualServiceState{Key: t.Key}
	s.ResourceVersion = lookupString(obj, "metadata", "resourceVersion")
	if g, ok := number(lookupOr(obj, "metadata", "generation")); ok {
		s.Generation = int64(g)
	}
	d.AllowMissingRoutes = true
	c, err := newVSContext(obj, t, d)
	if err != nil { // duplicate route names: report the routes as not found
		for _, r := range t.Routes {
			s.Routes = append(s.Routes, RouteState{Route: r, Index: -1})
		}
		return s
	}
	above := map[int]bool{}
	for _, name := range t.Routes {
		i, ok := c.base[name]
		if !ok {
			s.Routes = append(s.Routes, RouteState{Route: name, Index: -1})
			continue
		}
		rs := RouteState{Route: name, Found: true, Index: i}
		route, _ := asMap(c.http[i])
		entries, _ := asSlice(route["route"])
		for _, e := range entries {
			var w int32
			if len(entries) == 1 {
				w = 100
			} else if f, ok := number(lookupOr(e, "weight")); ok {
				w = int32(f)
			}
			dm, _ := lookupMap(e, "destination")
			switch c.classify(dm) {
			case roleStable:
				rs.Stable += w
			case roleCanary:
				rs.Canary += w
			case roleBaseline:
				rs.Baseline += w
			default:
				rs.Other += w
			}
		}
		if m, ok := asMap(route["mirror"]); ok {
			if c.isSluiceMirror(m) {
				rs.MirrorPercent = mirrorPercentOf(route)
			} else {
				rs.ForeignMirror = true
			}
		}
		if ms, _ := asSlice(route["mirrors"]); len(ms) > 0 {
			rs.ForeignMirror = true
		}
		if i > 0 {
			if owner, ours := c.matchRouteOwner(c.names[i-1]); ours && owner == name {
				rs.MatchRoute = c.names[i-1]
				_, rs.Fault = lookup(c.http[i-1], "fault")
				above[i-1] = true
			}
		}
		s.Routes = append(s.Routes, rs)
	}
	for k, n := range c.names {
		if _, ours := c.matchRouteOwner(n); ours && !above[k] {
			s.StrayMatchRoutes = append(s.StrayMatchRoutes, n)
		}
	}
	return s
}

// VerifyVirtualService checks that obj (read back after writing) holds d for
// the named routes: the weights, sluice's mirror, the match routes in
// place, and that rendering d against it changes nothing. A difference is a
// *TrafficMismatchError; a configuration problem is the error rendering
// returns.
func VerifyVirtualService(obj map[string]any, t VirtualServiceTarget, d Desired) error {
	s := ObserveVirtualService(obj, t, d)
	var diffs []string
	for _, r := range s.Routes {
		if !r.Found {
			if !d.AllowMissingRoutes {
				diffs = append(diffs, fmt.Sprintf("route %s is missing", r.Route))
			}
			continue
		}
		check := func(what string, got, want int32) {
			if got != want {
				diffs = append(diffs, fmt.Sprintf("route %s: %s weight %d, want %d", r.Route, what, got, want))
			}
		}
		check("stable", r.Stable, d.StableWeight())
		check("canary", r.Canary, d.CanaryWeight)
		check("baseline", r.Baseline, d.BaselineWeight)
		check("unmanaged destinations'", r.Other, 0)
		if r.MirrorPercent != d.MirrorPercent {
			diffs = append(diffs, fmt.Sprintf("route %s: mirror %v%%, want %v%%", r.Route, r.MirrorPercent, d.MirrorPercent))
		}
		want := ""
		if d.MatchRoute != nil {
			want = MatchRouteName(d.MatchRoute.Kind, r.Route)
		}
		if r.MatchRoute != want {
			diffs = append(diffs, fmt.Sprintf("route %s: match route %q above it, want %q", r.Route, r.MatchRoute, want))
		}
	}
	for _, n := range s.StrayMatchRoutes {
		diffs = append(diffs, fmt.Sprintf("stray match route %s", n))
	}
	p, err := RenderVirtualService(obj, t, d)
	if err != nil {
		return err
	}
	if len(diffs) == 0 && p.Mutations() > 0 {
		diffs = append(diffs, "rendering again would still change it: "+p.String())
	}
	if len(diffs) > 0 {
		return &TrafficMismatchError{Object: "VirtualService " + t.Key.String(), Differences: diffs}
	}
	return nil
}
