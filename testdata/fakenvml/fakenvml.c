// SPDX-License-Identifier: Apache-2.0
//
// fakenvml.c — the core of the fake libnvidia-ml.so.1: init/shutdown
// reference counting, the current step, faults and device handles. The
// exported NVML functions are in api_*.c, the script reader in script.c.
//
// The script is parsed once, under g_mu, and published through g_st; it is
// never freed or changed afterwards (each test loads its own copy of the
// library), so a call reads it without a lock. The hot path of a call is one
// atomic load of the reference count, one of the state pointer, one of the
// mmap'ed step and a couple of array lookups: no I/O, allocation or lock.
// Mutable shared state is only the reference count and the churn counter,
// both atomics.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fakenvml.h"

// A handle is the address of one of these; only the address matters.
struct nvmlDevice_st {
	uint8_t unused;
};

static struct nvmlDevice_st g_gpu[FAKE_MAX_DEV];
static struct nvmlDevice_st g_mig[FAKE_MAX_DEV][FAKE_MAX_MIG];

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct fake_state *_Atomic g_st;
static atomic_uint g_refs;
static atomic_uint_fast64_t g_churn;

nvmlDevice_t fake_gpu_handle(uint32_t i) { return &g_gpu[i]; }

nvmlDevice_t fake_mig_handle(uint32_t i, uint32_t k) { return &g_mig[i][k]; }

const struct fake_state *fake_loaded(void) {
	return atomic_load_explicit(&g_st, memory_order_acquire);
}

static int64_t elapsed_ns(const struct timespec *t0) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)(t.tv_sec - t0->tv_sec) * 1000000000 + (t.tv_nsec - t0->tv_nsec);
}

static uint64_t ctl_step(const uint64_t *ctl) {
	uint64_t v = __atomic_load_n(ctl, __ATOMIC_RELAXED);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

// clock_step maps wall time since init onto the samples, looping after the
// last sample plus one mean sample interval.
static void clock_step(const struct fake_state *st, struct fake_call *c) {
	uint64_t n = st->nsteps;
	int64_t span = st->offset[n - 1] - st->offset[0];
	c->raw = c->step = 0;
	if (n == 1 || span <= 0)
		return;
	uint64_t period = (uint64_t)span + (uint64_t)span / (n - 1);
	double e = (double)elapsed_ns(&st->t0) * st->speed;
	uint64_t el = e <= 0 ? 0 : e >= 0x1p62 ? (uint64_t)1 << 62 : (uint64_t)e;
	uint64_t r = el % period;
	uint64_t lo = 0, hi = n - 1;
	while (lo < hi) {
		uint64_t mid = (lo + hi + 1) / 2;
		if ((uint64_t)(st->offset[mid] - st->offset[0]) <= r)
			lo = mid;
		else
			hi = mid - 1;
	}
	c->step = lo;
	c->raw = el / period * n + lo;
}

static void step_of(const struct fake_state *st, struct fake_call *c) {
	c->st = st;
	if (st->speed > 0) {
		clock_step(st, c);
		return;
	}
	c->raw = st->ctl ? ctl_step(st->ctl) : 0;
	c->step = c->raw < st->nsteps ? c->raw : st->nsteps - 1;
}

static void sleep_ms(uint32_t ms) {
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0)
		;
}

// hooks applies the block and fail rules of symbol s; only symbols named in
// such a rule get here.
static nvmlReturn_t hooks(const struct fake_state *st, enum fake_sym s, struct fake_call *c) {
	int blocked = 0;
	if (st->block_ms[s]) {
		sleep_ms(st->block_ms[s]);
		blocked = 1;
	}
	if (st->blockfile[s]) {
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int64_t max = (int64_t)st->blockfile_ms[s] * 1000000;
		while (access(st->blockfile[s], F_OK) == 0 && elapsed_ns(&t0) < max) {
			sleep_ms(1);
			blocked = 1;
		}
	}
	if (blocked) // the call answers for the time it returns
		step_of(st, c);
	for (int i = 0; i < st->nfail[s]; i++) {
		const struct fake_rule *r = &st->fail[s][i];
		if (c->raw >= r->from && c->raw < r->to)
			return r->ret;
	}
	return NVML_SUCCESS;
}

nvmlReturn_t fake_enter(enum fake_sym s, struct fake_call *c) {
	if (atomic_load_explicit(&g_refs, memory_order_acquire) == 0)
		return NVML_ERROR_UNINITIALIZED;
	const struct fake_state *st = atomic_load_explicit(&g_st, memory_order_acquire);
	step_of(st, c);
	if (st->hooks[s]) {
		nvmlReturn_t r = hooks(st, s, c);
		if (r != NVML_SUCCESS)
			return r;
	}
	// nvmlShutdown keeps working after a driver "upgrade" so clients can
	// clean up; everything else reports the mismatch.
	if (c->raw >= st->mismatch_from && s != SYM_nvmlShutdown)
		return NVML_ERROR_LIB_RM_VERSION_MISMATCH;
	return NVML_SUCCESS;
}

