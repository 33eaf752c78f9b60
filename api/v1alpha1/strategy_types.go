package v1alpha1

// RolloutStrategy declares exactly one strategy by name; sluice never infers
// the strategy from which fields happen to be set.
// +kubebuilder:validation:XValidation:rule="[has(self.canary), has(self.blueGreen), has(self.abTest), has(self.darkLaunch)].exists_one(x, x)",message="strategy must set exactly one of canary, blueGreen, abTest or darkLaunch; remove the others"
// +kubebuilder:validation:XValidation:rule="!has(self.canary) || !has(self.canary.steps) || has(self.canary.testRoute) || self.canary.steps.all(s, !has(s.fault))",message="strategy.canary.steps: a fault step needs strategy.canary.testRoute, because a fault on a weighted route would also hit stable users; add canary.testRoute or remove the fault step"
// +kubebuilder:validation:XValidation:rule="!has(self.analysis) || !has(self.analysis.startingStep) || (has(self.canary) && has(self.canary.steps) && self.analysis.startingStep < size(self.canary.steps)) || (has(self.abTest) && has(self.abTest.steps) && self.analysis.startingStep < size(self.abTest.steps)) || (has(self.darkLaunch) && has(self.darkLaunch.steps) && self.analysis.startingStep < size(self.darkLaunch.steps)) || (has(self.blueGreen) && self.analysis.startingStep == 0)",message="strategy.analysis.startingStep must be the index of an existing step (0 for blueGreen); lower it or add steps"
type RolloutStrategy struct {
	// Canary shifts weight to the new revision step by step.
	// +optional
	Canary *CanaryStrategy `json:"canary,omitempty"`
	// BlueGreen brings the new revision up beside the old one with no live
	// traffic, lets testers reach it through a preview route, then switches
	// all traffic at once.
	// +optional
	BlueGreen *BlueGreenStrategy `json:"blueGreen,omitempty"`
	// ABTest sends requests that match chosen headers, cookies or query
	// parameters to the new revision; everyone else stays on stable.
	// +optional
	ABTest *ABTestStrategy `json:"abTest,omitempty"`
	// DarkLaunch mirrors live traffic to the new revision; its responses are
	// discarded, users only see stable.
	// +optional
	DarkLaunch *DarkLaunchStrategy `json:"darkLaunch,omitempty"`

	// ScaleDownDelay is how long the old revision keeps full capacity after
	// promotion, so that a rollback right after it is instant. Defaults to 30s.
	// +kubebuilder:default="30s"
	// +optional
	ScaleDownDelay *Duration `json:"scaleDownDelay,omitempty"`

	// Analysis runs in the background during the whole rollout, from
	// startingStep on; a failure aborts the rollout.
	// +optional
	Analysis *BackgroundAnalysis `json:"analysis,omitempty"`

	// CanaryTrafficPolicy is an Istio DestinationRule trafficPolicy written to
	// the canary subset for the rollout's duration (circuit breaking,
	// connection pool limits, load balancing) and removed at its end.
	// +optional
	CanaryTrafficPolicy *SubsetTrafficPolicy `json:"canaryTrafficPolicy,omitempty"`
}

// CanaryStrategy moves weight to the new revision step by step. With no steps
// the new revision is promoted as soon as its pods are ready.
type CanaryStrategy struct {
	// Steps run in order; each does exactly one thing.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:XValidation:rule="self.all(s, !has(s.setMirror))",message="canary.steps may not setMirror: mirroring belongs to darkLaunch"
	Steps []Step `json:"steps,omitempty"`

	// Baseline runs a ReplicaSet of the stable template sized like the canary,
	// with its own subset, so the statistical judge compares like with like.
	// It needs traffic.istio.destinationRule.baselineSubset.
	// +optional
	Baseline bool `json:"baseline,omitempty"`

	// TestRoute inserts a route that sends requests matching it to the canary
	// alone, for testers and for fault steps.
	// +optional
	TestRoute *MatchRoute `json:"testRoute,omitempty"`
}

