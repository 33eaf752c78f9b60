package istio

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/types"
)

// Reasons of the errors that mean the Rollout's spec is valid but cannot work
// against the objects in the cluster. The controller reports them as a
// Stalled condition with this reason and the error's message; StalledReason
// extracts it.
const (
	ReasonVirtualServiceNotFound  = "VirtualServiceNotFound"
	ReasonDestinationRuleNotFound = "DestinationRuleNotFound"
	ReasonRouteNotFound           = "RouteNotFound"
	ReasonDuplicateRoute          = "DuplicateRoute"
	// The named route delegates, redirects or answers directly: it has no
	// destinations to weight.
	ReasonRouteNotWeightable = "RouteNotWeightable"
	// The named route has no destination for the stable subset or host.
	ReasonStableDestinationMissing = "StableDestinationMissing"
	// Two destinations of the route have the same role (subset or host).
	ReasonAmbiguousDestination = "AmbiguousDestination"
	// The route sends traffic to a destination that is neither stable,
	// canary nor baseline; sluice cannot split traffic it does not own.
	ReasonUnmanagedDestination = "UnmanagedDestination"
	// The route mirrors to something else (mirror or mirrors) and the
	// rollout wants to mirror to the canary.
	ReasonForeignMirror = "ForeignMirror"
	// Every combination of the route's matches with the requested matches
	// contradicts itself, or a requested match cannot be expressed.
	ReasonUnsatisfiableMatch = "UnsatisfiableMatch"
	// The preview host is not among the VirtualService's hosts.
	ReasonPreviewHostNotServed = "PreviewHostNotServed"
	ReasonDuplicateSubset      = "DuplicateSubset"
	// The canary subset has a trafficPolicy sluice did not write.
	ReasonForeignTrafficPolicy = "ForeignTrafficPolicy"
	// The apiserver refused the patched object as invalid (not a failed
	// test operation): the object or sluice's change breaks its schema.
	ReasonPatchRejected = "PatchRejected"
	// An entry of spec.http or spec.subsets is not an object (the CRD's
	// schema normally prevents it).
	ReasonMalformedObject = "MalformedObject"
	// The Desired state itself is invalid: a bug in the caller, or a spec
	// admission should have refused.
	ReasonInvalidTraffic = "InvalidTraffic"
)

// NotFoundError says that a VirtualService or DestinationRule the Rollout
// names does not exist.
type NotFoundError struct {
	Kind     string // "VirtualService" or "DestinationRule"
	Key      types.NamespacedName
	SpecPath string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s %s not found; create it or fix %s", e.Kind, e.Key, e.SpecPath)
}

// Reason is the Stalled condition reason.
func (e *NotFoundError) Reason() string { return e.Kind + "NotFound" }

// RouteNotFoundError says that a named route is not in the VirtualService.
type RouteNotFoundError struct {
	VirtualService types.NamespacedName
	Route          string
	// Available are the names of the VirtualService's HTTP routes, without
	// the ones sluice inserted.
	Available []string
	// Unnamed counts HTTP routes without a name.
	Unnamed  int
	SpecPath string
}

func (e *RouteNotFoundError) Error() string {
	avail := "no named routes"
	if len(e.Available) > 0 {
		avail = "routes: " + strings.Join(e.Available, ", ")
	}
	if e.Unnamed > 0 {
		avail += fmt.Sprintf("; %d unnamed", e.Unnamed)
	}
	return fmt.Sprintf("route %q not found in VirtualService %s (%s); add name: %s to the route or fix %s.routes",
		e.Route, e.VirtualService, avail, e.Route, e.SpecPath)
}

// Reason is the Stalled condition reason.
func (e *RouteNotFoundError) Reason() string { return ReasonRouteNotFound }

// ConfigError is every other reason the desired traffic cannot be written:
// the message names the object, the route or subset, and the fix.
type ConfigError struct {
	// Code is one of the Reason constants.
	Code    string
	Message string
}

func (e *ConfigError) Error() string { return e.Message }

// Reason is the Stalled condition reason (Code).
func (e *ConfigError) Reason() string { return e.Code }

// TrafficMismatchError says that the object read back does not hold what
// sluice wrote (a webhook, another controller or a bug changed it). The
// controller sets TrafficVerified=False with reason TrafficMismatch; it is
// not a Stalled condition, and the next reconcile writes again.
type TrafficMismatchError struct {
	Object      string // "VirtualService shop/frontend"
	Differences []string
}

func (e *TrafficMismatchError) Error() string {
	return fmt.Sprintf("%s does not hold the traffic sluice wrote: %s", e.Object, strings.Join(e.Differences, "; "))
}

// Reason for the TrafficVerified condition.
func (e *TrafficMismatchError) Reason() string { return "TrafficMismatch" }

// ConflictError says that the object kept changing between sluice's read and
// its guarded patch for every attempt. It is transient: requeue.
type ConflictError struct {
	Object   string
	Attempts int
	Last     error
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s changed between read and write on each of %d attempts; last refusal: %v", e.Object, e.Attempts, e.Last)
}

func (e *ConflictError) Unwrap() error { return e.Last }

// StalledReason returns the Stalled condition reason of an error this
// package returns when the spec cannot work against the cluster's objects
// (missing objects or routes, destinations sluice does not own, a refused
// patch). It returns false for transient errors (conflicts, the apiserver
// unreachable, a cancelled context) and for TrafficMismatchError, which the
// controller reports through TrafficVerified.
func StalledReason(err error) (string, bool) {
	var nf *NotFoundError
	var rnf *RouteNotFoundError
	var ce *ConfigError
	switch {
	case errors.As(err, &nf):
		return nf.Reason(), true
	case errors.As(err, &rnf):
		return rnf.Reason(), true
	case errors.As(err, &ce):
		return ce.Reason(), true
	}
	return "", false
}
