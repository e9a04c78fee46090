// SPDX-License-Identifier: Apache-2.0
//
// fakenvml.h — internal declarations of the fake libnvidia-ml.so.1.
//
// The structs named nvml* below reproduce the ABI of NVIDIA's nvml.h on LP64
// (x86_64, arm64); the sizes are checked at compile time. Everything named
// fake_* is the fake's own state, filled by script.c from the script that
// internal/fakenvml renders from a recording (grammar: script.c).
#ifndef FAKENVML_H
#define FAKENVML_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "counters_gen.h"

#define FAKE_EXPORT __attribute__((visibility("default")))
#define FAKE_HIDDEN __attribute__((visibility("hidden")))

// Four builds imitate four driver generations, oldest first (the second
// column of FAKE_SYMBOLS is the first generation that exports a function):
//   0 FAKE_PRE_R450    unversioned names, no MIG functions at all
//   1 FAKE_OLD_DRIVER  unversioned names and MIG
//   2 FAKE_R535        535.43-535.86: _v2/_v3 names and GPM, but
//                      nvmlDeviceGetComputeRunningProcesses_v3 writes 32-byte
//                      entries (usedGpuCcProtectedMemory at offset 24) and
//                      nvmlDeviceGetRunningProcessDetailList does not exist
//   3 (no flag)        driver 580
// A function a build does not export is compiled hidden: it exists in the
// code but not in the dynamic symbol table.
#ifdef FAKE_PRE_R450
#define FAKE_OLD_DRIVER
#define MIG_API FAKE_HIDDEN
#else
#define MIG_API FAKE_EXPORT
#endif
#ifdef FAKE_OLD_DRIVER
#define MODERN_API FAKE_HIDDEN
#else
#define MODERN_API FAKE_EXPORT
#endif
#if defined(FAKE_OLD_DRIVER) || defined(FAKE_R535)
#define R570_API FAKE_HIDDEN
#else
#define R570_API FAKE_EXPORT
#endif

// ---- NVML ABI --------------------------------------------------------------

typedef int nvmlReturn_t; // an enum in nvml.h: int-sized

enum {
	NVML_SUCCESS = 0,
	NVML_ERROR_UNINITIALIZED = 1,
	NVML_ERROR_INVALID_ARGUMENT = 2,
	NVML_ERROR_NOT_SUPPORTED = 3,
	NVML_ERROR_NO_PERMISSION = 4,
	NVML_ERROR_NOT_FOUND = 6,
	NVML_ERROR_INSUFFICIENT_SIZE = 7,
	NVML_ERROR_GPU_IS_LOST = 15,
	NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18,
	NVML_ERROR_MEMORY = 20,
	NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25,
	NVML_ERROR_UNKNOWN = 999,
};

enum {
	NVML_TEMPERATURE_GPU = 0,
	NVML_CLOCK_SM = 1,
	NVML_GPM_METRICS_GET_VERSION = 1,
	NVML_GPM_SUPPORT_VERSION = 1,
	// NVML_GPM_METRIC_MAX grew 98 -> 210 -> 333 -> 477 across nvml.h releases; the
	// fake accepts numMetrics up to the newest value and never writes past
	// metrics[numMetrics-1], so a caller built against any header is safe.
	FAKE_GPM_METRIC_MAX = 477,
};

// nvmlMemory_v2: sizeof(nvmlMemory_v2_t) | 2 << 24 (NVML_STRUCT_VERSION).
#define NVML_MEMORY_V2 ((unsigned int)(sizeof(nvmlMemory_v2_t) | (2u << 24)))

typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct nvmlGpmSample_st *nvmlGpmSample_t;

typedef struct {
	unsigned int gpu;
	unsigned int memory;
} nvmlUtilization_t;

typedef struct {
	unsigned long long total;
	unsigned long long free;
	unsigned long long used; // includes reserved memory
} nvmlMemory_t;

typedef struct {
	unsigned int version;
	unsigned long long total;
	unsigned long long reserved;
	unsigned long long free;
	unsigned long long used;
} nvmlMemory_v2_t;

typedef struct {
	unsigned int pid;
	unsigned long long usedGpuMemory;
} nvmlProcessInfo_v1_t;

// nvmlProcessInfo_t: the _v2 and _v3 functions share this layout.
typedef struct {
	unsigned int pid;
	unsigned long long usedGpuMemory;
	unsigned int gpuInstanceId;
	unsigned int computeInstanceId;
} nvmlProcessInfo_t;

