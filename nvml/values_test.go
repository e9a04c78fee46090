// SPDX-License-Identifier: Apache-2.0

package nvml_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/nvml"
	"github.com/nvml-scaler/nvml-scaler/recording"
)

// Every value read through the binding equals the recording exactly.
func TestStaticValuesMatchRecording(t *testing.T) {
	t.Parallel()
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := load(t, name)
			lib, _ := open(t, rec)
			assertSystem(t, lib, rec.System)
			n, err := lib.DeviceCount()
			require.NoError(t, err)
			require.Equal(t, len(rec.Devices), n)
			for i, want := range rec.Devices {
				assertStatic(t, device(t, lib, i), want)
			}
		})
	}
}

func assertSystem(t *testing.T, lib *nvml.Library, want recording.System) {
	t.Helper()
	v, err := lib.DriverVersion()
	require.NoError(t, err)
	assert.Equal(t, want.DriverVersion.Value, v)
	v, err = lib.NVMLVersion()
	require.NoError(t, err)
	assert.Equal(t, want.NVMLVersion.Value, v)
	c, err := lib.CUDADriverVersion()
	require.NoError(t, err)
	assert.Equal(t, int(want.CUDADriverVersion.Value), c)
}

func assertStatic(t *testing.T, d nvml.Device, want recording.Device) {
	t.Helper()
	name, err := d.Name()
	require.NoError(t, err)
	assert.Equal(t, want.Name.Value, name)
	uuid, err := d.UUID()
	require.NoError(t, err)
	assert.Equal(t, want.UUID.Value, uuid)
	idx, err := d.Index()
	require.NoError(t, err)
	assert.Equal(t, int(want.Index), idx)
	pci, err := d.PCIInfo()
	require.NoError(t, err)
	w := want.PCI.Value
	assert.Equal(t, nvml.PCIInfo{BusID: w.BusID, BusIDLegacy: w.BusIDLegacy, Domain: w.Domain, Bus: w.Bus,
		Device: w.Device, PCIDeviceID: w.PCIDeviceID, PCISubSystemID: w.PCISubSystemID}, pci)
	arch, err := d.Architecture()
	require.NoError(t, err)
	assert.Equal(t, want.Architecture.Value, uint32(arch))
	assert.Equal(t, "Hopper", arch.String())
	ma, mi, err := d.ComputeCapability()
	require.NoError(t, err)
	assert.Equal(t, [2]int32{int32(ma), int32(mi)}, want.ComputeCapability.Value)
	limit, err := d.EnforcedPowerLimit()
	require.NoError(t, err)
	assert.Equal(t, want.PowerLimitMilliwatts.Value, limit)
	cur, pend, err := d.MIGMode()
	require.NoError(t, err)
	assert.Equal(t, want.MIGMode.Value.Current == 1, cur)
	assert.Equal(t, want.MIGMode.Value.Pending == 1, pend)
	gpm, err := d.GPMSupported()
	require.NoError(t, err)
	assert.Equal(t, want.GPMSupported.Value, gpm)
	isMIG, err := d.IsMIGDevice()
	require.NoError(t, err)
	assert.False(t, isMIG)
}

func TestSampleValuesMatchRecording(t *testing.T) {
	t.Parallel()
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := load(t, name)
			lib, f := open(t, rec)
			d := device(t, lib, 0)
			steps := []int{0, busiest(rec), withProcesses(rec), len(rec.Samples) - 1}
			for _, step := range steps {
				f.SetStep(uint64(step))
				assertSample(t, d, rec.Samples[step].Devices[0], step)
			}
		})
	}
}

func assertSample(t *testing.T, d nvml.Device, want recording.DeviceSample, step int) {
	t.Helper()
	u, err := d.Utilization()
	require.NoError(t, err, "step %d", step)
	assert.Equal(t, nvml.Utilization{GPU: want.Utilization.Value.GPU, Memory: want.Utilization.Value.Memory}, u, "step %d", step)
	m, err := d.Memory()
	require.NoError(t, err)
	wm := want.Memory.Value
	assert.Equal(t, nvml.Memory{Total: wm.Total, Reserved: wm.Reserved, Free: wm.Free, Used: wm.Used}, m, "step %d", step)
	p, err := d.PowerUsage()
	require.NoError(t, err)
	assert.Equal(t, want.PowerMilliwatts.Value, p)
	c, err := d.Temperature()
	require.NoError(t, err)
	assert.Equal(t, want.TemperatureC.Value, c)
	clk, err := d.SMClock()
	require.NoError(t, err)
	assert.Equal(t, want.SMClockMHz.Value, clk)
	procs, err := d.ComputeProcesses(nil)
	require.NoError(t, err)
	require.Len(t, procs, len(want.Processes.Value), "step %d", step)
	for i, wp := range want.Processes.Value {
		assert.Equal(t, wp.PID, procs[i].PID)
		assert.Equal(t, wp.UsedGPUMemory, procs[i].UsedGPUMemory)
		assert.Equal(t, wp.GPUInstanceID, procs[i].GPUInstanceID)
		assert.Equal(t, wp.ComputeInstanceID, procs[i].ComputeInstanceID)
	}
}

