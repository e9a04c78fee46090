// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSelector(t *testing.T) {
	t.Parallel()
	gpu0 := Device{Index: 0, UUID: "GPU-aa", Model: "NVIDIA H200"}
	gpu1 := Device{Index: 1, UUID: "GPU-bb", Model: "NVIDIA H100 80GB HBM3"}
	mig := Device{Index: 1, UUID: "MIG-cc", Model: "NVIDIA H100 80GB HBM3 MIG 1g.10gb", MIGParentUUID: "GPU-bb"}
	devs := []Device{gpu0, gpu1, mig}
	tests := []struct {
		name string
		md   map[string]string
		want []string
	}{
		{"zero picks full GPUs only", md(), []string{"GPU-aa", "GPU-bb"}},
		{"uuid", md("gpuUUIDs", "GPU-bb"), []string{"GPU-bb"}},
		{"uuid names a MIG device", md("gpuUUIDs", " MIG-cc ,GPU-aa"), []string{"GPU-aa", "MIG-cc"}},
		{"index", md("gpuIndexes", "1"), []string{"GPU-bb"}},
		{"indexes never pick MIG devices", md("gpuIndexes", "0,1"), []string{"GPU-aa", "GPU-bb"}},
		{"model, any case", md("gpuModel", "nvidia h200"), []string{"GPU-aa"}},
		{"model names a MIG profile", md("gpuModel", "NVIDIA H100 80GB HBM3 MIG 1g.10gb"), []string{"MIG-cc"}},
		{"model is exact", md("gpuModel", "H200"), nil},
		{"AND", md("gpuIndexes", "0", "gpuModel", "NVIDIA H100 80GB HBM3"), nil},
		{"unknown index", md("gpuIndexes", "7"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr, err := ParseTrigger(tt.md)
			require.NoError(t, err)
			var got []string
			for i := range devs {
				if tr.Selector.Matches(&devs[i]) {
					got = append(got, devs[i].UUID)
				}
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestSelectorString(t *testing.T) {
	t.Parallel()
	tr, err := ParseTrigger(md("gpuIndexes", "0,1", "gpuModel", "NVIDIA H200"))
	require.NoError(t, err)
	assert.Equal(t, `gpuIndexes="0,1" gpuModel="NVIDIA H200"`, tr.Selector.String())
	var zero Selector
	assert.Contains(t, zero.String(), "all GPUs")
	assert.Equal(t, "no GPUs", inventory(&Snapshot{}))
}
