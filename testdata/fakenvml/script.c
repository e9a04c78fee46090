// SPDX-License-Identifier: Apache-2.0
//
// script.c — reads the fake's script: what every NVML call answers, per step,
// and which faults to inject. internal/fakenvml renders it from a recording.
//
// Where: $FAKE_NVML_SCRIPT if set, else "fakenvml.script" in the directory of
// the loaded libnvidia-ml.so.1 (found with dladdr). It is read once, at the
// first successful nvmlInit*; a missing or bad script makes nvmlInit* return
// NVML_ERROR_UNKNOWN (999) and print one line "fakenvml: FILE:LINE: problem"
// to stderr.
//
// Grammar. One directive per line; '#' starts a comment line; blank lines are
// ignored; tokens are separated by spaces or tabs.
//   <str>  a string token: "-" is the empty string, "%XX" is the byte 0xXX
//          (the renderer escapes space, '%', control and non-ASCII bytes, and
//          a string that is exactly "-").
//   <ret>  an nvmlReturn_t, decimal. When it is not 0 the call returns it and
//          the value tokens that follow (always present) are ignored.
//   <step> a sample index, decimal; steps count from 0.
// Anything the script does not set answers NVML_ERROR_NOT_SUPPORTED (3).
//
//   fakenvml 1                              first line: format version
//   devices <n>                             GPUs (<= 64)
//   steps <n>                               samples (>= 1)
//   dev <i> migs <m>                        MIG devices under GPU i (<= 8)
//     (the three above come before any offset/s/ms line)
//   clock <speed>                           step follows wall time (below)
//   system driver|nvml <ret> <str>          nvmlSystemGetDriverVersion/NVMLVersion
//   system cuda <ret> <int>                 nvmlSystemGetCudaDriverVersion(_v2)
//   system count <ret> <n>                  nvmlDeviceGetCount(_v2)
//   errstr <code> <str>                     nvmlErrorString(code); else built in
//   errpath index|uuid|mig <ret>            what a handle lookup returns for an
//                                           index >= devices (default 2), an
//                                           unknown UUID (6), a MIG index with
//                                           no MIG device (6)
//   dev <i> name|uuid <ret> <str>
//   dev <i> pci <ret> <busIdLegacy:str> <domain> <bus> <device> <pciDeviceId>
//               <pciSubSystemId> <busId:str>
//   dev <i> arch|powerlimit|maxmig <ret> <n>
//   dev <i> gpm <ret> <0|1>                 nvmlGpmQueryDeviceSupport
//   dev <i> cc <ret> <major> <minor>
//   dev <i> mem1 <ret> <total> <free> <used>     static nvmlMemory_t (api_device.c)
//   dev <i> migmode <ret> <current> <pending>
//   mig <i> <k> <index> <uuidRet> <uuid:str> <nameRet> <name:str>
//                                           k-th MIG device of GPU i (k < migs)
//   offset <step> <ns>                      sample time, ns (clock mode)
//   s <step> <i> util <ret> <gpu> <memory>
//   s <step> <i> mem <ret> <total> <reserved> <free> <used>
//   s <step> <i> <counter> <ret> <n>       a keyword of FAKE_COUNTERS
//                                           (counters_gen.h): power, temp, …
//   s <step> <i> procs <ret> <n> {<pid> <usedBytes> <gpuInstanceId> <computeInstanceId>}*n
//   s <step> <i> gpm <n> {<metricId> <ret> <value>}*n     value may be nan/inf
//   ms <step> <i> <k> mem <ret> <total> <reserved> <free> <used>
//   ms <step> <i> <k> procs <ret> <n> {<pid> <usedBytes> <gi> <ci>}*n
// Faults (a fault step is the ctl step before clamping; in clock mode, the
// number of samples elapsed since init, counting loops):
//   fail <symbol> <ret> [<from> [<to>]]     steps [from, to); to 0 or absent:
//                                           no end. First matching rule wins.
//   lost <i> <from>                         GPU i (and its MIG devices):
//                                           NVML_ERROR_GPU_IS_LOST (15)
//   deny <i> <ret> <from> <to>              handle lookups of GPU i (by index
//                                           or UUID) answer ret in steps
//                                           [from, to), to 0: no end (a GPU
//                                           the cgroup denies: 4)
//   miglife <i> <k> <from> <to>             MIG device k of GPU i exists only in
//                                           steps [from, to) (to 0: no end);
//                                           outside, lookups miss it and its
//                                           handle answers 2, as after
//                                           mig-manager destroyed it
//   miggi <i> <k> <gi>                      its GPU instance id (default k+1)
//   holdgpu <i> <path> <maxms>              every call on a handle of GPU i (or
//                                           its MIG devices) waits while path
//                                           exists, as blockfile does
//   slotfail <i> <slot> <ret> <from> <to>   nvmlDeviceGetMigDeviceHandleByIndex
//                                           (GPU i, slot) answers ret
//   nan <i> <metricId> [<from>]             that GPM metric answers NaN
//   churn <n>                               next n process-list calls with a big
//                                           enough buffer: 7, count = capacity+1
//   block <symbol> <ms>                     sleep before answering
//   blockfile <symbol> <path> <maxms>       wait while path exists (polled every
//                                           1 ms, at most maxms); a relative
//                                           path is relative to the script
//   mismatch <from>                         every call but nvmlShutdown and
//                                           nvmlErrorString: 18 (LIB_RM_VERSION_MISMATCH)
//
// A call checks, in order: initialized (else 1), block/blockfile, fail rules,
// mismatch, its handle (2 for a foreign one, 15 once lost), its output
// pointers and struct version (2, 25), then answers the script's value.
// nvmlErrorString takes no part in faults.
//
// Step control. Without "clock": the step is the little-endian uint64 in
// "fakenvml.ctl" next to the script, mmap'ed at init and read on every call
// (no ctl file: step 0); steps past the end answer the last sample. With
// "clock <speed>": the step follows CLOCK_MONOTONIC since the first init,
// sample offsets scaled by 1/speed, looping after the last sample plus one
// mean sample interval (a one-sample script stays at step 0).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fakenvml.h"
#include "lex.h"

