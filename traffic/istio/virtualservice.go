package istio

import (
	"fmt"
	"strings"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// Destination roles within a named route.
const (
	roleStable   = v1alpha1.RoleStable
	roleCanary   = v1alpha1.RoleCanary
	roleBaseline = v1alpha1.RoleBaseline
	roleOther    = "other"
)

// Fields of a named route that the match route sluice inserts above it does
// not copy: its identity, its matching and its traffic. Everything else
// (retries, timeout, headers, rewrite, corsPolicy, fields sluice does not
// know) is copied, so matched requests are handled like the named route's.
var notInherited = map[string]bool{
	"name": true, "match": true, "route": true,
	"mirror": true, "mirrors": true, "mirrorPercentage": true, "mirrorPercent": true, "mirror_percent": true,
	"fault": true, "redirect": true, "directResponse": true, "delegate": true,
}

// vsContext is one rendering: the object as read, the target and the
// desired state.
type vsContext struct {
	t    VirtualServiceTarget
	d    Desired
	http []any
	// names[i] is spec.http[i].name ("" when unnamed or not an object).
	names []string
	// base maps a named route present in the object to its index.
	base map[string]int
	// hosts is spec.hosts.
	hosts []any
}

func (c *vsContext) object() string { return "VirtualService " + c.t.Key.String() }

func (c *vsContext) routeErr(code, route, format string, args ...any) error {
	return &ConfigError{Code: code, Message: fmt.Sprintf("route %q of %s: ", route, c.object()) + fmt.Sprintf(format, args...)}
}

// newVSContext indexes spec.http and finds the named routes.
func newVSContext(obj map[string]any, t VirtualServiceTarget, d Desired) (*vsContext, error) {
	c := &vsContext{t: t, d: d, base: map[string]int{}}
	if h, ok := lookup(obj, "spec", "http"); ok {
		c.http, _ = asSlice(h)
	}
	if h, ok := lookup(obj, "spec", "hosts"); ok {
		c.hosts, _ = asSlice(h)
	}
	c.names = make([]string, len(c.http))
	byName := map[string][]int{}
	for i, r := range c.http {
		c.names[i] = lookupString(r, "name")
		byName[c.names[i]] = append(byName[c.names[i]], i)
	}
	for _, name := range t.Routes {
		switch idx := byName[name]; len(idx) {
		case 0:
			if d.AllowMissingRoutes {
				continue
			}
			e := &RouteNotFoundError{VirtualService: t.Key, Route: name, SpecPath: t.specPath()}
			for _, n := range c.names {
				switch {
				case n == "":
					e.Unnamed++
				case !strings.HasPrefix(n, v1alpha1.ManagedRoutePrefix):
					e.Available = append(e.Available, n)
				}
			}
			return nil, e
		case 1:
			c.base[name] = idx[0]
		default:
			return nil, c.routeErr(ReasonDuplicateRoute, name,
				"%d HTTP routes have this name (indices %v); give each route a unique name", len(idx), idx)
		}
	}
	return c, nil
}

// matchRouteOwner returns the named route a sluice match route belongs to:
// name is MatchRouteName(kind, base) for a known kind and a base among the
// target's routes. Sluice routes of other bases (another Rollout sharing the
// VirtualService) are not this rendering's business.
func (c *vsContext) matchRouteOwner(name string) (string, bool) {
	if !strings.HasPrefix(name, v1alpha1.ManagedRoutePrefix) {
		return "", false
	}
	for _, k := range matchKinds {
		base, ok := strings.CutPrefix(name, MatchRouteName(k, ""))
		if !ok {
			continue
		}
		for _, r := range c.t.Routes {
			if r == base {
				return base, true
			}
		}
	}
	return "", false
}

// destination is one entry of a route's "route" list, classified.
type destination struct {
	index  int
	role   string
	entry  map[string]any
	dest   map[string]any
	weight float64
	hasW   bool
}

// routePlan is what sluice changes in one named route.
type routePlan struct {
	name  string
	index int
	route map[string]any
	// mutations are relative to the route: paths start with /spec/http/<index>.
	mutations Patch
	// matchRoute is the route to keep directly above (nil: none).
	matchRoute map[string]any
}

func (c *vsContext) hostIs(host, svc string) bool {
	ns := c.t.Key.Namespace
	q := svc + "." + ns
	return host == svc || host == q || host == q+".svc" || strings.HasPrefix(host, q+".svc.")
}

func (c *vsContext) classify(dest map[string]any) string {
	d := c.d
	if d.subsetRouting() {
		switch s := asString(dest["subset"]); {
		case s == "":
		case s == d.StableSubset:
			return roleStable
		case s == d.CanarySubset:
			return roleCanary
		case s == d.BaselineSubset:
			return roleBaseline
		}
		return roleOther
	}
	switch host := asString(dest["host"]); {
	case c.hostIs(host, d.StableHost):
		return roleStable
	case c.hostIs(host, d.CanaryHost):
		return roleCanary
	}
	return roleOther
}

func describeDestination(dest map[string]any) string {
	s := asString(dest["host"])
	if sub := asString(dest["subset"]); sub != "" {
		s += " subset " + sub
	}
	if p, ok := number(lookupOr(dest, "port", "number")); ok {
		s += fmt.Sprintf(" port %v", p)
	}
	return s
}

func lookupOr(v any, path ...string) any {
	x, _ := lookup(v, path...)
	return x
}

// backendDestination is the destination object for role, derived from the
// stable destination: the same host (subset routing) or the matching form of
// the role's Service name (host routing), and the same port.
func (c *vsContext) backendDestination(stable map[string]any, role string) map[string]any {
	out := map[string]any{}
	host := asString(stable["host"])
	if c.d.subsetRouting() {
		out["host"] = host
		switch role {
		case roleStable:
			out["subset"] = c.d.StableSubset
		case roleCanary:
			out["subset"] = c.d.CanarySubset
		case roleBaseline:
			out["subset"] = c.d.BaselineSubset
		}
	} else {
		svc := c.d.CanaryHost
		if role == roleStable {
			svc = c.d.StableHost
		}
		if rest, ok := strings.CutPrefix(host, c.d.StableHost+"."); ok {
			out["host"] = svc + "." + rest
		} else {
			out["host"] = svc
		}
	}
	if p, ok := stable["port"]; ok {
		out["port"] = p
	}
	return out
}

// planRoute computes the changes to the named route at index i.
func (c *vsContext) planRoute(name string, i int) (*routePlan, error) {
	route, ok := asMap(c.http[i])
	if !ok {
		return nil, c.routeErr(ReasonMalformedObject, name, "the route is not an object; fix the VirtualService")
	}
	p := &routePlan{name: name, index: i, route: route}
	for _, k := range []string{"delegate", "redirect", "directResponse"} {
		if _, has := route[k]; has {
			return nil, c.routeErr(ReasonRouteNotWeightable, name,
				"it has %s, so it has no destinations to weight; name a route that has a route list, or, for delegate, name the routes of the delegate VirtualService", k)
		}
	}
	entries, _ := asSlice(route["route"])
	if len(entries) == 0 {
		return nil, c.routeErr(ReasonRouteNotWeightable, name, "it has no destinations (route list); add the stable destination")
	}

	byRole := map[string]*destination{}
	var others []*destination
	for j, e := range entries {
		em, _ := asMap(e)
		dm, _ := asMap(em["destination"])
		dst := &destination{index: j, entry: em, dest: dm, role: c.classify(dm)}
		dst.weight, dst.hasW = number(em["weight"])
		if dst.role == roleOther {
			others = append(others, dst)
			continue
		}
		if prev := byRole[dst.role]; prev != nil {
			return nil, c.routeErr(ReasonAmbiguousDestination, name,
				"destinations %d and %d are both the %s (%s); keep one", prev.index, j, dst.role, describeDestination(dm))
		}
		byRole[dst.role] = dst
	}
	stable := byRole[roleStable]
	if stable == nil {
		want := "subset " + c.d.StableSubset
		if !c.d.subsetRouting() {
			want = "host " + c.d.StableHost
		}
		found := make([]string, len(entries))
		for j, e := range entries {
			dm, _ := lookupMap(e, "destination")
			found[j] = describeDestination(dm)
		}
		return nil, c.routeErr(ReasonStableDestinationMissing, name, "no destination has the stable %s (it has %s); add it to the route or fix the Rollout's traffic settings",
			want, strings.Join(found, ", "))
	}
	if len(others) > 0 {
		o := others[0]
		return nil, c.routeErr(ReasonUnmanagedDestination, name,
			"destination %d (%s) is neither the stable nor the canary%s; sluice cannot split traffic it does not own: move that destination to a route sluice does not manage, or remove it",
			o.index, describeDestination(o.dest), c.baselineHint())
	}

	prefix := pointer("spec", "http", i)
	want := map[string]int32{roleStable: c.d.StableWeight(), roleCanary: c.d.CanaryWeight, roleBaseline: c.d.BaselineWeight}

	// Destinations sluice adds: canary and baseline when they get traffic.
	var adds []map[string]any
	for _, role := range []string{roleCanary, roleBaseline} {
		if byRole[role] == nil && want[role] > 0 {
			adds = append(adds, map[string]any{
				"destination": c.backendDestination(stable.dest, role),
				"weight":      int64(want[role]),
			})
		}
	}
	// A single destination receives all traffic whatever its weight says,
	// so its weight is left alone; otherwise every weight is explicit.
	if len(entries)+len(adds) > 1 {
		for _, dst := range []*destination{byRole[roleStable], byRole[roleCanary], byRole[roleBaseline]} {
			if dst == nil {
				continue
			}
			w := want[dst.role]
			if dst.hasW && dst.weight == float64(w) {
				continue
			}
			p.mutations = append(p.mutations, setOp(prefix+pointer("route", dst.index, "weight"), int64(w), hasKey(dst.entry, "weight")))
		}
	}
	for k, a := range adds {
		p.mutations = append(p.mutations, addOp(prefix+pointer("route", len(entries)+k), a))
	}

	muts, err := c.planMirror(name, route, stable.dest, prefix)
	if err != nil {
		return nil, err
	}
	p.mutations = append(p.mutations, muts...)

	if c.d.MatchRoute != nil {
		mr, err := c.renderMatchRoute(name, route, stable.dest)
		if err != nil {
			return nil, err
		}
		p.matchRoute = mr
	}
	return p, nil
}

func hasKey(m map[string]any, k string) bool {
	_, ok := m[k]
	return ok
}

func (c *vsContext) baselineHint() string {
	if c.d.subsetRouting() && c.d.BaselineSubset != "" {
		return " nor the baseline"
	}
	return ""
}

// isSluiceMirror reports whether a mirror destination points at the canary.
func (c *vsContext) isSluiceMirror(m map[string]any) bool {
	if c.d.subsetRouting() {
		return asString(m["subset"]) == c.d.CanarySubset
	}
	return c.hostIs(asString(m["host"]), c.d.CanaryHost)
}

// mirrorPercentOf is the percentage a route mirrors, as Istio reads it:
// mirrorPercentage, else the deprecated mirrorPercent, else 100.
func mirrorPercentOf(route map[string]any) float64 {
	if v, ok := number(lookupOr(route, "mirrorPercentage", "value")); ok {
		return v
	}
	if _, has := route["mirrorPercentage"]; has {
		return 0 // an empty Percent message is 0
	}
	for _, k := range []string{"mirrorPercent", "mirror_percent"} {
		if v, ok := number(route[k]); ok {
			return v
		}
	}
	return 100
}

func (c *vsContext) planMirror(name string, route, stableDest map[string]any, prefix string) (Patch, error) {
	m, hasMirror := asMap(route["mirror"])
	ours := hasMirror && c.isSluiceMirror(m)
	var ops Patch
	if c.d.MirrorPercent == 0 {
		if ours {
			ops = append(ops, removeOp(prefix+"/mirror"))
			if hasKey(route, "mirrorPercentage") {
				ops = append(ops, removeOp(prefix+"/mirrorPercentage"))
			}
		}
		return ops, nil
	}
	if hasMirror && !ours {
		return nil, c.routeErr(ReasonForeignMirror, name,
			"it already mirrors to %s; Istio allows one mirror per route: remove that mirror or move it to a route sluice does not manage", describeDestination(m))
	}
	if ms, _ := asSlice(route["mirrors"]); len(ms) > 0 {
		return nil, c.routeErr(ReasonForeignMirror, name,
			"it has mirrors (%d), and Istio allows mirror or mirrors, not both: remove mirrors from the route, or move them to a route sluice does not manage", len(ms))
	}
	want := c.backendDestination(stableDest, roleCanary)
	if !hasMirror || !jsonEqual(m, want) {
		ops = append(ops, setOp(prefix+"/mirror", want, hasMirror))
	}
	cur, has := route["mirrorPercentage"]
	if v, ok := number(lookupOr(cur, "value")); !ok || v != c.d.MirrorPercent || len(asMapOr(cur)) != 1 {
		ops = append(ops, setOp(prefix+"/mirrorPercentage", map[string]any{"value": c.d.MirrorPercent}, has))
	}
	return ops, nil
}

func asMapOr(v any) map[string]any {
	m, _ := asMap(v)
	return m
}

// renderMatchRoute is the route sluice keeps above the named route.
func (c *vsContext) renderMatchRoute(name string, route, stableDest map[string]any) (map[string]any, error) {
	mr := c.d.MatchRoute
	requested, err := requestedMatches(mr)
	if err != nil {
		return nil, err
	}
	if mr.Host != "" {
		hosts := c.hosts
		if !hostServed(hosts, mr.Host) {
			return nil, &ConfigError{Code: ReasonPreviewHostNotServed, Message: fmt.Sprintf(
				"the preview host %q is not among the hosts of %s (%s), so no request for it reaches the route; add it to the VirtualService's spec.hosts in Git",
				mr.Host, c.object(), joinAny(hosts))}
		}
	}
	var base []map[string]any
	if ms, ok := asSlice(route["match"]); ok {
		for _, m := range ms {
			mm, _ := asMap(m)
			base = append(base, mm)
		}
	}
	matches, ok := CrossMatches(base, requested)
	if !ok {
		return nil, c.routeErr(ReasonUnsatisfiableMatch, name,
			"every combination of its %d matches with the %d requested ones sets the same condition twice with different values, so the %s route would never match; change the requested matches",
			len(base), len(requested), mr.Kind)
	}
	out := map[string]any{}
	for k, v := range route {
		if !notInherited[k] {
			out[k] = v
		}
	}
	out["name"] = MatchRouteName(mr.Kind, name)
	ml := make([]any, len(matches))
	for i, m := range matches {
		ml[i] = m
	}
	out["match"] = ml
	out["route"] = []any{map[string]any{"destination": c.backendDestination(stableDest, roleCanary)}}
	if mr.Fault != nil {
		f, err := RenderFault(mr.Fault)
		if err != nil {
			return nil, err
		}
		out["fault"] = f
	}
	return out, nil
}

func joinAny(xs []any) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = asString(x)
	}
	return strings.Join(s, ", ")
}