// What drivers 535.43-535.86 write from nvmlDeviceGetComputeRunningProcesses_v3:
// nvmlProcessInfo_t plus usedGpuCcProtectedMemory, 32 bytes per entry.
typedef struct {
	unsigned int pid;
	unsigned long long usedGpuMemory;
	unsigned int gpuInstanceId;
	unsigned int computeInstanceId;
	unsigned long long usedGpuCcProtectedMemory;
} fakeProcessInfoR535_t;

// nvmlPciInfo_t as filled by nvmlDeviceGetPciInfo_v2/_v3.
typedef struct {
	char busIdLegacy[16];
	unsigned int domain;
	unsigned int bus;
	unsigned int device;
	unsigned int pciDeviceId;
	unsigned int pciSubSystemId;
	char busId[32];
} nvmlPciInfo_t;

// The original nvmlPciInfo_t, filled by the unversioned nvmlDeviceGetPciInfo:
// a 16-byte busId where the newer struct has busIdLegacy, then four reserved
// words where the newer struct starts busId.
typedef struct {
	char busId[16];
	unsigned int domain;
	unsigned int bus;
	unsigned int device;
	unsigned int pciDeviceId;
	unsigned int pciSubSystemId;
	unsigned int reserved[4];
} nvmlPciInfo_v1_t;

typedef struct {
	unsigned int metricId;
	nvmlReturn_t nvmlReturn;
	double value;
	struct {
		char *shortName;
		char *longName;
		char *unit;
	} metricInfo;
} nvmlGpmMetric_t;

typedef struct {
	unsigned int version;
	unsigned int numMetrics;
	nvmlGpmSample_t sample1;
	nvmlGpmSample_t sample2;
	nvmlGpmMetric_t metrics[FAKE_GPM_METRIC_MAX];
} nvmlGpmMetricsGet_t;

typedef struct {
	unsigned int version;
	unsigned int isSupportedDevice;
} nvmlGpmSupport_t;

// nvmlTemperature_v1_t (R580+), for nvmlDeviceGetTemperatureV.
typedef struct {
	unsigned int version;
	int sensorType;
	int temperature;
} nvmlTemperature_v1_t;

#define NVML_TEMPERATURE_V1 ((unsigned int)(sizeof(nvmlTemperature_v1_t) | (1u << 24)))

_Static_assert(sizeof(nvmlUtilization_t) == 8, "nvmlUtilization_t");
_Static_assert(NVML_TEMPERATURE_V1 == 0x0100000cu, "nvmlTemperature_v1");
_Static_assert(sizeof(nvmlMemory_t) == 24, "nvmlMemory_t");
_Static_assert(sizeof(nvmlMemory_v2_t) == 40, "nvmlMemory_v2_t");
_Static_assert(NVML_MEMORY_V2 == 0x02000028u, "nvmlMemory_v2");
_Static_assert(sizeof(nvmlProcessInfo_v1_t) == 16, "nvmlProcessInfo_v1_t");
_Static_assert(sizeof(nvmlProcessInfo_t) == 24, "nvmlProcessInfo_t");
_Static_assert(sizeof(fakeProcessInfoR535_t) == 32, "fakeProcessInfoR535_t");
_Static_assert(sizeof(nvmlPciInfo_t) == 68, "nvmlPciInfo_t");
_Static_assert(sizeof(nvmlPciInfo_v1_t) == 52, "nvmlPciInfo_v1_t");
_Static_assert(sizeof(nvmlGpmMetric_t) == 40, "nvmlGpmMetric_t");
_Static_assert(offsetof(nvmlGpmMetricsGet_t, metrics) == 24, "nvmlGpmMetricsGet_t");
_Static_assert(sizeof(nvmlGpmSupport_t) == 8, "nvmlGpmSupport_t");

// ---- exported symbols ------------------------------------------------------