static const char *const sym_names[SYM_COUNT] = {
#define FAKE_SYM_NAME(name, old) #name,
	FAKE_SYMBOLS(FAKE_SYM_NAME)
#undef FAKE_SYM_NAME
};


static int get_res_str(struct lex *l, const char *what, struct fake_str *s) {
	if (get_i32(l, what, &s->ret))
		return -1;
	return get_str(l, what, s->s, sizeof s->s);
}

static int get_res_u32(struct lex *l, const char *what, struct fake_u32 *u) {
	if (get_i32(l, what, &u->ret))
		return -1;
	return get_u32(l, what, &u->v);
}

static int get_sym(struct lex *l, enum fake_sym *s) {
	char *t;
	if (want(l, "symbol", &t))
		return -1;
	for (int i = 0; i < SYM_COUNT; i++) {
		if (strcmp(t, sym_names[i]) == 0) {
			*s = (enum fake_sym)i;
			return 0;
		}
	}
	return fail_at(l, "unknown symbol %s", t);
}

static int get_dev(struct lex *l, const struct fake_state *st, uint32_t *i) {
	if (get_u32(l, "device index", i))
		return -1;
	if (*i >= st->ndev)
		return fail_at(l, "device %u: script declares %u devices", *i, st->ndev);
	return 0;
}

static int get_mig(struct lex *l, const struct fake_state *st, uint32_t i, uint32_t *k) {
	if (get_u32(l, "MIG slot", k))
		return -1;
	if (*k >= st->dev[i].nmig)
		return fail_at(l, "MIG slot %u: device %u declares %u", *k, i, st->dev[i].nmig);
	return 0;
}