// RenderVirtualService computes the guarded JSON patch that brings the
// named routes of one VirtualService (obj, as read: raw JSON from an
// unstructured object) to d. It returns an empty patch when the object is
// already there. It reads nothing but obj and writes nothing.
//
// Every change to a named route is preceded by a test of the route's name
// at its index and of the whole route as read; a sluice match route that is
// removed is preceded by a test of its name. Operations are emitted from the
// last route to the first, so inserting or removing a route never shifts an
// index a later operation uses.
func RenderVirtualService(obj map[string]any, t VirtualServiceTarget, d Desired) (Patch, error) {
	if err := d.validateVirtualService(t); err != nil {
		return nil, err
	}
	c, err := newVSContext(obj, t, d)
	if err != nil {
		return nil, err
	}
	plans := map[int]*routePlan{}
	for _, name := range t.Routes {
		i, ok := c.base[name]
		if !ok {
			continue
		}
		p, err := c.planRoute(name, i)
		if err != nil {
			return nil, err
		}
		plans[i] = p
	}

	var ops Patch
	for k := len(c.http) - 1; k >= 0; k-- {
		if p := plans[k]; p != nil {
			ops = append(ops, c.routeOps(p)...)
			continue
		}
		base, ours := c.matchRouteOwner(c.names[k])
		if !ours {
			continue
		}
		path := pointer("spec", "http", k)
		if p := plans[k+1]; p != nil && p.name == base && p.matchRoute != nil && c.names[k] == asString(p.matchRoute["name"]) {
			// The right match route in the right place: bring its content
			// up to date (it is sluice's own, so it is replaced whole).
			if !jsonEqual(c.http[k], p.matchRoute) {
				ops = append(ops, testOp(path+"/name", c.names[k]), testOp(path, c.http[k]), replaceOp(path, p.matchRoute))
			}
			continue
		}
		ops = append(ops, testOp(path+"/name", c.names[k]), removeOp(path))
	}
	if ops.Mutations() == 0 {
		return Patch{}, nil
	}
	return ops, nil
}

// routeOps are the guarded operations of one named route, including the
// insertion of its match route directly above it.
func (c *vsContext) routeOps(p *routePlan) Patch {
	k := p.index
	var insert, replaceAbove bool
	if p.matchRoute != nil {
		wantName := asString(p.matchRoute["name"])
		if k > 0 && c.names[k-1] == wantName {
			replaceAbove = !jsonEqual(c.http[k-1], p.matchRoute)
		} else {
			insert = true
		}
	}
	if len(p.mutations) == 0 && !insert && !replaceAbove {
		return nil
	}
	path := pointer("spec", "http", k)
	// The match route is derived from the named route, so its replacement
	// above is guarded by this test too.
	ops := Patch{testOp(path+"/name", p.name), testOp(path, p.route)}
	ops = append(ops, p.mutations...)
	if insert {
		ops = append(ops, addOp(path, p.matchRoute))
	}
	return ops
}