// GPM values between two samples are what the recording holds for the
// interval ending at the second one — NaN included.
func TestGPMMatchesRecording(t *testing.T) {
	t.Parallel()
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := load(t, name)
			lib, f := open(t, rec)
			d := device(t, lib, 0)
			ids := []nvml.GPMMetricID{}
			for _, g := range rec.Samples[0].Devices[0].GPM {
				ids = append(ids, nvml.GPMMetricID(g.ID))
			}
			s, err := d.NewGPMSampler(ids...)
			require.NoError(t, err)
			nvml.SetGPMClock(s, steppingClock())
			defer func() { require.NoError(t, s.Close()) }()
			vals, err := s.Sample()
			require.NoError(t, err)
			assert.Nil(t, vals, "the first sample only primes")
			for _, step := range []int{0, busiest(rec), len(rec.Samples) - 1} {
				f.SetStep(uint64(step))
				vals, err := s.Sample()
				require.NoError(t, err)
				assertGPM(t, rec.Samples[step].Devices[0].GPM, vals, step)
			}
		})
	}
}

func assertGPM(t *testing.T, want []recording.GPMValue, got []nvml.GPMResult, step int) {
	t.Helper()
	require.Len(t, got, len(want))
	for i, w := range want {
		assert.Equal(t, nvml.GPMMetricID(w.ID), got[i].ID)
		if w.Ret != 0 {
			assert.ErrorIs(t, got[i].Err, nvml.Return(w.Ret))
			continue
		}
		require.NoError(t, got[i].Err)
		if math.IsNaN(float64(w.Value)) {
			assert.True(t, math.IsNaN(got[i].Value), "step %d metric %d: want NaN", step, w.ID)
			continue
		}
		assert.Equal(t, float64(w.Value), got[i].Value, "step %d metric %d", step, w.ID)
	}
}

// The inference-ramp recording holds a real NaN from GPM (metric 10, first
// interval); the binding passes it through untouched.
func TestRecordedNaNPassesThrough(t *testing.T) {
	t.Parallel()
	rec := load(t, "h200-inference-ramp.json")
	lib, f := open(t, rec)
	s, err := device(t, lib, 0).NewGPMSampler(nvml.GPMDRAMBandwidth)
	require.NoError(t, err)
	nvml.SetGPMClock(s, steppingClock())
	defer s.Close()
	_, err = s.Sample()
	require.NoError(t, err)
	f.SetStep(0)
	vals, err := s.Sample()
	require.NoError(t, err)
	require.Len(t, vals, 1)
	assert.True(t, math.IsNaN(vals[0].Value))
}

func TestSymbolsResolveNewestVersion(t *testing.T) {
	t.Parallel()
	lib, _ := open(t, load(t, "h200-steps.json"))
	for key, want := range map[string]string{
		"nvmlInit":                             "nvmlInit_v2",
		"nvmlDeviceGetCount":                   "nvmlDeviceGetCount_v2",
		"nvmlDeviceGetHandleByIndex":           "nvmlDeviceGetHandleByIndex_v2",
		"nvmlDeviceGetPciInfo":                 "nvmlDeviceGetPciInfo_v3",
		"nvmlDeviceGetMemoryInfo":              "nvmlDeviceGetMemoryInfo_v2",
		"nvmlDeviceGetComputeRunningProcesses": "nvmlDeviceGetComputeRunningProcesses_v3",
		"nvmlSystemGetCudaDriverVersion":       "nvmlSystemGetCudaDriverVersion_v2",
		"nvmlGpmMetricsGet":                    "nvmlGpmMetricsGet",
		"nvmlNoSuchThing":                      "",
	} {
		assert.Equal(t, want, lib.Symbol(key), key)
	}
}