static int get_step(struct lex *l, const struct fake_state *st, uint64_t *step) {
	if (get_u64(l, "step", step))
		return -1;
	if (*step >= st->nsteps)
		return fail_at(l, "step %llu: script declares %llu steps", (unsigned long long)*step,
		               (unsigned long long)st->nsteps);
	return 0;
}

static int get_mem(struct lex *l, struct fake_mem *m) {
	if (get_i32(l, "ret", &m->ret) || get_u64(l, "total", &m->total) ||
	    get_u64(l, "reserved", &m->reserved) || get_u64(l, "free", &m->free) ||
	    get_u64(l, "used", &m->used))
		return -1;
	return 0;
}

// grow makes room for need elements of size bytes; NULL when out of memory.
static void *grow(void *p, size_t *cap, size_t need, size_t size) {
	if (need <= *cap && p != NULL)
		return p;
	size_t n = *cap ? *cap : 64;
	while (n < need)
		n *= 2;
	void *q = realloc(p, n * size);
	if (q)
		*cap = n;
	return q;
}

static int get_procs(struct lex *l, struct fake_state *st, struct fake_procs *pr) {
	if (get_i32(l, "ret", &pr->ret) || get_u32(l, "process count", &pr->n))
		return -1;
	struct fake_proc *p = grow(st->procs, &st->capprocs, st->nprocs + pr->n, sizeof *p);
	if (p == NULL)
		return fail_at(l, "out of memory");
	st->procs = p;
	pr->off = st->nprocs;
	for (uint32_t j = 0; j < pr->n; j++) {
		struct fake_proc *q = &p[st->nprocs + j];
		if (get_u32(l, "pid", &q->pid) || get_u64(l, "usedGpuMemory", &q->used) ||
		    get_u32(l, "gpuInstanceId", &q->gi) || get_u32(l, "computeInstanceId", &q->ci))
			return -1;
	}
	st->nprocs += pr->n;
	return 0;
}

static int get_gpm(struct lex *l, struct fake_state *st, struct fake_sample *s) {
	if (get_u32(l, "metric count", &s->ngpm))
		return -1;
	struct fake_gpm *g = grow(st->gpms, &st->capgpms, st->ngpms + s->ngpm, sizeof *g);
	if (g == NULL)
		return fail_at(l, "out of memory");
	st->gpms = g;
	s->gpm_off = st->ngpms;
	for (uint32_t j = 0; j < s->ngpm; j++) {
		struct fake_gpm *q = &g[st->ngpms + j];
		if (get_u32(l, "metricId", &q->id) || get_i32(l, "ret", &q->ret) ||
		    get_f64(l, "value", &q->value))
			return -1;
	}
	st->ngpms += s->ngpm;
	return 0;
}

// freeze fixes the layout and allocates the per-step arrays, every answer
// NOT_SUPPORTED until a line sets it.
static int freeze(struct lex *l, struct fake_state *st) {
	if (st->layout_frozen)
		return 0;
	if (st->nsteps == 0)
		return fail_at(l, "no \"steps\" line before the samples");
	uint32_t nmig = 0;
	for (uint32_t i = 0; i < st->ndev; i++) {
		st->dev[i].mig_base = nmig;
		nmig += st->dev[i].nmig;
	}
	st->nmig_total = nmig;
	size_t ns = (size_t)st->nsteps;
	st->offset = calloc(ns, sizeof *st->offset);
	st->samples = calloc(ns * (st->ndev ? st->ndev : 1), sizeof *st->samples);
	st->msamples = calloc(ns * (nmig ? nmig : 1), sizeof *st->msamples);
	if (!st->offset || !st->samples || !st->msamples)
		return fail_at(l, "out of memory for %zu steps", ns);
	for (size_t j = 0; j < ns * st->ndev; j++) {
		struct fake_sample *s = &st->samples[j];
		s->util.ret = s->mem.ret = s->procs.ret = NVML_ERROR_NOT_SUPPORTED;
#define FAKE_COUNTER_UNSET(field, keyword, what) s->field.ret = NVML_ERROR_NOT_SUPPORTED;
		FAKE_COUNTERS(FAKE_COUNTER_UNSET)
#undef FAKE_COUNTER_UNSET
	}
	for (size_t j = 0; j < ns * nmig; j++)
		st->msamples[j].mem.ret = st->msamples[j].procs.ret = NVML_ERROR_NOT_SUPPORTED;
	st->layout_frozen = 1;
	return 0;
}

