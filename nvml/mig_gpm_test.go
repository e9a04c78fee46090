// SPDX-License-Identifier: Apache-2.0

package nvml_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/internal/fakenvml"
	"github.com/nvml-scaler/nvml-scaler/nvml"
)

// GPM per GPU instance: nvmlGpmMigSampleGet(parent, gpuInstanceId) gives each
// MIG device the GPM metrics utilization cannot. (The fake answers a GPU
// instance with its parent's recorded values.)
func TestMIGGPM(t *testing.T) {
	t.Parallel()
	base := load(t, "h200-inference-ramp.json")
	rec := fakenvml.SyntheticMIG(base)
	lib, f := open(t, rec)
	gpu := device(t, lib, 0)
	_, err := gpu.GPUInstanceID()
	assert.Error(t, err, "a GPU handle has no GPU instance")
	slots, err := gpu.MIGSlots()
	require.NoError(t, err)
	require.Len(t, slots, 2)
	step := busiest(rec)
	var want float64
	for _, g := range rec.Samples[step].Devices[0].GPM {
		if nvml.GPMMetricID(g.ID) == nvml.GPMSMActivity {
			want = float64(g.Value)
		}
	}
	for k, sl := range slots {
		gi, err := sl.Device.GPUInstanceID()
		require.NoError(t, err)
		assert.Equal(t, k+1, gi)
		s, err := gpu.NewMIGGPMSampler(gi, nvml.GPMSMActivity)
		require.NoError(t, err)
		nvml.SetGPMClock(s, steppingClock())
		f.SetStep(0)
		vals, err := s.Sample()
		require.NoError(t, err)
		assert.Nil(t, vals)
		f.SetStep(uint64(step))
		vals, err = s.Sample()
		require.NoError(t, err)
		require.Len(t, vals, 1)
		require.NoError(t, vals[0].Err)
		assert.Equal(t, want, vals[0].Value)
		require.NoError(t, s.Close())
	}
	s, err := gpu.NewMIGGPMSampler(9, nvml.GPMSMActivity)
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Sample()
	assert.ErrorIs(t, err, nvml.ErrNotFound, "no GPU instance 9")
	assert.Contains(t, err.Error(), "nvmlGpmMigSampleGet")
}

// mig-manager replaces the slice in slot 1 at step 3: the old handle answers
// INVALID_ARGUMENT, and listing the slots again finds the new UUID there.
func TestMIGReconfigured(t *testing.T) {
	t.Parallel()
	rec := fakenvml.SyntheticMIGReplaced(load(t, "h100-two-tenants.json"))
	migs := rec.Devices[0].MIGDevices
	lib, f := open(t, rec, fakenvml.MIGLifetime(0, 1, 0, 3), fakenvml.MIGLifetime(0, 2, 3, 0))
	gpu := device(t, lib, 0)
	uuids := func() []string {
		slots, err := gpu.MIGSlots()
		require.NoError(t, err)
		var out []string
		for _, s := range slots {
			require.NoError(t, s.Err)
			u, err := s.Device.UUID()
			require.NoError(t, err)
			out = append(out, u)
		}
		return out
	}
	assert.Equal(t, []string{migs[0].UUID.Value, migs[1].UUID.Value}, uuids())
	slots, err := gpu.MIGSlots()
	require.NoError(t, err)
	old := slots[1].Device
	f.SetStep(3)
	_, err = old.UUID()
	assert.ErrorIs(t, err, nvml.ErrInvalidArgument, "a destroyed MIG device's handle")
	assert.Equal(t, []string{migs[0].UUID.Value, migs[2].UUID.Value}, uuids())
	_, err = lib.DeviceByUUID(migs[1].UUID.Value)
	assert.ErrorIs(t, err, nvml.ErrNotFound)
}
