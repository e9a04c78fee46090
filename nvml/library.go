// SPDX-License-Identifier: Apache-2.0

package nvml

// InitFlag is a flag for [Library.InitWithFlags] (NVML_INIT_FLAG_*).
type InitFlag uint32

const (
	// InitFlagNoGPUs lets init succeed on a node with no GPUs (so that the
	// system-level calls still work).
	InitFlagNoGPUs InitFlag = 1
	// InitFlagNoAttach does not attach to GPUs at init: faster, and GPUs are
	// attached on first use.
	InitFlagNoAttach InitFlag = 2
)

// Init calls nvmlInit_v2 (nvmlInit on old drivers). NVML counts inits: each
// successful Init needs one Shutdown. On a node without a working driver it
// fails with ErrDriverNotLoaded, ErrNoPermission or ErrLibRMVersionMismatch.
func (l *Library) Init() error {
	if err := l.usable(l.fn.init == nil, "nvmlInit"); err != nil {
		return err
	}
	return l.check("nvmlInit", l.fn.init())
}

// InitWithFlags calls nvmlInitWithFlags.
func (l *Library) InitWithFlags(flags InitFlag) error {
	if err := l.usable(l.fn.initWithFlags == nil, "nvmlInitWithFlags"); err != nil {
		return err
	}
	return l.check("nvmlInitWithFlags", l.fn.initWithFlags(uint32(flags)))
}

// Shutdown calls nvmlShutdown, undoing one Init.
func (l *Library) Shutdown() error {
	if err := l.usable(l.fn.shutdown == nil, "nvmlShutdown"); err != nil {
		return err
	}
	return l.check("nvmlShutdown", l.fn.shutdown())
}

// DriverVersion is the kernel driver's version, e.g. "580.159.04"
// (nvmlSystemGetDriverVersion).
func (l *Library) DriverVersion() (string, error) {
	return l.str("nvmlSystemGetDriverVersion", l.fn.driverVersion, systemVersionBufferSize)
}

// NVMLVersion is the library's version, e.g. "13.580.159.04"
// (nvmlSystemGetNVMLVersion).
func (l *Library) NVMLVersion() (string, error) {
	return l.str("nvmlSystemGetNVMLVersion", l.fn.nvmlVersion, systemVersionBufferSize)
}

// CUDADriverVersion is the CUDA version the driver supports, as
// 1000×major + 10×minor (13000 is CUDA 13.0) (nvmlSystemGetCudaDriverVersion_v2).
func (l *Library) CUDADriverVersion() (int, error) {
	const key = "nvmlSystemGetCudaDriverVersion"
	if err := l.usable(l.fn.cudaDriverVersion == nil, key); err != nil {
		return 0, err
	}
	var v int32
	if err := l.check(key, l.fn.cudaDriverVersion(&v)); err != nil {
		return 0, err
	}
	return int(v), nil
}

// DeviceCount is the number of GPUs NVML can see (nvmlDeviceGetCount_v2). GPUs
// the process may not access (cgroups) are counted too; their handles fail with
// ErrNoPermission.
func (l *Library) DeviceCount() (int, error) {
	const key = "nvmlDeviceGetCount"
	if err := l.usable(l.fn.deviceCount == nil, key); err != nil {
		return 0, err
	}
	var n uint32
	if err := l.check(key, l.fn.deviceCount(&n)); err != nil {
		return 0, err
	}
	return int(n), nil
}

// DeviceByIndex returns the GPU at NVML index i (0 ≤ i < DeviceCount)
// (nvmlDeviceGetHandleByIndex_v2). NVML's index order may differ from CUDA's.
// An index out of range fails with ErrInvalidArgument.
func (l *Library) DeviceByIndex(i int) (Device, error) {
	const key = "nvmlDeviceGetHandleByIndex"
	if err := l.usable(l.fn.deviceByIndex == nil, key); err != nil {
		return Device{}, err
	}
	if i < 0 || uint64(i) > uint64(^uint32(0)) {
		return Device{}, l.check(key, ErrInvalidArgument)
	}
	var h uintptr
	if err := l.check(key, l.fn.deviceByIndex(uint32(i), &h)); err != nil {
		return Device{}, err
	}
	return Device{lib: l, handle: h}, nil
}

// DeviceByUUID returns the GPU or MIG device with this UUID ("GPU-…" or
// "MIG-…") (nvmlDeviceGetHandleByUUID). An unknown UUID fails with ErrNotFound.
func (l *Library) DeviceByUUID(uuid string) (Device, error) {
	const key = "nvmlDeviceGetHandleByUUID"
	if err := l.usable(l.fn.deviceByUUID == nil, key); err != nil {
		return Device{}, err
	}
	var h uintptr
	if err := l.check(key, l.fn.deviceByUUID(uuid, &h)); err != nil {
		return Device{}, err
	}
	return Device{lib: l, handle: h}, nil
}