static int parse_system(struct lex *l, struct fake_state *st) {
	char *what;
	if (want(l, "system field", &what))
		return -1;
	if (strcmp(what, "driver") == 0)
		return get_res_str(l, "driver version", &st->driver);
	if (strcmp(what, "nvml") == 0)
		return get_res_str(l, "NVML version", &st->nvmlver);
	if (strcmp(what, "cuda") == 0)
		return get_i32(l, "ret", &st->cuda.ret) || get_i32(l, "CUDA version", &st->cuda.v);
	if (strcmp(what, "count") == 0)
		return get_res_u32(l, "device count", &st->count);
	return fail_at(l, "unknown system field %s", what);
}

static int parse_dev(struct lex *l, struct fake_state *st) {
	uint32_t i = 0;
	char *what;
	if (get_dev(l, st, &i) || want(l, "device field", &what))
		return -1;
	struct fake_dev *d = &st->dev[i];
	if (strcmp(what, "migs") == 0) {
		if (st->layout_frozen)
			return fail_at(l, "\"dev %u migs\" after the first sample", i);
		if (get_u32(l, "MIG count", &d->nmig))
			return -1;
		if (d->nmig > FAKE_MAX_MIG)
			return fail_at(l, "%u MIG devices: at most %d", d->nmig, FAKE_MAX_MIG);
		return 0;
	}
	if (strcmp(what, "name") == 0)
		return get_res_str(l, "name", &d->name);
	if (strcmp(what, "uuid") == 0)
		return get_res_str(l, "uuid", &d->uuid);
	if (strcmp(what, "pci") == 0)
		return get_i32(l, "ret", &d->pci.ret) ||
		       get_str(l, "busIdLegacy", d->pci.legacy, sizeof d->pci.legacy) ||
		       get_u32(l, "domain", &d->pci.domain) || get_u32(l, "bus", &d->pci.bus) ||
		       get_u32(l, "device", &d->pci.device) || get_u32(l, "pciDeviceId", &d->pci.devid) ||
		       get_u32(l, "pciSubSystemId", &d->pci.subsys) ||
		       get_str(l, "busId", d->pci.busid, sizeof d->pci.busid);
	if (strcmp(what, "arch") == 0)
		return get_res_u32(l, "architecture", &d->arch);
	if (strcmp(what, "powerlimit") == 0)
		return get_res_u32(l, "power limit", &d->powerlimit);
	if (strcmp(what, "maxmig") == 0)
		return get_res_u32(l, "max MIG device count", &d->maxmig);
	if (strcmp(what, "gpm") == 0)
		return get_res_u32(l, "GPM support", &d->gpm);
	if (strcmp(what, "cc") == 0)
		return get_i32(l, "ret", &d->cc.ret) || get_i32(l, "major", &d->cc.major) ||
		       get_i32(l, "minor", &d->cc.minor);
	if (strcmp(what, "mem1") == 0)
		return get_i32(l, "ret", &d->mem1.ret) || get_u64(l, "total", &d->mem1.total) ||
		       get_u64(l, "free", &d->mem1.free) || get_u64(l, "used", &d->mem1.used);
	if (strcmp(what, "migmode") == 0)
		return get_i32(l, "ret", &d->migmode.ret) || get_u32(l, "current", &d->migmode.current) ||
		       get_u32(l, "pending", &d->migmode.pending);
	return fail_at(l, "unknown device field %s", what);
}

static int parse_mig(struct lex *l, struct fake_state *st) {
	uint32_t i = 0, k = 0;
	if (get_dev(l, st, &i) || get_mig(l, st, i, &k))
		return -1;
	struct fake_mig *m = &st->dev[i].mig[k];
	return get_u32(l, "MIG index", &m->index) || get_res_str(l, "MIG uuid", &m->uuid) ||
	       get_res_str(l, "MIG name", &m->name);
}

