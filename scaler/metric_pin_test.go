// SPDX-License-Identifier: Apache-2.0

package scaler_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// TestCatalogueIsPinned: a metric's position in the catalogue is its number
// on the node-snapshot stream for agents that send no metric names (every
// release before they were added), and what an aggregator of such a release
// reads a newer agent by. Positions never change: a new metric is appended
// before NumMetrics, never inserted, and none is removed or renamed.
func TestCatalogueIsPinned(t *testing.T) {
	t.Parallel()
	pinned := []struct {
		id   scaler.Metric
		name string
	}{
		{0, "gpu_utilization_percent"}, {1, "memory_busy_percent"}, {2, "memory_used_bytes"},
		{3, "memory_used_percent"}, {4, "power_watts"}, {5, "power_percent"}, {6, "temperature_celsius"},
		{7, "sm_clock_mhz"}, {8, "sm_active_percent"}, {9, "sm_occupancy_percent"},
		{10, "tensor_active_percent"}, {11, "dram_bandwidth_percent"}, {12, "graphics_active_percent"},
		{13, "process_count"},
	}
	require.GreaterOrEqual(t, int(scaler.NumMetrics), len(pinned), "metrics are only ever appended")
	for _, p := range pinned {
		assert.Equal(t, p.name, p.id.String(), "position %d", p.id)
	}
}
