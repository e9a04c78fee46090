// SPDX-License-Identifier: Apache-2.0

package replay

import (
	"context"
	"math"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/nvml"
	"github.com/nvml-scaler/nvml-scaler/recording"
	"github.com/nvml-scaler/nvml-scaler/scaler"
	"github.com/nvml-scaler/nvml-scaler/scaler/nvmlsource"
)

var fixtures = []string{"h200-steps.json", "h200-inference-ramp.json", "h100-two-tenants.json"}

func load(t *testing.T, name string) *recording.Recording {
	t.Helper()
	rec, err := recording.Load(filepath.Join("..", "..", "testdata", "recordings", name))
	require.NoError(t, err)
	return rec
}

func TestReadMatchesRecording(t *testing.T) {
	t.Parallel()
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := load(t, name)
			src, err := New(rec, Options{Manual: true})
			require.NoError(t, err)
			ctx := context.Background()
			devs, err := src.Devices(ctx)
			require.NoError(t, err)
			require.Len(t, devs, len(rec.Devices))
			for i, d := range rec.Devices {
				assert.Equal(t, scaler.Device{Index: int(d.Index), UUID: d.UUID.Value, Model: d.Name.Value}, devs[i])
			}
			for i := range rec.Samples {
				require.NoError(t, src.Seek(i))
				assert.Equal(t, i, src.Position())
				for dev := range devs {
					r, err := src.Read(ctx, dev)
					require.NoError(t, err)
					assertReading(t, &rec.Devices[dev], &rec.Samples[i].Devices[dev], &r)
				}
			}
			require.NoError(t, src.Close())
		})
	}
}

func assertReading(t *testing.T, d *recording.Device, s *recording.DeviceSample, r *scaler.Reading) {
	t.Helper()
	assert.Equal(t, s.Utilization.OK(), r.Utilization.OK)
	assert.Equal(t, s.Utilization.Value.GPU, r.Utilization.Value.GPU)
	assert.Equal(t, s.Utilization.Value.Memory, r.Utilization.Value.Memory)
	assert.Equal(t, s.Memory.Value.Used, r.Memory.Value.Used)
	assert.Equal(t, s.Memory.Value.Total, r.Memory.Value.Total)
	assert.Equal(t, s.Memory.Value.Reserved, r.Memory.Value.Reserved)
	assert.Equal(t, s.PowerMilliwatts.Value, r.PowerMilliwatts.Value)
	assert.Equal(t, d.PowerLimitMilliwatts.Value, r.PowerLimitMilliwatts.Value)
	assert.Equal(t, s.TemperatureC.Value, r.TemperatureCelsius.Value)
	assert.Equal(t, s.SMClockMHz.Value, r.SMClockMHz.Value)
	assert.Equal(t, s.Processes.OK(), r.Processes.OK)
	assert.Len(t, r.Processes.Value, len(s.Processes.Value))
	for _, g := range s.GPM {
		m, ok := scaler.GPMMetricByID(g.ID)
		if !ok {
			continue
		}
		f := r.GPM[m]
		assert.Equal(t, g.Ret == 0, f.OK, "GPM %d", g.ID)
		if math.IsNaN(float64(g.Value)) {
			assert.True(t, math.IsNaN(f.Value), "GPM %d NaN is passed through", g.ID)
		} else {
			assert.Equal(t, float64(g.Value), f.Value, "GPM %d", g.ID)
		}
	}
}

func TestNaNReachesTheSourceAsRead(t *testing.T) {
	t.Parallel()
	rec := load(t, "h200-inference-ramp.json")
	src, err := New(rec, Options{Manual: true})
	require.NoError(t, err)
	found := false
	for i := range rec.Samples {
		require.NoError(t, src.Seek(i))
		r, err := src.Read(context.Background(), 0)
		require.NoError(t, err)
		for _, f := range r.GPM {
			found = found || f.OK && math.IsNaN(f.Value)
		}
	}
	assert.True(t, found, "the recording's NaN GPM value comes through")
}