static int parse_sample(struct lex *l, struct fake_state *st) {
	uint64_t step = 0;
	uint32_t i = 0;
	char *what;
	if (freeze(l, st) || get_step(l, st, &step) || get_dev(l, st, &i) || want(l, "sample field", &what))
		return -1;
	struct fake_sample *s = &st->samples[step * st->ndev + i];
	if (strcmp(what, "util") == 0)
		return get_i32(l, "ret", &s->util.ret) || get_u32(l, "gpu", &s->util.gpu) ||
		       get_u32(l, "memory", &s->util.memory);
	if (strcmp(what, "mem") == 0)
		return get_mem(l, &s->mem);
#define FAKE_COUNTER_PARSE(field, keyword, name) \
	if (strcmp(what, keyword) == 0)              \
		return get_res_u32(l, name, &s->field);
	FAKE_COUNTERS(FAKE_COUNTER_PARSE)
#undef FAKE_COUNTER_PARSE
	if (strcmp(what, "procs") == 0)
		return get_procs(l, st, &s->procs);
	if (strcmp(what, "gpm") == 0)
		return get_gpm(l, st, s);
	return fail_at(l, "unknown sample field %s", what);
}

static int parse_msample(struct lex *l, struct fake_state *st) {
	uint64_t step = 0;
	uint32_t i = 0, k = 0;
	char *what;
	if (freeze(l, st) || get_step(l, st, &step) || get_dev(l, st, &i) || get_mig(l, st, i, &k) ||
	    want(l, "MIG sample field", &what))
		return -1;
	struct fake_msample *m = &st->msamples[step * st->nmig_total + st->dev[i].mig_base + k];
	if (strcmp(what, "mem") == 0)
		return get_mem(l, &m->mem);
	if (strcmp(what, "procs") == 0)
		return get_procs(l, st, &m->procs);
	return fail_at(l, "unknown MIG sample field %s", what);
}

// get_rule reads "<ret> <from> <to>" (to 0: no end).
static int get_rule(struct lex *l, struct fake_rule *r) {
	if (get_i32(l, "ret", &r->ret) || get_u64(l, "from step", &r->from) || get_u64(l, "to step", &r->to))
		return -1;
	if (r->to == 0)
		r->to = FAKE_NEVER;
	return 0;
}

static int parse_fail(struct lex *l, struct fake_state *st) {
	enum fake_sym s;
	struct fake_rule r = {.from = 0, .to = FAKE_NEVER};
	if (get_sym(l, &s) || get_i32(l, "ret", &r.ret))
		return -1;
	if (more(l) && get_u64(l, "from step", &r.from))
		return -1;
	if (more(l)) {
		if (get_u64(l, "to step", &r.to))
			return -1;
		if (r.to == 0)
			r.to = FAKE_NEVER;
	}
	if (st->nfail[s] >= FAKE_MAX_RULES)
		return fail_at(l, "more than %d fail rules for %s", FAKE_MAX_RULES, sym_names[s]);
	st->fail[s][st->nfail[s]++] = r;
	st->hooks[s] = 1;
	return 0;
}

// get_path reads a path, relative to the script unless absolute, into *out
// (replacing what was there).
static int get_path(struct lex *l, const struct fake_state *st, char **out) {
	char path[FAKE_PATH];
	if (get_str(l, "path", path, sizeof path))
		return -1;
	char full[2 * FAKE_PATH + 2];
	if (path[0] == '/')
		snprintf(full, sizeof full, "%s", path);
	else
		snprintf(full, sizeof full, "%s/%s", st->dir, path);
	free(*out);
	*out = strdup(full);
	if (*out == NULL)
		return fail_at(l, "out of memory");
	return 0;
}

