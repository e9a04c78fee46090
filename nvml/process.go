// SPDX-License-Identifier: Apache-2.0

package nvml

import (
	"errors"
	"fmt"
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
func (d Device) ComputeProcesses(buf []ProcessInfo) ([]ProcessInfo, error) {
	const key = "nvmlDeviceGetComputeRunningProcesses"
	f, f1 := d.lib.fn.processes, d.lib.fn.processesV1
	if err := d.lib.usable(f == nil && f1 == nil, key); err != nil {
		return nil, err
	}
	if f == nil {
		return d.computeProcessesV1(buf)
	}
	buf = buf[:cap(buf)]
	for range processAttempts {
		n := uint32(len(buf))
		var p *ProcessInfo
		if n > 0 {
			p = &buf[0]
		}
		r := f(d.handle, &n, p)
		if r == Success {
			return buf[:min(int(n), len(buf))], nil
		}
		if r != ErrInsufficientSize {
			return nil, d.lib.check(key, r)
		}
		buf = make([]ProcessInfo, grow(n, len(buf)))
	}
	return nil, fmt.Errorf("process list kept growing after %d attempts: %w",
		processAttempts, d.lib.check(key, ErrInsufficientSize))
}

// grow picks the next buffer size after NVML asked for need entries while we
// offered have: a little headroom, because the list may grow again.
func grow(need uint32, have int) int {
	return max(int(need)+int(need)/4+1, have+1)
}

func (d Device) computeProcessesV1(buf []ProcessInfo) ([]ProcessInfo, error) {
	const key = "nvmlDeviceGetComputeRunningProcesses"
	raw := make([]processInfoV1, max(cap(buf), 4))
	for range processAttempts {
		n := uint32(len(raw))
		r := d.lib.fn.processesV1(d.handle, &n, &raw[0])
		if r == Success {
			out := buf[:0]
			for _, p := range raw[:min(int(n), len(raw))] {
				out = append(out, ProcessInfo{PID: p.pid, UsedGPUMemory: p.usedGPUMemory,
					GPUInstanceID: ValueNotAvailableID, ComputeInstanceID: ValueNotAvailableID})
			}
			return out, nil
		}
		if r != ErrInsufficientSize {
			return nil, d.lib.check(key, r)
		}
		raw = make([]processInfoV1, grow(n, len(raw)))
	}
	return nil, errors.Join(fmt.Errorf("process list kept growing after %d attempts", processAttempts),
		d.lib.check(key, ErrInsufficientSize))
}
