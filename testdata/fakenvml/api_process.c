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
//
// The R535 build (FAKE_R535) reproduces drivers 535.43-535.86: _v3 writes
// 32-byte entries (fakeProcessInfoR535_t) while the header declares 24, so a
// caller that sized its buffer for 24-byte entries is overrun once processes
// exceed 3/4 of its capacity. That build exports
// nvmlDeviceGetConfComputeMemSizeInfo but not
// nvmlDeviceGetRunningProcessDetailList, the sign clients detect it by.
#define _GNU_SOURCE
#include "fakenvml.h"

enum layout { LAYOUT_V1, LAYOUT_V2, LAYOUT_R535 };

static void put(void *infos, uint32_t j, const struct fake_proc *src, enum layout l) {
	switch (l) {
	case LAYOUT_V1: {
		nvmlProcessInfo_v1_t *o = (nvmlProcessInfo_v1_t *)infos + j;
		o->pid = src->pid;
		o->usedGpuMemory = src->used;
		return;
	}
	case LAYOUT_V2: {
		nvmlProcessInfo_t *o = (nvmlProcessInfo_t *)infos + j;
		o->pid = src->pid;
		o->usedGpuMemory = src->used;
		o->gpuInstanceId = src->gi;
		o->computeInstanceId = src->ci;
		return;
	}
	case LAYOUT_R535: {
		fakeProcessInfoR535_t *o = (fakeProcessInfoR535_t *)infos + j;
		o->pid = src->pid;
		o->usedGpuMemory = src->used;
		o->gpuInstanceId = src->gi;
		o->computeInstanceId = src->ci;
		o->usedGpuCcProtectedMemory = 0;
		return;
	}
	}
}

static nvmlReturn_t processes(enum fake_sym s, nvmlDevice_t device, unsigned int *count, void *infos,
                              enum layout l) {
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
	for (uint32_t j = 0; j < p->n; j++)
		put(infos, j, &c.st->procs[p->off + j], l);
	*count = p->n;
	return NVML_SUCCESS;
}

MODERN_API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount,
                                                                nvmlProcessInfo_t *infos) {
#ifdef FAKE_R535
	return processes(SYM_nvmlDeviceGetComputeRunningProcesses_v3, device, infoCount, infos, LAYOUT_R535);
#else
	return processes(SYM_nvmlDeviceGetComputeRunningProcesses_v3, device, infoCount, infos, LAYOUT_V2);
#endif
}

MODERN_API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device, unsigned int *infoCount,
                                                                nvmlProcessInfo_t *infos) {
	return processes(SYM_nvmlDeviceGetComputeRunningProcesses_v2, device, infoCount, infos, LAYOUT_V2);
}

// nvmlDeviceGetComputeRunningProcesses fills the 16-byte nvmlProcessInfo_v1_t.
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t device, unsigned int *infoCount,
                                                              nvmlProcessInfo_v1_t *infos) {
	return processes(SYM_nvmlDeviceGetComputeRunningProcesses, device, infoCount, infos, LAYOUT_V1);
}

// The binding only looks these two up (their presence tells R535 apart); the
// fake answers NOT_SUPPORTED, as a GPU without confidential computing does.
MODERN_API nvmlReturn_t nvmlDeviceGetConfComputeMemSizeInfo(nvmlDevice_t device, void *memInfo) {
	struct fake_call c;
	struct fake_target t;
	nvmlReturn_t r = fake_enter(SYM_nvmlDeviceGetConfComputeMemSizeInfo, &c);
	if (r == NVML_SUCCESS)
		r = fake_device(&c, device, &t);
	if (r == NVML_SUCCESS && memInfo == NULL)
		r = NVML_ERROR_INVALID_ARGUMENT;
	return r == NVML_SUCCESS ? NVML_ERROR_NOT_SUPPORTED : r;
}

R570_API nvmlReturn_t nvmlDeviceGetRunningProcessDetailList(nvmlDevice_t device, void *plist) {
	struct fake_call c;
	struct fake_target t;
	nvmlReturn_t r = fake_enter(SYM_nvmlDeviceGetRunningProcessDetailList, &c);
	if (r == NVML_SUCCESS)
		r = fake_device(&c, device, &t);
	if (r == NVML_SUCCESS && plist == NULL)
		r = NVML_ERROR_INVALID_ARGUMENT;
	return r == NVML_SUCCESS ? NVML_ERROR_NOT_SUPPORTED : r;
}
