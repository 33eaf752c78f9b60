// Package judge is sluice's statistical judge: it compares a canary's samples
// of a metric with a baseline's and scores a set of such comparisons, in the
// manner Kayenta made popular (nonparametric test per metric, weighted groups,
// a pass and a marginal threshold). The code is our own, written from the
// mathematics below; it uses only the standard library.
//
// # One metric: Compare
//
// Compare cleans both samples, tests them and classifies the metric as Pass,
// High, Low or NoData:
//
//  1. NaN and ±Inf samples are dropped and counted (MetricResult.Dropped).
//     -0 is read as 0.
//  2. Optionally, values outside the Tukey fences [Q1−k·IQR, Q3+k·IQR] of
//     their own side are dropped and counted (MetricResult.Outliers). Q1 and
//     Q3 are linearly interpolated quantiles (Hyndman–Fan type 7, the default
//     of R and numpy). k is Options.OutlierK: 0 means the default 3 (so the
//     zero Options filter only extreme values), a negative k disables the
//     filter. A side whose IQR is 0 is never filtered: with mostly equal
//     values (an error rate that is usually 0) the fences would collapse onto
//     that value and every deviation, the very signal being looked for, would
//     be thrown away. Each side is fenced on its own quartiles, so a canary
//     that is uniformly slower is not trimmed against the baseline.
//  3. Fewer than MinSamples (3) samples left on either side → NoData.
//  4. Mann-Whitney U test, two-sided (see MannWhitney), and the
//     Hodges-Lehmann estimate of the shift canary − baseline with its
//     distribution-free confidence interval (see HodgesLehmann).
//  5. Decision. The effect is Shift / |baseline median|, a relative change;
//     when the baseline median is 0 a relative change is undefined and the
//     effect is the absolute Shift, so AllowedEffectSize is then read in the
//     metric's own unit. The metric is High when the whole interval lies
//     above 0 and the effect exceeds AllowedEffectSize, Low when the whole
//     interval lies below 0 and −effect exceeds AllowedEffectSize, Pass
//     otherwise. Options.Direction says which of High and Low is a failure
//     (Increase: High; Decrease: Low; Either: both); the other is reported
//     but is an improvement, not a failure.
//
// A significant change smaller than AllowedEffectSize passes: with thousands
// of samples the test finds differences far too small to matter, and the
// allowed effect size is how a user says what matters.
//
// # Many metrics: Score
//
// Metrics are scored in groups (MetricResult.Group, default the metric's
// name). A group's score is 100 × passed / counted, where counted are its
// metrics other than NoData ones without MustHaveData (those are left out of
// the denominator), and a metric that is High or Low in the harmless
// direction counts as passed. Group weights come from JudgeSpec.GroupWeights
// (see Score); the total is the weighted mean. A failed Critical metric, or
// NoData for at least half of all metrics, forces the total to 0 and the
// verdict to Fail, whatever the thresholds. Otherwise the verdict is Pass at
// or above the pass threshold (default 95), Marginal at or above the marginal
// threshold (default 75), and Fail below.
//
// # Inputs are never trusted
//
// No input makes these functions panic: empty or nil slices, all-NaN
// samples, huge values, negative or NaN options all have a documented
// meaning. Floating-point fields of a MetricResult are never NaN; Shift,
// Lower, Upper and Effect can be ±Inf only when the arithmetic itself
// overflows (samples beyond about ±9e307, whose differences exceed the
// float64 range, or a baseline median so close to 0 that the relative effect
// does).
package judge
