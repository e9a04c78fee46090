// SPDX-License-Identifier: Apache-2.0
//
// api_system.c — exported NVML functions that take no device handle: init,
// shutdown, error strings, system versions and device enumeration.
//
// Argument checks (NULL outputs: NVML_ERROR_INVALID_ARGUMENT) come before the
// recorded answer, as in NVML.
#define _GNU_SOURCE
#include <string.h>

#include "fakenvml.h"

FAKE_EXPORT nvmlReturn_t nvmlInit(void) { return fake_init(SYM_nvmlInit); }

MODERN_API nvmlReturn_t nvmlInit_v2(void) { return fake_init(SYM_nvmlInit_v2); }

// nvmlInitWithFlags accepts any flags: the fake has no GPUs to attach to.
FAKE_EXPORT nvmlReturn_t nvmlInitWithFlags(unsigned int flags) {
	(void)flags;
	return fake_init(SYM_nvmlInitWithFlags);
}

FAKE_EXPORT nvmlReturn_t nvmlShutdown(void) { return fake_shutdown(); }

// builtin_error is what driver 580's nvmlErrorString answered (recorded on
// an H200, see shared/nvml-recordings); a script's errstr lines override it.
static const char *builtin_error(nvmlReturn_t r) {
	static const char *const text[] = {
	    "Success",
	    "Uninitialized",
	    "Invalid Argument",
	    "Not Supported",
	    "Insufficient Permissions",
	    "Already Initialized",
	    "Not Found",
	    "Insufficient Size",
	    "Insufficient External Power",
	    "Driver Not Loaded",
	    "Timeout",
	    "Interrupt Request Issue",
	    "NVML Shared Library Not Found",
	    "Function Not Found",
	    "Corrupted infoROM",
	    "GPU is lost",
	    "GPU requires reset",
	    "GPU access blocked by the operating system",
	    "Driver/library version mismatch",
	    "In use by another client",
	    "Insufficient Memory",
	    "No data",
	    "vGPU ECC not supported",
	    "Insufficient Resources",
	    "Invalid Frequency",
	    "Argument version mismatch",
	    "Requested functionality has been deprecated",
	    "System is not in ready state",
	    "No supported GPUs were found",
	    "Resource not in correct state to perform requested operation",
	};
	if (r >= 0 && (size_t)r < sizeof text / sizeof text[0])
		return text[r];
	return "Unknown Error";
}

// nvmlErrorString works before nvmlInit, as NVML's does. The returned strings
// live as long as the library.
FAKE_EXPORT const char *nvmlErrorString(nvmlReturn_t r) {
	const struct fake_state *st = fake_loaded();
	if (st != NULL) {
		for (uint32_t i = 0; i < st->nerrstr; i++)
			if (st->errstr[i].code == r)
				return st->errstr[i].s;
	}
	return builtin_error(r);
}

static nvmlReturn_t system_str(enum fake_sym s, char *buf, unsigned int len) {
	struct fake_call c;
	nvmlReturn_t r = fake_enter(s, &c);
	if (r != NVML_SUCCESS)
		return r;
	if (buf == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	return fake_copy_str(s == SYM_nvmlSystemGetDriverVersion ? &c.st->driver : &c.st->nvmlver, buf, len);
}

FAKE_EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
	return system_str(SYM_nvmlSystemGetDriverVersion, version, length);
}

FAKE_EXPORT nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length) {
	return system_str(SYM_nvmlSystemGetNVMLVersion, version, length);
}

static nvmlReturn_t cuda_version(enum fake_sym s, int *v) {
	struct fake_call c;
	nvmlReturn_t r = fake_enter(s, &c);
	if (r != NVML_SUCCESS)
		return r;
	if (v == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (c.st->cuda.ret != NVML_SUCCESS)
		return c.st->cuda.ret;
	*v = c.st->cuda.v;
	return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *cudaDriverVersion) {
	return cuda_version(SYM_nvmlSystemGetCudaDriverVersion, cudaDriverVersion);
}

MODERN_API nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion) {
	return cuda_version(SYM_nvmlSystemGetCudaDriverVersion_v2, cudaDriverVersion);
}

static nvmlReturn_t device_count(enum fake_sym s, unsigned int *n) {
	struct fake_call c;
	nvmlReturn_t r = fake_enter(s, &c);
	if (r != NVML_SUCCESS)
		return r;
	if (n == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (c.st->count.ret != NVML_SUCCESS)
		return c.st->count.ret;
	*n = c.st->count.v;
	return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned int *deviceCount) {
	return device_count(SYM_nvmlDeviceGetCount, deviceCount);
}

MODERN_API nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount) {
	return device_count(SYM_nvmlDeviceGetCount_v2, deviceCount);
}

static nvmlReturn_t handle_by_index(enum fake_sym s, unsigned int i, nvmlDevice_t *out) {
	struct fake_call c;
	nvmlReturn_t r = fake_enter(s, &c);
	if (r != NVML_SUCCESS)
		return r;
	if (out == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (i >= c.st->ndev)
		return c.st->ep_index;
	if (c.raw >= c.st->dev[i].lost_from)
		return NVML_ERROR_GPU_IS_LOST;
	if ((r = fake_rule_ret(&c, &c.st->dev[i].deny)) != NVML_SUCCESS)
		return r;
	*out = fake_gpu_handle(i);
	return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device) {
	return handle_by_index(SYM_nvmlDeviceGetHandleByIndex, index, device);
}

MODERN_API nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
	return handle_by_index(SYM_nvmlDeviceGetHandleByIndex_v2, index, device);
}

// nvmlDeviceGetHandleByUUID finds GPUs ("GPU-…") and MIG devices ("MIG-…").
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device) {
	struct fake_call c;
	nvmlReturn_t r = fake_enter(SYM_nvmlDeviceGetHandleByUUID, &c);
	if (r != NVML_SUCCESS)
		return r;
	if (uuid == NULL || device == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	const struct fake_state *st = c.st;
	for (uint32_t i = 0; i < st->ndev; i++) {
		const struct fake_dev *d = &st->dev[i];
		nvmlDevice_t h = NULL;
		if (d->uuid.ret == NVML_SUCCESS && strcmp(d->uuid.s, uuid) == 0)
			h = fake_gpu_handle(i);
		for (uint32_t k = 0; h == NULL && k < d->nmig; k++)
			if (d->mig[k].uuid.ret == NVML_SUCCESS && strcmp(d->mig[k].uuid.s, uuid) == 0 &&
			    fake_mig_alive(&c, &d->mig[k]))
				h = fake_mig_handle(i, k);
		if (h == NULL)
			continue;
		if (c.raw >= d->lost_from)
			return NVML_ERROR_GPU_IS_LOST;
		if ((r = fake_rule_ret(&c, &d->deny)) != NVML_SUCCESS)
			return r;
		*device = h;
		return NVML_SUCCESS;
	}
	return st->ep_uuid;
}
