// SPDX-License-Identifier: Apache-2.0
//
// api_process.c — nvmlDeviceGetComputeRunningProcesses in its three versions.
//
// NVML's contract: *infoCount is the capacity of infos on entry. When the
// capacity is smaller than the number of processes the call sets *infoCount to
// that number and returns NVML_ERROR_INSUFFICIENT_SIZE (7); with no processes
// and a zero capacity (infos may be NULL) it succeeds with *infoCount = 0.
// A nonzero capacity with infos NULL is NVML_ERROR_INVALID_ARGUMENT. The
// "churn" fault makes the next n calls with a big enough buffer answer 7 with
// *infoCount = capacity + 1, as if the list grew between two calls.
#define _GNU_SOURCE
#include "fakenvml.h"

static nvmlReturn_t processes(enum fake_sym s, nvmlDevice_t device, unsigned int *count, void *infos,
                              int v1) {
	struct fake_call c;
	struct fake_target t;
	nvmlReturn_t r = fake_enter(s, &c);
	if (r == NVML_SUCCESS)
		r = fake_device(&c, device, &t);
	if (r != NVML_SUCCESS)
		return r;
	if (count == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	const struct fake_procs *p =
	    t.mig != NULL ? &fake_msample(&c, t.mslot)->procs : &fake_sample(&c, t.index)->procs;
	if (p->ret != NVML_SUCCESS)
		return p->ret;
	unsigned int capacity = *count;
	if (capacity > 0 && infos == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (capacity < p->n) {
		*count = p->n;
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	if (fake_churn()) {
		*count = capacity + 1;
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	for (uint32_t j = 0; j < p->n; j++) {
		const struct fake_proc *src = &c.st->procs[p->off];
		if (v1) {
			nvmlProcessInfo_v1_t *o = (nvmlProcessInfo_v1_t *)infos + j;
			o->pid = src[j].pid;
			o->usedGpuMemory = src[j].used;
		} else {
			nvmlProcessInfo_t *o = (nvmlProcessInfo_t *)infos + j;
			o->pid = src[j].pid;
			o->usedGpuMemory = src[j].used;
			o->gpuInstanceId = src[j].gi;
			o->computeInstanceId = src[j].ci;
		}
	}
	*count = p->n;
	return NVML_SUCCESS;
}

MODERN_API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount,
                                                                nvmlProcessInfo_t *infos) {
	return processes(SYM_nvmlDeviceGetComputeRunningProcesses_v3, device, infoCount, infos, 0);
}

MODERN_API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device, unsigned int *infoCount,
                                                                nvmlProcessInfo_t *infos) {
	return processes(SYM_nvmlDeviceGetComputeRunningProcesses_v2, device, infoCount, infos, 0);
}

// nvmlDeviceGetComputeRunningProcesses fills the 16-byte nvmlProcessInfo_v1_t.
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t device, unsigned int *infoCount,
                                                              nvmlProcessInfo_v1_t *infos) {
	return processes(SYM_nvmlDeviceGetComputeRunningProcesses, device, infoCount, infos, 1);
}
