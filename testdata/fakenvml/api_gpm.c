// SPDX-License-Identifier: Apache-2.0
//
// api_gpm.c — GPM (GPU Performance Monitoring, Hopper and newer).
//
// A sample remembers its device and the step it was taken at. Metrics come
// from sample2's step: the recording already holds, per sample, the metrics
// over the interval since the previous one. A metric id the step does not
// hold answers NVML_ERROR_NOT_SUPPORTED in its own nvmlReturn; samples from
// different devices, or never filled, make the whole call
// NVML_ERROR_INVALID_ARGUMENT. Only metrics[0..numMetrics-1] are written.
//
// nvmlGpmMigSampleGet samples one GPU instance of a GPU in MIG mode. No
// recording has MIG, so the fake answers a GPU instance's metrics with its
// parent GPU's recorded ones: the plumbing is what is tested, not the values.
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>

#include "fakenvml.h"

#define GPM_MAGIC 0x67706d31u

struct nvmlGpmSample_st {
	uint32_t magic;
	int filled;
	uint32_t dev;
	uint32_t gi; // GPU instance id + 1; 0 for the whole GPU
	uint64_t step, raw;
};

static int valid(const struct nvmlGpmSample_st *s) { return s != NULL && s->magic == GPM_MAGIC; }

MODERN_API nvmlReturn_t nvmlGpmSampleAlloc(nvmlGpmSample_t *sample) {
	struct fake_call c;
	nvmlReturn_t r = fake_enter(SYM_nvmlGpmSampleAlloc, &c);
	if (r != NVML_SUCCESS)
		return r;
	if (sample == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	struct nvmlGpmSample_st *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NVML_ERROR_MEMORY;
	s->magic = GPM_MAGIC;
	*sample = s;
	return NVML_SUCCESS;
}

MODERN_API nvmlReturn_t nvmlGpmSampleFree(nvmlGpmSample_t sample) {
	struct fake_call c;
	nvmlReturn_t r = fake_enter(SYM_nvmlGpmSampleFree, &c);
	if (r != NVML_SUCCESS)
		return r;
	if (!valid(sample))
		return NVML_ERROR_INVALID_ARGUMENT;
	sample->magic = 0;
	free(sample);
	return NVML_SUCCESS;
}

MODERN_API nvmlReturn_t nvmlGpmQueryDeviceSupport(nvmlDevice_t device, nvmlGpmSupport_t *support) {
	struct fake_call c;
	struct fake_target t;
	nvmlReturn_t r = fake_enter(SYM_nvmlGpmQueryDeviceSupport, &c);
	if (r == NVML_SUCCESS)
		r = fake_device(&c, device, &t);
	if (r != NVML_SUCCESS)
		return r;
	if (support == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (support->version != NVML_GPM_SUPPORT_VERSION)
		return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
	if (t.mig != NULL)
		return NVML_ERROR_NOT_SUPPORTED;
	if (t.dev->gpm.ret != NVML_SUCCESS)
		return t.dev->gpm.ret;
	support->isSupportedDevice = t.dev->gpm.v != 0;
	return NVML_SUCCESS;
}

MODERN_API nvmlReturn_t nvmlGpmSampleGet(nvmlDevice_t device, nvmlGpmSample_t sample) {
	struct fake_call c;
	struct fake_target t;
	nvmlReturn_t r = fake_enter(SYM_nvmlGpmSampleGet, &c);
	if (r == NVML_SUCCESS)
		r = fake_device(&c, device, &t);
	if (r != NVML_SUCCESS)
		return r;
	if (!valid(sample))
		return NVML_ERROR_INVALID_ARGUMENT;
	if (t.mig != NULL || t.dev->gpm.ret != NVML_SUCCESS || t.dev->gpm.v == 0)
		return NVML_ERROR_NOT_SUPPORTED;
	sample->dev = t.index;
	sample->gi = 0;
	sample->step = c.step;
	sample->raw = c.raw;
	sample->filled = 1;
	return NVML_SUCCESS;
}

MODERN_API nvmlReturn_t nvmlGpmMigSampleGet(nvmlDevice_t device, unsigned int gpuInstanceId, nvmlGpmSample_t sample) {
	struct fake_call c;
	struct fake_target t;
	nvmlReturn_t r = fake_enter(SYM_nvmlGpmMigSampleGet, &c);
	if (r == NVML_SUCCESS)
		r = fake_device(&c, device, &t);
	if (r != NVML_SUCCESS)
		return r;
	if (!valid(sample) || t.mig != NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (t.dev->gpm.ret != NVML_SUCCESS || t.dev->gpm.v == 0 || t.dev->migmode.current != 1)
		return NVML_ERROR_NOT_SUPPORTED;
	int found = 0;
	for (uint32_t k = 0; k < t.dev->nmig; k++)
		found |= t.dev->mig[k].gi == gpuInstanceId && fake_mig_alive(&c, &t.dev->mig[k]);
	if (!found)
		return NVML_ERROR_NOT_FOUND;
	sample->dev = t.index;
	sample->gi = gpuInstanceId + 1;
	sample->step = c.step;
	sample->raw = c.raw;
	sample->filled = 1;
	return NVML_SUCCESS;
}

// The fake's own labels for metricInfo (nvml.h allows NULL, which the other
// ids get); the ids are NVML_GPM_METRIC_* from nvml.h.
static void label(nvmlGpmMetric_t *m) {
	static const struct {
		unsigned int id;
		const char *short_name, *long_name, *unit;
	} names[] = {
	    {1, "gr_util", "graphics activity", "%"},  {2, "sm_util", "SM activity", "%"},
	    {3, "sm_occ", "SM occupancy", "%"},        {4, "int_util", "integer activity", "%"},
	    {5, "any_tensor", "tensor activity", "%"}, {6, "dfma_tensor", "DFMA tensor activity", "%"},
	    {7, "hmma_tensor", "HMMA tensor activity", "%"},
	    {9, "imma_tensor", "IMMA tensor activity", "%"},
	    {10, "dram_bw", "DRAM bandwidth utilization", "%"},
	    {11, "fp64", "FP64 activity", "%"},        {12, "fp32", "FP32 activity", "%"},
	    {13, "fp16", "FP16 activity", "%"},        {20, "pcie_tx", "PCIe transmit", "MiB/s"},
	    {21, "pcie_rx", "PCIe receive", "MiB/s"},
	};
	m->metricInfo.shortName = m->metricInfo.longName = m->metricInfo.unit = NULL;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (names[i].id == m->metricId) {
			m->metricInfo.shortName = (char *)names[i].short_name;
			m->metricInfo.longName = (char *)names[i].long_name;
			m->metricInfo.unit = (char *)names[i].unit;
			return;
		}
	}
}

static int nan_fault(const struct fake_state *st, uint32_t dev, uint32_t id, uint64_t raw) {
	for (uint32_t i = 0; i < st->nnan; i++)
		if (st->nan[i].dev == dev && st->nan[i].id == id && raw >= st->nan[i].from)
			return 1;
	return 0;
}

MODERN_API nvmlReturn_t nvmlGpmMetricsGet(nvmlGpmMetricsGet_t *mg) {
	struct fake_call c;
	nvmlReturn_t r = fake_enter(SYM_nvmlGpmMetricsGet, &c);
	if (r != NVML_SUCCESS)
		return r;
	if (mg == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (mg->version != NVML_GPM_METRICS_GET_VERSION)
		return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
	const struct nvmlGpmSample_st *s1 = mg->sample1, *s2 = mg->sample2;
	if (mg->numMetrics > FAKE_GPM_METRIC_MAX || !valid(s1) || !valid(s2) || !s1->filled || !s2->filled ||
	    s1->dev != s2->dev || s1->gi != s2->gi)
		return NVML_ERROR_INVALID_ARGUMENT;
	const struct fake_state *st = c.st;
	if (s2->dev >= st->ndev)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (c.raw >= st->dev[s2->dev].lost_from)
		return NVML_ERROR_GPU_IS_LOST;
	const struct fake_sample *smp = &st->samples[s2->step * st->ndev + s2->dev];
	const struct fake_gpm *g = smp->ngpm ? &st->gpms[smp->gpm_off] : NULL;
	for (unsigned int i = 0; i < mg->numMetrics; i++) {
		nvmlGpmMetric_t *m = &mg->metrics[i];
		m->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
		m->value = 0;
		for (uint32_t j = 0; j < smp->ngpm; j++) {
			if (g[j].id == m->metricId) {
				m->nvmlReturn = g[j].ret;
				m->value = g[j].ret == NVML_SUCCESS ? g[j].value : 0;
				break;
			}
		}
		if (nan_fault(st, s2->dev, m->metricId, s2->raw)) {
			m->nvmlReturn = NVML_SUCCESS;
			m->value = NAN;
		}
		label(m);
	}
	return NVML_SUCCESS;
}
