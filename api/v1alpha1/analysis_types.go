package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// AnalysisTemplateSpec lists the metrics a rollout is judged on.
type AnalysisTemplateSpec struct {
	// Args the template's queries use as {{args.name}}; a value here is the
	// default.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	Args []AnalysisArgDecl `json:"args,omitempty"`
	// Metrics to measure.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:XValidation:rule="self.all(m, self.exists_one(n, n.name == m.name))",message="metric names must be unique within a template"
	Metrics []Metric `json:"metrics"`
	// Judge scores comparison metrics together (the statistical judge).
	// +optional
	Judge *JudgeSpec `json:"judge,omitempty"`
}

// AnalysisArgDecl declares an argument.
type AnalysisArgDecl struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// Value is the default.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Value *string `json:"value,omitempty"`
}

// Metric is one measurement repeated count times, interval apart.
// +kubebuilder:validation:XValidation:rule="[has(self.prometheus), has(self.comparison)].exists_one(x, x)",message="a metric sets exactly one provider: prometheus (a threshold check) or comparison (canary against baseline)"
// +kubebuilder:validation:XValidation:rule="!has(self.prometheus) || has(self.successCondition) || has(self.failureCondition) || has(self.min) || has(self.max)",message="a prometheus metric needs successCondition, failureCondition, min or max; otherwise no value could fail"
type Metric struct {
	// Name of the metric, shown in results and abort reasons.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// Interval between measurements. Defaults to 1m.
	// +kubebuilder:default="1m"
	// +optional
	Interval *Duration `json:"interval,omitempty"`
	// Count of measurements. Defaults to 1.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Count *int32 `json:"count,omitempty"`
	// InitialDelay before the first measurement.
	// +optional
	InitialDelay *Duration `json:"initialDelay,omitempty"`
	// SuccessCondition is a CEL expression over result (a double, or a list
	// of doubles for a multi-series result) that is true when the value is
	// good, e.g. "result < 0.01".
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	SuccessCondition string `json:"successCondition,omitempty"`
	// FailureCondition is a CEL expression over result that is true when the
	// value is bad.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	FailureCondition string `json:"failureCondition,omitempty"`
	// Min is sugar for successCondition "result >= min".
	// +optional
	Min *Number `json:"min,omitempty"`
	// Max is sugar for successCondition "result <= max".
	// +optional
	Max *Number `json:"max,omitempty"`
	// FailureLimit is how many Failed measurements are tolerated. Default 0.
	// +kubebuilder:validation:Minimum=0
	// +optional
	FailureLimit int32 `json:"failureLimit,omitempty"`
	// InconclusiveLimit is how many Inconclusive measurements are tolerated.
	// +kubebuilder:validation:Minimum=0
	// +optional
	InconclusiveLimit int32 `json:"inconclusiveLimit,omitempty"`
	// ConsecutiveErrorLimit is how many provider errors in a row are
	// retried before the run becomes Inconclusive. Defaults to 4.
	// +kubebuilder:default=4
	// +kubebuilder:validation:Minimum=0
	// +optional
	ConsecutiveErrorLimit *int32 `json:"consecutiveErrorLimit,omitempty"`
	// NoDataPolicy for an empty result: Fail, Inconclusive or Pass. Defaults
	// to Inconclusive: sluice never promotes on missing data by default.
	// +kubebuilder:validation:Enum=Fail;Inconclusive;Pass
	// +kubebuilder:default=Inconclusive
	// +optional
	NoDataPolicy string `json:"noDataPolicy,omitempty"`

	// Prometheus measures one query.
	// +optional
	Prometheus *PrometheusMetric `json:"prometheus,omitempty"`
	// Comparison judges canary against baseline statistically.
	// +optional
	Comparison *ComparisonMetric `json:"comparison,omitempty"`
}

// Number is a decimal number as a string ("0.01", "250").
// +kubebuilder:validation:MaxLength=32
// +kubebuilder:validation:XValidation:rule="self.matches('^-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$')",message="must be a number such as 0.01 or 250"
type Number string

