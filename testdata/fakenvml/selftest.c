// SPDX-License-Identifier: Apache-2.0
//
// selftest.c — proves the fake library through its C ABI, the way a client
// of NVML sees it: dlopen, dlsym, calls. internal/fakenvml's TestSelftest
// builds it, prepares a Fake from selftestRecording (selftest_test.go; the
// values checked here are that synthetic fixture's) and runs
//
//	selftest <mode> <dir>
//
// where dir holds libnvidia-ml.so.1, fakenvml.script and fakenvml.ctl. Modes:
// modern (faults included), old, badscript, clock, mig, and dump (prints GPU
// 0's answers at the current step; TestRecordedFixtures compares them with
// the real recordings). It prints one line per failed check on stderr and
// exits 1 if any failed.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fakenvml.h"

static const char *mode, *dir;
static void *lib;
static int failures;

#define CHECK(cond)                                                                 \
	do {                                                                            \
		if (!(cond)) {                                                              \
			fprintf(stderr, "selftest.c:%d: %s: %s is false\n", __LINE__, mode, #cond); \
			failures++;                                                             \
		}                                                                           \
	} while (0)

#define EQ(got, want)                                                                            \
	do {                                                                                         \
		long long g_ = (long long)(got), w_ = (long long)(want);                                 \
		if (g_ != w_) {                                                                          \
			fprintf(stderr, "selftest.c:%d: %s: %s = %lld, want %lld\n", __LINE__, mode, #got, g_, w_); \
			failures++;                                                                          \
		}                                                                                        \
	} while (0)

#define STREQ(got, want)                                                                        \
	do {                                                                                        \
		const char *g_ = (got), *w_ = (want);                                                   \
		if (g_ == NULL || strcmp(g_, w_) != 0) {                                                \
			fprintf(stderr, "selftest.c:%d: %s: %s = \"%s\", want \"%s\"\n", __LINE__, mode, #got, \
			        g_ ? g_ : "(null)", w_);                                                    \
			failures++;                                                                         \
		}                                                                                       \
	} while (0)

// The fixture's values (selftest_test.go).
#define UUID0 "GPU-00000000-1111-2222-3333-444444444444"
#define UUID1 "GPU-55555555-6666-7777-8888-999999999999"
#define TOTAL0 150754820096ULL
#define RESERVED0 644939776ULL
#define FREE0 150109880320ULL
#define GIB (1ULL << 30)

static struct {
	nvmlReturn_t (*init)(void);
	nvmlReturn_t (*shutdown)(void);
	const char *(*error_string)(nvmlReturn_t);
	nvmlReturn_t (*driver_version)(char *, unsigned);
	nvmlReturn_t (*nvml_version)(char *, unsigned);
	nvmlReturn_t (*cuda)(int *);
	nvmlReturn_t (*count)(unsigned *);
	nvmlReturn_t (*by_index)(unsigned, nvmlDevice_t *);
	nvmlReturn_t (*by_uuid)(const char *, nvmlDevice_t *);
	nvmlReturn_t (*name)(nvmlDevice_t, char *, unsigned);
	nvmlReturn_t (*uuid)(nvmlDevice_t, char *, unsigned);
	nvmlReturn_t (*index)(nvmlDevice_t, unsigned *);
	nvmlReturn_t (*pci_v3)(nvmlDevice_t, nvmlPciInfo_t *);
	nvmlReturn_t (*pci_v1)(nvmlDevice_t, void *);
	nvmlReturn_t (*arch)(nvmlDevice_t, unsigned *);
	nvmlReturn_t (*cc)(nvmlDevice_t, int *, int *);
	nvmlReturn_t (*util)(nvmlDevice_t, nvmlUtilization_t *);
	nvmlReturn_t (*mem_v2)(nvmlDevice_t, nvmlMemory_v2_t *);
	nvmlReturn_t (*mem_v1)(nvmlDevice_t, nvmlMemory_t *);
	nvmlReturn_t (*power)(nvmlDevice_t, unsigned *);
	nvmlReturn_t (*power_limit)(nvmlDevice_t, unsigned *);
	nvmlReturn_t (*temp)(nvmlDevice_t, int, unsigned *);
	nvmlReturn_t (*clock)(nvmlDevice_t, int, unsigned *);
	nvmlReturn_t (*procs)(nvmlDevice_t, unsigned *, nvmlProcessInfo_t *);
	nvmlReturn_t (*procs_v1)(nvmlDevice_t, unsigned *, nvmlProcessInfo_v1_t *);
	nvmlReturn_t (*mig_mode)(nvmlDevice_t, unsigned *, unsigned *);
	nvmlReturn_t (*max_mig)(nvmlDevice_t, unsigned *);
	nvmlReturn_t (*mig_by_index)(nvmlDevice_t, unsigned, nvmlDevice_t *);
	nvmlReturn_t (*is_mig)(nvmlDevice_t, unsigned *);
	nvmlReturn_t (*mig_parent)(nvmlDevice_t, nvmlDevice_t *);
	nvmlReturn_t (*gpm_support)(nvmlDevice_t, nvmlGpmSupport_t *);
	nvmlReturn_t (*gpm_alloc)(nvmlGpmSample_t *);
	nvmlReturn_t (*gpm_free)(nvmlGpmSample_t);
	nvmlReturn_t (*gpm_get)(nvmlDevice_t, nvmlGpmSample_t);
	nvmlReturn_t (*gpm_metrics)(nvmlGpmMetricsGet_t *);
} api;

static void load(void *fp, const char *name, int required) {
	void *p = dlsym(lib, name);
	if (p == NULL && required) {
		fprintf(stderr, "selftest: %s: symbol %s missing\n", mode, name);
		failures++;
	}
	memcpy(fp, &p, sizeof p);
}

static void load_all(int modern) {
	load(&api.init, modern ? "nvmlInit_v2" : "nvmlInit", 1);
	load(&api.shutdown, "nvmlShutdown", 1);
	load(&api.error_string, "nvmlErrorString", 1);
	load(&api.driver_version, "nvmlSystemGetDriverVersion", 1);
	load(&api.nvml_version, "nvmlSystemGetNVMLVersion", 1);
	load(&api.cuda, modern ? "nvmlSystemGetCudaDriverVersion_v2" : "nvmlSystemGetCudaDriverVersion", 1);
	load(&api.count, modern ? "nvmlDeviceGetCount_v2" : "nvmlDeviceGetCount", 1);
	load(&api.by_index, modern ? "nvmlDeviceGetHandleByIndex_v2" : "nvmlDeviceGetHandleByIndex", 1);
	load(&api.by_uuid, "nvmlDeviceGetHandleByUUID", 1);
	load(&api.name, "nvmlDeviceGetName", 1);
	load(&api.uuid, "nvmlDeviceGetUUID", 1);
	load(&api.index, "nvmlDeviceGetIndex", 1);
	load(&api.pci_v3, "nvmlDeviceGetPciInfo_v3", modern);
	load(&api.pci_v1, "nvmlDeviceGetPciInfo", 1);
	load(&api.arch, "nvmlDeviceGetArchitecture", 1);
	load(&api.cc, "nvmlDeviceGetCudaComputeCapability", 1);
	load(&api.util, "nvmlDeviceGetUtilizationRates", 1);
	load(&api.mem_v2, "nvmlDeviceGetMemoryInfo_v2", modern);
	load(&api.mem_v1, "nvmlDeviceGetMemoryInfo", 1);
	load(&api.power, "nvmlDeviceGetPowerUsage", 1);
	load(&api.power_limit, "nvmlDeviceGetEnforcedPowerLimit", 1);
	load(&api.temp, "nvmlDeviceGetTemperature", 1);
	load(&api.clock, "nvmlDeviceGetClockInfo", 1);
	load(&api.procs, "nvmlDeviceGetComputeRunningProcesses_v3", modern);
	load(&api.procs_v1, "nvmlDeviceGetComputeRunningProcesses", 1);
	load(&api.mig_mode, "nvmlDeviceGetMigMode", 1);
	load(&api.max_mig, "nvmlDeviceGetMaxMigDeviceCount", 1);
	load(&api.mig_by_index, "nvmlDeviceGetMigDeviceHandleByIndex", 1);
	load(&api.is_mig, "nvmlDeviceIsMigDeviceHandle", 1);
	load(&api.mig_parent, "nvmlDeviceGetDeviceHandleFromMigDeviceHandle", 1);
	load(&api.gpm_support, "nvmlGpmQueryDeviceSupport", modern);
	load(&api.gpm_alloc, "nvmlGpmSampleAlloc", modern);
	load(&api.gpm_free, "nvmlGpmSampleFree", modern);
	load(&api.gpm_get, "nvmlGpmSampleGet", modern);
	load(&api.gpm_metrics, "nvmlGpmMetricsGet", modern);
}

static void set_step(uint64_t step) {
	char path[4096];
	snprintf(path, sizeof path, "%s/fakenvml.ctl", dir);
	int fd = open(path, O_WRONLY);
	unsigned char b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(step >> (8 * i));
	if (fd < 0 || pwrite(fd, b, 8, 0) != 8) {
		fprintf(stderr, "selftest: %s: cannot write %s\n", mode, path);
		exit(2);
	}
	close(fd);
}

static double now_ms(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void sleep_ms(int ms) {
	struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
	nanosleep(&t, NULL);
}

static nvmlDevice_t handle(unsigned i) {
	nvmlDevice_t d = NULL;
	EQ(api.by_index(i, &d), NVML_SUCCESS);
	return d;
}

// ---- modern: the main paths and every fault ---------------------------------

static void check_static(nvmlDevice_t d0, nvmlDevice_t d1) {
	char buf[96];
	nvmlDevice_t d;
	EQ(api.by_index(2, &d), NVML_ERROR_INVALID_ARGUMENT);
	EQ(api.by_index(0, NULL), NVML_ERROR_INVALID_ARGUMENT);
	EQ(api.by_uuid(UUID1, &d), NVML_SUCCESS);
	CHECK(d == d1);
	EQ(api.by_uuid("GPU-bogus", &d), NVML_ERROR_NOT_FOUND);
	EQ(api.name(d0, buf, sizeof buf), NVML_SUCCESS);
	STREQ(buf, "NVIDIA H200");
	EQ(api.name(d0, buf, 5), NVML_ERROR_INSUFFICIENT_SIZE);
	EQ(api.uuid(d0, buf, sizeof buf), NVML_SUCCESS);
	STREQ(buf, UUID0);
	EQ(api.name(d1, buf, sizeof buf), NVML_SUCCESS);
	STREQ(buf, "NVIDIA H100 80GB HBM3");
	unsigned u = 99;
	EQ(api.index(d1, &u), NVML_SUCCESS);
	EQ(u, 1);
	nvmlPciInfo_t p;
	EQ(api.pci_v3(d0, &p), NVML_SUCCESS);
	STREQ(p.busIdLegacy, "0000:00:06.0");
	STREQ(p.busId, "00000000:00:06.0");
	EQ(p.device, 6);
	EQ(p.pciDeviceId, 0x233510DE);
	EQ(p.pciSubSystemId, 0x18BE10DE);
	EQ(api.arch(d0, &u), NVML_SUCCESS);
	EQ(u, 9);
	int major = 0, minor = 1;
	EQ(api.cc(d0, &major, &minor), NVML_SUCCESS);
	EQ(major, 9);
	EQ(minor, 0);
	EQ(api.power_limit(d0, &u), NVML_SUCCESS);
	EQ(u, 700000);
	EQ(api.power_limit(d1, &u), 4); // recorded NO_PERMISSION
	unsigned cur = 9, pend = 9;
	EQ(api.mig_mode(d0, &cur, &pend), NVML_SUCCESS);
	EQ(cur, 0);
	EQ(pend, 0);
	EQ(api.max_mig(d0, &u), NVML_SUCCESS);
	EQ(u, 0);
	EQ(api.mig_by_index(d0, 0, &d), NVML_ERROR_NOT_FOUND);
	EQ(api.is_mig(d0, &u), NVML_SUCCESS);
	EQ(u, 0);
	EQ(api.mig_parent(d0, &d), NVML_ERROR_INVALID_ARGUMENT);
	int local = 0;
	nvmlUtilization_t ut;
	EQ(api.util((nvmlDevice_t)(void *)&local, &ut), NVML_ERROR_INVALID_ARGUMENT);
	EQ(api.util(NULL, &ut), NVML_ERROR_INVALID_ARGUMENT);
}

static void check_step0(nvmlDevice_t d0, nvmlDevice_t d1) {
	set_step(0);
	nvmlUtilization_t ut = {99, 99};
	EQ(api.util(d0, &ut), NVML_SUCCESS);
	EQ(ut.gpu, 0);
	EQ(ut.memory, 0);
	EQ(api.util(d1, &ut), NVML_SUCCESS);
	EQ(ut.gpu, 50);
	EQ(ut.memory, 1);
	EQ(api.util(d0, NULL), NVML_ERROR_INVALID_ARGUMENT);
	nvmlMemory_v2_t m2 = {.version = 1};
	EQ(api.mem_v2(d0, &m2), NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
	m2.version = NVML_MEMORY_V2;
	EQ(api.mem_v2(d0, &m2), NVML_SUCCESS);
	EQ(m2.version, NVML_MEMORY_V2);
	EQ(m2.total, TOTAL0);
	EQ(m2.reserved, RESERVED0);
	EQ(m2.free, FREE0);
	EQ(m2.used, 0);
	nvmlMemory_t m1;
	EQ(api.mem_v1(d0, &m1), NVML_SUCCESS); // equals the recorded static v1
	EQ(m1.total, TOTAL0);
	EQ(m1.free, FREE0);
	EQ(m1.used, RESERVED0);
	unsigned u = 0;
	EQ(api.power(d0, &u), NVML_SUCCESS);
	EQ(u, 80000);
	EQ(api.clock(d0, NVML_CLOCK_SM, &u), NVML_SUCCESS);
	EQ(u, 345);
	EQ(api.clock(d0, 0, &u), NVML_ERROR_NOT_SUPPORTED);
}

struct held {
	nvmlDevice_t d;
	unsigned temp;
	nvmlReturn_t ret;
	int done;
};

static void *temp_thread(void *arg) {
	struct held *h = arg;
	h->ret = api.temp(h->d, NVML_TEMPERATURE_GPU, &h->temp);
	__atomic_store_n(&h->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

// check_hold: temperature is held until its hold file goes, then answers for
// the step current when it returns.
static void check_hold(nvmlDevice_t d0) {
	struct held h = {.d = d0};
	pthread_t th;
	pthread_create(&th, NULL, temp_thread, &h);
	sleep_ms(50);
	CHECK(!__atomic_load_n(&h.done, __ATOMIC_ACQUIRE));
	set_step(1);
	char path[4096];
	snprintf(path, sizeof path, "%s/hold.nvmlDeviceGetTemperature", dir);
	EQ(unlink(path), 0);
	pthread_join(th, NULL);
	EQ(h.ret, NVML_SUCCESS);
	EQ(h.temp, 36);
	set_step(0);
	unsigned u;
	EQ(api.temp(d0, NVML_TEMPERATURE_GPU, &u), NVML_SUCCESS);
	EQ(u, 35);
	EQ(api.temp(d0, 1, &u), NVML_ERROR_INVALID_ARGUMENT);
}

static void check_block(void) {
	char buf[80];
	double t0 = now_ms();
	EQ(api.nvml_version(buf, sizeof buf), NVML_SUCCESS);
	CHECK(now_ms() - t0 >= 19.5);
	STREQ(buf, "13.580.159.04");
}

static void check_processes(nvmlDevice_t d0) {
	nvmlProcessInfo_t p[4];
	unsigned n = 0;
	set_step(0);
	EQ(api.procs(d0, &n, NULL), NVML_ERROR_INSUFFICIENT_SIZE); // churn 1: "the list grew"
	EQ(n, 1);
	n = 0;
	EQ(api.procs(d0, &n, NULL), NVML_SUCCESS);
	EQ(n, 0);
	n = 1;
	EQ(api.procs(d0, &n, NULL), NVML_ERROR_INVALID_ARGUMENT);
	EQ(api.procs(d0, NULL, p), NVML_ERROR_INVALID_ARGUMENT);
	set_step(2);
	n = 0;
	EQ(api.procs(d0, &n, NULL), NVML_ERROR_INSUFFICIENT_SIZE);
	EQ(n, 2);
	n = 1;
	EQ(api.procs(d0, &n, p), NVML_ERROR_INSUFFICIENT_SIZE);
	EQ(n, 2);
	memset(p, 0xAB, sizeof p);
	n = 4;
	EQ(api.procs(d0, &n, p), NVML_SUCCESS);
	EQ(n, 2);
	EQ(p[0].pid, 1234);
	EQ(p[0].usedGpuMemory, GIB);
	EQ(p[0].gpuInstanceId, 0xFFFFFFFFu);
	EQ(p[0].computeInstanceId, 0xFFFFFFFFu);
	EQ(p[1].pid, 5678);
	EQ(p[1].usedGpuMemory, 512ULL << 20);
	EQ(p[2].pid, 0xABABABABu); // untouched
	nvmlProcessInfo_v1_t v1[2];
	n = 2;
	EQ(api.procs_v1(d0, &n, v1), NVML_SUCCESS);
	EQ(n, 2);
	EQ(v1[1].pid, 5678);
	EQ(v1[1].usedGpuMemory, 512ULL << 20);
	set_step(0);
}

static void metrics(nvmlGpmMetricsGet_t *mg, nvmlGpmSample_t s1, nvmlGpmSample_t s2, unsigned n,
                    const unsigned *ids) {
	memset(mg, 0, sizeof *mg);
	mg->version = NVML_GPM_METRICS_GET_VERSION;
	mg->numMetrics = n;
	mg->sample1 = s1;
	mg->sample2 = s2;
	for (unsigned i = 0; i < n; i++)
		mg->metrics[i].metricId = ids[i];
	mg->metrics[n].metricId = 0xDEAD;
	mg->metrics[n].value = -7;
}

static void check_gpm(nvmlDevice_t d0, nvmlDevice_t d1) {
	nvmlGpmSupport_t sup = {.version = NVML_GPM_SUPPORT_VERSION};
	EQ(api.gpm_support(d0, &sup), NVML_SUCCESS);
	EQ(sup.isSupportedDevice, 1);
	sup.version = 2;
	EQ(api.gpm_support(d0, &sup), NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
	nvmlGpmSample_t s1 = NULL, s2 = NULL, s3 = NULL;
	EQ(api.gpm_alloc(&s1), NVML_SUCCESS);
	EQ(api.gpm_alloc(&s2), NVML_SUCCESS);
	EQ(api.gpm_alloc(&s3), NVML_SUCCESS);
	static nvmlGpmMetricsGet_t mg; // 19 KB
	const unsigned ids[] = {1, 2, 10, 99};
	metrics(&mg, s1, s2, 4, ids);
	EQ(api.gpm_metrics(&mg), NVML_ERROR_INVALID_ARGUMENT); // samples not taken yet
	set_step(0);
	EQ(api.gpm_get(d0, s1), NVML_SUCCESS);
	set_step(1);
	EQ(api.gpm_get(d0, s2), NVML_SUCCESS);
	metrics(&mg, s1, s2, 4, ids);
	EQ(api.gpm_metrics(&mg), NVML_SUCCESS);
	EQ(mg.metrics[0].nvmlReturn, NVML_SUCCESS);
	CHECK(mg.metrics[0].value == 10.0);
	CHECK(mg.metrics[1].value == 5.5);
	CHECK(mg.metrics[2].value == 1.25);
	EQ(mg.metrics[3].nvmlReturn, NVML_ERROR_NOT_SUPPORTED);
	EQ(mg.metrics[4].metricId, 0xDEAD); // past numMetrics: untouched
	CHECK(mg.metrics[4].value == -7);
	STREQ(mg.metrics[1].metricInfo.shortName, "sm_util");
	CHECK(mg.metrics[3].metricInfo.shortName == NULL);
	metrics(&mg, s2, s1, 4, ids); // sample2 at step 0: the recorded NaN
	EQ(api.gpm_metrics(&mg), NVML_SUCCESS);
	EQ(mg.metrics[2].nvmlReturn, NVML_SUCCESS);
	CHECK(isnan(mg.metrics[2].value));
	EQ(api.gpm_get(d1, s3), NVML_SUCCESS);
	metrics(&mg, s1, s3, 1, ids);
	EQ(api.gpm_metrics(&mg), NVML_ERROR_INVALID_ARGUMENT); // different devices
	metrics(&mg, s3, s3, 1, ids);
	EQ(api.gpm_metrics(&mg), NVML_SUCCESS);
	EQ(mg.metrics[0].nvmlReturn, NVML_ERROR_NOT_SUPPORTED); // nothing recorded for GPU 1
	metrics(&mg, s1, s2, 1, ids);
	mg.version = 0;
	EQ(api.gpm_metrics(&mg), NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
	mg.version = NVML_GPM_METRICS_GET_VERSION;
	mg.numMetrics = FAKE_GPM_METRIC_MAX + 1;
	EQ(api.gpm_metrics(&mg), NVML_ERROR_INVALID_ARGUMENT);
	set_step(3); // NaN fault on metric 2 from step 3
	EQ(api.gpm_get(d0, s2), NVML_SUCCESS);
	metrics(&mg, s1, s2, 2, ids);
	EQ(api.gpm_metrics(&mg), NVML_SUCCESS);
	CHECK(mg.metrics[0].value == 30.0);
	EQ(mg.metrics[1].nvmlReturn, NVML_SUCCESS);
	CHECK(isnan(mg.metrics[1].value));
	EQ(api.gpm_get(d1, s3), NVML_ERROR_GPU_IS_LOST);
	EQ(api.gpm_free(s1), NVML_SUCCESS);
	EQ(api.gpm_free(s2), NVML_SUCCESS);
	EQ(api.gpm_free(s3), NVML_SUCCESS);
	EQ(api.gpm_free(NULL), NVML_ERROR_INVALID_ARGUMENT);
	set_step(0);
}

static void check_faults(nvmlDevice_t d0, nvmlDevice_t d1) {
	unsigned u = 0;
	nvmlUtilization_t ut;
	nvmlDevice_t d;
	set_step(1);
	EQ(api.power(d1, &u), NVML_ERROR_NOT_SUPPORTED); // recorded at step 1
	set_step(2);
	EQ(api.power(d0, &u), 4); // fail rule [2, 3): the function, every GPU
	EQ(api.power(d1, &u), 4);
	set_step(3);
	EQ(api.power(d0, &u), NVML_SUCCESS);
	EQ(u, 83000);
	EQ(api.util(d1, &ut), NVML_ERROR_GPU_IS_LOST); // lost from 3
	EQ(api.by_index(1, &d), NVML_ERROR_GPU_IS_LOST);
	EQ(api.by_uuid(UUID1, &d), NVML_ERROR_GPU_IS_LOST);
	EQ(api.util(d0, &ut), NVML_SUCCESS);
	EQ(ut.gpu, 30);
	set_step(7); // past the end: the last sample's data
	EQ(api.util(d0, &ut), NVML_SUCCESS);
	EQ(ut.gpu, 30);
	EQ(ut.memory, 15);
	set_step(0);
}

struct hammer {
	nvmlDevice_t d;
	int bad;
	int stop;
};

static void *hammer_thread(void *arg) {
	struct hammer *h = arg;
	for (int i = 0; i < 20000; i++) {
		nvmlUtilization_t u;
		nvmlReturn_t r = api.util(h->d, &u);
		if (r != NVML_SUCCESS || !((u.gpu == 0 && u.memory == 0) || (u.gpu == 10 && u.memory == 5)))
			h->bad++;
	}
	return NULL;
}

static void check_threads(nvmlDevice_t d0) {
	struct hammer h[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		h[i] = (struct hammer){.d = d0};
		pthread_create(&th[i], NULL, hammer_thread, &h[i]);
	}
	for (int i = 0; i < 200; i++)
		set_step((uint64_t)(i % 2));
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		EQ(h[i].bad, 0);
	}
	set_step(0);
}

static void modern(void) {
	unsigned n = 0;
	EQ(api.count(&n), NVML_ERROR_UNINITIALIZED);
	STREQ(api.error_string(NVML_ERROR_UNINITIALIZED), "Uninitialized");
	EQ(api.init(), NVML_SUCCESS);
	EQ(api.init(), NVML_SUCCESS); // reference counted: two shutdowns to go
	STREQ(api.error_string(999), "Unknown Error (recorded)");
	STREQ(api.error_string(15), "GPU is lost");
	STREQ(api.error_string(12345), "Unknown Error");
	char buf[80];
	EQ(api.driver_version(buf, sizeof buf), NVML_SUCCESS);
	STREQ(buf, "580.159.04");
	EQ(api.driver_version(buf, 4), NVML_ERROR_INSUFFICIENT_SIZE);
	int cuda = 0;
	EQ(api.cuda(&cuda), NVML_SUCCESS);
	EQ(cuda, 13000);
	EQ(api.count(&n), NVML_SUCCESS);
	EQ(n, 2);
	EQ(api.count(NULL), NVML_ERROR_INVALID_ARGUMENT);
	nvmlDevice_t d0 = handle(0), d1 = handle(1);
	CHECK(d0 != NULL && d1 != NULL && d0 != d1);

	check_static(d0, d1);
	check_step0(d0, d1);
	check_block();
	check_hold(d0);
	check_processes(d0);
	check_gpm(d0, d1);
	check_faults(d0, d1);
	check_threads(d0);

	set_step(10); // mismatch from 10
	nvmlUtilization_t ut;
	EQ(api.util(d0, &ut), NVML_ERROR_LIB_RM_VERSION_MISMATCH);
	EQ(api.count(&n), NVML_ERROR_LIB_RM_VERSION_MISMATCH);
	EQ(api.init(), NVML_ERROR_LIB_RM_VERSION_MISMATCH);
	EQ(api.shutdown(), NVML_SUCCESS);
	set_step(0);
	EQ(api.shutdown(), NVML_SUCCESS);
	EQ(api.shutdown(), NVML_ERROR_UNINITIALIZED);
	EQ(api.util(d0, &ut), NVML_ERROR_UNINITIALIZED);
	EQ(api.init(), NVML_SUCCESS); // again, same script
	EQ(api.util(d0, &ut), NVML_SUCCESS);
	EQ(api.shutdown(), NVML_SUCCESS);
}

// ---- old: only the unversioned names, with their old structs ----------------

static void old(void) {
	const char *absent[] = {"nvmlInit_v2", "nvmlDeviceGetCount_v2", "nvmlDeviceGetHandleByIndex_v2",
	                        "nvmlDeviceGetPciInfo_v2", "nvmlDeviceGetPciInfo_v3",
	                        "nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetComputeRunningProcesses_v2",
	                        "nvmlDeviceGetComputeRunningProcesses_v3", "nvmlSystemGetCudaDriverVersion_v2",
	                        "nvmlGpmMetricsGet", "nvmlGpmSampleGet", "nvmlGpmQueryDeviceSupport",
	                        "fake_load", "fake_enter"};
	for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
		if (dlsym(lib, absent[i]) != NULL) {
			fprintf(stderr, "selftest: old: %s is exported\n", absent[i]);
			failures++;
		}
	EQ(api.init(), NVML_SUCCESS);
	unsigned n = 0;
	EQ(api.count(&n), NVML_SUCCESS);
	EQ(n, 2);
	int cuda = 0;
	EQ(api.cuda(&cuda), NVML_SUCCESS);
	EQ(cuda, 13000);
	nvmlDevice_t d0 = handle(0);
	unsigned char raw[68];
	memset(raw, 0xAB, sizeof raw);
	EQ(api.pci_v1(d0, raw), NVML_SUCCESS);
	nvmlPciInfo_v1_t p;
	memcpy(&p, raw, sizeof p);
	STREQ(p.busId, "0000:00:06.0");
	EQ(p.device, 6);
	EQ(p.pciDeviceId, 0x233510DE);
	EQ(p.reserved[0] | p.reserved[1] | p.reserved[2] | p.reserved[3], 0);
	for (size_t i = sizeof p; i < sizeof raw; i++)
		EQ(raw[i], 0xAB); // the 52-byte struct only
	set_step(2);
	nvmlMemory_t m1;
	EQ(api.mem_v1(d0, &m1), NVML_SUCCESS);
	EQ(m1.used, RESERVED0 + 2 * GIB);
	EQ(m1.free, FREE0 - 2 * GIB);
	nvmlProcessInfo_v1_t v1[3];
	memset(v1, 0xAB, sizeof v1);
	n = 3;
	EQ(api.procs_v1(d0, &n, v1), NVML_SUCCESS);
	EQ(n, 2);
	EQ(v1[0].pid, 1234);
	EQ(v1[0].usedGpuMemory, GIB);
	EQ(v1[1].pid, 5678);
	EQ(v1[2].pid, 0xABABABABu);
	EQ(api.shutdown(), NVML_SUCCESS);
}

// ---- badscript, clock, mig ---------------------------------------------------

static void badscript(void) {
	EQ(api.init(), NVML_ERROR_UNKNOWN);
	EQ(api.init(), NVML_ERROR_UNKNOWN);
	unsigned n;
	EQ(api.count(&n), NVML_ERROR_UNINITIALIZED);
	EQ(api.shutdown(), NVML_ERROR_UNINITIALIZED);
}

static void clocked(void) {
	EQ(api.init(), NVML_SUCCESS);
	nvmlDevice_t d0 = handle(0);
	int seen[4] = {0}, distinct = 0;
	double t0 = now_ms();
	while (distinct < 2 && now_ms() - t0 < 5000) {
		nvmlUtilization_t u;
		EQ(api.util(d0, &u), NVML_SUCCESS);
		CHECK(u.gpu % 10 == 0 && u.gpu <= 30);
		if (u.gpu <= 30 && !seen[u.gpu / 10]++)
			distinct++;
		sleep_ms(1);
	}
	CHECK(distinct >= 2);
	EQ(api.shutdown(), NVML_SUCCESS);
}

static void mig(void) {
	EQ(api.init(), NVML_SUCCESS);
	nvmlDevice_t d0 = handle(0), m0 = NULL, m1 = NULL, d = NULL;
	unsigned cur = 0, pend = 0, u = 0;
	EQ(api.mig_mode(d0, &cur, &pend), NVML_SUCCESS);
	EQ(cur, 1);
	EQ(pend, 1);
	EQ(api.max_mig(d0, &u), NVML_SUCCESS);
	EQ(u, 7);
	EQ(api.mig_by_index(d0, 0, &m0), NVML_SUCCESS);
	EQ(api.mig_by_index(d0, 1, &m1), NVML_SUCCESS);
	EQ(api.mig_by_index(d0, 2, &d), NVML_ERROR_NOT_FOUND);
	CHECK(m0 != NULL && m1 != NULL && m0 != m1 && m0 != d0);
	EQ(api.is_mig(m0, &u), NVML_SUCCESS);
	EQ(u, 1);
	EQ(api.mig_parent(m0, &d), NVML_SUCCESS);
	CHECK(d == d0);
	char buf[96];
	EQ(api.name(m0, buf, sizeof buf), NVML_SUCCESS);
	CHECK(strncmp(buf, "NVIDIA H200 MIG 3g.", 19) == 0);
	EQ(api.uuid(m1, buf, sizeof buf), NVML_SUCCESS);
	CHECK(strncmp(buf, "MIG-", 4) == 0);
	EQ(api.by_uuid(buf, &d), NVML_SUCCESS);
	CHECK(d == m1);
	nvmlUtilization_t ut;
	EQ(api.util(m0, &ut), NVML_ERROR_NOT_SUPPORTED);
	EQ(api.util(d0, &ut), NVML_ERROR_NOT_SUPPORTED);
	EQ(api.power(m0, &u), NVML_ERROR_NOT_SUPPORTED);
	EQ(api.index(m0, &u), NVML_SUCCESS); // a MIG handle's index is its slot
	EQ(u, 0);
	EQ(api.arch(m0, &u), NVML_SUCCESS);
	EQ(u, 9);
	nvmlGpmSample_t s = NULL;
	EQ(api.gpm_alloc(&s), NVML_SUCCESS);
	EQ(api.gpm_get(m0, s), NVML_ERROR_NOT_SUPPORTED);
	EQ(api.gpm_free(s), NVML_SUCCESS);
	set_step(2);
	nvmlMemory_v2_t a = {.version = NVML_MEMORY_V2}, b = a, parent = a;
	EQ(api.mem_v2(m0, &a), NVML_SUCCESS);
	EQ(api.mem_v2(m1, &b), NVML_SUCCESS);
	EQ(api.mem_v2(d0, &parent), NVML_SUCCESS);
	EQ(a.used + b.used, parent.used);
	EQ(a.total + b.total, parent.total);
	nvmlMemory_t v1;
	EQ(api.mem_v1(m0, &v1), NVML_SUCCESS);
	EQ(v1.used, a.used + a.reserved);
	nvmlProcessInfo_t p[2];
	unsigned n = 2;
	EQ(api.procs(m0, &n, p), NVML_SUCCESS);
	EQ(n, 1);
	EQ(p[0].pid, 1234);
	EQ(p[0].gpuInstanceId, 1);
	n = 2;
	EQ(api.procs(m1, &n, p), NVML_SUCCESS);
	EQ(n, 1);
	EQ(p[0].pid, 5678);
	EQ(p[0].gpuInstanceId, 2);
	n = 2;
	EQ(api.procs(d0, &n, p), NVML_SUCCESS);
	EQ(n, 2);
	EQ(p[1].gpuInstanceId, 2);
	EQ(api.shutdown(), NVML_SUCCESS);
}

// dump prints what GPU 0 answers at the current step, for a Go test to
// compare with the recording: "key value…" lines.
static void dump(void) {
	EQ(api.init(), NVML_SUCCESS);
	unsigned n = 0;
	nvmlReturn_t r = api.count(&n);
	printf("count %d %u\n", r, n);
	nvmlDevice_t d0 = handle(0);
	char buf[96] = "";
	r = api.name(d0, buf, sizeof buf);
	printf("name %d %s\n", r, buf);
	nvmlMemory_t m1 = {0};
	r = api.mem_v1(d0, &m1);
	printf("mem1 %d %llu %llu %llu\n", r, m1.total, m1.free, m1.used);
	nvmlMemory_v2_t m2 = {.version = NVML_MEMORY_V2};
	r = api.mem_v2(d0, &m2);
	printf("mem2 %d %llu %llu %llu %llu\n", r, m2.total, m2.reserved, m2.free, m2.used);
	nvmlUtilization_t u = {0};
	r = api.util(d0, &u);
	printf("util %d %u %u\n", r, u.gpu, u.memory);
	nvmlProcessInfo_t p[64];
	n = 0;
	r = api.procs(d0, &n, NULL);
	if (r == NVML_ERROR_INSUFFICIENT_SIZE && n <= 64)
		r = api.procs(d0, &n, p);
	printf("procs %d %u", r, r == NVML_SUCCESS ? n : 0);
	for (unsigned i = 0; r == NVML_SUCCESS && i < n; i++)
		printf(" %u:%llu", p[i].pid, p[i].usedGpuMemory);
	printf("\n");
	nvmlGpmSample_t s1 = NULL, s2 = NULL;
	EQ(api.gpm_alloc(&s1), NVML_SUCCESS);
	EQ(api.gpm_alloc(&s2), NVML_SUCCESS);
	EQ(api.gpm_get(d0, s1), NVML_SUCCESS);
	EQ(api.gpm_get(d0, s2), NVML_SUCCESS);
	static nvmlGpmMetricsGet_t mg;
	const unsigned ids[] = {1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13};
	metrics(&mg, s1, s2, sizeof ids / sizeof ids[0], ids);
	EQ(api.gpm_metrics(&mg), NVML_SUCCESS);
	for (unsigned i = 0; i < mg.numMetrics; i++)
		printf("gpm %u %d %.17g\n", mg.metrics[i].metricId, mg.metrics[i].nvmlReturn, mg.metrics[i].value);
	api.gpm_free(s1);
	api.gpm_free(s2);
	EQ(api.shutdown(), NVML_SUCCESS);
}

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: selftest modern|old|badscript|clock|mig|dump DIR\n");
		return 2;
	}
	mode = argv[1];
	dir = argv[2];
	char path[4096];
	snprintf(path, sizeof path, "%s/libnvidia-ml.so.1", dir);
	lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		fprintf(stderr, "selftest: %s\n", dlerror());
		return 2;
	}
	int is_old = strcmp(mode, "old") == 0;
	load_all(!is_old);
	if (failures)
		return 1;
	if (strcmp(mode, "modern") == 0)
		modern();
	else if (is_old)
		old();
	else if (strcmp(mode, "badscript") == 0)
		badscript();
	else if (strcmp(mode, "clock") == 0)
		clocked();
	else if (strcmp(mode, "mig") == 0)
		mig();
	else if (strcmp(mode, "dump") == 0)
		dump();
	else {
		fprintf(stderr, "selftest: unknown mode %s\n", mode);
		return 2;
	}
	if (failures) {
		fprintf(stderr, "selftest %s: %d checks failed\n", mode, failures);
		return 1;
	}
	fprintf(stderr, "selftest %s: ok\n", mode);
	return 0;
}