// BlueGreenStrategy runs the new revision (green) beside the old (blue) with
// no live traffic, then switches every named route at once.
type BlueGreenStrategy struct {
	// PreviewReplicas of green before the switch. Defaults to spec.replicas.
	// +kubebuilder:validation:Minimum=0
	// +optional
	PreviewReplicas *int32 `json:"previewReplicas,omitempty"`

	// Preview is the route that lets testers reach green before the switch.
	// Defaults to the header x-sluice-preview: "true".
	// +optional
	Preview *MatchRoute `json:"preview,omitempty"`

	// Steps run before the switch: pause, analysis, approval and fault (which
	// applies to the preview route).
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:XValidation:rule="self.all(s, !has(s.setWeight) && !has(s.setMirror) && !has(s.setCanaryScale))",message="blueGreen.steps may only pause, analyse, ask for approval or inject faults; setWeight, setMirror and setCanaryScale belong to canary and darkLaunch"
	Steps []Step `json:"steps,omitempty"`

	// PrePromotionAnalysis must succeed before the switch.
	// +optional
	PrePromotionAnalysis *AnalysisStep `json:"prePromotionAnalysis,omitempty"`

	// AutoPromotionAfter switches automatically this long after green is
	// ready and every pre-promotion gate has passed. Without it, promotion is
	// manual (kubectl sluice promote).
	// +optional
	AutoPromotionAfter *Duration `json:"autoPromotionAfter,omitempty"`

	// PostPromotionAnalysis runs after the switch while blue is still scaled
	// up; a failure switches traffic back to blue.
	// +optional
	PostPromotionAnalysis *AnalysisStep `json:"postPromotionAnalysis,omitempty"`
}

// ABTestStrategy sends matching requests 100% to the new revision through a
// route sluice inserts directly above each named route.
type ABTestStrategy struct {
	// Matches select the users who see the new revision: AND within one
	// match, OR across matches, as Istio defines HTTPMatchRequest.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Matches []HTTPMatch `json:"matches"`

	// Steps: analysis, pauses, approvals and faults (applied to the A/B route).
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:XValidation:rule="self.all(s, !has(s.setWeight) && !has(s.setMirror))",message="abTest.steps may not setWeight or setMirror: an A/B test sends matching users 100% to the new revision; put weights in abTest.canarySteps"
	Steps []Step `json:"steps,omitempty"`

	// CanarySteps, when set, continue the rollout after the A/B phase as a
	// canary with these steps instead of switching all traffic at once.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:XValidation:rule="self.all(s, !has(s.setMirror) && !has(s.fault))",message="abTest.canarySteps may not setMirror or inject faults"
	CanarySteps []Step `json:"canarySteps,omitempty"`
}

// DarkLaunchStrategy mirrors live traffic of the named routes to the new
// revision; users only ever see stable responses.
type DarkLaunchStrategy struct {
	// MirrorPercent of live traffic mirrored from the start, 0 to 100,
	// fractions allowed ("0.5"). Defaults to "100". setMirror steps change it.
	// +kubebuilder:default="100"
	// +optional
	MirrorPercent *Percent `json:"mirrorPercent,omitempty"`

	// Steps: setMirror, analysis, pauses and approvals.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:XValidation:rule="self.all(s, !has(s.setWeight) && !has(s.fault))",message="darkLaunch.steps may not setWeight or inject faults: mirrored responses are discarded; put weights in darkLaunch.canarySteps"
	Steps []Step `json:"steps,omitempty"`

	// CanarySteps, when set, continue the rollout after the dark launch as a
	// canary with these steps instead of switching all traffic at once.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:XValidation:rule="self.all(s, !has(s.setMirror) && !has(s.fault))",message="darkLaunch.canarySteps may not setMirror or inject faults"
	CanarySteps []Step `json:"canarySteps,omitempty"`
}

