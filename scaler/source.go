// SPDX-License-Identifier: Apache-2.0

package scaler

import "context"

// Source reads GPUs. The [Sampler] is its only caller. It calls Read for
// different positions concurrently, each device from its own goroutine, so
// that a call hung on one GPU delays no other; it never calls Read twice at
// once for the same position, and never calls Devices, Refresh or Close while
// any Read is in flight. An implementation must therefore keep per-position
// state apart; anything else it may leave unsynchronised.
//
// The interface maps onto cheap NVML calls (one Read costs about 15 NVML calls,
// ~25 µs on an H200); an implementation must never make blocking calls such as
// nvmlDeviceGetPcieThroughput (~21 ms each).
type Source interface {
	// Devices returns the devices to sweep: full GPUs in NVML index order, each
	// followed by its MIG devices. The Sampler calls it until it succeeds (an
	// error means "not ready": no driver, no permission), and again only after
	// a Read failed with an error matching [ErrReinit]: then the Source must
	// start afresh (for NVML: shut down, unload, load and initialise again),
	// and the new list replaces the old one. Positions are fixed between calls.
	Devices(ctx context.Context) ([]Device, error)

	// Read reads the device at position dev of the slice Devices returned. Each
	// field of the Reading carries its own error; fields Read leaves zero are
	// absent. A non-nil error applies to the whole device: one that matches
	// [ErrGPULost] marks it lost, any other makes all its metrics absent for this
	// sweep; one that matches [ErrReinit] (in the error or in any field) makes
	// the Sampler drop every device and call Devices again. Read should return
	// soon after ctx ends; if it cannot (a hung driver call), that device is
	// reported failed with [ErrHung] until it returns, and the snapshot goes
	// stale only when every device is hung.
	Read(ctx context.Context, dev int) (Reading, error)

	// Close releases the Source. The Sampler calls it once, when Run returns.
	Close() error
}

// Device is the static identity of one GPU or MIG device.
type Device struct {
	// Index is the NVML index of the GPU (nvmlDeviceGetHandleByIndex_v2); for a
	// MIG device, the index of its parent GPU.
	Index int
	// UUID is "GPU-…" for a GPU, "MIG-…" for a MIG device (nvmlDeviceGetUUID).
	UUID string
	// Model is the product name (nvmlDeviceGetName), e.g. "NVIDIA H200"; MIG
	// devices report their profile, e.g. "NVIDIA H100 80GB HBM3 MIG 1g.10gb".
	Model string
	// MIGParentUUID is the parent GPU's UUID for a MIG device, "" for a GPU.
	MIGParentUUID string
	// MIGIndex is the MIG device's slot under its parent: the index
	// nvmlDeviceGetMigDeviceHandleByIndex takes and nvmlDeviceGetIndex
	// answers on the MIG handle, by which the device plugin's "index"
	// strategy names it. Slots may be sparse. 0 and meaningless for a GPU.
	MIGIndex int
	// Unusable, when set, says why the Source cannot read this device: its
	// handle or identity could not be had (NO_PERMISSION from the
	// container's device cgroup, GPU_IS_LOST, INSUFFICIENT_POWER or
	// IRQ_ISSUE before start, a broken MIG slot). UUID and Model may then be
	// empty. The Sampler never Reads such a device: every snapshot reports
	// it HealthFailed with this error, and the Source retries it at its own
	// bounded pace through [Refresher].
	Unusable error
}

// Refresher is implemented by a Source whose device list can change without
// re-initialising: GPUs that could not be opened, MIG layouts that
// mig-manager changes under a running process. The Sampler calls Refresh
// before every sweep; the Source decides, at a bounded pace, whether to list
// again, and answers changed = false (devs ignored) when it did not or the
// list is the same. When changed, devs replaces the Sampler's list and Read
// positions refer to it. An error matching [ErrReinit] makes the Sampler call
// Devices; any other keeps the old list.
type Refresher interface {
	Refresh(ctx context.Context) (devs []Device, changed bool, err error)
}

// IsMIG reports whether d is a MIG device.
func (d Device) IsMIG() bool { return d.MIGParentUUID != "" }

// Reading (reading_gen.go) is generated from internal/readings.Fields.

// Field is one answer in a [Reading]. The zero Field is absent (not read).
type Field[T any] struct {
	// Value is valid only when OK is true.
	Value T
	// OK reports that the call succeeded and Value holds its answer.
	OK bool
	// Err says why Value is missing; classify it with [Classify]. Ignored when
	// OK is true.
	Err error
}

// Got returns a present Field holding v.
func Got[T any](v T) Field[T] { return Field[T]{Value: v, OK: true} }

// Failed returns an absent Field that failed with err.
func Failed[T any](err error) Field[T] { return Field[T]{Err: err} }

// Utilization mirrors nvmlUtilization_t (percent, 0–100, over NVML's last
// sample period of 1/6 s to 1 s).
type Utilization struct {
	// GPU is the percent of time one or more kernels ran.
	GPU uint32
	// Memory is the percent of time device memory was read or written.
	Memory uint32
}

// Memory mirrors nvmlMemory_v2_t (bytes). Used excludes Reserved.
type Memory struct {
	Total, Reserved, Free, Used uint64
}

// Process is one compute process on a device (nvmlProcessInfo_t).
type Process struct {
	PID uint32
	// UsedMemoryBytes is the process's framebuffer use (bytes); NVML reports
	// NVML_VALUE_NOT_AVAILABLE (all ones) when it cannot tell.
	UsedMemoryBytes uint64
}

// GPMMetric is one GPU Performance Monitoring metric the scaler reads (Hopper
// and later). Use [GPMMetric.NVMLID] for the nvmlGpmMetricId_t to request.
type GPMMetric uint8

// The GPMMetric constants and their ids (reading_gen.go) are generated from
// internal/readings.GPM.

// NVMLID returns m's nvmlGpmMetricId_t, or 0 when m is out of range.
func (m GPMMetric) NVMLID() uint32 {
	if m >= NumGPMMetrics {
		return 0
	}
	return gpmIDs[m]
}

// GPMMetricByID returns the GPMMetric whose nvmlGpmMetricId_t is id.
func GPMMetricByID(id uint32) (GPMMetric, bool) {
	for m, v := range gpmIDs {
		if v == id {
			return GPMMetric(m), true
		}
	}
	return 0, false
}
