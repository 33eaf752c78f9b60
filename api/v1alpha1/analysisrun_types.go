package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// AnalysisPhase is the verdict of a measurement, a metric or a run.
// +kubebuilder:validation:Enum=Pending;Running;Successful;Failed;Inconclusive;Error
type AnalysisPhase string

const (
	AnalysisPending      AnalysisPhase = "Pending"
	AnalysisRunning      AnalysisPhase = "Running"
	AnalysisSuccessful   AnalysisPhase = "Successful"
	AnalysisFailed       AnalysisPhase = "Failed"
	AnalysisInconclusive AnalysisPhase = "Inconclusive"
	// AnalysisError is a measurement the provider could not take
	// (Prometheus unreachable, query error); it is retried at the next
	// interval.
	AnalysisError AnalysisPhase = "Error"
)

// AnalysisRunSpec is a frozen copy of the metrics and arguments of one run, so
// an edit of a template does not change a run in progress.
type AnalysisRunSpec struct {
	// Metrics to measure, copied from the templates.
	// +kubebuilder:validation:MaxItems=256
	Metrics []Metric `json:"metrics"`
	// Args resolved for this run.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Args []AnalysisArg `json:"args,omitempty"`
	// Judge scores the comparison metrics.
	// +optional
	Judge *JudgeSpec `json:"judge,omitempty"`
	// Terminate stops the run; its phase becomes Successful unless a metric
	// already failed.
	// +optional
	Terminate bool `json:"terminate,omitempty"`
}

// AnalysisRunStatus holds every measurement.
type AnalysisRunStatus struct {
	// Phase of the run.
	// +optional
	Phase AnalysisPhase `json:"phase,omitempty"`
	// Message names the metric that decided the phase.
	// +optional
	Message string `json:"message,omitempty"`
	// StartedAt is when the run began.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// MetricResults per metric.
	// +optional
	// +listType=map
	// +listMapKey=name
	MetricResults []MetricResult `json:"metricResults,omitempty"`
	// Score of the statistical judge, 0-100.
	// +optional
	Score *int32 `json:"score,omitempty"`
}

// MetricResult is one metric's measurements and counters.
type MetricResult struct {
	Name  string        `json:"name"`
	Phase AnalysisPhase `json:"phase"`
	// Measurements, oldest first, at most the last 20 kept.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	Measurements []Measurement `json:"measurements,omitempty"`
	// +optional
	Count int32 `json:"count,omitempty"`
	// +optional
	Successful int32 `json:"successful,omitempty"`
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// +optional
	Inconclusive int32 `json:"inconclusive,omitempty"`
	// +optional
	Errors int32 `json:"errors,omitempty"`
	// +optional
	ConsecutiveErrors int32 `json:"consecutiveErrors,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
}

// Measurement is one observation.
type Measurement struct {
	Phase AnalysisPhase `json:"phase"`
	// Value as text; several series are shown as a list.
	// +optional
	Value string `json:"value,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// StartedAt is when the measurement was taken.
	StartedAt metav1.Time `json:"startedAt"`
	// FinishedAt is when it completed.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ar,categories=sluice
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Score",type=integer,JSONPath=`.status.score`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// AnalysisRun is one run of analysis for a Rollout, owned by it.
type AnalysisRun struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              AnalysisRunSpec   `json:"spec"`
	Status            AnalysisRunStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// AnalysisRunList is a list of AnalysisRuns.
type AnalysisRunList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AnalysisRun `json:"items"`
}

func init() {
	SchemeBuilder.Register(&AnalysisRun{}, &AnalysisRunList{})
}
