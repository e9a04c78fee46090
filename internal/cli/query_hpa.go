// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"math"

	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// hpaModel is what the HPA's arithmetic needs besides the metric: the
// Deployment's replicas, its Ready pods and the tolerance.
type hpaModel struct {
	current   int32   // spec replicas (--current-replicas)
	ready     int32   // Ready pods (--ready-pods; the current replicas by default)
	tolerance float64 // behavior's tolerance, both directions (--tolerance)
}

// desired is the replica count the HPA's external-metric algorithm
// (replica_calculator.go, Kubernetes 1.36) proposes, before
// min/maxReplicaCount, stabilisation windows and scaling policies:
//
//   - at 0 replicas the HPA does not act: KEDA scales an active trigger to
//     max(1, minReplicaCount) and leaves an inactive one at 0, so this is 1
//     or 0 (minReplicaCount applies after);
//   - AverageValue: ceil(value / target) unless value / (target × current)
//     is within the tolerance of 1;
//   - Value: ceil(value / target × ready pods) unless value / target is
//     within the tolerance of 1. The HPA multiplies by the pods that are
//     Ready, not by the spec replicas: pods still loading a model count as 0.
func (m hpaModel) desired(t scaler.MetricTargetType, value, target float64, active bool) int32 {
	if m.current == 0 {
		if active {
			return 1
		}
		return 0
	}
	if t == scaler.TargetAverageValue {
		return scaler.DesiredReplicas(t, m.current, value, target, m.tolerance)
	}
	if !(value > 0) {
		value = 0
	}
	ratio := value / target
	if math.Abs(1-ratio) <= m.tolerance {
		return m.current
	}
	return int32(min(math.Ceil(ratio*float64(m.ready)), math.MaxInt32))
}
