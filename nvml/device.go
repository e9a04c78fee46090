// SPDX-License-Identifier: Apache-2.0

package nvml

import "strconv"

// Device is a GPU or MIG device handle (nvmlDevice_t). The zero Device is not
// valid. A Device stays valid until the Library's last Shutdown.
type Device struct {
	lib    *Library
	handle uintptr
}

// Name is the product name, e.g. "NVIDIA H200" (nvmlDeviceGetName).
func (d Device) Name() (string, error) {
	return d.lib.str("nvmlDeviceGetName", d.bufFunc(d.lib.fn.name), deviceNameBufferSize)
}

// UUID is the globally unique id, "GPU-…" for a GPU and "MIG-…" for a MIG
// device (nvmlDeviceGetUUID). It is what Kubernetes' device plugin reports.
func (d Device) UUID() (string, error) {
	return d.lib.str("nvmlDeviceGetUUID", d.bufFunc(d.lib.fn.uuid), deviceUUIDBufferSize)
}

// bufFunc binds a per-device char-buffer getter to d (nil stays nil).
func (d Device) bufFunc(f func(uintptr, *byte, uint32) Return) func(*byte, uint32) Return {
	if f == nil {
		return nil
	}
	return func(b *byte, n uint32) Return { return f(d.handle, b, n) }
}

// Index is the NVML index of the GPU (nvmlDeviceGetIndex).
func (d Device) Index() (int, error) {
	v, err := d.uint32Call("nvmlDeviceGetIndex", d.lib.fn.index)
	return int(v), err
}

// PCIInfo is the PCI identity of a GPU (nvmlPciInfo_t).
type PCIInfo struct {
	// BusID is "domain:bus:device.function", e.g. "00000000:00:06.0".
	BusID string
	// BusIDLegacy is the same with a 4-digit domain, e.g. "0000:00:06.0".
	BusIDLegacy    string
	Domain         uint32
	Bus            uint32
	Device         uint32
	PCIDeviceID    uint32 // device id << 16 | vendor id
	PCISubSystemID uint32
}

// PCIInfo returns the PCI identity (nvmlDeviceGetPciInfo_v3). On drivers with
// only the unversioned call, BusID equals BusIDLegacy.
func (d Device) PCIInfo() (PCIInfo, error) {
	const key = "nvmlDeviceGetPciInfo"
	if err := d.lib.usable(d.lib.fn.pciInfo == nil, key); err != nil {
		return PCIInfo{}, err
	}
	var p pciInfo
	if err := d.lib.check(key, d.lib.fn.pciInfo(d.handle, &p)); err != nil {
		return PCIInfo{}, err
	}
	info := PCIInfo{
		BusID: cString(p.busID[:]), BusIDLegacy: cString(p.busIDLegacy[:]),
		Domain: p.domain, Bus: p.bus, Device: p.device,
		PCIDeviceID: p.pciDeviceID, PCISubSystemID: p.pciSubSystemID,
	}
	if d.lib.names[key] == "nvmlDeviceGetPciInfo" {
		info.BusID = info.BusIDLegacy
	}
	return info, nil
}

// Architecture is nvmlDeviceArchitecture_t.
type Architecture uint32

// Known architectures (NVML_DEVICE_ARCH_*).
const (
	ArchKepler    Architecture = 2
	ArchMaxwell   Architecture = 3
	ArchPascal    Architecture = 4
	ArchVolta     Architecture = 5
	ArchTuring    Architecture = 6
	ArchAmpere    Architecture = 7
	ArchAda       Architecture = 8
	ArchHopper    Architecture = 9
	ArchBlackwell Architecture = 10
)

var archNames = map[Architecture]string{
	ArchKepler: "Kepler", ArchMaxwell: "Maxwell", ArchPascal: "Pascal", ArchVolta: "Volta",
	ArchTuring: "Turing", ArchAmpere: "Ampere", ArchAda: "Ada", ArchHopper: "Hopper",
	ArchBlackwell: "Blackwell",
}

// String names the architecture, or "arch(N)" for one this package predates.
func (a Architecture) String() string {
	if s, ok := archNames[a]; ok {
		return s
	}
	return "arch(" + strconv.Itoa(int(a)) + ")"
}

// Architecture returns the GPU's architecture (nvmlDeviceGetArchitecture).
func (d Device) Architecture() (Architecture, error) {
	v, err := d.uint32Call("nvmlDeviceGetArchitecture", d.lib.fn.architecture)
	return Architecture(v), err
}

// ComputeCapability is the CUDA compute capability, e.g. 9, 0 on Hopper
// (nvmlDeviceGetCudaComputeCapability).
func (d Device) ComputeCapability() (major, minor int, err error) {
	const key = "nvmlDeviceGetCudaComputeCapability"
	if err := d.lib.usable(d.lib.fn.computeCapability == nil, key); err != nil {
		return 0, 0, err
	}
	var ma, mi int32
	if err := d.lib.check(key, d.lib.fn.computeCapability(d.handle, &ma, &mi)); err != nil {
		return 0, 0, err
	}
	return int(ma), int(mi), nil
}

// uint32Call calls a getter with one unsigned int output.
func (d Device) uint32Call(key string, f func(uintptr, *uint32) Return) (uint32, error) {
	if err := d.lib.usable(f == nil, key); err != nil {
		return 0, err
	}
	var v uint32
	if err := d.lib.check(key, f(d.handle, &v)); err != nil {
		return 0, err
	}
	return v, nil
}
