// SPDX-License-Identifier: Apache-2.0

package nvml_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/internal/fakenvml"
	"github.com/nvml-scaler/nvml-scaler/nvml"
)

// On a 535.54-like library (32-byte _v3 entries, ConfCompute exported, no
// RunningProcessDetailList) the binding takes _v2 and reads the right PIDs
// and memory, whatever the process count and the buffer passed in; elsewhere
// it keeps _v3.
func TestR535ProcessesReadRight(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		variant fakenvml.Variant
		symbol  string
	}{
		{fakenvml.R535, "nvmlDeviceGetComputeRunningProcesses_v2"},
		{fakenvml.Modern, "nvmlDeviceGetComputeRunningProcesses_v3"},
	} {
		for _, n := range []int{1, 6, 7, 40} {
			rec, err := fakenvml.SyntheticProcesses(load(t, "h100-two-tenants.json"), n)
			require.NoError(t, err)
			step := withProcesses(rec)
			want := rec.Samples[step].Devices[0].Processes.Value
			require.Len(t, want, n)
			lib, f := open(t, rec, fakenvml.WithVariant(tc.variant))
			f.SetStep(uint64(step))
			assert.Equal(t, tc.symbol, lib.Symbol("nvmlDeviceGetComputeRunningProcesses"), tc.variant)
			for _, buf := range [][]nvml.ProcessInfo{nil, make([]nvml.ProcessInfo, 0, 8)} {
				procs, err := device(t, lib, 0).ComputeProcesses(buf)
				require.NoError(t, err)
				require.Len(t, procs, n, "%v, %d processes", tc.variant, n)
				for i, p := range procs {
					assert.Equal(t, want[i].PID, p.PID, "%v, %d processes: entry %d", tc.variant, n, i)
					assert.Equal(t, want[i].UsedGPUMemory, p.UsedGPUMemory, "%v, %d processes: entry %d", tc.variant, n, i)
				}
			}
		}
	}
}
