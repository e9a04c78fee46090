// SPDX-License-Identifier: Apache-2.0

package recorder

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/internal/fakenvml"
	"github.com/nvml-scaler/nvml-scaler/nvml"
	"github.com/nvml-scaler/nvml-scaler/recording"
)

func load(t *testing.T, name string) *recording.Recording {
	t.Helper()
	rec, err := recording.Load(filepath.Join("..", "..", "testdata", "recordings", name))
	require.NoError(t, err)
	return rec
}

func record(t *testing.T, f *fakenvml.Fake) *recording.Recording {
	t.Helper()
	lib, err := nvml.Open(nvml.WithLibraryPath(f.LibPath))
	require.NoError(t, err)
	require.NoError(t, lib.Init())
	defer func() { _ = lib.Shutdown(); _ = lib.Close() }()
	out, err := Record(context.Background(), lib, Options{Duration: 600 * time.Millisecond,
		Interval: nvml.GPMMinInterval, Source: "test (fakenvml)"})
	require.NoError(t, err)
	return out
}

// Recording the fake library, frozen at one step of a real recording, gives
// back exactly that step's answers: the recorder loses nothing on the way.
func TestRecordReproducesTheReplayedStep(t *testing.T) {
	t.Parallel()
	src := load(t, "h100-two-tenants.json")
	step := 0
	for i, s := range src.Samples {
		if len(s.Devices[0].Processes.Value) == 2 {
			step = i
		}
	}
	f := fakenvml.New(t, src)
	f.SetStep(uint64(step))
	got := record(t, f)

	assert.Equal(t, recording.Format, got.Format)
	assert.Equal(t, "test (fakenvml)", got.Source)
	assert.Equal(t, src.System.DriverVersion, got.System.DriverVersion)
	assert.Equal(t, src.System.NVMLVersion, got.System.NVMLVersion)
	assert.Equal(t, src.System.CUDADriverVersion, got.System.CUDADriverVersion)
	require.Len(t, got.Devices, 1)
	d, w := got.Devices[0], src.Devices[0]
	for name, pair := range map[string][2]any{
		"name": {w.Name, d.Name}, "uuid": {w.UUID, d.UUID}, "pci": {w.PCI, d.PCI},
		"arch": {w.Architecture, d.Architecture}, "cc": {w.ComputeCapability, d.ComputeCapability},
		"power limit": {w.PowerLimitMilliwatts, d.PowerLimitMilliwatts}, "mig": {w.MIGMode, d.MIGMode},
		"gpm": {w.GPMSupported, d.GPMSupported},
	} {
		assert.Equal(t, pair[0], pair[1], name)
	}
	for code, text := range src.ErrorStrings {
		assert.Equal(t, text, got.ErrorStrings[code], "error string %s", code)
	}
	for _, path := range []string{"GetHandleByIndex(count)", "GetHandleByUUID(bogus)", "GetMigDeviceHandleByIndex(0)"} {
		assert.Equal(t, src.ErrorPaths[path], got.ErrorPaths[path], path)
	}
	require.GreaterOrEqual(t, len(got.Samples), 3)
	want := src.Samples[step].Devices[0]
	for i, s := range got.Samples {
		g := s.Devices[0]
		assert.Equal(t, want.Utilization, g.Utilization, "sample %d", i)
		assert.Equal(t, want.Memory, g.Memory)
		assert.Equal(t, want.PowerMilliwatts, g.PowerMilliwatts)
		assert.Equal(t, want.TemperatureC, g.TemperatureC)
		assert.Equal(t, want.SMClockMHz, g.SMClockMHz)
		assert.Equal(t, want.Processes, g.Processes)
		assert.Equal(t, want.GPM, g.GPM)
	}
	var buf bytes.Buffer
	require.NoError(t, recording.Encode(&buf, got))
	back, err := recording.Decode(&buf)
	require.NoError(t, err, "what the recorder writes, the decoder reads")
	assert.Len(t, back.Samples, len(got.Samples))
}

// A failing call is recorded as its return code, and the others still are.
func TestRecordKeepsFailuresAsReturnCodes(t *testing.T) {
	t.Parallel()
	f := fakenvml.New(t, load(t, "h200-steps.json"),
		fakenvml.Fail("nvmlDeviceGetPowerUsage", int32(nvml.ErrNotSupported), 0, 0))
	got := record(t, f)
	for _, s := range got.Samples {
		assert.Equal(t, int32(nvml.ErrNotSupported), s.Devices[0].PowerMilliwatts.Ret)
		assert.True(t, s.Devices[0].Utilization.OK())
	}
}

func TestRecordNeedsASource(t *testing.T) {
	t.Parallel()
	_, err := Record(context.Background(), nil, Options{})
	assert.ErrorContains(t, err, "Source is empty")
}

// Intervals under GPM's 100 ms minimum are refused; the first recorded
// sample has GPM values (the recorder waits 100 ms after priming).
func TestRecordIntervalAtLeastGPMMinimum(t *testing.T) {
	t.Parallel()
	f := fakenvml.New(t, load(t, "h200-inference-ramp.json"))
	lib, err := nvml.Open(nvml.WithLibraryPath(f.LibPath))
	require.NoError(t, err)
	require.NoError(t, lib.Init())
	defer func() { _ = lib.Shutdown(); _ = lib.Close() }()
	_, err = Record(context.Background(), lib, Options{Duration: time.Second, Interval: 50 * time.Millisecond, Source: "t"})
	require.ErrorContains(t, err, "interval 50ms is under 100ms")
	out := record(t, f)
	require.NotEmpty(t, out.Samples)
	assert.NotEmpty(t, out.Samples[0].Devices[0].GPM, "the first sample has GPM values")
}