// FAKE_SYMBOLS lists every function the fake defines, with the first driver
// generation (0-3, above) that exports it. The number is for the reader: the
// MIG_API, MODERN_API or R570_API on each definition decides, and
// internal/fakenvml's TestBuildExportsSymbols checks every build's dynamic
// symbols against its copy of this list (symbols.go). The counters' symbols
// come from counters_gen.h, generated from internal/readings.
#define FAKE_SYMBOLS(X)                                    \
	X(nvmlInit, 0)                                     \
	X(nvmlInit_v2, 2)                                  \
	X(nvmlInitWithFlags, 0)                            \
	X(nvmlShutdown, 0)                                 \
	X(nvmlErrorString, 0)                              \
	X(nvmlSystemGetDriverVersion, 0)                   \
	X(nvmlSystemGetNVMLVersion, 0)                     \
	X(nvmlSystemGetCudaDriverVersion, 0)               \
	X(nvmlSystemGetCudaDriverVersion_v2, 2)            \
	X(nvmlDeviceGetCount, 0)                           \
	X(nvmlDeviceGetCount_v2, 2)                        \
	X(nvmlDeviceGetHandleByIndex, 0)                   \
	X(nvmlDeviceGetHandleByIndex_v2, 2)                \
	X(nvmlDeviceGetHandleByUUID, 0)                    \
	X(nvmlDeviceGetName, 0)                            \
	X(nvmlDeviceGetUUID, 0)                            \
	X(nvmlDeviceGetIndex, 0)                           \
	X(nvmlDeviceGetPciInfo, 0)                         \
	X(nvmlDeviceGetPciInfo_v2, 2)                      \
	X(nvmlDeviceGetPciInfo_v3, 2)                      \
	X(nvmlDeviceGetArchitecture, 0)                    \
	X(nvmlDeviceGetCudaComputeCapability, 0)           \
	X(nvmlDeviceGetUtilizationRates, 0)                \
	X(nvmlDeviceGetMemoryInfo, 0)                      \
	X(nvmlDeviceGetMemoryInfo_v2, 2)                   \
	X(nvmlDeviceGetEnforcedPowerLimit, 0)              \
	FAKE_COUNTER_SYMBOLS(X)                            \
	X(nvmlDeviceGetComputeRunningProcesses, 0)         \
	X(nvmlDeviceGetComputeRunningProcesses_v2, 2)      \
	X(nvmlDeviceGetComputeRunningProcesses_v3, 2)      \
	X(nvmlDeviceGetMigMode, 1)                         \
	X(nvmlDeviceGetMaxMigDeviceCount, 1)               \
	X(nvmlDeviceGetMigDeviceHandleByIndex, 1)          \
	X(nvmlDeviceIsMigDeviceHandle, 1)                  \
	X(nvmlDeviceGetDeviceHandleFromMigDeviceHandle, 1) \
	X(nvmlGpmQueryDeviceSupport, 2)                    \
	X(nvmlGpmSampleAlloc, 2)                           \
	X(nvmlGpmSampleFree, 2)                            \
	X(nvmlGpmSampleGet, 2)                             \
	X(nvmlGpmMetricsGet, 2)                            \
	X(nvmlDeviceGetConfComputeMemSizeInfo, 2)          \
	X(nvmlDeviceGetGpuInstanceId, 2)                   \
	X(nvmlGpmMigSampleGet, 2)                          \
	X(nvmlDeviceGetTemperatureV, 3)                    \
	X(nvmlDeviceGetRunningProcessDetailList, 3)

enum fake_sym {
#define FAKE_SYM_ENUM(name, old) SYM_##name,
	FAKE_SYMBOLS(FAKE_SYM_ENUM)
#undef FAKE_SYM_ENUM
	SYM_COUNT
};

// ---- the fake's state ------------------------------------------------------

enum {
	FAKE_MAX_DEV = 64,       // GPUs
	FAKE_MAX_MIG = 8,        // MIG devices per GPU (NVML allows 7)
	FAKE_MAX_RULES = 8,      // fail rules per symbol
	FAKE_MAX_NAN = 64,       // nan rules
	FAKE_MAX_ERRSTR = 64,    // errstr lines
	FAKE_STR = 96,           // longest NVML string buffer (name, UUID v2)
	FAKE_PATH = 4096,
};

#define FAKE_NEVER UINT64_MAX

struct fake_str {
	int32_t ret;
	char s[FAKE_STR];
};

struct fake_u32 {
	int32_t ret;
	uint32_t v;
};

struct fake_mem {
	int32_t ret;
	uint64_t total, reserved, free, used;
};

struct fake_proc {
	uint32_t pid;
	uint64_t used;
	uint32_t gi, ci;
};

struct fake_procs {
	int32_t ret;
	uint32_t n;
	size_t off; // into fake_state.procs
};

struct fake_gpm {
	uint32_t id;
	int32_t ret;
	double value;
};

struct fake_mig {
	uint32_t index; // nvmlDeviceGetMigDeviceHandleByIndex index
	struct fake_str uuid, name;
	uint32_t gi;       // nvmlDeviceGetGpuInstanceId; default k + 1
	uint64_t from, to; // exists in steps [from, to) (mig-manager reconfigures)
};

struct fake_rule {
	int32_t ret;
	uint64_t from, to; // steps [from, to)
};

