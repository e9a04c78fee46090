// SPDX-License-Identifier: Apache-2.0

package replay

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/recording"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// sweepFirst serves the first sample of rec through a Sampler, as serve does,
// and returns its first GPU.
func sweepFirst(t *testing.T, rec *recording.Recording) scaler.GPU {
	t.Helper()
	src, err := New(rec, Options{Manual: true})
	require.NoError(t, err)
	s, err := scaler.NewSampler(scaler.SamplerConfig{Source: src, Node: "n"})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	snap, err := s.Sweep(context.Background())
	require.NoError(t, err)
	require.NotEmpty(t, snap.GPUs)
	return snap.GPUs[0]
}

// oneSample copies rec's first sample with its first device's entry changed.
func oneSample(rec *recording.Recording, change func(*recording.DeviceSample)) *recording.Recording {
	cp := *rec
	cp.Samples = append([]recording.Sample(nil), rec.Samples[:1]...)
	cp.Samples[0].Devices = append([]recording.DeviceSample(nil), rec.Samples[0].Devices...)
	change(&cp.Samples[0].Devices[0])
	return &cp
}

// A device entry that is null (or {}) in a sample is a gap in the recording:
// every metric is absent, never a real-looking 0 W, 0 °C reading.
func TestNullDeviceEntryIsAbsent(t *testing.T) {
	t.Parallel()
	g := sweepFirst(t, oneSample(load(t, "h200-steps.json"), func(d *recording.DeviceSample) { *d = recording.DeviceSample{} }))
	for m, v := range g.Metrics {
		assert.NotEqual(t, scaler.StatusOK, v.Status, "%v is %v: want absent", scaler.Metric(m), v.V)
	}
	r := noAnswers()
	assert.ErrorIs(t, r.PowerMilliwatts.Err, ErrNoAnswers)
}

// Values no GPU can answer are invalid, as they are from the live source
// (the Sampler classifies both alike): SM activity 250 %, utilization 101 %,
// a temperature of 4294967295 °C.
func TestImpossibleValuesAreInvalid(t *testing.T) {
	t.Parallel()
	g := sweepFirst(t, oneSample(load(t, "h200-steps.json"), func(d *recording.DeviceSample) {
		d.GPM = []recording.GPMValue{{ID: 2, Value: 250}, {ID: 5, Value: 100.2}}
		d.Utilization = recording.Ok(recording.Utilization{GPU: 101, Memory: 100})
		d.TemperatureC = recording.Ok[uint32](math.MaxUint32)
	}))
	assert.Equal(t, scaler.StatusInvalid, g.Metrics[scaler.SMActive].Status)
	assert.Equal(t, scaler.StatusInvalid, g.Metrics[scaler.GPUUtilization].Status)
	assert.Equal(t, scaler.StatusInvalid, g.Metrics[scaler.TemperatureCelsius].Status)
	assert.Equal(t, scaler.Value{V: 100, Status: scaler.StatusOK}, g.Metrics[scaler.MemoryBusy], "100 % is a value")
	assert.Equal(t, scaler.StatusOK, g.Metrics[scaler.TensorActive].Status, "GPM may round a little past 100")
}
