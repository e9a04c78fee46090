// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// TestHPAModel pins the arithmetic of Kubernetes 1.36's replica_calculator.go
// (GetExternalMetricReplicas, GetExternalPerPodMetricReplicas,
// getUsageRatioReplicaCount) that query reproduces; test/e2e checks it
// against the real controller.
func TestHPAModel(t *testing.T) {
	t.Parallel()
	avg, val := scaler.TargetAverageValue, scaler.TargetValue
	for _, tc := range []struct {
		name          string
		m             hpaModel
		typ           scaler.MetricTargetType
		value, target float64
		active        bool
		want          int32
	}{
		{"average value scales on the total", hpaModel{1, 1, 0.1}, avg, 78.5, 20, true, 4},
		{"average value within tolerance keeps 3", hpaModel{3, 3, 0.1}, avg, 65.3, 20, true, 3},
		{"average value, tolerance 0 scales", hpaModel{3, 3, 0}, avg, 65.3, 20, true, 4},
		{"average value ignores readiness", hpaModel{3, 1, 0.1}, avg, 100, 20, true, 5},
		{"value multiplies by the ready pods", hpaModel{4, 2, 0.1}, val, 90, 60, true, 3},
		{"value with every pod ready", hpaModel{4, 4, 0.1}, val, 90, 60, true, 6},
		{"value within tolerance keeps the spec count", hpaModel{4, 1, 0.1}, val, 63, 60, true, 4},
		{"value with no ready pod proposes 0", hpaModel{4, 0, 0.1}, val, 90, 60, true, 0},
		{"a wider tolerance keeps more", hpaModel{2, 2, 0.5}, val, 80, 60, true, 2},
		{"at 0 replicas an active trigger wakes to 1", hpaModel{0, 0, 0.1}, avg, 300, 20, true, 1},
		{"at 0 replicas an inactive trigger stays", hpaModel{0, 0, 0.1}, val, 3, 20, false, 0},
		{"NaN counts as 0", hpaModel{2, 2, 0.1}, val, math.NaN(), 60, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, tc.m.desired(tc.typ, tc.value, tc.target, tc.active))
		})
	}
}
