// SPDX-License-Identifier: Apache-2.0

package nvmlsource

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/internal/fakenvml"
	"github.com/nvml-scaler/nvml-scaler/nvml"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// One GPU of three cannot be opened — the cgroup denies it, it fell off the
// bus, it lacks power, its interrupts fail — for steps [0, 3). The node is
// ready and serves the other two; the bad one is listed as failed (lost for
// GPU_IS_LOST) with the reason, counted in nvml_errors_total, and logged
// once. It is tried again at the refresh pace and joins once it opens.
func TestFaultOneBadGPU(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		ret    nvml.Return
		code   string
		health scaler.Health
		opt    fakenvml.Option
	}{
		{nvml.ErrNoPermission, "NO_PERMISSION", scaler.HealthFailed, nil},
		{nvml.ErrGPULost, "GPU_IS_LOST", scaler.HealthLost, nil},
		{nvml.ErrInsufficientPower, "INSUFFICIENT_POWER", scaler.HealthFailed, nil},
		{nvml.ErrIRQIssue, "IRQ_ISSUE", scaler.HealthFailed, nil},
	} {
		t.Run(tt.code, func(t *testing.T) {
			t.Parallel()
			rec, err := fakenvml.Replicate(load(t, "h200-steps.json"), 3)
			require.NoError(t, err)
			f := fakenvml.New(t, rec, fakenvml.DenyGPU(1, int32(tt.ret), 0, 3))
			s := newStack(t, f.LibPath, false)
			snap, err := s.sweep()
			require.NoError(t, err, "one bad GPU does not make the node not ready")
			require.Len(t, snap.GPUs, 3)
			assert.Equal(t, scaler.HealthOK, snap.GPUs[0].Health)
			assert.Equal(t, scaler.HealthOK, snap.GPUs[2].Health)
			bad := snap.GPUs[1]
			assert.Equal(t, 1, bad.Index)
			assert.Equal(t, tt.health, bad.Health)
			require.Error(t, bad.Err)
			assert.ErrorIs(t, bad.Err, tt.ret)
			assert.Contains(t, bad.Err.Error(), "GPU 1: open")
			assert.True(t, s.ready())
			_, err = s.get("power_watts", "gpuIndexes", "0,2")
			require.NoError(t, err)
			for range 3 {
				_, err = s.sweep()
				require.NoError(t, err)
			}
			assert.Equal(t, 1, s.logs.Count("gpu unusable"), "logged once")
			assert.Equal(t, 1.0, s.metric("nvml_errors_total", "function", "nvmlDeviceGetHandleByIndex_v2", "code", tt.code),
				"counted once: not retried on every sweep")

			f.SetStep(3) // the GPU opens now
			for range refreshInterval / faultInterval {
				snap, err = s.sweep()
				require.NoError(t, err)
			}
			assert.Equal(t, scaler.HealthOK, snap.GPUs[1].Health, "retried and joined: %s", s.logs.String())
			assert.Equal(t, rec.Devices[1].UUID.Value, snap.GPUs[1].UUID)
			assert.Equal(t, 1, s.logs.Count("device list changed"))
			assert.Zero(t, s.logs.Count("re-initialised"), "NVML is not restarted for one GPU")
			assert.Equal(t, 3, s.logs.Count("gpu found"), "each GPU is logged found once")
		})
	}
}

// Before R450 there are no MIG functions: the GPU is listed and read, with
// no MIG devices and no error.
func TestPreR450HasNoMIG(t *testing.T) {
	t.Parallel()
	s, _ := newSource(t, load(t, "h200-steps.json"), fakenvml.WithVariant(fakenvml.PreR450))
	devs, err := s.Devices(t.Context())
	require.NoError(t, err)
	require.Len(t, devs, 1)
	assert.NoError(t, devs[0].Unusable)
	_, err = s.Read(t.Context(), 0)
	require.NoError(t, err)
}

// A sparse MIG layout: slices in slots 1 and 4, slot 0 answering
// INVALID_ARGUMENT, slot 2 NO_PERMISSION. MIGIndex is the slot; the broken
// slot is listed unusable, the others read.
func TestMIGSparseSlots(t *testing.T) {
	t.Parallel()
	rec := fakenvml.SyntheticMIG(load(t, "h100-two-tenants.json"))
	rec.Devices[0].MIGDevices[0].Index = 1
	rec.Devices[0].MIGDevices[1].Index = 4
	s, _ := newSource(t, rec,
		fakenvml.FailMIGSlot(0, 0, int32(nvml.ErrInvalidArgument), 0, 0),
		fakenvml.FailMIGSlot(0, 2, int32(nvml.ErrNoPermission), 0, 0))
	devs, err := s.Devices(t.Context())
	require.NoError(t, err)
	require.Len(t, devs, 4)
	parent := rec.Devices[0].UUID.Value
	for i, want := range []struct {
		slot   int
		uuid   string
		broken bool
	}{
		{1, rec.Devices[0].MIGDevices[0].UUID.Value, false},
		{2, "", true},
		{4, rec.Devices[0].MIGDevices[1].UUID.Value, false},
	} {
		d := devs[i+1]
		assert.Equal(t, parent, d.MIGParentUUID)
		assert.Equal(t, want.slot, d.MIGIndex)
		assert.Equal(t, want.uuid, d.UUID)
		_, err := s.Read(t.Context(), i+1)
		if want.broken {
			assert.ErrorIs(t, d.Unusable, nvml.ErrNoPermission)
			assert.Error(t, err)
			continue
		}
		assert.NoError(t, d.Unusable)
		assert.NoError(t, err)
	}
}