func TestStepAndLoop(t *testing.T) {
	t.Parallel()
	rec := load(t, "h200-steps.json")
	n := len(rec.Samples)
	src, err := New(rec, Options{Manual: true})
	require.NoError(t, err)
	assert.Equal(t, 0, src.Position())
	for i := 1; i < n; i++ {
		moved, err := src.Step()
		require.NoError(t, err)
		require.True(t, moved)
		require.Equal(t, i, src.Position())
	}
	moved, err := src.Step()
	require.NoError(t, err)
	assert.False(t, moved, "without Loop the last sample repeats")
	assert.Equal(t, n-1, src.Position())
	assert.Equal(t, time.Duration(rec.Samples[n-1].OffsetNanos), src.Offset())
	assert.Equal(t, rec.PhaseAt(rec.Samples[n-1].OffsetNanos), src.Phase())

	looping, err := New(rec, Options{Manual: true, Loop: true})
	require.NoError(t, err)
	require.NoError(t, looping.Seek(n-1))
	moved, err = looping.Step()
	require.NoError(t, err)
	assert.True(t, moved)
	assert.Equal(t, 0, looping.Position())

	assert.Error(t, src.Seek(n))
	assert.Error(t, src.Seek(-1))
}

type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Add(d time.Duration)     { c.ns.Add(int64(d)) }
func (c *fakeClock) Set(t0 time.Time, d int) { c.ns.Store(t0.UnixNano() + int64(d)) }

func TestTimedPlayback(t *testing.T) {
	t.Parallel()
	rec := load(t, "h100-two-tenants.json")
	first := rec.Samples[0].OffsetNanos
	clock := &fakeClock{}
	clock.Add(time.Hour)
	for _, speed := range []float64{1, 4} {
		start := clock.Now()
		src, err := New(rec, Options{Speed: speed, Now: clock.Now})
		require.NoError(t, err)
		for _, i := range []int{0, 1, len(rec.Samples) / 2, len(rec.Samples) - 1} {
			elapsed := time.Duration(float64(rec.Samples[i].OffsetNanos-first) / speed)
			clock.Set(start, int(elapsed))
			// Rounding the elapsed time down can land on the sample before.
			assert.InDelta(t, i, src.Position(), 1, "speed %v sample %d", speed, i)
			clock.Set(start, int(elapsed+time.Millisecond))
			assert.Equal(t, i, src.Position(), "speed %v sample %d", speed, i)
		}
		clock.Add(time.Hour)
		assert.Equal(t, len(rec.Samples)-1, src.Position(), "the last sample repeats")
		_, err = src.Step()
		assert.Error(t, err, "Step needs Manual")
		assert.Error(t, src.Seek(0), "Seek needs Manual")
	}

	start := clock.Now()
	looping, err := New(rec, Options{Loop: true, Now: clock.Now})
	require.NoError(t, err)
	clock.Set(start, int(rec.Duration()+1+int64(time.Millisecond)+rec.Samples[1].OffsetNanos-first))
	assert.Equal(t, 1, looping.Position(), "loops back to the start")
}

