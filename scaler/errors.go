// SPDX-License-Identifier: Apache-2.0

package scaler

import "errors"

// Errors a [Source] returns (wrapped or matched through an Is method) so the
// Sampler can tell what a failure means. The NVML source maps
// NVML_ERROR_NOT_SUPPORTED onto ErrNotSupported, NVML_ERROR_GPU_IS_LOST onto
// ErrGPULost, and NVML_ERROR_UNINITIALIZED, NVML_ERROR_DRIVER_NOT_LOADED and
// NVML_ERROR_LIB_RM_VERSION_MISMATCH onto ErrReinit; every other error counts
// as transient.
var (
	// ErrNotSupported: the device does not support this call (a MIG handle asked
	// for utilization, a pre-Hopper GPU asked for GPM). The metric is absent for
	// that device, sweep after sweep.
	ErrNotSupported = errors.New("not supported")
	// ErrGPULost: the GPU fell off the bus or needs a reset. The device is
	// marked lost; the others keep serving.
	ErrGPULost = errors.New("gpu lost")
	// ErrReinit: the Source's hold on the GPUs is no longer valid — the driver
	// was unloaded or upgraded under the process (NVML answers
	// LIB_RM_VERSION_MISMATCH), or NVML is no longer initialised. Returned by
	// Read, it makes the Sampler drop its device list, report not ready and call
	// Devices again with backoff; Devices must then start afresh.
	ErrReinit = errors.New("source must be re-initialised")
)

// ErrorClass says what an error from a Source means for the scaler.
type ErrorClass uint8

// Error classes, from [Classify].
const (
	// ClassNone: no error.
	ClassNone ErrorClass = iota
	// ClassNotSupported: matches ErrNotSupported.
	ClassNotSupported
	// ClassGPULost: matches ErrGPULost.
	ClassGPULost
	// ClassTransient: any other error; the value is absent for this sweep only.
	ClassTransient
	// ClassReinit: matches ErrReinit; the whole Source must start afresh.
	ClassReinit
)

// Classify sorts err into an ErrorClass. ErrReinit wins over ErrGPULost, which
// wins over ErrNotSupported, when err matches several.
func Classify(err error) ErrorClass {
	switch {
	case err == nil:
		return ClassNone
	case errors.Is(err, ErrReinit):
		return ClassReinit
	case errors.Is(err, ErrGPULost):
		return ClassGPULost
	case errors.Is(err, ErrNotSupported):
		return ClassNotSupported
	default:
		return ClassTransient
	}
}

// String returns the class's name.
func (c ErrorClass) String() string {
	switch c {
	case ClassNone:
		return "none"
	case ClassNotSupported:
		return "not supported"
	case ClassGPULost:
		return "gpu lost"
	case ClassTransient:
		return "transient"
	case ClassReinit:
		return "reinit"
	}
	return "unknown"
}
