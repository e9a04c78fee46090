// SPDX-License-Identifier: Apache-2.0

package fakenvml

// symbols lists the NVML functions the fake defines, in the order of
// FAKE_SYMBOLS in testdata/fakenvml/fakenvml.h, and whether the OldDriver
// build exports them. TestBuildExportsSymbols checks both builds against it.
var symbols = []struct {
	name string
	old  bool
}{
	{"nvmlInit", true},
	{"nvmlInit_v2", false},
	{"nvmlInitWithFlags", true},
	{"nvmlShutdown", true},
	{"nvmlErrorString", true},
	{"nvmlSystemGetDriverVersion", true},
	{"nvmlSystemGetNVMLVersion", true},
	{"nvmlSystemGetCudaDriverVersion", true},
	{"nvmlSystemGetCudaDriverVersion_v2", false},
	{"nvmlDeviceGetCount", true},
	{"nvmlDeviceGetCount_v2", false},
	{"nvmlDeviceGetHandleByIndex", true},
	{"nvmlDeviceGetHandleByIndex_v2", false},
	{"nvmlDeviceGetHandleByUUID", true},
	{"nvmlDeviceGetName", true},
	{"nvmlDeviceGetUUID", true},
	{"nvmlDeviceGetIndex", true},
	{"nvmlDeviceGetPciInfo", true},
	{"nvmlDeviceGetPciInfo_v2", false},
	{"nvmlDeviceGetPciInfo_v3", false},
	{"nvmlDeviceGetArchitecture", true},
	{"nvmlDeviceGetCudaComputeCapability", true},
	{"nvmlDeviceGetUtilizationRates", true},
	{"nvmlDeviceGetMemoryInfo", true},
	{"nvmlDeviceGetMemoryInfo_v2", false},
	{"nvmlDeviceGetPowerUsage", true},
	{"nvmlDeviceGetEnforcedPowerLimit", true},
	{"nvmlDeviceGetTemperature", true},
	{"nvmlDeviceGetClockInfo", true},
	{"nvmlDeviceGetComputeRunningProcesses", true},
	{"nvmlDeviceGetComputeRunningProcesses_v2", false},
	{"nvmlDeviceGetComputeRunningProcesses_v3", false},
	{"nvmlDeviceGetMigMode", true},
	{"nvmlDeviceGetMaxMigDeviceCount", true},
	{"nvmlDeviceGetMigDeviceHandleByIndex", true},
	{"nvmlDeviceIsMigDeviceHandle", true},
	{"nvmlDeviceGetDeviceHandleFromMigDeviceHandle", true},
	{"nvmlGpmQueryDeviceSupport", false},
	{"nvmlGpmSampleAlloc", false},
	{"nvmlGpmSampleFree", false},
	{"nvmlGpmSampleGet", false},
	{"nvmlGpmMetricsGet", false},
}

// Symbols returns the C functions the fake built as v exports, in a fixed
// order. [Fail], [Block] and [Hold] accept any Modern name but
// nvmlErrorString, whatever the variant (a rule for a function the variant
// lacks never fires).
func Symbols(v Variant) []string {
	var out []string
	for _, s := range symbols {
		if v == Modern || s.old {
			out = append(out, s.name)
		}
	}
	return out
}

func knownSymbol(name string) bool {
	for _, s := range symbols {
		if s.name == name {
			return true
		}
	}
	return false
}
