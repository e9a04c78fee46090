// SPDX-License-Identifier: Apache-2.0

package nvmlsource

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/internal/fakenvml"
	"github.com/nvml-scaler/nvml-scaler/nvml"
	"github.com/nvml-scaler/nvml-scaler/recording"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

func load(t testing.TB, name string) *recording.Recording {
	t.Helper()
	rec, err := recording.Load(filepath.Join("..", "..", "testdata", "recordings", name))
	require.NoError(t, err)
	return rec
}

func newSource(t testing.TB, rec *recording.Recording, opts ...fakenvml.Option) (*Source, *fakenvml.Fake) {
	t.Helper()
	f := fakenvml.New(t, rec, opts...)
	s := New(Options{LibraryPath: f.LibPath, Now: steppingClock()})
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s, f
}

func TestDevicesAndReadMatchRecording(t *testing.T) {
	t.Parallel()
	rec := load(t, "h100-two-tenants.json")
	s, f := newSource(t, rec)
	devs, err := s.Devices(context.Background())
	require.NoError(t, err)
	require.Equal(t, []scaler.Device{{Index: 0, UUID: rec.Devices[0].UUID.Value, Model: rec.Devices[0].Name.Value}}, devs)

	r, err := s.Read(context.Background(), 0)
	require.NoError(t, err)
	for m := range r.GPM {
		assert.False(t, r.GPM[m].OK, "no GPM interval before the second read")
	}
	step := 0
	for i, smp := range rec.Samples {
		if len(smp.Devices[0].Processes.Value) == 2 {
			step = i
			break
		}
	}
	f.SetStep(uint64(step))
	r, err = s.Read(context.Background(), 0)
	require.NoError(t, err)
	want := rec.Samples[step].Devices[0]
	assert.Equal(t, scaler.Got(scaler.Utilization{GPU: want.Utilization.Value.GPU, Memory: want.Utilization.Value.Memory}), r.Utilization)
	wm := want.Memory.Value
	assert.Equal(t, scaler.Got(scaler.Memory{Total: wm.Total, Reserved: wm.Reserved, Free: wm.Free, Used: wm.Used}), r.Memory)
	assert.Equal(t, scaler.Got(want.PowerMilliwatts.Value), r.PowerMilliwatts)
	assert.Equal(t, scaler.Got(rec.Devices[0].PowerLimitMilliwatts.Value), r.PowerLimitMilliwatts)
	assert.Equal(t, scaler.Got(want.TemperatureC.Value), r.TemperatureCelsius)
	assert.Equal(t, scaler.Got(want.SMClockMHz.Value), r.SMClockMHz)
	require.True(t, r.Processes.OK)
	require.Len(t, r.Processes.Value, 2)
	assert.Equal(t, want.Processes.Value[1].PID, r.Processes.Value[1].PID)
	for _, g := range want.GPM {
		if m, ok := scaler.GPMMetricByID(g.ID); ok {
			assert.Equal(t, scaler.Got(float64(g.Value)), r.GPM[m], "GPM metric %d", g.ID)
		}
	}
	_, err = s.Read(context.Background(), 1)
	assert.Error(t, err)
}

func TestMissingLibraryIsNotReadyAndRetries(t *testing.T) {
	t.Parallel()
	s := New(Options{LibraryPath: filepath.Join(t.TempDir(), "libnvidia-ml.so.1")})
	_, err := s.Devices(context.Background())
	assert.ErrorIs(t, err, nvml.ErrLibraryNotFound)
	_, err = s.Devices(context.Background())
	assert.ErrorIs(t, err, nvml.ErrLibraryNotFound, "each call tries again")
	assert.NoError(t, s.Close())
}

func TestInitFailureIsNotReady(t *testing.T) {
	t.Parallel()
	s, _ := newSource(t, load(t, "h200-steps.json"), fakenvml.Fail("nvmlInit_v2", int32(nvml.ErrDriverNotLoaded), 0, 0))
	_, err := s.Devices(context.Background())
	assert.ErrorIs(t, err, nvml.ErrDriverNotLoaded)
	assert.Contains(t, err.Error(), "initialise NVML")
}