func TestOptionsAndErrors(t *testing.T) {
	t.Parallel()
	rec := load(t, "h200-steps.json")
	for _, speed := range []float64{-1, math.NaN(), math.Inf(1)} {
		_, err := New(rec, Options{Speed: speed})
		assert.Error(t, err, "speed %v", speed)
	}
	_, err := New(nil, Options{})
	assert.Error(t, err)
	_, err = New(&recording.Recording{}, Options{})
	assert.Error(t, err, "invalid recording")
	_, err = Load("does-not-exist.json", Options{})
	assert.Error(t, err)

	src, err := New(rec, Options{Manual: true})
	require.NoError(t, err)
	assert.Same(t, rec, src.Recording())
	_, err = src.Read(context.Background(), 1)
	assert.Error(t, err, "out of range")
	_, err = src.Read(context.Background(), -1)
	assert.Error(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = src.Read(ctx, 0)
	assert.ErrorIs(t, err, context.Canceled)
	require.NoError(t, src.Close())
	_, err = src.Read(context.Background(), 0)
	assert.ErrorIs(t, err, ErrClosed)
	_, err = src.Devices(context.Background())
	assert.ErrorIs(t, err, ErrClosed)
}

// A recorded code classifies exactly as the live one does.
func TestReturnErrorMatchesLiveClassification(t *testing.T) {
	t.Parallel()
	for c := int32(1); c <= 999; c++ {
		want := scaler.ClassTransient
		switch nvmlsource.Sentinel(nvml.Return(c)) {
		case scaler.ErrNotSupported:
			want = scaler.ClassNotSupported
		case scaler.ErrGPULost:
			want = scaler.ClassGPULost
		case scaler.ErrReinit:
			want = scaler.ClassReinit
		}
		assert.Equal(t, want, scaler.Classify(ReturnError(c)), "code %d", c)
	}
	assert.ErrorIs(t, ReturnError(16), nvml.ErrResetRequired, "the recorded code is reachable")
}

func TestReturnError(t *testing.T) {
	t.Parallel()
	assert.ErrorIs(t, ReturnError(3), scaler.ErrNotSupported)
	assert.ErrorIs(t, ReturnError(15), scaler.ErrGPULost)
	assert.NotErrorIs(t, ReturnError(6), scaler.ErrNotSupported)
	assert.Equal(t, scaler.ClassTransient, scaler.Classify(ReturnError(999)))
	assert.Contains(t, ReturnError(15).Error(), "15")
}

// TestRecordedFailures replays a recording whose answers failed, including a
// MIG device: the return codes come back as errors the scaler classifies.
func TestRecordedFailures(t *testing.T) {
	t.Parallel()
	rec := load(t, "h200-steps.json")
	// Copy, then fail some answers of the first sample and add a MIG device.
	cp := *rec
	cp.Devices = append([]recording.Device(nil), rec.Devices...)
	cp.Samples = append([]recording.Sample(nil), rec.Samples[:2]...)
	s0 := cp.Samples[0]
	s0.Devices = append([]recording.DeviceSample(nil), s0.Devices...)
	s0.Devices[0].Utilization = recording.Fail[recording.Utilization](3)
	s0.Devices[0].Memory = recording.Fail[recording.Memory](15)
	s0.Devices[0].GPM = []recording.GPMValue{{ID: 2, Ret: 3}, {ID: 4, Value: 1}}
	migUUID := "MIG-0d1e2f30-0000-4000-8000-000000000000"
	cp.Devices[0].MIGDevices = []recording.MIGDevice{{Index: 0, UUID: recording.Ok(migUUID), Name: recording.Ok("MIG 1g")}}
	s0.MIGDevices = map[string]recording.MIGSample{migUUID: {Memory: recording.Ok(recording.Memory{Total: 10, Used: 5})}}
	cp.Samples[0] = s0

	src, err := New(&cp, Options{Manual: true})
	require.NoError(t, err)
	ctx := context.Background()
	devs, err := src.Devices(ctx)
	require.NoError(t, err)
	require.Len(t, devs, 2)
	assert.Equal(t, scaler.Device{Index: 0, UUID: migUUID, Model: "MIG 1g", MIGParentUUID: rec.Devices[0].UUID.Value}, devs[1])

	r, err := src.Read(ctx, 0)
	require.NoError(t, err)
	assert.ErrorIs(t, r.Utilization.Err, scaler.ErrNotSupported)
	assert.ErrorIs(t, r.Memory.Err, scaler.ErrGPULost)
	assert.ErrorIs(t, r.GPM[scaler.GPMSMActivity].Err, scaler.ErrNotSupported)
	assert.False(t, r.GPM[scaler.GPMDRAMBandwidth].OK, "not in the sample: absent")

	m, err := src.Read(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, uint64(5), m.Memory.Value.Used)
	assert.False(t, m.Utilization.OK)

	require.NoError(t, src.Seek(1))
	_, err = src.Read(ctx, 1)
	assert.Error(t, err, "the second sample has no MIG answers")

	cp.Devices[0].UUID = recording.Fail[string](999)
	_, err = New(&cp, Options{})
	assert.Error(t, err)
}