struct fake_dev {
	struct fake_str name, uuid;
	struct {
		int32_t ret;
		char legacy[16], busid[32];
		uint32_t domain, bus, device, devid, subsys;
	} pci;
	struct fake_u32 arch, powerlimit, maxmig, gpm;
	struct {
		int32_t ret;
		int32_t major, minor;
	} cc;
	struct {
		int32_t ret;
		uint64_t total, free, used;
	} mem1;
	struct {
		int32_t ret;
		uint32_t current, pending;
	} migmode;
	uint32_t nmig;
	struct fake_mig mig[FAKE_MAX_MIG];
	uint32_t mig_base; // first MIG slot of this GPU in per-step MIG samples
	uint64_t lost_from;
	struct fake_rule deny; // handle lookups (index, UUID) answer deny.ret
	struct {
		uint32_t slot;
		struct fake_rule r;
	} slotfail[FAKE_MAX_MIG]; // nvmlDeviceGetMigDeviceHandleByIndex(slot)
	uint32_t nslotfail;
	char *holdfile; // calls on this GPU's handles wait while it exists
	uint32_t hold_ms;
};

struct fake_sample {
	struct {
		int32_t ret;
		uint32_t gpu, memory;
	} util;
	struct fake_mem mem;
#define FAKE_COUNTER_FIELD(field, keyword, what) struct fake_u32 field;
	FAKE_COUNTERS(FAKE_COUNTER_FIELD)
#undef FAKE_COUNTER_FIELD
	struct fake_procs procs;
	uint32_t ngpm;
	size_t gpm_off; // into fake_state.gpms
};

struct fake_msample {
	struct fake_mem mem;
	struct fake_procs procs;
};

struct fake_state {
	char script[FAKE_PATH];
	char dir[FAKE_PATH];

	uint32_t ndev;
	uint64_t nsteps;
	uint32_t nmig_total;
	int layout_frozen; // devices/steps/migs fixed, sample arrays allocated

	struct fake_str driver, nvmlver;
	struct {
		int32_t ret;
		int32_t v;
	} cuda;
	struct fake_u32 count;
	struct {
		int32_t code;
		char s[128];
	} errstr[FAKE_MAX_ERRSTR];
	uint32_t nerrstr;
	int32_t ep_index, ep_uuid, ep_mig; // error paths

	struct fake_dev dev[FAKE_MAX_DEV];
	int64_t *offset;                // [nsteps], ns
	struct fake_sample *samples;    // [nsteps][ndev]
	struct fake_msample *msamples;  // [nsteps][nmig_total]
	struct fake_proc *procs;
	size_t nprocs, capprocs;
	struct fake_gpm *gpms;
	size_t ngpms, capgpms;

	// faults
	struct fake_rule fail[SYM_COUNT][FAKE_MAX_RULES];
	uint8_t nfail[SYM_COUNT];
	uint32_t block_ms[SYM_COUNT];
	char *blockfile[SYM_COUNT];
	uint32_t blockfile_ms[SYM_COUNT];
	uint8_t hooks[SYM_COUNT]; // nonzero when sym has any fail/block rule
	uint64_t mismatch_from;
	struct {
		uint32_t dev, id;
		uint64_t from;
	} nan[FAKE_MAX_NAN];
	uint32_t nnan;
	uint64_t churn;

	// time
	double speed; // > 0: clock mode
	struct timespec t0;
	uint64_t *ctl; // mmap'ed step, or NULL (step 0)
};

// A call in progress: the state and the step it answers for.
struct fake_call {
	const struct fake_state *st;
	uint64_t raw;  // step for fault ranges (not clamped, not looped)
	uint64_t step; // sample index, < nsteps
};

// A resolved device handle.
struct fake_target {
	const struct fake_dev *dev;
	const struct fake_mig *mig; // NULL for a GPU
	uint32_t index;             // GPU index
	uint32_t mslot;             // MIG sample slot when mig != NULL
};

// script.c
struct fake_state *fake_load(void);

// fakenvml.c
nvmlReturn_t fake_enter(enum fake_sym s, struct fake_call *c);
nvmlReturn_t fake_device(const struct fake_call *c, nvmlDevice_t h, struct fake_target *t);
nvmlDevice_t fake_gpu_handle(uint32_t index);
nvmlDevice_t fake_mig_handle(uint32_t index, uint32_t k);
nvmlReturn_t fake_init(enum fake_sym s);
nvmlReturn_t fake_shutdown(void);
const struct fake_state *fake_loaded(void);
const struct fake_sample *fake_sample(const struct fake_call *c, uint32_t dev);
const struct fake_msample *fake_msample(const struct fake_call *c, uint32_t slot);
int fake_churn(void);
nvmlReturn_t fake_copy_str(const struct fake_str *fs, char *buf, unsigned int len);
nvmlReturn_t fake_rule_ret(const struct fake_call *c, const struct fake_rule *r);
int fake_mig_alive(const struct fake_call *c, const struct fake_mig *m);

#endif