static int parse_blockfile(struct lex *l, struct fake_state *st) {
	enum fake_sym s;
	if (get_sym(l, &s) || get_path(l, st, &st->blockfile[s]) ||
	    get_u32(l, "max milliseconds", &st->blockfile_ms[s]))
		return -1;
	st->hooks[s] = 1;
	return 0;
}

static int parse_line(struct lex *l, struct fake_state *st) {
	while (*l->p == ' ' || *l->p == '\t')
		l->p++;
	if (*l->p == '#') { // a comment: skip the whole line
		l->p += strlen(l->p);
		return 0;
	}
	char *d = next_token(l);
	uint32_t i = 0;
	uint64_t step = 0;
	if (d == NULL)
		return 0;
	if (strcmp(d, "devices") == 0 || strcmp(d, "steps") == 0) {
		if (st->layout_frozen)
			return fail_at(l, "\"%s\" after the first sample", d);
		if (d[0] == 'd') {
			if (get_u32(l, "device count", &st->ndev))
				return -1;
			if (st->ndev > FAKE_MAX_DEV)
				return fail_at(l, "%u devices: at most %d", st->ndev, FAKE_MAX_DEV);
			return 0;
		}
		if (get_u64(l, "step count", &st->nsteps))
			return -1;
		if (st->nsteps == 0 || st->nsteps > (1u << 24))
			return fail_at(l, "step count %llu: want 1..%u", (unsigned long long)st->nsteps, 1u << 24);
		return 0;
	}
	if (strcmp(d, "clock") == 0) {
		if (get_f64(l, "speed", &st->speed))
			return -1;
		if (!(st->speed > 0) || st->speed > 1e9)
			return fail_at(l, "clock speed must be > 0");
		return 0;
	}
	if (strcmp(d, "system") == 0)
		return parse_system(l, st);
	if (strcmp(d, "errstr") == 0) {
		if (st->nerrstr >= FAKE_MAX_ERRSTR)
			return fail_at(l, "more than %d errstr lines", FAKE_MAX_ERRSTR);
		uint32_t n = st->nerrstr++;
		return get_i32(l, "code", &st->errstr[n].code) ||
		       get_str(l, "error string", st->errstr[n].s, sizeof st->errstr[n].s);
	}
	if (strcmp(d, "errpath") == 0) {
		char *what;
		if (want(l, "error path", &what))
			return -1;
		if (strcmp(what, "index") == 0)
			return get_i32(l, "ret", &st->ep_index);
		if (strcmp(what, "uuid") == 0)
			return get_i32(l, "ret", &st->ep_uuid);
		if (strcmp(what, "mig") == 0)
			return get_i32(l, "ret", &st->ep_mig);
		return fail_at(l, "unknown error path %s", what);
	}
	if (strcmp(d, "dev") == 0)
		return parse_dev(l, st);
	if (strcmp(d, "mig") == 0)
		return parse_mig(l, st);
	if (strcmp(d, "offset") == 0) {
		int64_t ns;
		if (freeze(l, st) || get_step(l, st, &step) || get_i64(l, "offset ns", &ns))
			return -1;
		st->offset[step] = ns;
		return 0;
	}
	if (strcmp(d, "s") == 0)
		return parse_sample(l, st);
	if (strcmp(d, "ms") == 0)
		return parse_msample(l, st);
	if (strcmp(d, "fail") == 0)
		return parse_fail(l, st);
	if (strcmp(d, "lost") == 0)
		return get_dev(l, st, &i) || get_u64(l, "from step", &st->dev[i].lost_from);
	if (strcmp(d, "miglife") == 0) {
		uint32_t k;
		if (get_dev(l, st, &i) || get_mig(l, st, i, &k))
			return -1;
		struct fake_mig *m = &st->dev[i].mig[k];
		if (get_u64(l, "from step", &m->from) || get_u64(l, "to step", &m->to))
			return -1;
		if (m->to == 0)
			m->to = FAKE_NEVER;
		return 0;
	}
	if (strcmp(d, "miggi") == 0) {
		uint32_t k;
		if (get_dev(l, st, &i) || get_mig(l, st, i, &k))
			return -1;
		return get_u32(l, "GPU instance id", &st->dev[i].mig[k].gi);
	}
	if (strcmp(d, "holdgpu") == 0)
		return get_dev(l, st, &i) || get_path(l, st, &st->dev[i].holdfile) ||
		       get_u32(l, "max milliseconds", &st->dev[i].hold_ms);
	if (strcmp(d, "deny") == 0)
		return get_dev(l, st, &i) || get_rule(l, &st->dev[i].deny);
	if (strcmp(d, "slotfail") == 0) {
		if (get_dev(l, st, &i))
			return -1;
		struct fake_dev *dv = &st->dev[i];
		if (dv->nslotfail >= FAKE_MAX_MIG)
			return fail_at(l, "more than %d slotfail lines for GPU %u", FAKE_MAX_MIG, i);
		uint32_t n = dv->nslotfail++;
		return get_u32(l, "slot", &dv->slotfail[n].slot) || get_rule(l, &dv->slotfail[n].r);
	}
	if (strcmp(d, "nan") == 0) {
		if (st->nnan >= FAKE_MAX_NAN)
			return fail_at(l, "more than %d nan lines", FAKE_MAX_NAN);
		uint32_t n = st->nnan++;
		st->nan[n].from = 0;
		if (get_dev(l, st, &st->nan[n].dev) || get_u32(l, "metricId", &st->nan[n].id))
			return -1;
		return more(l) && get_u64(l, "from step", &st->nan[n].from);
	}
	if (strcmp(d, "churn") == 0)
		return get_u64(l, "call count", &st->churn);
	if (strcmp(d, "block") == 0) {
		enum fake_sym s;
		if (get_sym(l, &s) || get_u32(l, "milliseconds", &st->block_ms[s]))
			return -1;
		st->hooks[s] = 1;
		return 0;
	}
	if (strcmp(d, "blockfile") == 0)
		return parse_blockfile(l, st);
	if (strcmp(d, "mismatch") == 0)
		return get_u64(l, "from step", &st->mismatch_from);
	return fail_at(l, "unknown directive %s", d);
}

