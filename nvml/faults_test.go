// SPDX-License-Identifier: Apache-2.0

package nvml_test

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/internal/fakenvml"
	"github.com/nvml-scaler/nvml-scaler/nvml"
)

func TestGPULostFromAStep(t *testing.T) {
	t.Parallel()
	lib, f := open(t, load(t, "h200-steps.json"), fakenvml.LostGPU(0, 5))
	d := device(t, lib, 0)
	f.SetStep(4)
	_, err := d.Utilization()
	require.NoError(t, err)
	f.SetStep(5)
	for name, call := range map[string]func() error{
		"utilization": func() error { _, err := d.Utilization(); return err },
		"memory":      func() error { _, err := d.Memory(); return err },
		"power":       func() error { _, err := d.PowerUsage(); return err },
		"processes":   func() error { _, err := d.ComputeProcesses(nil); return err },
	} {
		assert.ErrorIs(t, call(), nvml.ErrGPULost, name)
	}
	_, err = lib.DeviceByIndex(0)
	assert.ErrorIs(t, err, nvml.ErrGPULost, "a lost GPU's handle lookup fails too")
}

func TestInjectedNaN(t *testing.T) {
	t.Parallel()
	lib, f := open(t, load(t, "h200-steps.json"), fakenvml.NaN(0, uint32(nvml.GPMSMActivity), 3))
	s, err := device(t, lib, 0).NewGPMSampler(nvml.GPMSMActivity, nvml.GPMTensorActivity)
	require.NoError(t, err)
	nvml.SetGPMClock(s, steppingClock())
	defer s.Close()
	_, err = s.Sample()
	require.NoError(t, err)
	f.SetStep(3)
	vals, err := s.Sample()
	require.NoError(t, err)
	assert.True(t, math.IsNaN(vals[0].Value))
	assert.False(t, math.IsNaN(vals[1].Value))
}

// The process list grows between NVML's count and copy: the binding grows its
// buffer and retries, and gives up with ErrInsufficientSize after 8 tries.
func TestProcessListChurn(t *testing.T) {
	t.Parallel()
	rec := load(t, "h100-two-tenants.json")
	step := withProcesses(rec)
	want := rec.Samples[step].Devices[0].Processes.Value
	require.Len(t, want, 2, "the two-tenants recording has a two-process sample")

	lib, f := open(t, rec, fakenvml.Churn(5))
	f.SetStep(uint64(step))
	procs, err := device(t, lib, 0).ComputeProcesses(make([]nvml.ProcessInfo, 0, 1))
	require.NoError(t, err)
	require.Len(t, procs, 2)
	assert.Equal(t, want[1].PID, procs[1].PID)

	lib, f = open(t, rec, fakenvml.Churn(20))
	f.SetStep(uint64(step))
	_, err = device(t, lib, 0).ComputeProcesses(nil)
	assert.ErrorIs(t, err, nvml.ErrInsufficientSize)
	assert.Contains(t, err.Error(), "kept growing")
}

func TestComputeProcessesReusesBuffer(t *testing.T) {
	t.Parallel()
	rec := load(t, "h100-two-tenants.json")
	lib, f := open(t, rec)
	f.SetStep(uint64(withProcesses(rec)))
	d := device(t, lib, 0)
	buf := make([]nvml.ProcessInfo, 0, 8)
	procs, err := d.ComputeProcesses(buf)
	require.NoError(t, err)
	require.Len(t, procs, 2)
	assert.Same(t, &buf[:1][0], &procs[0], "a large enough buffer is reused")
	f.SetStep(0)
	procs, err = d.ComputeProcesses(procs)
	require.NoError(t, err)
	assert.Empty(t, procs)
}

func TestBlockedCallTakesItsTime(t *testing.T) {
	t.Parallel()
	lib, _ := open(t, load(t, "h200-steps.json"), fakenvml.Block("nvmlDeviceGetPowerUsage", 50*time.Millisecond))
	d := device(t, lib, 0)
	start := time.Now()
	_, err := d.PowerUsage()
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
}

// A held call does not stall other goroutines' calls: purego goes through
// cgocall, so only the calling thread waits.
func TestHeldCallDoesNotStallOthers(t *testing.T) {
	t.Parallel()
	lib, f := open(t, load(t, "h200-steps.json"), fakenvml.Hold("nvmlDeviceGetPowerUsage", 10*time.Second))
	d := device(t, lib, 0)
	done := make(chan error, 1)
	go func() { _, err := d.PowerUsage(); done <- err }()
	for range 100 {
		_, err := d.Utilization()
		require.NoError(t, err)
	}
	select {
	case err := <-done:
		t.Fatalf("held call returned (err %v) before release", err)
	default:
	}
	f.Release("nvmlDeviceGetPowerUsage")
	require.NoError(t, <-done)
}

