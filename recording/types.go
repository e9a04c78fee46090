// SPDX-License-Identifier: Apache-2.0

package recording

// Format is the value of [Recording.Format] this package reads and writes.
const Format = "nvml-scaler/recording/v1"

// Recording is one recorded session on one node: static per-device answers, then a
// time series of the answers that change.
type Recording struct {
	// Format is always [Format]; Decode rejects anything else.
	Format string `json:"format"`
	// Source names where the data came from: the converted file's path, or the
	// host and tool that recorded it live.
	Source string `json:"source"`
	// Description says what ran on the GPU while this was recorded.
	Description string `json:"description,omitempty"`
	// StartUnixNanos is the wall-clock time of the first sample (Unix ns).
	StartUnixNanos int64 `json:"startUnixNs"`
	// System holds the answers that are not per device.
	System System `json:"system"`
	// ErrorStrings maps a return code (decimal) to what nvmlErrorString said for it.
	ErrorStrings map[string]string `json:"errorStrings,omitempty"`
	// ErrorPaths records real error answers: call description → return code, named
	// as the recording tool named them, e.g. "GetHandleByIndex(count)" → 2 from
	// nvml_record.py (nvmlDeviceGetHandleByIndex with index = device count).
	ErrorPaths map[string]int32 `json:"errorPaths,omitempty"`
	// LatencyNanos is the measured cost of one call on the recording host, by C
	// symbol name (ns per call), for comparison with the binding's benchmarks.
	LatencyNanos map[string]float64 `json:"latencyNs,omitempty"`
	// Devices holds the static answers per GPU, in NVML index order.
	Devices []Device `json:"devices"`
	// Phases marks what the load process was doing, in time order.
	Phases []Phase `json:"phases,omitempty"`
	// Samples is the time series, in time order. Every sample has one entry per
	// device, in the same order as Devices.
	Samples []Sample `json:"samples"`
	// Engines holds inference engines' scraped /metrics bodies; nil when
	// none were recorded (see [Engines]).
	Engines *Engines `json:"engines,omitempty"`
}

// System holds the node-wide answers.
type System struct {
	DriverVersion     Result[string] `json:"driverVersion"`     // nvmlSystemGetDriverVersion
	NVMLVersion       Result[string] `json:"nvmlVersion"`       // nvmlSystemGetNVMLVersion
	CUDADriverVersion Result[int32]  `json:"cudaDriverVersion"` // nvmlSystemGetCudaDriverVersion_v2, e.g. 13000 for 13.0
	DeviceCount       Result[uint32] `json:"deviceCount"`       // nvmlDeviceGetCount_v2
	// InitNanos is how long nvmlInit_v2 took on the recording host (ns).
	InitNanos int64 `json:"initNs,omitempty"`
}

// Device holds the static answers for one GPU.
type Device struct {
	Index uint32 `json:"index"`
	// HandleRet is nvmlDeviceGetHandleByIndex_v2's return code when it
	// failed, e.g. 4 (NVML_ERROR_NO_PERMISSION) for a GPU the container's
	// device cgroup denies; 0 (omitted) when the GPU opened. nvmlDeviceGetCount
	// still counted it. Such a GPU has no other answers: every Result of it,
	// here and in each sample, holds the same code (see [Failed]).
	HandleRet    int32           `json:"handleRet,omitempty"`
	Name         Result[string]  `json:"name"`         // nvmlDeviceGetName
	UUID         Result[string]  `json:"uuid"`         // nvmlDeviceGetUUID, "GPU-…"
	PCI          Result[PCIInfo] `json:"pci"`          // nvmlDeviceGetPciInfo_v3
	Architecture Result[uint32]  `json:"architecture"` // nvmlDeviceGetArchitecture (9 = Hopper)
	// ComputeCapability is nvmlDeviceGetCudaComputeCapability as [major, minor].
	ComputeCapability Result[[2]int32] `json:"computeCapability"`
	// MemoryV1 is nvmlDeviceGetMemoryInfo (v1): Used includes reserved memory.
	MemoryV1 Result[MemoryV1] `json:"memoryV1"`
	// PowerLimitMilliwatts is nvmlDeviceGetEnforcedPowerLimit (mW).
	PowerLimitMilliwatts Result[uint32]  `json:"powerLimitMw"`
	MIGMode              Result[MIGMode] `json:"migMode"`           // nvmlDeviceGetMigMode
	MaxMIGDeviceCount    Result[uint32]  `json:"maxMigDeviceCount"` // nvmlDeviceGetMaxMigDeviceCount
	// GPMSupported is nvmlGpmQueryDeviceSupport's isSupportedDevice.
	GPMSupported Result[bool] `json:"gpmSupported"`
	// MIGDevices lists MIG devices under this GPU (empty when MIG is off).
	MIGDevices []MIGDevice `json:"migDevices,omitempty"`
}

