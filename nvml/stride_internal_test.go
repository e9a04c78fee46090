// SPDX-License-Identifier: Apache-2.0

package nvml

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/internal/fakenvml"
	"github.com/nvml-scaler/nvml-scaler/recording"
)

// canary fills a process entry that no driver answer contains.
var canary = ProcessInfo{PID: 0xdeadbeef, UsedGPUMemory: 0xcafef00dcafef00d,
	GPUInstanceID: 0xfeedface, ComputeInstanceID: 0xbadc0ffe}

// r535 opens the R535 fake replaying the two-tenants recording with n
// processes on GPU 0, at the step that has them.
func r535(t *testing.T, n int) (*Library, []recording.Process) {
	t.Helper()
	rec, err := recording.Load(filepath.Join("..", "testdata", "recordings", "h100-two-tenants.json"))
	require.NoError(t, err)
	rec, err = fakenvml.SyntheticProcesses(rec, n)
	require.NoError(t, err)
	step := -1
	for i, s := range rec.Samples {
		if p := s.Devices[0].Processes; p.OK() && len(p.Value) == n {
			step = i
			break
		}
	}
	require.GreaterOrEqual(t, step, 0)
	f := fakenvml.New(t, rec, fakenvml.WithVariant(fakenvml.R535))
	f.SetStep(uint64(step))
	lib, err := Open(WithLibraryPath(f.LibPath))
	require.NoError(t, err)
	require.NoError(t, lib.Init())
	t.Cleanup(func() {
		_ = lib.Shutdown()
		require.NoError(t, lib.Close())
	})
	return lib, rec.Samples[step].Devices[0].Processes.Value
}

// Even when _v3 is called on a driver that writes 32-byte entries (the
// detection missed it), no entry past the buffer's capacity is written: the
// canaries behind it survive. Before the fix, 7 processes in an 8-entry
// buffer overwrote the entry behind it.
func TestProcessBufferHasRoomForR535Entries(t *testing.T) {
	t.Parallel()
	for _, n := range []int{5, 6, 7, 8, 13} {
		lib, _ := r535(t, n)
		require.True(t, lib.bind(&lib.fn.processes, "nvmlDeviceGetComputeRunningProcesses",
			"nvmlDeviceGetComputeRunningProcesses_v3"))
		d, err := lib.DeviceByIndex(0)
		require.NoError(t, err)
		backing := make([]ProcessInfo, 16)
		for i := range backing {
			backing[i] = canary
		}
		procs, err := d.ComputeProcesses(backing[:0:8])
		require.NoError(t, err, "%d processes", n)
		assert.Len(t, procs, n, "%d processes", n)
		for i := 8; i < len(backing); i++ {
			assert.Equal(t, canary, backing[i], "%d processes: entry %d behind the buffer was written", n, i)
		}
	}
}
