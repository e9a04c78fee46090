// SPDX-License-Identifier: Apache-2.0

package nvml_test

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/nvml"
)

// TestRealLibrary runs the binding against the machine's own libnvidia-ml and
// checks what only a correct ABI gives: the PCI bus id string agrees with the
// PCI numbers read from other offsets of the same struct, memory adds up,
// percentages stay within 0–100. It skips where no NVML loads or no GPU
// answers; set NVML_SCALER_REQUIRE_GPU=1 on a GPU runner to make that a
// failure instead.
func TestRealLibrary(t *testing.T) {
	t.Parallel()
	lib, err := nvml.Open()
	if err != nil {
		noGPU(t, err)
	}
	t.Cleanup(func() { assert.NoError(t, lib.Close()) })
	if err := lib.Init(); err != nil {
		noGPU(t, err)
	}
	t.Cleanup(func() { assert.NoError(t, lib.Shutdown()) })

	version, err := lib.DriverVersion()
	require.NoError(t, err)
	t.Logf("%s, driver %s", lib.Path(), version)
	for _, r := range nvml.Returns() {
		assert.NotEmpty(t, lib.ErrorString(r), "nvmlErrorString(%d)", r)
	}
	n, err := lib.DeviceCount()
	require.NoError(t, err)
	if n == 0 {
		noGPU(t, fmt.Errorf("%s loads but lists no GPU", lib.Path()))
	}
	for i := range n {
		d, err := lib.DeviceByIndex(i)
		require.NoError(t, err)
		checkRealDevice(t, d)
	}
}

func noGPU(t *testing.T, err error) {
	t.Helper()
	if os.Getenv("NVML_SCALER_REQUIRE_GPU") != "" {
		t.Fatalf("NVML_SCALER_REQUIRE_GPU is set but: %v", err)
	}
	t.Skipf("no real NVML here: %v", err)
}

func checkRealDevice(t *testing.T, d nvml.Device) {
	t.Helper()
	uuid, err := d.UUID()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(uuid, "GPU-"), uuid)

	pci, err := d.PCIInfo()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(strings.ToLower(pci.BusID), fmt.Sprintf("%08x:%02x:%02x.", pci.Domain, pci.Bus, pci.Device)),
		"%s: bus id %q against domain %d bus %d device %d", uuid, pci.BusID, pci.Domain, pci.Bus, pci.Device)
	assert.True(t, strings.HasPrefix(strings.ToLower(pci.BusIDLegacy), fmt.Sprintf("%04x:%02x:%02x.", pci.Domain, pci.Bus, pci.Device)),
		"%s: legacy bus id %q", uuid, pci.BusIDLegacy)
	assert.Equal(t, uint32(0x10de), pci.PCIDeviceID&0xffff, "%s: NVIDIA's PCI vendor id", uuid)

	mem, err := d.Memory()
	require.NoError(t, err)
	assert.Positive(t, mem.Total, uuid)
	assert.Equal(t, mem.Total, mem.Reserved+mem.Free+mem.Used, "%s: %+v", uuid, mem)

	if u, err := d.Utilization(); assert.NoError(t, err, uuid) {
		assert.LessOrEqual(t, u.GPU, uint32(100), uuid)
		assert.LessOrEqual(t, u.Memory, uint32(100), uuid)
	}
	procs, err := d.ComputeProcesses(nil)
	require.NoError(t, err)
	for _, p := range procs {
		assert.Positive(t, p.PID, uuid)
		if p.UsedGPUMemory != nvml.ValueNotAvailable {
			assert.LessOrEqual(t, p.UsedGPUMemory, mem.Total, "%s: pid %d", uuid, p.PID)
		}
	}
	checkRealGPM(t, d, uuid)
}

// checkRealGPM reads every GPM metric the binding names over one interval
// above GPM's 100 ms minimum, where the device supports GPM.
func checkRealGPM(t *testing.T, d nvml.Device, uuid string) {
	t.Helper()
	if ok, err := d.GPMSupported(); err != nil || !ok {
		t.Logf("%s: no GPM (%v)", uuid, err)
		return
	}
	ids := []nvml.GPMMetricID{nvml.GPMGraphicsActivity, nvml.GPMSMActivity, nvml.GPMSMOccupancy,
		nvml.GPMIntegerActivity, nvml.GPMTensorActivity, nvml.GPMDFMATensor, nvml.GPMHMMATensor,
		nvml.GPMIMMATensor, nvml.GPMDRAMBandwidth, nvml.GPMFP64Activity, nvml.GPMFP32Activity, nvml.GPMFP16Activity}
	s, err := d.NewGPMSampler(ids...)
	require.NoError(t, err)
	defer func() { assert.NoError(t, s.Close()) }()
	_, err = s.Sample()
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond)
	res, err := s.Sample()
	require.NoError(t, err)
	require.Len(t, res, len(ids))
	for i, r := range res {
		assert.Equal(t, ids[i], r.ID)
		if r.Err == nil && !math.IsNaN(r.Value) {
			assert.True(t, r.Value >= 0 && r.Value <= 100.5, "%s: GPM metric %d = %v", uuid, r.ID, r.Value)
		}
	}
}
