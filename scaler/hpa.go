// SPDX-License-Identifier: Apache-2.0

package scaler

import "math"

// MetricTargetType is the `metricType` of a KEDA trigger: how the HPA compares
// the value with the target.
type MetricTargetType string

// The metric target types KEDA accepts for an external trigger (Utilization is
// for CPU and memory only).
const (
	// TargetAverageValue (KEDA's default): the HPA divides the value by the replica
	// count, so serve a fleet total (aggregation sum).
	TargetAverageValue MetricTargetType = "AverageValue"
	// TargetValue: the HPA compares the value itself with the target, so serve a
	// fleet average (aggregation avg, or max/min).
	TargetValue MetricTargetType = "Value"
)

// DefaultHPATolerance is the HPA's default tolerance: it keeps the current
// replica count while the usage ratio is within 10% of 1.
const DefaultHPATolerance = 0.1

// DesiredReplicas computes the replica count the HPA's external-metric
// algorithm (replica_calculator.go) proposes for one metric, before min/max
// replicas, stabilisation windows and scaling policies:
//
//   - Value: ratio = value / target; desired = ceil(ratio × current), or
//     ceil(ratio) at 0 replicas.
//   - AverageValue: ratio = value / (target × current);
//     desired = ceil(value / target).
//
// Either way the current count is kept while |1 − ratio| ≤ tolerance. The HPA
// first rounds value and target to milli-units; this works on the floats.
// NaN and negative values count as 0 (KEDA sends 0 for them); a target that is
// not positive, an unknown type or a negative current count returns current
// unchanged. The result saturates at math.MaxInt32.
func DesiredReplicas(t MetricTargetType, current int32, value, target, tolerance float64) int32 {
	if !(target > 0) || current < 0 || (t != TargetValue && t != TargetAverageValue) {
		return current
	}
	if !(value > 0) {
		value = 0
	}
	var ratio, desired float64
	if t == TargetValue {
		ratio = value / target
		desired = ratio * float64(current)
		if current == 0 {
			desired = ratio
		}
	} else {
		ratio = value / (target * float64(current)) // +Inf or NaN at 0 replicas
		desired = value / target
	}
	if current > 0 && math.Abs(1-ratio) <= tolerance || math.IsNaN(ratio) {
		return current
	}
	return int32(min(math.Ceil(desired), math.MaxInt32))
}
