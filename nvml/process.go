// SPDX-License-Identifier: Apache-2.0

package nvml

import (
	"errors"
	"fmt"
	"unsafe"
)

// processAttempts bounds how often ComputeProcesses retries when the process
// list grows between NVML's count and its copy (INSUFFICIENT_SIZE churn).
const processAttempts = 8

// ComputeProcesses lists the processes with a compute context on the device
// (nvmlDeviceGetComputeRunningProcesses_v3). It reuses buf's storage when large
// enough and returns the filled prefix, so a caller that keeps the result and
// passes it back makes no allocation in the steady state.
//
// When the list grows between calls (ErrInsufficientSize) the buffer grows and
// the call is retried, up to 8 times; if it still does not fit, the error wraps
// ErrInsufficientSize. On old drivers with only the unversioned call, the
// instance ids are [ValueNotAvailableID]. PIDs are in the host's PID namespace.
//
// NVML is told that a buffer holds only as many entries as fit at 32 bytes
// each (3/4 of len(buf)), because drivers 535.43–535.86 write 32-byte entries
// from _v3; on those drivers _v2 is called instead (see [Library.Symbol]).
func (d Device) ComputeProcesses(buf []ProcessInfo) ([]ProcessInfo, error) {
	const key = "nvmlDeviceGetComputeRunningProcesses"
	f, f1 := d.lib.fn.processes, d.lib.fn.processesV1
	if err := d.lib.usable(f == nil && f1 == nil, key); err != nil {
		return nil, err
	}
	if f == nil {
		return d.computeProcessesV1(buf)
	}
	const size = unsafe.Sizeof(ProcessInfo{})
	buf = buf[:cap(buf)]
	for range processAttempts {
		room := offered(len(buf), size)
		n := room
		var p *ProcessInfo
		if n > 0 {
			p = &buf[0]
		}
		r := f(d.handle, &n, p)
		if r == Success {
			return buf[:min(n, room)], nil
		}
		if r != ErrInsufficientSize {
			return nil, d.lib.check(key, r)
		}
		buf = make([]ProcessInfo, entries(grow(n, int(room)), size))
	}
	return nil, fmt.Errorf("process list kept growing after %d attempts: %w",
		processAttempts, d.lib.check(key, ErrInsufficientSize))
}

// grow picks the next buffer size after NVML asked for need entries while we
// offered have: a little headroom, because the list may grow again.
func grow(need uint32, have int) int {
	return max(int(need)+int(need)/4+1, have+1)
}

// maxProcessEntry is the largest process entry a driver has been seen to
// write, in bytes: R535's 32-byte _v3 entries.
const maxProcessEntry = 32

// offered is how many entries a buffer of n entries of size bytes is
// announced to NVML as holding: as many as fit at maxProcessEntry bytes each.
func offered(n int, size uintptr) uint32 {
	return uint32(uintptr(n) * size / maxProcessEntry)
}

// entries is the length a buffer of size-byte entries needs so that offered
// announces at least count.
func entries(count int, size uintptr) int {
	return int((uintptr(count)*maxProcessEntry + size - 1) / size)
}

func (d Device) computeProcessesV1(buf []ProcessInfo) ([]ProcessInfo, error) {
	const key = "nvmlDeviceGetComputeRunningProcesses"
	const size = unsafe.Sizeof(processInfoV1{})
	raw := make([]processInfoV1, entries(max(cap(buf), 4), size))
	for range processAttempts {
		room := offered(len(raw), size)
		n := room
		r := d.lib.fn.processesV1(d.handle, &n, &raw[0])
		if r == Success {
			out := buf[:0]
			for _, p := range raw[:min(n, room)] {
				out = append(out, ProcessInfo{PID: p.pid, UsedGPUMemory: p.usedGPUMemory,
					GPUInstanceID: ValueNotAvailableID, ComputeInstanceID: ValueNotAvailableID})
			}
			return out, nil
		}
		if r != ErrInsufficientSize {
			return nil, d.lib.check(key, r)
		}
		raw = make([]processInfoV1, entries(grow(n, int(room)), size))
	}
	return nil, errors.Join(fmt.Errorf("process list kept growing after %d attempts", processAttempts),
		d.lib.check(key, ErrInsufficientSize))
}