nvmlReturn_t fake_init(enum fake_sym s) {
	pthread_mutex_lock(&g_mu);
	struct fake_state *st = atomic_load_explicit(&g_st, memory_order_relaxed);
	if (st == NULL) {
		st = fake_load();
		if (st == NULL) {
			pthread_mutex_unlock(&g_mu);
			return NVML_ERROR_UNKNOWN;
		}
		clock_gettime(CLOCK_MONOTONIC, &st->t0);
		atomic_store_explicit(&g_churn, st->churn, memory_order_relaxed);
		atomic_store_explicit(&g_st, st, memory_order_release);
	}
	pthread_mutex_unlock(&g_mu);

	struct fake_call c;
	step_of(st, &c);
	nvmlReturn_t r = st->hooks[s] ? hooks(st, s, &c) : NVML_SUCCESS;
	if (r == NVML_SUCCESS && c.raw >= st->mismatch_from)
		r = NVML_ERROR_LIB_RM_VERSION_MISMATCH;
	if (r == NVML_SUCCESS)
		atomic_fetch_add_explicit(&g_refs, 1, memory_order_release);
	return r;
}

nvmlReturn_t fake_shutdown(void) {
	struct fake_call c;
	nvmlReturn_t r = fake_enter(SYM_nvmlShutdown, &c);
	if (r != NVML_SUCCESS)
		return r;
	unsigned n = atomic_load_explicit(&g_refs, memory_order_relaxed);
	do {
		if (n == 0) // a concurrent shutdown got there first
			return NVML_ERROR_UNINITIALIZED;
	} while (!atomic_compare_exchange_weak_explicit(&g_refs, &n, n - 1, memory_order_acq_rel,
	                                                memory_order_relaxed));
	return NVML_SUCCESS;
}

// fake_device resolves a handle: INVALID_ARGUMENT for anything that is not one
// of ours, GPU_IS_LOST once the GPU (or the MIG device's parent) is lost.
nvmlReturn_t fake_device(const struct fake_call *c, nvmlDevice_t h, struct fake_target *t) {
	const struct fake_state *st = c->st;
	uintptr_t p = (uintptr_t)h;
	uintptr_t g = (uintptr_t)g_gpu, m = (uintptr_t)g_mig;
	if (p - g < sizeof g_gpu) {
		uintptr_t i = (p - g) / sizeof g_gpu[0];
		if (i >= st->ndev)
			return NVML_ERROR_INVALID_ARGUMENT;
		t->index = (uint32_t)i;
		t->dev = &st->dev[i];
		t->mig = NULL;
		t->mslot = 0;
	} else if (p - m < sizeof g_mig) {
		uintptr_t j = (p - m) / sizeof g_mig[0][0];
		uintptr_t i = j / FAKE_MAX_MIG, k = j % FAKE_MAX_MIG;
		if (i >= st->ndev || k >= st->dev[i].nmig || !fake_mig_alive(c, &st->dev[i].mig[k]))
			return NVML_ERROR_INVALID_ARGUMENT; // a destroyed MIG device's handle, as real drivers answer
		t->index = (uint32_t)i;
		t->dev = &st->dev[i];
		t->mig = &st->dev[i].mig[k];
		t->mslot = st->dev[i].mig_base + (uint32_t)k;
	} else {
		return NVML_ERROR_INVALID_ARGUMENT;
	}
	if (t->dev->holdfile) { // a hung GPU: only calls on its handles wait
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int64_t max = (int64_t)t->dev->hold_ms * 1000000;
		while (access(t->dev->holdfile, F_OK) == 0 && elapsed_ns(&t0) < max)
			sleep_ms(1);
	}
	if (c->raw >= t->dev->lost_from)
		return NVML_ERROR_GPU_IS_LOST;
	return NVML_SUCCESS;
}

const struct fake_sample *fake_sample(const struct fake_call *c, uint32_t dev) {
	return &c->st->samples[c->step * c->st->ndev + dev];
}

const struct fake_msample *fake_msample(const struct fake_call *c, uint32_t slot) {
	return &c->st->msamples[c->step * c->st->nmig_total + slot];
}

// fake_churn consumes one "the list grew" answer; it reports whether there
// was one left.
int fake_churn(void) {
	uint_fast64_t n = atomic_load_explicit(&g_churn, memory_order_relaxed);
	while (n > 0) {
		if (atomic_compare_exchange_weak_explicit(&g_churn, &n, n - 1, memory_order_relaxed,
		                                          memory_order_relaxed))
			return 1;
	}
	return 0;
}

nvmlReturn_t fake_copy_str(const struct fake_str *fs, char *buf, unsigned int len) {
	if (fs->ret != NVML_SUCCESS)
		return fs->ret;
	if (buf == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	size_t n = strlen(fs->s) + 1;
	if (len < n)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	memcpy(buf, fs->s, n);
	return NVML_SUCCESS;
}

// fake_rule_ret is r's code while the call's step is in r's range, else success.
nvmlReturn_t fake_rule_ret(const struct fake_call *c, const struct fake_rule *r) {
	if (r->ret != NVML_SUCCESS && c->raw >= r->from && c->raw < r->to)
		return r->ret;
	return NVML_SUCCESS;
}

// fake_mig_alive reports whether MIG device m exists at the call's step.
int fake_mig_alive(const struct fake_call *c, const struct fake_mig *m) {
	return c->raw >= m->from && c->raw < m->to;
}
