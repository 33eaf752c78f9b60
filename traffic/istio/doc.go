// Package istio renders and writes the VirtualService and DestinationRule
// changes of one Rollout, touching only the values sluice manages.
//
// Istio's CRDs declare VirtualService spec.http and DestinationRule
// spec.subsets atomic lists, so server-side apply could only own them whole,
// and Istio's typed Go structs drop fields they do not know. This package
// therefore reads objects as raw JSON (unstructured), computes RFC 6902 JSON
// patches against the exact indices and values it read, guards every
// change with test operations, and sends them with field owner "sluice".
// The bytes of everything it does not manage are never rewritten.
//
// The pure functions (Render*, Observe*, Verify*) take the raw object and
// the Desired state; Apply* add the read-patch-retry loop.
//
// # What sluice writes in a VirtualService
//
// For each named route (found by name in spec.http):
//
//   - The weights of its destinations: the stable one (subset StableSubset,
//     or host StableHost) gets 100-CanaryWeight-BaselineWeight, the canary
//     one CanaryWeight, the baseline one BaselineWeight. A canary or baseline
//     destination that is absent is appended (host and port copied from the
//     stable destination) only when it gets traffic. A route with a single
//     destination sends it everything whatever its weight field says, so its
//     weight is left as the user wrote it.
//   - Weight 0: a destination that goes to 0 stays in the route with weight
//     0; sluice never removes destinations. The route therefore settles,
//     after the first rollout, at two destinations (stable 100, canary 0)
//     and later rollouts only change two numbers.
//   - Destinations that are neither stable, canary nor baseline are an
//     error (ReasonUnmanagedDestination): sluice cannot split traffic it
//     does not own.
//   - mirror and mirrorPercentage while MirrorPercent > 0. A mirror is
//     sluice's when it points at the canary (subset CanarySubset, or host
//     CanaryHost); only sluice's mirror is ever replaced or removed. A
//     route that mirrors elsewhere (mirror or mirrors) is an error while
//     sluice wants to mirror, and is left alone otherwise.
//   - A match route named MatchRouteName(kind, route) ("sluice-abtest-web")
//     directly above the named route while MatchRoute is set; removed when
//     it is nil. Its matches are the named route's matches crossed with the
//     requested ones (CrossMatches), it copies every field of the named
//     route except name, match, route, mirror*, fault, redirect,
//     directResponse and delegate, and routes 100% to the canary. A fault
//     is only ever set on it. Only match routes of the target's named
//     routes are touched: other sluice-* routes may belong to another
//     Rollout sharing the VirtualService.
//
// spec.hosts, spec.gateways and everything else are never written, so
// gateway-bound and mesh VirtualServices are handled alike.
//
// # Guards
//
// Every changed named route is preceded by a test of its name at its index
// and a test of the whole route as read: a concurrent edit of that route
// makes the patch fail, while edits elsewhere in the object do not. A
// removed match route is preceded by a test of its name. A sluice match
// route whose content drifted is replaced whole after a test of its old
// content. Operations run from the last route to the first, so an inserted
// or removed route never shifts an index a later operation uses.
//
// In a DestinationRule, each changed subset is preceded by tests of its name
// at its index and of the whole subset; appending subsets tests the whole
// list; creating a container that was absent (spec.subsets,
// metadata.annotations) tests metadata.resourceVersion, since RFC 6902 has
// no test for absence.
//
// A failed test makes the apiserver answer 422 Unprocessable Entity with
// reason Invalid, the message "the server rejected our request due to an
// error in our request" and no causes (the json-patch error text is not
// passed on); a schema violation is also 422 but lists causes. 409 Conflict
// is possible when the object changes during the apiserver's own retries.
// PatchRefused tells them apart; Apply retries both on a fresh read.
//
// # What sluice writes in a DestinationRule
//
// The labels of the stable, canary and baseline subsets (SubsetLabels:
// sluice.dev/revision, plus sluice.dev/role=baseline on the baseline
// subset); a missing subset is added with just those labels. Subsets whose
// revision is "" are left alone. The canary subset's trafficPolicy is
// written from CanaryTrafficPolicy and removed when it is nil, but only if
// it is the policy sluice wrote: AnnotationCanaryTrafficPolicy on the
// DestinationRule records the digest of what sluice wrote. A policy sluice
// did not write is an error while CanaryTrafficPolicy is set, and is left
// alone otherwise.
//
// # Observing and verifying
//
// ObserveVirtualService and ObserveDestinationRule read the current state
// for status. VerifyVirtualService and VerifyDestinationRule compare it with
// Desired and also require that rendering again changes nothing; a
// difference is a *TrafficMismatchError (TrafficVerified=False), distinct
// from the configuration errors StalledReason recognises (Stalled).
// Desired.Restored is the state abort and the finalizer write.
package istio
