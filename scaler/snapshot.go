// SPDX-License-Identifier: Apache-2.0

package scaler

import "time"

// Snapshot is the result of one sweep over every device. The Sampler publishes
// it once and never changes it again: readers share it without locks and must
// not modify it either.
//
// Per-pod signals live next to the snapshot rather than inside GPUs: GPU → pod
// attribution (cluster/attribution) travels beside it in the node stream
// (cluster/agent).
type Snapshot struct {
	// Seq numbers the Sampler's snapshots from 1, one per published sweep.
	Seq uint64
	// Node is the node name the Sampler was configured with.
	Node string
	// Start is when the sweep began (Sampler clock); staleness is measured from it.
	Start time.Time
	// Duration is how long the sweep took.
	Duration time.Duration
	// GPUs holds one entry per device, in the order the Source listed them.
	GPUs []GPU
}

// GPU is one device in a [Snapshot].
type GPU struct {
	Device
	// Health says whether the device answered this sweep.
	Health Health
	// Err is the device-level error of this sweep when Health is not HealthOK.
	Err error
	// Metrics holds every catalogue metric, indexed by [Metric].
	Metrics [NumMetrics]Value
}

// Health is a device's state in one sweep.
type Health uint8

// Device health values.
const (
	// HealthOK: the device answered; individual metrics may still be absent.
	HealthOK Health = iota
	// HealthLost: the device reported NVML_ERROR_GPU_IS_LOST; all metrics absent.
	HealthLost
	// HealthFailed: reading the device failed this sweep for another reason; all
	// metrics absent until a later sweep succeeds.
	HealthFailed
)

// String returns "ok", "lost" or "failed".
func (h Health) String() string {
	switch h {
	case HealthOK:
		return "ok"
	case HealthLost:
		return "lost"
	case HealthFailed:
		return "failed"
	}
	return "unknown"
}

// Value is one metric of one device in one sweep. Only a Value with Status
// StatusOK carries a number; every other status means absent — never 0.
type Value struct {
	// V is the value in the metric's unit; 0 unless Status is StatusOK.
	V      float64
	Status Status
}

// OK reports whether v holds a number.
func (v Value) OK() bool { return v.Status == StatusOK }

// Status says whether a [Value] is present and, if not, why.
type Status uint8

// Value statuses. The zero Status is StatusMissing.
const (
	// StatusMissing: not read this sweep (device lost or failed, no previous GPM
	// sample yet, or the Source does not provide it).
	StatusMissing Status = iota
	// StatusOK: V holds the value.
	StatusOK
	// StatusNotSupported: the device does not support it (NVML_ERROR_NOT_SUPPORTED).
	StatusNotSupported
	// StatusFailed: the call failed this sweep with a transient error.
	StatusFailed
	// StatusInvalid: the device answered NaN, ±Inf, a negative value or an
	// impossible ratio (zero power limit, total ≤ reserved memory).
	StatusInvalid
)

// String returns the status name: "missing", "ok", "not supported", "failed",
// "invalid".
func (s Status) String() string {
	switch s {
	case StatusMissing:
		return "missing"
	case StatusOK:
		return "ok"
	case StatusNotSupported:
		return "not supported"
	case StatusFailed:
		return "failed"
	case StatusInvalid:
		return "invalid"
	}
	return "unknown"
}