// Step is one thing a rollout does: change traffic or wait at a gate.
// +kubebuilder:validation:XValidation:rule="[has(self.setWeight), has(self.pause), has(self.setCanaryScale), has(self.setMirror), has(self.analysis), has(self.approval), has(self.fault)].exists_one(x, x)",message="each step sets exactly one of setWeight, pause, setCanaryScale, setMirror, analysis, approval or fault; split a step that does two things into two steps"
type Step struct {
	// SetWeight sends this percentage of the named routes' traffic to the
	// canary (0-100).
	// +kubebuilder:validation:XValidation:rule="self >= 0 && self <= 100",message="setWeight must be a percentage from 0 to 100"
	// +optional
	SetWeight *int32 `json:"setWeight,omitempty"`

	// Pause waits for duration, or until promoted when duration is empty.
	// +optional
	Pause *PauseStep `json:"pause,omitempty"`

	// SetCanaryScale sizes the canary independently of its weight.
	// +optional
	SetCanaryScale *CanaryScale `json:"setCanaryScale,omitempty"`

	// SetMirror changes the percentage of traffic mirrored to the new
	// revision (darkLaunch).
	// +optional
	SetMirror *Percent `json:"setMirror,omitempty"`

	// Analysis runs the referenced templates and waits for their verdict.
	// +optional
	Analysis *AnalysisStep `json:"analysis,omitempty"`

	// Approval waits for people to approve.
	// +optional
	Approval *ApprovalStep `json:"approval,omitempty"`

	// Fault injects delays and/or aborts into the route that reaches the new
	// revision alone, for a bounded time.
	// +optional
	Fault *FaultStep `json:"fault,omitempty"`
}

// PauseStep waits; with no duration it waits until promoted.
type PauseStep struct {
	// Duration to wait once the step's traffic and replicas are in place.
	// +optional
	Duration *Duration `json:"duration,omitempty"`
}

// CanaryScale sizes the canary: exactly one of replicas, percent or
// matchTrafficWeight.
// +kubebuilder:validation:XValidation:rule="[has(self.replicas), has(self.percent), has(self.matchTrafficWeight) && self.matchTrafficWeight].exists_one(x, x)",message="setCanaryScale sets exactly one of replicas, percent or matchTrafficWeight: true"
type CanaryScale struct {
	// Replicas of the canary.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// Percent of spec.replicas, rounded up.
	// +kubebuilder:validation:XValidation:rule="self >= 0 && self <= 100",message="setCanaryScale.percent must be a percentage from 0 to 100"
	// +optional
	Percent *int32 `json:"percent,omitempty"`
	// MatchTrafficWeight returns to the default: replicas follow the weight.
	// +optional
	MatchTrafficWeight bool `json:"matchTrafficWeight,omitempty"`
}

// FaultStep injects faults for a bounded time.
// +kubebuilder:validation:XValidation:rule="has(self.delay) || has(self.abort)",message="fault needs delay, abort or both"
type FaultStep struct {
	// Duration of the fault; it is removed afterwards and on abort.
	Duration Duration `json:"duration"`
	// Delay a percentage of requests.
	// +optional
	Delay *FaultDelay `json:"delay,omitempty"`
	// Abort a percentage of requests with an HTTP status.
	// +optional
	Abort *FaultAbort `json:"abort,omitempty"`
}

// FaultDelay delays a percentage of requests.
type FaultDelay struct {
	// Percent of requests delayed.
	Percent Percent `json:"percent"`
	// FixedDelay added to each delayed request.
	FixedDelay Duration `json:"fixedDelay"`
}

// FaultAbort fails a percentage of requests.
type FaultAbort struct {
	// Percent of requests aborted.
	Percent Percent `json:"percent"`
	// HTTPStatus returned.
	// +kubebuilder:validation:XValidation:rule="self >= 200 && self <= 599",message="fault.abort.httpStatus must be an HTTP status from 200 to 599"
	HTTPStatus int32 `json:"httpStatus"`
}

// MatchRoute is a route sluice inserts above each named route to send
// matching requests to the new revision alone. Its matches are ANDed with the
// named route's own matches, so it never catches a request the named route
// would not have received.
// +kubebuilder:validation:XValidation:rule="has(self.matches) != has(self.host)",message="set exactly one of matches or host"
type MatchRoute struct {
	// Matches select the requests (OR across matches).
	// +optional
	// +kubebuilder:validation:MaxItems=8
	Matches []HTTPMatch `json:"matches,omitempty"`
	// Host is a separate preview hostname added to the VirtualService's hosts
	// instead of matches.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Host string `json:"host,omitempty"`
}