func TestVersionMismatchAfterStart(t *testing.T) {
	t.Parallel()
	lib, f := open(t, load(t, "h200-steps.json"), fakenvml.Mismatch(2))
	d := device(t, lib, 0)
	_, err := d.Utilization()
	require.NoError(t, err)
	f.SetStep(2)
	_, err = d.Utilization()
	assert.ErrorIs(t, err, nvml.ErrLibRMVersionMismatch)
}

// An old driver without _v2/_v3 symbols and without GPM: the binding falls
// back to the plain calls, and only GPM is unavailable.
func TestOldDriverFallbacks(t *testing.T) {
	t.Parallel()
	rec := load(t, "h100-two-tenants.json")
	lib, f := open(t, rec, fakenvml.WithVariant(fakenvml.OldDriver))
	for key, want := range map[string]string{
		"nvmlInit":                             "nvmlInit",
		"nvmlDeviceGetMemoryInfo":              "nvmlDeviceGetMemoryInfo",
		"nvmlDeviceGetComputeRunningProcesses": "nvmlDeviceGetComputeRunningProcesses",
		"nvmlDeviceGetPciInfo":                 "nvmlDeviceGetPciInfo",
		"nvmlGpmMetricsGet":                    "",
	} {
		assert.Equal(t, want, lib.Symbol(key), key)
	}
	d := device(t, lib, 0)
	m, err := d.Memory()
	require.NoError(t, err)
	v1 := rec.Devices[0].MemoryV1.Value
	assert.Equal(t, nvml.Memory{Total: v1.Total, Free: v1.Free, Used: v1.Used}, m,
		"v1 used includes reserved memory")

	pci, err := d.PCIInfo()
	require.NoError(t, err)
	assert.Equal(t, rec.Devices[0].PCI.Value.BusIDLegacy, pci.BusID)

	step := withProcesses(rec)
	f.SetStep(uint64(step))
	procs, err := d.ComputeProcesses(nil)
	require.NoError(t, err)
	require.Len(t, procs, len(rec.Samples[step].Devices[0].Processes.Value))
	assert.Equal(t, nvml.ValueNotAvailableID, procs[0].GPUInstanceID)

	_, err = d.GPMSupported()
	assert.ErrorIs(t, err, nvml.ErrFunctionNotFound)
	_, err = d.NewGPMSampler(nvml.GPMSMActivity)
	assert.ErrorIs(t, err, nvml.ErrFunctionNotFound)
	assert.Contains(t, err.Error(), "driver too old")
	_, err = d.Utilization()
	assert.NoError(t, err, "the other features keep working")
}

func TestMIGDevices(t *testing.T) {
	t.Parallel()
	rec := fakenvml.SyntheticMIG(load(t, "h100-two-tenants.json"))
	lib, _ := open(t, rec)
	gpu := device(t, lib, 0)
	cur, pend, err := gpu.MIGMode()
	require.NoError(t, err)
	assert.True(t, cur)
	assert.True(t, pend)
	migs, err := gpu.MIGDevices()
	require.NoError(t, err)
	require.Len(t, migs, len(rec.Devices[0].MIGDevices))
	for i, m := range migs {
		uuid, err := m.UUID()
		require.NoError(t, err)
		assert.Equal(t, rec.Devices[0].MIGDevices[i].UUID.Value, uuid)
		is, err := m.IsMIGDevice()
		require.NoError(t, err)
		assert.True(t, is)
		parent, err := m.Parent()
		require.NoError(t, err)
		pu, err := parent.UUID()
		require.NoError(t, err)
		assert.Equal(t, rec.Devices[0].UUID.Value, pu)
		mem, err := m.Memory()
		require.NoError(t, err)
		assert.Equal(t, rec.Samples[0].MIGDevices[uuid].Memory.Value.Total, mem.Total)
		_, err = m.Utilization()
		assert.ErrorIs(t, err, nvml.ErrNotSupported, "utilization is not supported on MIG handles")
	}
	_, err = gpu.Parent()
	assert.ErrorIs(t, err, nvml.ErrInvalidArgument)
}

func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	rec := load(t, "h200-inference-ramp.json")
	lib, f := open(t, rec)
	d := device(t, lib, 0)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				_, err := d.Utilization()
				assert.NoError(t, err)
				_, err = d.Memory()
				assert.NoError(t, err)
			}
		})
	}
	for i := range 50 {
		f.SetStep(uint64(i))
	}
	wg.Wait()
}
