// SPDX-License-Identifier: Apache-2.0

package fakenvml

import (
	"fmt"
	"math"
	"time"
)

// An Option changes what the fake answers (a fault) or how it is built. Steps
// are sample indexes into the recording, counted from 0; see [Fake.SetStep].
// Options are checked when the script is written: an unknown symbol or a
// device index out of range makes [WriteScript] fail and [New] call t.Fatal.
type Option func(*config)

type failRule struct {
	symbol   string
	ret      int32
	from, to uint64
}

type nanRule struct {
	device   int
	metricID uint32
	from     uint64
}

// deviceRule is a per-GPU fault: a handle lookup of GPU device (slot < 0) or
// of its MIG slot answering ret in steps [from, to).
type deviceRule struct {
	device, slot int
	ret          int32
	from, to     uint64
}

type timedRule struct {
	symbol string
	d      time.Duration
}

// config is what the options set.
type config struct {
	variant  Variant
	fails    []failRule
	lost     map[int]uint64
	denies   []deviceRule
	nans     []nanRule
	churn    int
	blocks   []timedRule
	holds    []timedRule
	gpuHolds []gpuHold
	migLives []migLife
	mismatch *uint64
	speed    float64
	errs     []error
}

func newConfig(opts []Option) *config {
	c := &config{lost: map[int]uint64{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

func (c *config) errorf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

// checkSymbol records an error unless a fault can name symbol: one of
// [Symbols](Modern) except nvmlErrorString, which takes no part in faults.
func (c *config) checkSymbol(fault, symbol string) {
	switch {
	case !knownSymbol(symbol):
		c.errorf("%s %q: unknown symbol", fault, symbol)
	case symbol == "nvmlErrorString":
		c.errorf("%s %q: nvmlErrorString always answers", fault, symbol)
	}
}

// WithVariant picks the library build [New] loads: [Modern] (the default),
// [R535], [OldDriver] or [PreR450]. [WriteScript] ignores it.
func WithVariant(v Variant) Option {
	return func(c *config) { c.variant = v }
}

// Fail makes the C function symbol (e.g. "nvmlDeviceGetPowerUsage") return
// ret for steps from ≤ step < to; to 0 means no end. The first Fail that
// matches a step wins. A failing nvmlInit* does not initialize the library; a
// failing nvmlShutdown does not release it.
func Fail(symbol string, ret int32, from, to uint64) Option {
	return func(c *config) {
		c.checkSymbol("fail", symbol)
		if to != 0 && to <= from {
			c.errorf("fail %q: empty step range [%d, %d)", symbol, from, to)
		}
		c.fails = append(c.fails, failRule{symbol, ret, from, to})
	}
}

// LostGPU makes every call that names GPU index (by index, UUID or handle,
// including its MIG devices and GPM samples) return NVML_ERROR_GPU_IS_LOST
// (15) from fromStep on.
func LostGPU(index int, fromStep uint64) Option {
	return func(c *config) { c.lost[index] = fromStep }
}

// DenyGPU makes the handle lookups of GPU index (nvmlDeviceGetHandleByIndex
// and ByUUID) return ret for steps from ≤ step < to (to 0: no end), as NVML
// answers for a GPU the container's device cgroup does not allow
// (NVML_ERROR_NO_PERMISSION, 4), or one that fell off the bus before the
// process started (GPU_IS_LOST 15, INSUFFICIENT_POWER 8, IRQ_ISSUE 11).
// nvmlDeviceGetCount still counts it.
func DenyGPU(index int, ret int32, from, to uint64) Option {
	return func(c *config) {
		if to != 0 && to <= from {
			c.errorf("deny GPU %d: empty step range [%d, %d)", index, from, to)
		}
		c.denies = append(c.denies, deviceRule{index, -1, ret, from, to})
	}
}

// FailMIGSlot makes nvmlDeviceGetMigDeviceHandleByIndex(GPU index, slot)
// return ret for steps from ≤ step < to (to 0: no end), before the slot's
// own answer. Real drivers answer NOT_FOUND (6) or INVALID_ARGUMENT (2) for
// an empty slot.
func FailMIGSlot(index, slot int, ret int32, from, to uint64) Option {
	return func(c *config) {
		if slot < 0 {
			c.errorf("fail MIG slot %d of GPU %d: negative", slot, index)
		}
		if to != 0 && to <= from {
			c.errorf("fail MIG slot %d of GPU %d: empty step range [%d, %d)", slot, index, from, to)
		}
		c.denies = append(c.denies, deviceRule{index, slot, ret, from, to})
	}
}

// NaN makes GPM metric metricID (nvmlGpmMetricId_t) of GPU index answer NaN
// with a success return, for metrics computed from a second sample taken at
// fromStep or later.
func NaN(index int, metricID uint32, fromStep uint64) Option {
	return func(c *config) { c.nans = append(c.nans, nanRule{index, metricID, fromStep}) }
}

// Churn makes the next n process-list calls (any version of
// nvmlDeviceGetComputeRunningProcesses) that pass a big enough buffer return
// NVML_ERROR_INSUFFICIENT_SIZE (7) with a count one larger than the capacity
// passed, as if processes started between the size query and the call.
func Churn(n int) Option {
	return func(c *config) {
		if n < 0 {
			c.errorf("churn %d: negative", n)
		}
		c.churn = n
	}
}

// Block makes symbol sleep for d (rounded down to milliseconds) before it
// answers, like nvmlDeviceGetPcieThroughput's ~21 ms on a real H200.
func Block(symbol string, d time.Duration) Option {
	return func(c *config) {
		c.checkSymbol("block", symbol)
		if d < 0 || d.Milliseconds() > math.MaxUint32 {
			c.errorf("block %q for %v: want 0 to 49 days", symbol, d)
		}
		c.blocks = append(c.blocks, timedRule{symbol, d})
	}
}

// Hold makes every call to symbol wait until [Fake.Release] (polling every
// millisecond) or until max has passed, whichever comes first: a hung NVML
// call that a test controls. The fake starts held; [Fake.Hold] holds again.
// The call answers for the step current when it returns. In a script written
// by [WriteScript] the hold is the file "hold.<symbol>" next to the script:
// the call waits while that file exists.
func Hold(symbol string, max time.Duration) Option {
	return func(c *config) {
		c.checkSymbol("hold", symbol)
		if max < time.Millisecond || max.Milliseconds() > math.MaxUint32 {
			c.errorf("hold %q for %v: want 1 ms to 49 days", symbol, max)
		}
		c.holds = append(c.holds, timedRule{symbol, max})
	}
}

type migLife struct {
	device, k int
	from, to  uint64
}

// MIGLifetime makes the k-th MIG device of GPU index (in the recording's
// list, not its slot) exist only in steps from ≤ step < to (to 0: no end):
// outside, slot lookups and UUID lookups miss it and calls on its handle
// answer NVML_ERROR_INVALID_ARGUMENT (2), as after mig-manager destroyed it.
// Two MIG devices sharing a slot with disjoint lifetimes model a slice
// replaced under a new UUID. The fake's GPU instance id of MIG device k is
// k+1 (what [SyntheticMIG] gives its processes).
func MIGLifetime(index, k int, from, to uint64) Option {
	return func(c *config) {
		if to != 0 && to <= from {
			c.errorf("MIG device %d of GPU %d: empty step range [%d, %d)", k, index, from, to)
		}
		c.migLives = append(c.migLives, migLife{index, k, from, to})
	}
}

type gpuHold struct {
	device int
	max    time.Duration
}

// HoldGPU makes every call on a handle of GPU index (or of its MIG devices)
// wait until [Fake.Release] of [GPUHoldName](index), or until max has
// passed: one hung GPU among healthy ones. It starts held, like [Hold].
func HoldGPU(index int, max time.Duration) Option {
	return func(c *config) {
		if max < time.Millisecond || max.Milliseconds() > math.MaxUint32 {
			c.errorf("hold GPU %d for %v: want 1 ms to 49 days", index, max)
		}
		c.gpuHolds = append(c.gpuHolds, gpuHold{index, max})
	}
}

// GPUHoldName is the name [Fake.Hold] and [Fake.Release] take for the hold
// [HoldGPU] sets on GPU index.
func GPUHoldName(index int) string { return fmt.Sprintf("gpu%d", index) }

// Mismatch makes every call except nvmlShutdown and nvmlErrorString return
// NVML_ERROR_LIB_RM_VERSION_MISMATCH (18) from fromStep on, as after a driver
// upgrade under a running process.
func Mismatch(fromStep uint64) Option {
	return func(c *config) { c.mismatch = &fromStep }
}

// Clock makes the step follow wall time instead of [Fake.SetStep]: from the
// first nvmlInit the fake replays the samples at their recorded offsets
// divided by speed (1 = real time), looping after the last sample plus one
// mean sample interval. Fault steps then count samples since init, loops
// included. This is for running the daemon on the fake, not for assertions.
func Clock(speed float64) Option {
	return func(c *config) {
		if !(speed > 0) || speed > 1e9 {
			c.errorf("clock speed %v: want > 0", speed)
		}
		c.speed = speed
	}
}
