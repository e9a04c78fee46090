// SPDX-License-Identifier: Apache-2.0

// Package fakenvml builds and drives a fake libnvidia-ml.so.1 for tests: a C
// library that replays a [recording.Recording] at the ABI level and injects
// faults, so the purego binding opens and calls it exactly as it would the
// real NVML. Tests need a C compiler ($CC, else cc), not a GPU.
//
// # Use
//
//	f := fakenvml.New(t, rec, fakenvml.LostGPU(1, 3))
//	lib, err := nvml.Open(f.LibPath) // the binding, as on a GPU node
//	f.SetStep(3)                     // every call now answers sample 3
//
// [New] gives each test its own copy of the library (so dlopen gives it its
// own NVML state), its script and its step control, in t.TempDir(). The
// library is compiled once per process and variant ([Build]) and cached on
// disk by a hash of the compiler, flags and sources. The variants imitate
// driver generations: [Modern] (580), [R535] (32-byte _v3 process entries),
// [OldDriver] (unversioned names, no GPM) and [PreR450] (no MIG functions).
//
// Faults are options: [Fail], [LostGPU], [DenyGPU] (a GPU the cgroup denies),
// [FailMIGSlot], [MIGLifetime] (mig-manager reconfiguring), [NaN], [Churn],
// [Block], [Hold] and [HoldGPU] (one hung GPU), [Mismatch], [Clock].
//
// # What the fake answers
//
// Steps are sample indexes of the recording. The library exports the NVML
// functions listed by [Symbols]; each returns the recorded return code of
// the current step or fills its outputs from the recorded value, with NVML's
// argument checks: NULL outputs give NVML_ERROR_INVALID_ARGUMENT (2), a wrong
// struct version NVML_ERROR_ARGUMENT_VERSION_MISMATCH (25), a short string
// buffer NVML_ERROR_INSUFFICIENT_SIZE (7), any call before nvmlInit or after
// the last nvmlShutdown NVML_ERROR_UNINITIALIZED (1) (init is reference
// counted). Handles are addresses of static slots in the library, never 0.
// Details that are choices rather than recordings:
//
//   - nvmlDeviceGetMemoryInfo (v1) is derived from the step's v2 sample
//     (used = used + reserved), which equals the recorded v1 answer when
//     both were taken together; without a v2 sample it answers the static
//     recorded v1.
//   - nvmlDeviceGetTemperature knows sensor 0 only (others: 2);
//     nvmlDeviceGetClockInfo knows the SM clock (1) only (others: 3).
//   - On a MIG device handle only name, UUID, index (its slot), GPU
//     instance id, memory, processes, architecture and compute capability
//     answer; the rest return 3, as NVML does for utilization. GPM of a GPU
//     instance (nvmlGpmMigSampleGet) answers the parent GPU's recorded
//     values: no recording has MIG.
//   - nvmlGpmMetricsGet answers, for each requested metric, sample2's
//     recorded value (the recording stores each interval's metrics with
//     the sample that ends it); a metric the step lacks returns 3 in its
//     own nvmlReturn. It writes only metrics[0..numMetrics-1] and accepts
//     numMetrics up to 477 (NVML_GPM_METRIC_MAX of the newest nvml.h).
//     metricInfo names are the fake's own labels, or NULL.
//   - Handle lookups that fail answer the recording's ErrorPaths (keys
//     "nvmlDeviceGetHandleByIndex(…)", "…GetHandleByUUID(…)",
//     "…GetMigDeviceHandleByIndex(…)"), else 2, 6 and 6 as driver 580 did.
//   - nvmlErrorString answers the recording's ErrorStrings, else the strings
//     driver 580 returned; it works before nvmlInit.
//
// # Script
//
// [New] and [WriteScript] render the recording and the options to a
// line-oriented script that the library reads at its first successful
// nvmlInit* from $FAKE_NVML_SCRIPT or, by default, fakenvml.script next to
// the library (located with dladdr). A missing or bad script makes nvmlInit*
// return NVML_ERROR_UNKNOWN (999) after printing "fakenvml: FILE:LINE:
// problem" to stderr. The grammar — one directive per line: the layout,
// static answers per device and MIG device, one line per sample and field,
// then the faults — is written once, at the top of
// testdata/fakenvml/script.c, next to the code that reads it.
//
// Strings are single tokens: "-" is empty and %XX escapes a byte. Values
// after a nonzero <ret> are present and ignored. Anything the script does
// not set answers 3 (NOT_SUPPORTED).
//
// # Step control and cost
//
// The step is the little-endian uint64 in fakenvml.ctl next to the script,
// which the library maps at init and reads on every call; [Fake.SetStep]
// rewrites it in place, so tests need neither cgo nor unsafe. The file must
// never be truncated while the library is loaded (os.WriteFile would: a
// read from the mapping then faults). With [Clock] the step follows wall
// time instead. A call costs a few atomic loads and array lookups: no file
// I/O, allocation or lock, unless a Block or Hold names it.
package fakenvml
