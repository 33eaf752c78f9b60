package v1alpha1

import (
	"strconv"
	"time"
)

// Duration is a Go duration string such as "30s", "5m" or "1h30m". It is
// validated at admission, so the controller can always parse it.
// +kubebuilder:validation:MaxLength=32
// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$')",message="must be a duration such as 30s, 5m or 1h30m (units ms, s, m, h)"
type Duration string

// Get returns the duration; a value admission would have refused counts as 0.
func (d Duration) Get() time.Duration {
	v, err := time.ParseDuration(string(d))
	if err != nil {
		return 0
	}
	return v
}

// Percent is a percentage from 0 to 100 as a decimal string; fractions such as
// "0.5" are allowed, as in Istio's mirrorPercentage.
// +kubebuilder:validation:MaxLength=12
// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{1,3}([.][0-9]{1,6})?$') && double(self) <= 100.0",message="must be a percentage from 0 to 100, such as 10 or 0.5"
type Percent string

// Float returns the percentage; a value admission would have refused counts
// as 0.
func (p Percent) Float() float64 {
	v, err := strconv.ParseFloat(string(p), 64)
	if err != nil || !(v >= 0 && v <= 100) { // also refuses NaN
		return 0
	}
	return v
}
