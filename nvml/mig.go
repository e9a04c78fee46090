// SPDX-License-Identifier: Apache-2.0

package nvml

// MIGMode returns whether MIG is enabled now (current) and after the next GPU
// reset (pending) (nvmlDeviceGetMigMode). GPUs without MIG fail with
// ErrNotSupported.
func (d Device) MIGMode() (current, pending bool, err error) {
	const key = "nvmlDeviceGetMigMode"
	if err := d.lib.usable(d.lib.fn.migMode == nil, key); err != nil {
		return false, false, err
	}
	var c, p uint32
	if err := d.lib.check(key, d.lib.fn.migMode(d.handle, &c, &p)); err != nil {
		return false, false, err
	}
	return c == 1, p == 1, nil
}

// MaxMIGDeviceCount is how many MIG devices the GPU can hold (0 when MIG is
// off) (nvmlDeviceGetMaxMigDeviceCount). Slots may be empty: see
// [Device.MIGDeviceByIndex].
func (d Device) MaxMIGDeviceCount() (int, error) {
	v, err := d.uint32Call("nvmlDeviceGetMaxMigDeviceCount", d.lib.fn.maxMIGDevices)
	return int(v), err
}

// MIGDeviceByIndex returns the MIG device in slot i (0 ≤ i < MaxMIGDeviceCount)
// (nvmlDeviceGetMigDeviceHandleByIndex). An empty slot, or a GPU with MIG off,
// fails with ErrNotFound.
func (d Device) MIGDeviceByIndex(i int) (Device, error) {
	const key = "nvmlDeviceGetMigDeviceHandleByIndex"
	if err := d.lib.usable(d.lib.fn.migByIndex == nil, key); err != nil {
		return Device{}, err
	}
	if i < 0 || uint64(i) > uint64(^uint32(0)) {
		return Device{}, d.lib.check(key, ErrInvalidArgument)
	}
	var h uintptr
	if err := d.lib.check(key, d.lib.fn.migByIndex(d.handle, uint32(i), &h)); err != nil {
		return Device{}, err
	}
	return Device{lib: d.lib, handle: h}, nil
}

// MIGSlot is one MIG slot of a GPU that is not empty.
type MIGSlot struct {
	// Slot is the index nvmlDeviceGetMigDeviceHandleByIndex was given, which
	// nvmlDeviceGetIndex returns on the MIG handle and by which the device
	// plugin's "index" strategy names MIG devices.
	Slot int
	// Device is the MIG device; the zero Device when Err is set.
	Device Device
	// Err is why the slot's handle could not be had when the answer was
	// neither a device nor "empty".
	Err error
}

// MIGSlots returns the GPU's non-empty MIG slots in slot order. Empty slots
// are skipped: drivers answer NOT_FOUND for some and INVALID_ARGUMENT for
// others. Any other answer for a slot is kept in that slot's Err, so one
// broken slot does not hide the rest. It returns none, without error, when
// MIG is off or not supported, and on drivers before R450, which have no
// nvmlDeviceGetMaxMigDeviceCount.
func (d Device) MIGSlots() ([]MIGSlot, error) {
	n, err := d.MaxMIGDeviceCount()
	if isReturn(err, ErrFunctionNotFound) {
		return nil, nil
	}
	if err != nil || n == 0 {
		return nil, ignoreNotSupported(err)
	}
	var out []MIGSlot
	for i := range n {
		m, err := d.MIGDeviceByIndex(i)
		if isReturn(err, ErrNotFound) || isReturn(err, ErrInvalidArgument) {
			continue
		}
		out = append(out, MIGSlot{Slot: i, Device: m, Err: err})
	}
	return out, nil
}

// MIGDevices returns the MIG devices of [Device.MIGSlots] whose handle could
// be had, in slot order; slots that failed are left out.
func (d Device) MIGDevices() ([]Device, error) {
	slots, err := d.MIGSlots()
	var out []Device
	for _, s := range slots {
		if s.Err == nil {
			out = append(out, s.Device)
		}
	}
	return out, err
}

// IsMIGDevice reports whether d is a MIG device handle (nvmlDeviceIsMigDeviceHandle).
func (d Device) IsMIGDevice() (bool, error) {
	v, err := d.uint32Call("nvmlDeviceIsMigDeviceHandle", d.lib.fn.isMIG)
	return v != 0, err
}

// Parent returns the GPU a MIG device belongs to
// (nvmlDeviceGetDeviceHandleFromMigDeviceHandle). On a GPU handle it fails with
// ErrInvalidArgument.
func (d Device) Parent() (Device, error) {
	const key = "nvmlDeviceGetDeviceHandleFromMigDeviceHandle"
	if err := d.lib.usable(d.lib.fn.migParent == nil, key); err != nil {
		return Device{}, err
	}
	var h uintptr
	if err := d.lib.check(key, d.lib.fn.migParent(d.handle, &h)); err != nil {
		return Device{}, err
	}
	return Device{lib: d.lib, handle: h}, nil
}

// GPUInstanceID is the id of the GPU instance a MIG device belongs to
// (nvmlDeviceGetGpuInstanceId); compute instances of one GPU instance share
// it. On a GPU handle it fails (NOT_SUPPORTED or INVALID_ARGUMENT).
func (d Device) GPUInstanceID() (int, error) {
	v, err := d.uint32Call("nvmlDeviceGetGpuInstanceId", d.lib.fn.gpuInstanceID)
	return int(v), err
}
