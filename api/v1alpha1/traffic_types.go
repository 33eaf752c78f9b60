package v1alpha1

// TrafficRouting names the mesh objects that carry a Rollout's traffic.
type TrafficRouting struct {
	// Istio routing through VirtualServices and a DestinationRule.
	Istio IstioTraffic `json:"istio"`
}

// IstioTraffic routes by DestinationRule subsets (destinationRule) or by
// Services (stableService and canaryService): exactly one of the two.
// +kubebuilder:validation:XValidation:rule="has(self.destinationRule) != (has(self.stableService) || has(self.canaryService))",message="traffic.istio routes either by subsets (destinationRule) or by hosts (stableService and canaryService); set exactly one of the two"
// +kubebuilder:validation:XValidation:rule="has(self.stableService) == has(self.canaryService)",message="traffic.istio host-based routing needs both stableService and canaryService"
// +kubebuilder:validation:XValidation:rule="!has(self.stableService) || self.stableService != self.canaryService",message="traffic.istio.stableService and canaryService must name different Services"
// +kubebuilder:validation:XValidation:rule="self.virtualServices.all(v, self.virtualServices.exists_one(w, w.name == v.name))",message="traffic.istio.virtualServices lists a VirtualService twice; list each once with all its routes"
type IstioTraffic struct {
	// VirtualServices whose named HTTP routes sluice manages, in the
	// Rollout's namespace.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	VirtualServices []VirtualServiceRef `json:"virtualServices"`

	// DestinationRule whose subsets select the revisions (subset routing).
	// +optional
	DestinationRule *DestinationRuleRef `json:"destinationRule,omitempty"`

	// StableService is the Service the named routes send stable traffic to
	// (host routing); sluice points its selector at the stable revision.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	StableService string `json:"stableService,omitempty"`
	// CanaryService is the Service for the canary (host routing); sluice
	// points its selector at the canary revision.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	CanaryService string `json:"canaryService,omitempty"`
}

// VirtualServiceRef names a VirtualService and the HTTP routes in it that
// sluice manages. Routes are found by name, so give them names in the
// VirtualService. Other routes are never touched.
type VirtualServiceRef struct {
	// Name of the VirtualService.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Routes are the names of the HTTP routes to manage.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.all(r, !r.startsWith('sluice-'))",message="route names starting with sluice- are reserved for the routes sluice inserts; rename the route"
	// +kubebuilder:validation:XValidation:rule="self.all(r, self.exists_one(s, s == r))",message="a route is listed twice; list each route once"
	Routes []string `json:"routes"`
}

// DestinationRuleRef names a DestinationRule and its subsets.
// +kubebuilder:validation:XValidation:rule="self.stableSubset != self.canarySubset",message="traffic.istio.destinationRule.stableSubset and canarySubset must be different subsets"
// +kubebuilder:validation:XValidation:rule="!has(self.baselineSubset) || (self.baselineSubset != self.stableSubset && self.baselineSubset != self.canarySubset)",message="traffic.istio.destinationRule.baselineSubset must differ from stableSubset and canarySubset"
type DestinationRuleRef struct {
	// Name of the DestinationRule.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// StableSubset is the subset name for the stable revision.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	StableSubset string `json:"stableSubset"`
	// CanarySubset is the subset name for the canary revision.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	CanarySubset string `json:"canarySubset"`
	// BaselineSubset is the subset name for the baseline ReplicaSet, needed
	// when strategy.canary.baseline is true.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	BaselineSubset string `json:"baselineSubset,omitempty"`
}
