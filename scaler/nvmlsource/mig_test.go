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

// Every MIG slice gets a load signal: sm_active_percent from GPM of its GPU
// instance (nvmlGpmMigSampleGet). The fake answers a GPU instance with its
// parent's recorded values.
func TestMIGGPMPerSlice(t *testing.T) {
	t.Parallel()
	rec := fakenvml.SyntheticMIG(load(t, "h200-inference-ramp.json"))
	src, f := newSource(t, rec)
	smp, err := scaler.NewSampler(scaler.SamplerConfig{Source: src, Node: "n"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = smp.Close() })
	_, err = smp.Sweep(t.Context())
	require.NoError(t, err)
	step := len(rec.Samples) / 2
	f.SetStep(uint64(step))
	snap, err := smp.Sweep(t.Context())
	require.NoError(t, err)
	require.Len(t, snap.GPUs, 3)
	var want float64
	for _, g := range rec.Samples[step].Devices[0].GPM {
		if g.ID == scaler.GPMSMActivity.NVMLID() {
			want = float64(g.Value)
		}
	}
	for _, g := range snap.GPUs[1:] {
		require.True(t, g.IsMIG())
		v := g.Metrics[scaler.SMActive]
		require.True(t, v.OK(), "%s: sm_active_percent %v", g.UUID, v.Status)
		assert.Equal(t, want, v.V)
		assert.False(t, g.Metrics[scaler.GPUUtilization].OK(), "utilization is not supported on MIG")
	}
}

// mig-manager replaces the slice in slot 1 at step 3 under a running scaler:
// the old handle stops answering as its device, that slice is failed (never
// served under its UUID), the next sweep lists again, the old UUID is gone
// and the new one serves.
func TestMIGReconfiguredUnderSampler(t *testing.T) {
	t.Parallel()
	rec := fakenvml.SyntheticMIGReplaced(load(t, "h100-two-tenants.json"))
	migs := rec.Devices[0].MIGDevices
	f := fakenvml.New(t, rec, fakenvml.MIGLifetime(0, 1, 0, 3), fakenvml.MIGLifetime(0, 2, 3, 0))
	s := newStack(t, f.LibPath, false)
	snap, err := s.sweep()
	require.NoError(t, err)
	require.Len(t, snap.GPUs, 3)
	assert.Equal(t, migs[1].UUID.Value, snap.GPUs[2].UUID)
	assert.Equal(t, 1, snap.GPUs[2].MIGIndex)

	f.SetStep(3)
	snap, err = s.sweep()
	require.NoError(t, err)
	assert.Equal(t, migs[1].UUID.Value, snap.GPUs[2].UUID)
	assert.NotEqual(t, scaler.HealthOK, snap.GPUs[2].Health, "the destroyed slice is not served")
	assert.Equal(t, scaler.HealthOK, snap.GPUs[1].Health)

	snap, err = s.sweep()
	require.NoError(t, err)
	require.Len(t, snap.GPUs, 3)
	assert.Equal(t, migs[2].UUID.Value, snap.GPUs[2].UUID, "the new slice, in the same slot")
	assert.Equal(t, 1, snap.GPUs[2].MIGIndex)
	assert.Equal(t, scaler.HealthOK, snap.GPUs[2].Health)
	for _, g := range snap.GPUs {
		assert.NotEqual(t, migs[1].UUID.Value, g.UUID, "the old UUID is gone")
	}
	assert.Equal(t, 1, s.logs.Count("device list changed"))
}

// NO_PERMISSION on the memory or process query of a GPU in MIG mode means
// "not supported here", not a failure.
func TestMIGParentNoPermissionIsNotSupported(t *testing.T) {
	t.Parallel()
	rec := fakenvml.SyntheticMIG(load(t, "h100-two-tenants.json"))
	var errs []error
	f := fakenvml.New(t, rec, fakenvml.Fail("nvmlDeviceGetMemoryInfo_v2", int32(nvml.ErrNoPermission), 0, 0),
		fakenvml.Fail("nvmlDeviceGetComputeRunningProcesses_v3", int32(nvml.ErrNoPermission), 0, 0))
	src := New(Options{LibraryPath: f.LibPath, Now: steppingClock(), OnError: func(err error) { errs = append(errs, err) }})
	t.Cleanup(func() { assert.NoError(t, src.Close()) })
	_, err := src.Devices(t.Context())
	require.NoError(t, err)
	errs = nil
	r, err := src.Read(t.Context(), 0)
	require.NoError(t, err)
	assert.Equal(t, scaler.ClassNotSupported, scaler.Classify(r.Memory.Err))
	assert.Equal(t, scaler.ClassNotSupported, scaler.Classify(r.Processes.Err))
	for _, e := range errs {
		assert.NotErrorIs(t, e, nvml.ErrNoPermission, "not reported as a failed call")
	}
	r, err = src.Read(t.Context(), 1)
	require.NoError(t, err)
	assert.NotEqual(t, scaler.ClassNotSupported, scaler.Classify(r.Memory.Err), "on a MIG device it is a failure")
}
