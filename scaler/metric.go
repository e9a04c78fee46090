// SPDX-License-Identifier: Apache-2.0

package scaler

// Metric is one per-GPU signal the scaler serves. Its name (see [Metric.String])
// is what a trigger's `metric` key holds; the names are part of the public API
// and never change.
//
// Which to scale LLM inference on: decode loops keep a kernel running almost all
// the time, so gpu_utilization_percent pins near 100% under any load. The GPM
// metrics (sm_active_percent, tensor_active_percent, dram_bandwidth_percent;
// Hopper and later) track load much better: decode is memory-bound and follows
// dram_bandwidth_percent, prefill is compute-bound and follows
// tensor_active_percent. Memory use is set by the serving engine's preallocated
// KV cache (vLLM holds ~90% of memory at 0% load) and says nothing about load:
// use it only as a guard. No GPU metric can wake a Deployment from zero replicas.
//
// The set is open: per-pod signals (an inference server's queue length, KV-cache
// use) will join it with a pod scope once GPUs are attributed to pods.
type Metric uint8

// The metric catalogue. Percentages are 0–100.
//
// The order is pinned (TestCatalogueIsPinned): a metric's position is how
// agents that send no metric names on the node-snapshot stream number it, and
// how aggregators of those releases read newer agents. Append new metrics
// just before NumMetrics; never insert, reorder, remove or rename one.
const (
	// GPUUtilization (gpu_utilization_percent, percent): the share of the last
	// sample period in which any kernel ran (nvmlDeviceGetUtilizationRates.gpu).
	// Lags GPM by about a second and saturates under any decode loop: a poor
	// load signal for inference. Absent on MIG devices.
	GPUUtilization Metric = iota
	// MemoryBusy (memory_busy_percent, percent): the share of the last sample
	// period in which device memory was read or written
	// (nvmlDeviceGetUtilizationRates.memory). Absent on MIG devices.
	MemoryBusy
	// MemoryUsedBytes (memory_used_bytes, bytes): framebuffer allocated by
	// processes, excluding driver-reserved memory (nvmlMemory_v2_t.used). High at
	// zero load when the engine preallocates its KV cache: an OOM guard only.
	MemoryUsedBytes
	// MemoryUsedPercent (memory_used_percent, percent): used / (total −
	// reserved) × 100. Same caveats as memory_used_bytes.
	MemoryUsedPercent
	// PowerWatts (power_watts, watts): board power draw
	// (nvmlDeviceGetPowerUsage / 1000). Rises with real work, including
	// memory-bound decode; a reasonable secondary signal.
	PowerWatts
	// PowerPercent (power_percent, percent): power draw as a share of the
	// enforced power limit (nvmlDeviceGetEnforcedPowerLimit). Near 100% means the
	// GPU is power-capped and clocks will drop.
	PowerPercent
	// TemperatureCelsius (temperature_celsius, °C): GPU core temperature. Not a
	// load signal; useful to see throttling.
	TemperatureCelsius
	// SMClockMHz (sm_clock_mhz, MHz): current SM clock. Drops under power or
	// thermal capping; not a load signal.
	SMClockMHz
	// SMActive (sm_active_percent, percent): the share of time SMs had at least
	// one warp resident, averaged over all SMs (GPM SM_UTIL, id 2). Rises with
	// batch size and request rate: the best general load signal for inference.
	SMActive
	// SMOccupancy (sm_occupancy_percent, percent): resident warps as a share of
	// the maximum (GPM SM_OCCUPANCY, id 3). Low for large-kernel GEMMs even at
	// full load; use with care.
	SMOccupancy
	// TensorActive (tensor_active_percent, percent): the share of time any tensor
	// core pipe was busy (GPM ANY_TENSOR_UTIL, id 5). Tracks prefill and large
	// batches.
	TensorActive
	// DRAMBandwidth (dram_bandwidth_percent, percent): DRAM bandwidth used as a
	// share of peak (GPM DRAM_BW_UTIL, id 10). Decode is memory-bound, so this
	// follows token throughput closely.
	DRAMBandwidth
	// GraphicsActive (graphics_active_percent, percent): the share of time the
	// graphics or compute engine was busy (GPM GRAPHICS_UTIL, id 1); the GPM
	// counterpart of gpu_utilization_percent, with the same saturation.
	GraphicsActive
	// ProcessCount (process_count, processes): compute processes on the device
	// (nvmlDeviceGetComputeRunningProcesses). Counts tenants, not load.
	ProcessCount

	// NumMetrics is the number of metrics; not a metric.
	NumMetrics
)

// MetricInfo describes a metric for humans: its name, unit and a one-line help.
type MetricInfo struct {
	Name string
	Unit string
	Help string
}

var metricInfo = [NumMetrics]MetricInfo{
	GPUUtilization:     {"gpu_utilization_percent", "percent", "time any kernel ran; saturates under decode"},
	MemoryBusy:         {"memory_busy_percent", "percent", "time device memory was read or written"},
	MemoryUsedBytes:    {"memory_used_bytes", "bytes", "framebuffer used, excluding reserved; high when a KV cache is preallocated"},
	MemoryUsedPercent:  {"memory_used_percent", "percent", "used / (total - reserved)"},
	PowerWatts:         {"power_watts", "watts", "board power draw"},
	PowerPercent:       {"power_percent", "percent", "power draw / enforced power limit"},
	TemperatureCelsius: {"temperature_celsius", "celsius", "GPU core temperature"},
	SMClockMHz:         {"sm_clock_mhz", "MHz", "current SM clock"},
	SMActive:           {"sm_active_percent", "percent", "SMs with a resident warp (GPM); best general inference load signal"},
	SMOccupancy:        {"sm_occupancy_percent", "percent", "resident warps / maximum (GPM)"},
	TensorActive:       {"tensor_active_percent", "percent", "tensor pipes busy (GPM); tracks prefill"},
	DRAMBandwidth:      {"dram_bandwidth_percent", "percent", "DRAM bandwidth / peak (GPM); tracks decode"},
	GraphicsActive:     {"graphics_active_percent", "percent", "graphics/compute engine busy (GPM); saturates like utilization"},
	ProcessCount:       {"process_count", "processes", "compute processes on the device"},
}

// Info returns m's name, unit and help; the zero MetricInfo when m is out of range.
func (m Metric) Info() MetricInfo {
	if m >= NumMetrics {
		return MetricInfo{}
	}
	return metricInfo[m]
}

// String returns m's catalogue name, e.g. "sm_active_percent".
func (m Metric) String() string {
	if m >= NumMetrics {
		return "metric(invalid)"
	}
	return metricInfo[m].Name
}

// ParseMetric returns the metric named name (exact, case-sensitive).
func ParseMetric(name string) (Metric, bool) {
	for m := range NumMetrics {
		if metricInfo[m].Name == name {
			return m, true
		}
	}
	return 0, false
}

// metricNames is the catalogue as a comma-separated list, for error messages.
func metricNames() string {
	s := ""
	for m := range NumMetrics {
		if m > 0 {
			s += ", "
		}
		s += metricInfo[m].Name
	}
	return s
}
