// SPDX-License-Identifier: Apache-2.0
//
// api_device.c — exported per-device NVML functions.
//
// Every function first resolves the handle (NVML_ERROR_INVALID_ARGUMENT for a
// handle that is not the fake's, NVML_ERROR_GPU_IS_LOST after a "lost" fault),
// then checks its output pointers, then answers the script's value for the
// current step. On a MIG device handle only name, UUID, memory, processes,
// architecture and compute capability (the parent's) answer; the rest return
// NVML_ERROR_NOT_SUPPORTED, as NVML does for utilization on MIG devices.
#define _GNU_SOURCE
#include <string.h>

#include "fakenvml.h"

static nvmlReturn_t begin(enum fake_sym s, nvmlDevice_t h, struct fake_call *c, struct fake_target *t) {
	nvmlReturn_t r = fake_enter(s, c);
	if (r != NVML_SUCCESS)
		return r;
	return fake_device(c, h, t);
}

enum { STATIC, SAMPLE };

// gpu_u32 answers a GPU's unsigned int: the struct fake_u32 at offset off in
// its static data (from STATIC) or in the step's sample (from SAMPLE).
static nvmlReturn_t gpu_u32(enum fake_sym s, nvmlDevice_t h, unsigned int *out, int from, size_t off) {
	struct fake_call c;
	struct fake_target t;
	nvmlReturn_t r = begin(s, h, &c, &t);
	if (r != NVML_SUCCESS)
		return r;
	if (out == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (t.mig != NULL)
		return NVML_ERROR_NOT_SUPPORTED;
	const char *base = from == STATIC ? (const char *)t.dev : (const char *)fake_sample(&c, t.index);
	const struct fake_u32 *u = (const struct fake_u32 *)(base + off);
	if (u->ret != NVML_SUCCESS)
		return u->ret;
	*out = u->v;
	return NVML_SUCCESS;
}

static nvmlReturn_t device_str(enum fake_sym s, nvmlDevice_t h, char *buf, unsigned int len) {
	struct fake_call c;
	struct fake_target t;
	nvmlReturn_t r = begin(s, h, &c, &t);
	if (r != NVML_SUCCESS)
		return r;
	if (buf == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	int name = s == SYM_nvmlDeviceGetName;
	if (t.mig != NULL)
		return fake_copy_str(name ? &t.mig->name : &t.mig->uuid, buf, len);
	return fake_copy_str(name ? &t.dev->name : &t.dev->uuid, buf, len);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
	return device_str(SYM_nvmlDeviceGetName, device, name, length);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
	return device_str(SYM_nvmlDeviceGetUUID, device, uuid, length);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index) {
	struct fake_call c;
	struct fake_target t;
	nvmlReturn_t r = begin(SYM_nvmlDeviceGetIndex, device, &c, &t);
	if (r != NVML_SUCCESS)
		return r;
	if (index == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	// On a MIG handle NVML answers the slot index, the one that
	// nvmlDeviceGetMigDeviceHandleByIndex takes (nvml.h).
	*index = t.mig != NULL ? t.mig->index : t.index;
	return NVML_SUCCESS;
}

static nvmlReturn_t pci(enum fake_sym s, nvmlDevice_t h, void *out, struct fake_target *t) {
	struct fake_call c;
	nvmlReturn_t r = begin(s, h, &c, t);
	if (r != NVML_SUCCESS)
		return r;
	if (out == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (t->mig != NULL)
		return NVML_ERROR_NOT_SUPPORTED;
	return t->dev->pci.ret;
}

static nvmlReturn_t pci_v3(enum fake_sym s, nvmlDevice_t device, nvmlPciInfo_t *p) {
	struct fake_target t;
	nvmlReturn_t r = pci(s, device, p, &t);
	if (r != NVML_SUCCESS)
		return r;
	memset(p, 0, sizeof *p);
	memcpy(p->busIdLegacy, t.dev->pci.legacy, sizeof p->busIdLegacy);
	memcpy(p->busId, t.dev->pci.busid, sizeof p->busId);
	p->domain = t.dev->pci.domain;
	p->bus = t.dev->pci.bus;
	p->device = t.dev->pci.device;
	p->pciDeviceId = t.dev->pci.devid;
	p->pciSubSystemId = t.dev->pci.subsys;
	return NVML_SUCCESS;
}

MODERN_API nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *p) {
	return pci_v3(SYM_nvmlDeviceGetPciInfo_v3, device, p);
}

MODERN_API nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t device, nvmlPciInfo_t *p) {
	return pci_v3(SYM_nvmlDeviceGetPciInfo_v2, device, p);
}

// nvmlDeviceGetPciInfo fills the original 52-byte struct: the 16-byte busId
// holds the legacy form and the words after pciSubSystemId are reserved (0).
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo(nvmlDevice_t device, nvmlPciInfo_v1_t *p) {
	struct fake_target t;
	nvmlReturn_t r = pci(SYM_nvmlDeviceGetPciInfo, device, p, &t);
	if (r != NVML_SUCCESS)
		return r;
	memset(p, 0, sizeof *p);
	memcpy(p->busId, t.dev->pci.legacy, sizeof p->busId);
	p->domain = t.dev->pci.domain;
	p->bus = t.dev->pci.bus;
	p->device = t.dev->pci.device;
	p->pciDeviceId = t.dev->pci.devid;
	p->pciSubSystemId = t.dev->pci.subsys;
	return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetArchitecture(nvmlDevice_t device, unsigned int *arch) {
	struct fake_call c;
	struct fake_target t;
	nvmlReturn_t r = begin(SYM_nvmlDeviceGetArchitecture, device, &c, &t);
	if (r != NVML_SUCCESS)
		return r;
	if (arch == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (t.dev->arch.ret != NVML_SUCCESS)
		return t.dev->arch.ret;
	*arch = t.dev->arch.v;
	return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int *major, int *minor) {
	struct fake_call c;
	struct fake_target t;
	nvmlReturn_t r = begin(SYM_nvmlDeviceGetCudaComputeCapability, device, &c, &t);
	if (r != NVML_SUCCESS)
		return r;
	if (major == NULL || minor == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (t.dev->cc.ret != NVML_SUCCESS)
		return t.dev->cc.ret;
	*major = t.dev->cc.major;
	*minor = t.dev->cc.minor;
	return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *u) {
	struct fake_call c;
	struct fake_target t;
	nvmlReturn_t r = begin(SYM_nvmlDeviceGetUtilizationRates, device, &c, &t);
	if (r != NVML_SUCCESS)
		return r;
	if (u == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (t.mig != NULL)
		return NVML_ERROR_NOT_SUPPORTED;
	const struct fake_sample *s = fake_sample(&c, t.index);
	if (s->util.ret != NVML_SUCCESS)
		return s->util.ret;
	u->gpu = s->util.gpu;
	u->memory = s->util.memory;
	return NVML_SUCCESS;
}

static const struct fake_mem *memory(const struct fake_call *c, const struct fake_target *t) {
	if (t->mig != NULL)
		return &fake_msample(c, t->mslot)->mem;
	return &fake_sample(c, t->index)->mem;
}

MODERN_API nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *m) {
	struct fake_call c;
	struct fake_target t;
	nvmlReturn_t r = begin(SYM_nvmlDeviceGetMemoryInfo_v2, device, &c, &t);
	if (r != NVML_SUCCESS)
		return r;
	if (m == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (m->version != NVML_MEMORY_V2)
		return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
	const struct fake_mem *s = memory(&c, &t);
	if (s->ret != NVML_SUCCESS)
		return s->ret;
	m->total = s->total;
	m->reserved = s->reserved;
	m->free = s->free;
	m->used = s->used;
	return NVML_SUCCESS;
}

// nvmlDeviceGetMemoryInfo (v1) is derived from the step's v2 sample, with
// used = used + reserved as NVML's v1 reports it; this equals the recorded
// static v1 answer when both were taken at the same moment. Where the v2
// sample failed (a recording from a driver without _v2), a GPU answers the
// static "dev <i> mem1" line instead.
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *m) {
	struct fake_call c;
	struct fake_target t;
	nvmlReturn_t r = begin(SYM_nvmlDeviceGetMemoryInfo, device, &c, &t);
	if (r != NVML_SUCCESS)
		return r;
	if (m == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	const struct fake_mem *s = memory(&c, &t);
	if (s->ret == NVML_SUCCESS) {
		m->total = s->total;
		m->free = s->free;
		m->used = s->used + s->reserved;
		return NVML_SUCCESS;
	}
	if (t.mig != NULL)
		return s->ret;
	if (t.dev->mem1.ret != NVML_SUCCESS)
		return t.dev->mem1.ret;
	m->total = t.dev->mem1.total;
	m->free = t.dev->mem1.free;
	m->used = t.dev->mem1.used;
	return NVML_SUCCESS;
}

// The plain counters (counters_gen.h): (nvmlDevice_t, unsigned int *) from the sample.
#define FAKE_PLAIN_COUNTER(api, symbol, field)                                            \
	api nvmlReturn_t symbol(nvmlDevice_t device, unsigned int *v) {                   \
		return gpu_u32(SYM_##symbol, device, v, SAMPLE, offsetof(struct fake_sample, field)); \
	}
FAKE_PLAIN_COUNTERS(FAKE_PLAIN_COUNTER)
#undef FAKE_PLAIN_COUNTER

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *limit) {
	return gpu_u32(SYM_nvmlDeviceGetEnforcedPowerLimit, device, limit, STATIC, offsetof(struct fake_dev, powerlimit));
}

// nvmlDeviceGetTemperature knows sensor 0 (NVML_TEMPERATURE_GPU) only.
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensorType, unsigned int *temp) {
	if (sensorType != NVML_TEMPERATURE_GPU) {
		struct fake_call c;
		struct fake_target t;
		nvmlReturn_t r = begin(SYM_nvmlDeviceGetTemperature, device, &c, &t);
		return r != NVML_SUCCESS ? r : NVML_ERROR_INVALID_ARGUMENT;
	}
	return gpu_u32(SYM_nvmlDeviceGetTemperature, device, temp, SAMPLE, offsetof(struct fake_sample, temp));
}

// nvmlDeviceGetTemperatureV (R580+) answers what the deprecated call does,
// through the versioned struct; sensor 0 only.
R570_API nvmlReturn_t nvmlDeviceGetTemperatureV(nvmlDevice_t device, nvmlTemperature_v1_t *temp) {
	const size_t off = offsetof(struct fake_sample, temp);
	if (temp == NULL)
		return gpu_u32(SYM_nvmlDeviceGetTemperatureV, device, NULL, SAMPLE, off);
	if (temp->version != NVML_TEMPERATURE_V1 || temp->sensorType != NVML_TEMPERATURE_GPU) {
		struct fake_call c;
		struct fake_target t;
		nvmlReturn_t r = begin(SYM_nvmlDeviceGetTemperatureV, device, &c, &t);
		if (r != NVML_SUCCESS)
			return r;
		return temp->version != NVML_TEMPERATURE_V1 ? NVML_ERROR_ARGUMENT_VERSION_MISMATCH
		                                            : NVML_ERROR_INVALID_ARGUMENT;
	}
	unsigned int v;
	nvmlReturn_t r = gpu_u32(SYM_nvmlDeviceGetTemperatureV, device, &v, SAMPLE, off);
	if (r == NVML_SUCCESS)
		temp->temperature = (int)v;
	return r;
}

// nvmlDeviceGetClockInfo knows type 1 (NVML_CLOCK_SM) only; the others answer
// NVML_ERROR_NOT_SUPPORTED because recordings hold only the SM clock.
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, int type, unsigned int *clock) {
	if (type != NVML_CLOCK_SM) {
		struct fake_call c;
		struct fake_target t;
		nvmlReturn_t r = begin(SYM_nvmlDeviceGetClockInfo, device, &c, &t);
		return r != NVML_SUCCESS ? r : NVML_ERROR_NOT_SUPPORTED;
	}
	return gpu_u32(SYM_nvmlDeviceGetClockInfo, device, clock, SAMPLE, offsetof(struct fake_sample, smclock));
}

MIG_API nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *current, unsigned int *pending) {
	struct fake_call c;
	struct fake_target t;
	nvmlReturn_t r = begin(SYM_nvmlDeviceGetMigMode, device, &c, &t);
	if (r != NVML_SUCCESS)
		return r;
	if (current == NULL || pending == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (t.mig != NULL)
		return NVML_ERROR_NOT_SUPPORTED;
	if (t.dev->migmode.ret != NVML_SUCCESS)
		return t.dev->migmode.ret;
	*current = t.dev->migmode.current;
	*pending = t.dev->migmode.pending;
	return NVML_SUCCESS;
}

MIG_API nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count) {
	return gpu_u32(SYM_nvmlDeviceGetMaxMigDeviceCount, device, count, STATIC, offsetof(struct fake_dev, maxmig));
}

MIG_API nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
                                                             nvmlDevice_t *mig) {
	struct fake_call c;
	struct fake_target t;
	nvmlReturn_t r = begin(SYM_nvmlDeviceGetMigDeviceHandleByIndex, device, &c, &t);
	if (r != NVML_SUCCESS)
		return r;
	if (mig == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (t.mig != NULL)
		return NVML_ERROR_NOT_SUPPORTED;
	for (uint32_t k = 0; k < t.dev->nslotfail; k++)
		if (t.dev->slotfail[k].slot == index && (r = fake_rule_ret(&c, &t.dev->slotfail[k].r)) != NVML_SUCCESS)
			return r;
	for (uint32_t k = 0; k < t.dev->nmig; k++) {
		if (t.dev->mig[k].index == index && fake_mig_alive(&c, &t.dev->mig[k])) {
			*mig = fake_mig_handle(t.index, k);
			return NVML_SUCCESS;
		}
	}
	return c.st->ep_mig;
}

MIG_API nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t device, unsigned int *isMig) {
	struct fake_call c;
	struct fake_target t;
	nvmlReturn_t r = begin(SYM_nvmlDeviceIsMigDeviceHandle, device, &c, &t);
	if (r != NVML_SUCCESS)
		return r;
	if (isMig == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	*isMig = t.mig != NULL;
	return NVML_SUCCESS;
}

MIG_API nvmlReturn_t nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvmlDevice_t mig, nvmlDevice_t *device) {
	struct fake_call c;
	struct fake_target t;
	nvmlReturn_t r = begin(SYM_nvmlDeviceGetDeviceHandleFromMigDeviceHandle, mig, &c, &t);
	if (r != NVML_SUCCESS)
		return r;
	if (device == NULL || t.mig == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	*device = fake_gpu_handle(t.index);
	return NVML_SUCCESS;
}

MODERN_API nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t device, unsigned int *id) {
	struct fake_call c;
	struct fake_target t;
	nvmlReturn_t r = begin(SYM_nvmlDeviceGetGpuInstanceId, device, &c, &t);
	if (r != NVML_SUCCESS)
		return r;
	if (id == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (t.mig == NULL) // a GPU handle has no GPU instance
		return NVML_ERROR_NOT_SUPPORTED;
	*id = t.mig->gi;
	return NVML_SUCCESS;
}