// HTTPMatch is the part of Istio's HTTPMatchRequest sluice uses; every field
// set must match (AND).
// +kubebuilder:validation:XValidation:rule="has(self.headers) || has(self.queryParams) || has(self.uri) || has(self.method) || has(self.sourceLabels) || has(self.cookie)",message="a match needs at least one of headers, queryParams, uri, method, sourceLabels or cookie; an empty match would catch every request"
type HTTPMatch struct {
	// Headers to match; header names are lower case.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	Headers map[string]StringMatch `json:"headers,omitempty"`
	// QueryParams to match.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	QueryParams map[string]StringMatch `json:"queryParams,omitempty"`
	// URI to match.
	// +optional
	URI *StringMatch `json:"uri,omitempty"`
	// Method to match.
	// +optional
	Method *StringMatch `json:"method,omitempty"`
	// SourceLabels of the calling workload.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	SourceLabels map[string]string `json:"sourceLabels,omitempty"`
	// Cookie matches a cookie by exact value through the Cookie header.
	// +optional
	Cookie *CookieMatch `json:"cookie,omitempty"`
}

// StringMatch matches a string exactly, by prefix or by RE2 regex.
// +kubebuilder:validation:XValidation:rule="[has(self.exact), has(self.prefix), has(self.regex)].exists_one(x, x)",message="a string match sets exactly one of exact, prefix or regex"
type StringMatch struct {
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Exact *string `json:"exact,omitempty"`
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Prefix *string `json:"prefix,omitempty"`
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Regex *string `json:"regex,omitempty"`
}

// CookieMatch matches one cookie's value.
type CookieMatch struct {
	// Name of the cookie.
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9!#$%&'*+.^_|~-]+$`
	// +kubebuilder:validation:MaxLength=256
	Name string `json:"name"`
	// Value the cookie must have.
	// +kubebuilder:validation:MaxLength=1024
	Value string `json:"value"`
}

// SubsetTrafficPolicy is the subset of Istio's TrafficPolicy sluice writes on
// the canary subset.
type SubsetTrafficPolicy struct {
	// LoadBalancer is RANDOM, ROUND_ROBIN or LEAST_REQUEST.
	// +kubebuilder:validation:Enum=RANDOM;ROUND_ROBIN;LEAST_REQUEST
	// +optional
	LoadBalancer string `json:"loadBalancer,omitempty"`
	// ConnectionPool limits.
	// +optional
	ConnectionPool *ConnectionPool `json:"connectionPool,omitempty"`
	// OutlierDetection ejects failing canary pods (a circuit breaker).
	// +optional
	OutlierDetection *OutlierDetection `json:"outlierDetection,omitempty"`
}

// ConnectionPool limits connections to the canary.
type ConnectionPool struct {
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxConnections *int32 `json:"maxConnections,omitempty"`
	// +kubebuilder:validation:Minimum=1
	// +optional
	HTTP1MaxPendingRequests *int32 `json:"http1MaxPendingRequests,omitempty"`
	// +kubebuilder:validation:Minimum=1
	// +optional
	HTTP2MaxRequests *int32 `json:"http2MaxRequests,omitempty"`
}

// OutlierDetection configures Istio's outlier detection.
type OutlierDetection struct {
	// +kubebuilder:validation:Minimum=1
	// +optional
	Consecutive5xxErrors *int32 `json:"consecutive5xxErrors,omitempty"`
	// +optional
	Interval *Duration `json:"interval,omitempty"`
	// +optional
	BaseEjectionTime *Duration `json:"baseEjectionTime,omitempty"`
	// +kubebuilder:validation:XValidation:rule="self >= 0 && self <= 100",message="outlierDetection.maxEjectionPercent must be a percentage from 0 to 100"
	// +optional
	MaxEjectionPercent *int32 `json:"maxEjectionPercent,omitempty"`
}

// BackgroundAnalysis runs during the whole rollout from a step on.
type BackgroundAnalysis struct {
	AnalysisStep `json:",inline"`
	// StartingStep is the index of the step from which the analysis runs.
	// Defaults to 0.
	// +kubebuilder:validation:Minimum=0
	// +optional
	StartingStep *int32 `json:"startingStep,omitempty"`
}
