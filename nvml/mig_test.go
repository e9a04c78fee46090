// SPDX-License-Identifier: Apache-2.0

package nvml_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/internal/fakenvml"
	"github.com/nvml-scaler/nvml-scaler/nvml"
)

// A sparse layout: MIG devices in slots 1 and 4, slot 0 answering
// INVALID_ARGUMENT and the rest NOT_FOUND (real drivers answer both for an
// empty slot), slot 2 answering NO_PERMISSION. The empty slots are skipped,
// slot 2 keeps its error, and each device's Index is its slot.
func TestMIGSlotsSparse(t *testing.T) {
	t.Parallel()
	rec := fakenvml.SyntheticMIG(load(t, "h100-two-tenants.json"))
	rec.Devices[0].MIGDevices[0].Index = 1
	rec.Devices[0].MIGDevices[1].Index = 4
	lib, _ := open(t, rec,
		fakenvml.FailMIGSlot(0, 0, int32(nvml.ErrInvalidArgument), 0, 0),
		fakenvml.FailMIGSlot(0, 2, int32(nvml.ErrNoPermission), 0, 0))
	slots, err := device(t, lib, 0).MIGSlots()
	require.NoError(t, err)
	require.Len(t, slots, 3)
	for i, want := range []struct {
		slot int
		uuid string
		err  error
	}{
		{1, rec.Devices[0].MIGDevices[0].UUID.Value, nil},
		{2, "", nvml.ErrNoPermission},
		{4, rec.Devices[0].MIGDevices[1].UUID.Value, nil},
	} {
		s := slots[i]
		assert.Equal(t, want.slot, s.Slot)
		if want.err != nil {
			assert.ErrorIs(t, s.Err, want.err)
			continue
		}
		require.NoError(t, s.Err)
		uuid, err := s.Device.UUID()
		require.NoError(t, err)
		assert.Equal(t, want.uuid, uuid)
		idx, err := s.Device.Index()
		require.NoError(t, err)
		assert.Equal(t, want.slot, idx, "nvmlDeviceGetIndex on a MIG handle is its slot")
	}
	migs, err := device(t, lib, 0).MIGDevices()
	require.NoError(t, err)
	assert.Len(t, migs, 2, "MIGDevices leaves the failed slot out")
}

// Before R450 there is no nvmlDeviceGetMaxMigDeviceCount: no MIG, no error.
func TestMIGSlotsPreR450(t *testing.T) {
	t.Parallel()
	lib, _ := open(t, load(t, "h200-steps.json"), fakenvml.WithVariant(fakenvml.PreR450))
	assert.Empty(t, lib.Symbol("nvmlDeviceGetMaxMigDeviceCount"))
	slots, err := device(t, lib, 0).MIGSlots()
	require.NoError(t, err)
	assert.Empty(t, slots)
	_, err = device(t, lib, 0).MaxMIGDeviceCount()
	assert.ErrorIs(t, err, nvml.ErrFunctionNotFound)
}

// A GPU the cgroup denies fails its handle lookups with NO_PERMISSION while
// the count still includes it; the other GPUs open.
func TestDeniedGPU(t *testing.T) {
	t.Parallel()
	rec, err := fakenvml.Replicate(load(t, "h200-steps.json"), 3)
	require.NoError(t, err)
	lib, _ := open(t, rec, fakenvml.DenyGPU(1, int32(nvml.ErrNoPermission), 0, 0))
	n, err := lib.DeviceCount()
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	_, err = lib.DeviceByIndex(1)
	assert.ErrorIs(t, err, nvml.ErrNoPermission)
	_, err = lib.DeviceByUUID(rec.Devices[1].UUID.Value)
	assert.ErrorIs(t, err, nvml.ErrNoPermission)
	for _, i := range []int{0, 2} {
		_, err := lib.DeviceByIndex(i)
		assert.NoError(t, err)
	}
}
