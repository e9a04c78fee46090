// SPDX-License-Identifier: Apache-2.0

package fakenvml

import "slices"

// symbol is one NVML function the fake defines, with the first variant
// generation (see Variant.generation) that exports it.
type symbol struct {
	name  string
	since int
}

// symbols lists the NVML functions the fake defines, in the order of
// FAKE_SYMBOLS in testdata/fakenvml/fakenvml.h, but for the counters'
// (counterSymbols, generated). TestBuildExportsSymbols checks every build
// against both.
var symbols = []symbol{
	{"nvmlInit", 0},
	{"nvmlInit_v2", 2},
	{"nvmlInitWithFlags", 0},
	{"nvmlShutdown", 0},
	{"nvmlErrorString", 0},
	{"nvmlSystemGetDriverVersion", 0},
	{"nvmlSystemGetNVMLVersion", 0},
	{"nvmlSystemGetCudaDriverVersion", 0},
	{"nvmlSystemGetCudaDriverVersion_v2", 2},
	{"nvmlDeviceGetCount", 0},
	{"nvmlDeviceGetCount_v2", 2},
	{"nvmlDeviceGetHandleByIndex", 0},
	{"nvmlDeviceGetHandleByIndex_v2", 2},
	{"nvmlDeviceGetHandleByUUID", 0},
	{"nvmlDeviceGetName", 0},
	{"nvmlDeviceGetUUID", 0},
	{"nvmlDeviceGetIndex", 0},
	{"nvmlDeviceGetPciInfo", 0},
	{"nvmlDeviceGetPciInfo_v2", 2},
	{"nvmlDeviceGetPciInfo_v3", 2},
	{"nvmlDeviceGetArchitecture", 0},
	{"nvmlDeviceGetCudaComputeCapability", 0},
	{"nvmlDeviceGetUtilizationRates", 0},
	{"nvmlDeviceGetMemoryInfo", 0},
	{"nvmlDeviceGetMemoryInfo_v2", 2},
	{"nvmlDeviceGetEnforcedPowerLimit", 0},
	{"nvmlDeviceGetComputeRunningProcesses", 0},
	{"nvmlDeviceGetComputeRunningProcesses_v2", 2},
	{"nvmlDeviceGetComputeRunningProcesses_v3", 2},
	{"nvmlDeviceGetMigMode", 1},
	{"nvmlDeviceGetMaxMigDeviceCount", 1},
	{"nvmlDeviceGetMigDeviceHandleByIndex", 1},
	{"nvmlDeviceIsMigDeviceHandle", 1},
	{"nvmlDeviceGetDeviceHandleFromMigDeviceHandle", 1},
	{"nvmlGpmQueryDeviceSupport", 2},
	{"nvmlGpmSampleAlloc", 2},
	{"nvmlGpmSampleFree", 2},
	{"nvmlGpmSampleGet", 2},
	{"nvmlGpmMetricsGet", 2},
	{"nvmlDeviceGetConfComputeMemSizeInfo", 2},
	{"nvmlDeviceGetGpuInstanceId", 2},
	{"nvmlGpmMigSampleGet", 2},
	{"nvmlDeviceGetTemperatureV", 3},
	{"nvmlDeviceGetRunningProcessDetailList", 3},
}

// Symbols returns the C functions the fake built as v exports, in a fixed
// order. [Fail], [Block] and [Hold] accept any Modern name but
// nvmlErrorString, whatever the variant (a rule for a function the variant
// lacks never fires).
func Symbols(v Variant) []string {
	var out []string
	for _, s := range slices.Concat(symbols, counterSymbols) {
		if s.since <= v.generation() {
			out = append(out, s.name)
		}
	}
	return out
}

func knownSymbol(name string) bool {
	for _, s := range slices.Concat(symbols, counterSymbols) {
		if s.name == name {
			return true
		}
	}
	return false
}
