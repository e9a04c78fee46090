// SPDX-License-Identifier: Apache-2.0

package nvml

import "github.com/ebitengine/purego"

// functions holds one Go func per NVML function, nil when the library exports
// none of its versions. Argument types follow nvml.h: nvmlDevice_t and
// nvmlGpmSample_t are opaque pointers (uintptr), unsigned int is uint32.
type functions struct {
	init          func() Return
	initWithFlags func(flags uint32) Return
	shutdown      func() Return
	errorString   func(r Return) string

	driverVersion     func(buf *byte, n uint32) Return
	nvmlVersion       func(buf *byte, n uint32) Return
	cudaDriverVersion func(v *int32) Return

	deviceCount   func(n *uint32) Return
	deviceByIndex func(i uint32, dev *uintptr) Return
	deviceByUUID  func(uuid string, dev *uintptr) Return

	name              func(dev uintptr, buf *byte, n uint32) Return
	uuid              func(dev uintptr, buf *byte, n uint32) Return
	index             func(dev uintptr, i *uint32) Return
	pciInfo           func(dev uintptr, p *pciInfo) Return
	architecture      func(dev uintptr, a *uint32) Return
	computeCapability func(dev uintptr, major, minor *int32) Return

	metricFuncs // metrics.go: the per-sweep readings, bound next to their methods
	plainFuncs  // counters_gen.go: the plain counters, generated from internal/readings

	processes     func(dev uintptr, count *uint32, infos *ProcessInfo) Return
	processesV1   func(dev uintptr, count *uint32, infos *processInfoV1) Return
	migMode       func(dev uintptr, current, pending *uint32) Return
	maxMIGDevices func(dev uintptr, n *uint32) Return
	migByIndex    func(dev uintptr, i uint32, mig *uintptr) Return
	isMIG         func(dev uintptr, is *uint32) Return
	migParent     func(mig uintptr, dev *uintptr) Return
	gpuInstanceID func(mig uintptr, id *uint32) Return

	gpmSupport    func(dev uintptr, s *gpmSupport) Return
	gpmAlloc      func(s *uintptr) Return
	gpmFree       func(s uintptr) Return
	gpmSampleGet  func(dev uintptr, s uintptr) Return
	gpmMIGSample  func(dev uintptr, gpuInstanceID uint32, s uintptr) Return
	gpmMetricsGet func(m *gpmMetricsGet) Return
}

// resolve binds every function the library exports, newest version first, and
// records which name served each. RegisterFunc is only called on an address
// Dlsym found, so a missing symbol never panics.
func (l *Library) resolve() {
	f := &l.fn
	l.bind(&f.init, "nvmlInit", "nvmlInit_v2", "nvmlInit")
	l.bind(&f.initWithFlags, "nvmlInitWithFlags", "nvmlInitWithFlags")
	l.bind(&f.shutdown, "nvmlShutdown", "nvmlShutdown")
	l.bind(&f.errorString, "nvmlErrorString", "nvmlErrorString")
	l.bind(&f.driverVersion, "nvmlSystemGetDriverVersion", "nvmlSystemGetDriverVersion")
	l.bind(&f.nvmlVersion, "nvmlSystemGetNVMLVersion", "nvmlSystemGetNVMLVersion")
	l.bind(&f.cudaDriverVersion, "nvmlSystemGetCudaDriverVersion",
		"nvmlSystemGetCudaDriverVersion_v2", "nvmlSystemGetCudaDriverVersion")
	l.bind(&f.deviceCount, "nvmlDeviceGetCount", "nvmlDeviceGetCount_v2", "nvmlDeviceGetCount")
	l.bind(&f.deviceByIndex, "nvmlDeviceGetHandleByIndex",
		"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex")
	l.bind(&f.deviceByUUID, "nvmlDeviceGetHandleByUUID", "nvmlDeviceGetHandleByUUID")
	l.resolveDevice()
	l.resolveMIGAndGPM()
}

