// SPDX-License-Identifier: Apache-2.0

package nvml

import "unsafe"

// Go mirrors of the NVML structs passed by pointer (LP64 layouts; see nvml.h).
// purego does not pad structs, so padding is written out as blank fields and
// every size is asserted at compile time below.

// Utilization mirrors nvmlUtilization_t: percent of the last sample period
// (1/6 s to 1 s, per product) during which a kernel ran (GPU) or device memory
// was read or written (Memory). Both 0–100.
type Utilization struct {
	GPU    uint32
	Memory uint32
}

// memoryV2 mirrors nvmlMemory_v2_t. version must be memoryV2Version.
type memoryV2 struct {
	version  uint32
	_        uint32
	total    uint64
	reserved uint64
	free     uint64
	used     uint64
}

// memoryV2Version is NVML_STRUCT_VERSION(Memory, 2): sizeof | 2<<24.
const memoryV2Version = uint32(unsafe.Sizeof(memoryV2{})) | 2<<24

// memoryV1 mirrors nvmlMemory_t; its used includes reserved memory.
type memoryV1 struct {
	total uint64
	free  uint64
	used  uint64
}

// temperatureV1 mirrors nvmlTemperature_v1_t (R580+). version must be
// temperatureV1Version; sensorType is nvmlTemperatureSensors_t.
type temperatureV1 struct {
	version     uint32
	sensorType  int32
	temperature int32
}

// temperatureV1Version is NVML_STRUCT_VERSION(Temperature, 1): sizeof | 1<<24.
const temperatureV1Version = uint32(unsafe.Sizeof(temperatureV1{})) | 1<<24

// ProcessInfo mirrors nvmlProcessInfo_t (v2/v3): one process with a context on
// a GPU. UsedGPUMemory is in bytes, or [ValueNotAvailable] when NVML cannot tell
// (e.g. without permission in some containers). GPUInstanceID and
// ComputeInstanceID are [ValueNotAvailableID] outside MIG.
type ProcessInfo struct {
	PID               uint32
	_                 uint32
	UsedGPUMemory     uint64
	GPUInstanceID     uint32
	ComputeInstanceID uint32
}

// processInfoV1 mirrors nvmlProcessInfo_v1_t, used by the unversioned symbol.
type processInfoV1 struct {
	pid           uint32
	_             uint32
	usedGPUMemory uint64
}

// ValueNotAvailable is NVML_VALUE_NOT_AVAILABLE for 64-bit values.
const ValueNotAvailable = ^uint64(0)

// ValueNotAvailableID is the 32-bit instance id NVML reports outside MIG.
const ValueNotAvailableID = ^uint32(0)

// pciInfo mirrors nvmlPciInfo_t (v2/v3). The unversioned call fills only the
// first 36 bytes (busIdLegacy through pciSubSystemId).
type pciInfo struct {
	busIDLegacy    [16]byte
	domain         uint32
	bus            uint32
	device         uint32
	pciDeviceID    uint32
	pciSubSystemID uint32
	busID          [32]byte
}

// gpmSupport mirrors nvmlGpmSupport_t.
type gpmSupport struct {
	version     uint32
	isSupported uint32
}

const gpmSupportVersion = 1 // NVML_GPM_SUPPORT_VERSION

// gpmMetric mirrors nvmlGpmMetric_t. The three metricInfo char pointers point
// into NVML's static memory and are never read here: uintptr keeps the GC away.
type gpmMetric struct {
	metricID  uint32
	ret       Return
	value     float64
	shortName uintptr
	longName  uintptr
	unit      uintptr
}

// gpmMetricMax is NVML_GPM_METRIC_MAX in the newest header (it grew 98 → 210 →
// 333 → 477; TestABIMatchesNVMLHeader compares it with go-nvml's nvml.h). The
// array must be as large as the library's own definition, because NVML may
// validate or touch the whole struct; a larger one is harmless to older drivers.
const gpmMetricMax = 477

// gpmMetricsGet mirrors nvmlGpmMetricsGet_t.
type gpmMetricsGet struct {
	version    uint32
	numMetrics uint32
	sample1    uintptr
	sample2    uintptr
	metrics    [gpmMetricMax]gpmMetric
}

const gpmMetricsGetVersion = 1 // NVML_GPM_METRICS_GET_VERSION

// Compile-time size assertions: each line fails to build if a mirror's size
// differs from the C struct's (the index is out of range, or negative).
var (
	_ = [1]struct{}{}[unsafe.Sizeof(Utilization{})-8]
	_ = [1]struct{}{}[unsafe.Sizeof(memoryV2{})-40]
	_ = [1]struct{}{}[unsafe.Sizeof(memoryV1{})-24]
	_ = [1]struct{}{}[unsafe.Sizeof(ProcessInfo{})-24]
	_ = [1]struct{}{}[unsafe.Sizeof(processInfoV1{})-16]
	_ = [1]struct{}{}[unsafe.Sizeof(pciInfo{})-68]
	_ = [1]struct{}{}[unsafe.Sizeof(gpmSupport{})-8]
	_ = [1]struct{}{}[unsafe.Sizeof(gpmMetric{})-40]
	_ = [1]struct{}{}[unsafe.Sizeof(gpmMetricsGet{})-(24+40*gpmMetricMax)]
	_ = [1]struct{}{}[memoryV2Version-0x02000028]
	_ = [1]struct{}{}[unsafe.Sizeof(temperatureV1{})-12]
	_ = [1]struct{}{}[temperatureV1Version-0x0100000c]
)