func TestErrorClassification(t *testing.T) {
	t.Parallel()
	rec := load(t, "h200-steps.json")
	s, f := newSource(t, rec, fakenvml.LostGPU(0, 4),
		fakenvml.Fail("nvmlDeviceGetPowerUsage", int32(nvml.ErrNotSupported), 0, 0),
		fakenvml.Fail("nvmlDeviceGetTemperatureV", int32(nvml.ErrTimeout), 0, 0))
	_, err := s.Devices(context.Background())
	require.NoError(t, err)
	r, err := s.Read(context.Background(), 0)
	require.NoError(t, err)
	assert.Equal(t, scaler.ClassNotSupported, scaler.Classify(r.PowerMilliwatts.Err))
	assert.ErrorIs(t, r.PowerMilliwatts.Err, nvml.ErrNotSupported, "the nvml error stays reachable")
	assert.Equal(t, scaler.ClassTransient, scaler.Classify(r.TemperatureCelsius.Err))
	assert.ErrorIs(t, r.TemperatureCelsius.Err, nvml.ErrTimeout)
	assert.True(t, r.Utilization.OK)
	f.SetStep(4)
	_, err = s.Read(context.Background(), 0)
	assert.Equal(t, scaler.ClassGPULost, scaler.Classify(err))
}

func TestOldDriverHasNoGPM(t *testing.T) {
	t.Parallel()
	s, _ := newSource(t, load(t, "h200-steps.json"), fakenvml.WithVariant(fakenvml.OldDriver))
	_, err := s.Devices(context.Background())
	require.NoError(t, err)
	for range 2 {
		r, err := s.Read(context.Background(), 0)
		require.NoError(t, err)
		assert.True(t, r.Utilization.OK)
		assert.True(t, r.Memory.OK)
		for m := range r.GPM {
			assert.Equal(t, scaler.ClassNotSupported, scaler.Classify(r.GPM[m].Err))
		}
	}
}

func TestMIGDevicesFollowTheirParent(t *testing.T) {
	t.Parallel()
	rec := fakenvml.SyntheticMIG(load(t, "h100-two-tenants.json"))
	s, _ := newSource(t, rec)
	devs, err := s.Devices(context.Background())
	require.NoError(t, err)
	require.Len(t, devs, 3)
	parent := rec.Devices[0].UUID.Value
	for k, d := range devs[1:] {
		assert.Equal(t, rec.Devices[0].MIGDevices[k].UUID.Value, d.UUID)
		assert.Equal(t, parent, d.MIGParentUUID)
		assert.Equal(t, k, d.MIGIndex)
		assert.True(t, d.IsMIG())
		r, err := s.Read(context.Background(), k+1)
		require.NoError(t, err)
		assert.Equal(t, scaler.ClassNotSupported, scaler.Classify(r.Utilization.Err))
		assert.True(t, r.Memory.OK)
	}
}

// The Sampler on the real binding through the fake library: two sweeps give
// the recorded SM activity.
func TestSamplerOverNVML(t *testing.T) {
	t.Parallel()
	rec := load(t, "h200-inference-ramp.json")
	src, f := newSource(t, rec)
	smp, err := scaler.NewSampler(scaler.SamplerConfig{Source: src, Node: "node-a"})
	require.NoError(t, err)
	_, err = smp.Sweep(context.Background())
	require.NoError(t, err)
	step := len(rec.Samples) / 2
	f.SetStep(uint64(step))
	snap, err := smp.Sweep(context.Background())
	require.NoError(t, err)
	require.Len(t, snap.GPUs, 1)
	assert.Equal(t, scaler.HealthOK, snap.GPUs[0].Health)
	var want float64
	for _, g := range rec.Samples[step].Devices[0].GPM {
		if g.ID == scaler.GPMSMActivity.NVMLID() {
			want = float64(g.Value)
		}
	}
	got := snap.GPUs[0].Metrics[scaler.SMActive]
	require.True(t, got.OK())
	assert.Equal(t, want, got.V)
}

// steppingClock moves 200 ms on every reading, so that Reads made back to
// back are more than nvml.GPMMinInterval apart.
func steppingClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(2 * nvml.GPMMinInterval)
		return t
	}
}