// PCIInfo mirrors nvmlPciInfo_t (v3).
type PCIInfo struct {
	BusIDLegacy    string `json:"busIdLegacy"`
	Domain         uint32 `json:"domain"`
	Bus            uint32 `json:"bus"`
	Device         uint32 `json:"device"`
	PCIDeviceID    uint32 `json:"pciDeviceId"`
	PCISubSystemID uint32 `json:"pciSubSystemId"`
	BusID          string `json:"busId"`
}

// MemoryV1 mirrors nvmlMemory_t, in bytes.
type MemoryV1 struct {
	Total uint64 `json:"total"`
	Free  uint64 `json:"free"`
	Used  uint64 `json:"used"`
}

// MIGMode mirrors nvmlDeviceGetMigMode's two outputs (0 disabled, 1 enabled).
type MIGMode struct {
	Current uint32 `json:"current"`
	Pending uint32 `json:"pending"`
}

// MIGDevice is one MIG device (GPU instance slice) under a parent GPU.
type MIGDevice struct {
	Index uint32         `json:"index"` // nvmlDeviceGetMigDeviceHandleByIndex index
	UUID  Result[string] `json:"uuid"`  // "MIG-…"
	Name  Result[string] `json:"name"`
}

// Phase marks the start of a phase of the load process.
type Phase struct {
	Name string `json:"name"`
	// OffsetNanos is the phase start relative to StartUnixNanos (ns).
	OffsetNanos int64 `json:"offsetNs"`
}

// Sample is one sweep over all devices.
type Sample struct {
	// OffsetNanos is when the sweep started, relative to StartUnixNanos (ns).
	OffsetNanos int64          `json:"offsetNs"`
	Devices     []DeviceSample `json:"devices"`
	// MIGDevices holds per-MIG-device answers, keyed by MIG UUID.
	MIGDevices map[string]MIGSample `json:"migDevices,omitempty"`
}

// DeviceSample (sample_gen.go) is generated from internal/readings.Fields.

// MIGSample holds the answers that change over time for one MIG device.
type MIGSample struct {
	Memory    Result[Memory]    `json:"memory"`
	Processes Result[[]Process] `json:"processes"`
}

// Utilization mirrors nvmlUtilization_t (percent, 0–100).
type Utilization struct {
	GPU    uint32 `json:"gpu"`
	Memory uint32 `json:"memory"`
}

// Memory mirrors nvmlMemory_v2_t, in bytes. Used excludes Reserved.
type Memory struct {
	Total    uint64 `json:"total"`
	Reserved uint64 `json:"reserved"`
	Free     uint64 `json:"free"`
	Used     uint64 `json:"used"`
}

// Process mirrors nvmlProcessInfo_t (v3).
type Process struct {
	PID               uint32 `json:"pid"`
	UsedGPUMemory     uint64 `json:"usedGpuMemory"` // bytes
	GPUInstanceID     uint32 `json:"gpuInstanceId"`
	ComputeInstanceID uint32 `json:"computeInstanceId"`
}

// GPMValue is one GPM metric from nvmlGpmMetricsGet.
type GPMValue struct {
	ID    uint32 `json:"id"`            // nvmlGpmMetricId_t
	Ret   int32  `json:"ret,omitempty"` // per-metric nvmlReturn_t
	Value Float  `json:"value"`
}