// script_path finds the script: $FAKE_NVML_SCRIPT, else next to this library.
static int script_path(struct fake_state *st) {
	const char *env = getenv("FAKE_NVML_SCRIPT");
	if (env && *env) {
		snprintf(st->script, sizeof st->script, "%s", env);
	} else {
		Dl_info info;
		if (dladdr((void *)&fake_load, &info) == 0 || info.dli_fname == NULL) {
			fprintf(stderr, "fakenvml: cannot find the library's own path (dladdr failed)\n");
			return -1;
		}
		snprintf(st->script, sizeof st->script, "%s", info.dli_fname);
		char *slash = strrchr(st->script, '/');
		size_t keep = slash ? (size_t)(slash - st->script) + 1 : 0;
		snprintf(st->script + keep, sizeof st->script - keep, "fakenvml.script");
	}
	snprintf(st->dir, sizeof st->dir, "%s", st->script);
	char *slash = strrchr(st->dir, '/');
	if (slash)
		*slash = 0;
	else
		snprintf(st->dir, sizeof st->dir, ".");
	return 0;
}

// map_ctl maps "fakenvml.ctl" next to the script; no file means step 0.
static int map_ctl(struct fake_state *st) {
	char path[2 * FAKE_PATH + 16];
	snprintf(path, sizeof path, "%s/fakenvml.ctl", st->dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		fprintf(stderr, "fakenvml: %s: %s\n", path, strerror(errno));
		return -1;
	}
	struct stat sb;
	if (fstat(fd, &sb) != 0 || sb.st_size < 8) {
		fprintf(stderr, "fakenvml: %s: want 8 bytes (little-endian uint64 step)\n", path);
		close(fd);
		return -1;
	}
	void *p = mmap(NULL, 8, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		fprintf(stderr, "fakenvml: %s: mmap: %s\n", path, strerror(errno));
		return -1;
	}
	st->ctl = p;
	return 0;
}