func (l *Library) resolveDevice() {
	f := &l.fn
	l.bind(&f.name, "nvmlDeviceGetName", "nvmlDeviceGetName")
	l.bind(&f.uuid, "nvmlDeviceGetUUID", "nvmlDeviceGetUUID")
	l.bind(&f.index, "nvmlDeviceGetIndex", "nvmlDeviceGetIndex")
	l.bind(&f.pciInfo, "nvmlDeviceGetPciInfo",
		"nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2", "nvmlDeviceGetPciInfo")
	l.bind(&f.architecture, "nvmlDeviceGetArchitecture", "nvmlDeviceGetArchitecture")
	l.bind(&f.computeCapability, "nvmlDeviceGetCudaComputeCapability", "nvmlDeviceGetCudaComputeCapability")
	l.resolveMetrics()
	// Processes change their struct with the version, so each layout gets its
	// own func; the v1 form is bound only when v2/v3 is absent.
	if !l.bind(&f.processes, "nvmlDeviceGetComputeRunningProcesses", l.processNames()...) {
		l.bind(&f.processesV1, "nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetComputeRunningProcesses")
	}
}

// processNames orders the versioned process-list symbols. Drivers 535.43–535.86
// write 32-byte entries from _v3 (usedGpuCcProtectedMemory at offset 24), not
// the 24 bytes nvmlProcessInfo_t has in every header; such a library exports
// nvmlDeviceGetConfComputeMemSizeInfo (new in R535) but not
// nvmlDeviceGetRunningProcessDetailList (new when _v3 was fixed), so there
// _v2, whose entries are 24 bytes, is taken first. ComputeProcesses also
// sizes its buffers for 32-byte entries, so a driver the detection misses
// cannot write past them either.
func (l *Library) processNames() []string {
	const v3, v2 = "nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetComputeRunningProcesses_v2"
	if l.exports("nvmlDeviceGetConfComputeMemSizeInfo") && !l.exports("nvmlDeviceGetRunningProcessDetailList") {
		return []string{v2, v3}
	}
	return []string{v3, v2}
}

// exports reports whether the library exports the C symbol name.
func (l *Library) exports(name string) bool {
	sym, err := purego.Dlsym(l.handle, name)
	return err == nil && sym != 0
}

func (l *Library) resolveMIGAndGPM() {
	f := &l.fn
	l.bind(&f.migMode, "nvmlDeviceGetMigMode", "nvmlDeviceGetMigMode")
	l.bind(&f.maxMIGDevices, "nvmlDeviceGetMaxMigDeviceCount", "nvmlDeviceGetMaxMigDeviceCount")
	l.bind(&f.migByIndex, "nvmlDeviceGetMigDeviceHandleByIndex", "nvmlDeviceGetMigDeviceHandleByIndex")
	l.bind(&f.isMIG, "nvmlDeviceIsMigDeviceHandle", "nvmlDeviceIsMigDeviceHandle")
	l.bind(&f.migParent, "nvmlDeviceGetDeviceHandleFromMigDeviceHandle",
		"nvmlDeviceGetDeviceHandleFromMigDeviceHandle")
	l.bind(&f.gpmSupport, "nvmlGpmQueryDeviceSupport", "nvmlGpmQueryDeviceSupport")
	l.bind(&f.gpmAlloc, "nvmlGpmSampleAlloc", "nvmlGpmSampleAlloc")
	l.bind(&f.gpmFree, "nvmlGpmSampleFree", "nvmlGpmSampleFree")
	l.bind(&f.gpmSampleGet, "nvmlGpmSampleGet", "nvmlGpmSampleGet")
	l.bind(&f.gpmMIGSample, "nvmlGpmMigSampleGet", "nvmlGpmMigSampleGet")
	l.bind(&f.gpuInstanceID, "nvmlDeviceGetGpuInstanceId", "nvmlDeviceGetGpuInstanceId")
	l.bind(&f.gpmMetricsGet, "nvmlGpmMetricsGet", "nvmlGpmMetricsGet")
}

// bind points fptr at the first of names the library exports and records it
// under key. It reports whether any was found.
func (l *Library) bind(fptr any, key string, names ...string) bool {
	for _, n := range names {
		sym, err := purego.Dlsym(l.handle, n)
		if err != nil || sym == 0 {
			continue
		}
		purego.RegisterFunc(fptr, sym)
		l.names[key] = n
		return true
	}
	return false
}