// PrometheusServer says how to reach Prometheus.
type PrometheusServer struct {
	// Address of Prometheus, http://prometheus.monitoring:9090.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.startsWith('http://') || self.startsWith('https://')",message="prometheus.address must start with http:// or https://"
	Address string `json:"address"`
	// Timeout of one query. Defaults to 30s.
	// +kubebuilder:default="30s"
	// +optional
	Timeout *Duration `json:"timeout,omitempty"`
	// Headers added to each request.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	Headers map[string]string `json:"headers,omitempty"`
	// AuthSecretRef holds token (bearer) or username and password (basic),
	// in the namespace of the Rollout being analysed.
	// +optional
	AuthSecretRef *LocalSecretReference `json:"authSecretRef,omitempty"`
}

// PrometheusMetric is one PromQL query.
type PrometheusMetric struct {
	PrometheusServer `json:",inline"`
	// Query in PromQL; {{args.name}} is replaced by the argument's value,
	// escaped for use inside a label matcher's quotes.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=8192
	Query string `json:"query"`
	// Range makes this a range query over the last window at step.
	// +optional
	Range *QueryRange `json:"range,omitempty"`
}

// QueryRange is a range query's window and step.
type QueryRange struct {
	Window Duration `json:"window"`
	Step   Duration `json:"step"`
}

// ComparisonMetric compares a canary query with a baseline query over the
// same window with a Mann-Whitney U test.
type ComparisonMetric struct {
	PrometheusServer `json:",inline"`
	// BaselineQuery returns the baseline's samples (a range query).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=8192
	BaselineQuery string `json:"baselineQuery"`
	// CanaryQuery returns the canary's samples over the same window.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=8192
	CanaryQuery string `json:"canaryQuery"`
	// Window and step of the range queries.
	Range QueryRange `json:"range"`
	// Direction that counts as bad: Increase, Decrease or Either.
	// +kubebuilder:validation:Enum=Increase;Decrease;Either
	// +kubebuilder:default=Increase
	// +optional
	Direction string `json:"direction,omitempty"`
	// Confidence of the interval, default "0.98".
	// +kubebuilder:default="0.98"
	// +optional
	Confidence *Number `json:"confidence,omitempty"`
	// AllowedEffectSize is the relative change tolerated (0.1 = 10%).
	// +optional
	AllowedEffectSize *Number `json:"allowedEffectSize,omitempty"`
	// Critical: a failure of this metric scores the whole judgement 0.
	// +optional
	Critical bool `json:"critical,omitempty"`
	// MustHaveData: no data counts as a failure.
	// +optional
	MustHaveData bool `json:"mustHaveData,omitempty"`
	// Group the metric is scored in. Defaults to the metric's name.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Group string `json:"group,omitempty"`
}

// JudgeSpec scores comparison metrics.
type JudgeSpec struct {
	// GroupWeights weigh groups; unlisted groups share what is left equally.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	GroupWeights map[string]int32 `json:"groupWeights,omitempty"`
	// Pass is the lowest passing score (0-100). Defaults to 95.
	// +kubebuilder:default=95
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	Pass *int32 `json:"pass,omitempty"`
	// Marginal is the lowest inconclusive score; below it fails. Default 75.
	// +kubebuilder:default=75
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	Marginal *int32 `json:"marginal,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=at,categories=sluice
// +kubebuilder:validation:XValidation:rule="!has(self.spec.judge) || !has(self.spec.judge.pass) || !has(self.spec.judge.marginal) || self.spec.judge.marginal <= self.spec.judge.pass",message="spec.judge.marginal must not be above spec.judge.pass"

// AnalysisTemplate is a namespaced set of metrics.
type AnalysisTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              AnalysisTemplateSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// AnalysisTemplateList is a list of AnalysisTemplates.
type AnalysisTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AnalysisTemplate `json:"items"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=cat,categories=sluice

// ClusterAnalysisTemplate is a cluster-wide set of metrics shared by teams.
// Credentials it names are read from the namespace of the Rollout that uses
// it, never from a shared namespace.
type ClusterAnalysisTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              AnalysisTemplateSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// ClusterAnalysisTemplateList is a list of ClusterAnalysisTemplates.
type ClusterAnalysisTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterAnalysisTemplate `json:"items"`
}

func init() {
	SchemeBuilder.Register(&AnalysisTemplate{}, &AnalysisTemplateList{}, &ClusterAnalysisTemplate{}, &ClusterAnalysisTemplateList{})
}