static struct fake_state *new_state(void) {
	struct fake_state *st = calloc(1, sizeof *st);
	if (st == NULL)
		return NULL;
	st->driver.ret = st->nvmlver.ret = st->cuda.ret = st->count.ret = NVML_ERROR_NOT_SUPPORTED;
	st->ep_index = NVML_ERROR_INVALID_ARGUMENT;
	st->ep_uuid = NVML_ERROR_NOT_FOUND;
	st->ep_mig = NVML_ERROR_NOT_FOUND;
	st->mismatch_from = FAKE_NEVER;
	for (int i = 0; i < FAKE_MAX_DEV; i++) {
		struct fake_dev *d = &st->dev[i];
		d->name.ret = d->uuid.ret = d->pci.ret = d->arch.ret = d->powerlimit.ret = d->maxmig.ret =
		    d->gpm.ret = d->cc.ret = d->mem1.ret = d->migmode.ret = NVML_ERROR_NOT_SUPPORTED;
		for (int k = 0; k < FAKE_MAX_MIG; k++) {
			d->mig[k].uuid.ret = d->mig[k].name.ret = NVML_ERROR_NOT_SUPPORTED;
			d->mig[k].gi = (uint32_t)k + 1;
			d->mig[k].to = FAKE_NEVER;
		}
		d->lost_from = FAKE_NEVER;
	}
	return st;
}

static void free_state(struct fake_state *st) {
	if (st == NULL)
		return;
	free(st->offset);
	free(st->samples);
	free(st->msamples);
	free(st->procs);
	free(st->gpms);
	for (int i = 0; i < SYM_COUNT; i++)
		free(st->blockfile[i]);
	for (int i = 0; i < FAKE_MAX_DEV; i++)
		free(st->dev[i].holdfile);
	if (st->ctl)
		munmap(st->ctl, 8);
	free(st);
}

static int parse_file(struct fake_state *st, FILE *f) {
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned lineno = 0;
	int rc = 0;
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = 0;
		struct lex l = {.p = line};
		if (lineno == 1) {
			char *a = next_token(&l), *b = next_token(&l);
			if (!a || strcmp(a, "fakenvml") != 0 || !b || strcmp(b, "1") != 0 || next_token(&l)) {
				fail_at(&l, "first line must be \"fakenvml 1\"");
				rc = -1;
			}
		} else if (parse_line(&l, st) != 0 || end_of_line(&l) != 0) {
			rc = -1;
		}
		if (rc) {
			fprintf(stderr, "fakenvml: %s:%u: %s\n", st->script, lineno, l.err);
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		fprintf(stderr, "fakenvml: %s: read error\n", st->script);
		rc = -1;
	}
	if (rc == 0 && lineno == 0) {
		fprintf(stderr, "fakenvml: %s: empty script\n", st->script);
		rc = -1;
	}
	if (rc == 0 && !st->layout_frozen) {
		struct lex l = {.p = ""};
		if (freeze(&l, st) != 0) {
			fprintf(stderr, "fakenvml: %s:%u: %s\n", st->script, lineno, l.err);
			rc = -1;
		}
	}
	free(line);
	return rc;
}

// fake_load reads the script and maps the ctl file. It prints one line to
// stderr and returns NULL on any problem.
struct fake_state *fake_load(void) {
	struct fake_state *st = new_state();
	if (st == NULL) {
		fprintf(stderr, "fakenvml: out of memory\n");
		return NULL;
	}
	if (script_path(st) != 0) {
		free_state(st);
		return NULL;
	}
	FILE *f = fopen(st->script, "re");
	if (f == NULL) {
		fprintf(stderr, "fakenvml: %s:0: cannot open script: %s\n", st->script, strerror(errno));
		free_state(st);
		return NULL;
	}
	int rc = parse_file(st, f);
	fclose(f);
	if (rc == 0 && st->speed == 0)
		rc = map_ctl(st);
	if (rc != 0) {
		free_state(st);
		return NULL;
	}
	return st;
}
