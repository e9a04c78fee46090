// SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/nvml-scaler/nvml-scaler/nvml"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// ObserveSweep records one sweep: pass it as scaler.SamplerConfig.OnSweep.
func (m *Metrics) ObserveSweep(d time.Duration, err error) {
	m.sweep.Observe(d.Seconds())
	switch {
	case err == nil:
	case errors.Is(err, scaler.ErrNotReady):
		m.sweepsFailed.WithLabelValues("not_ready").Inc()
	case errors.Is(err, context.DeadlineExceeded):
		m.sweepsFailed.WithLabelValues("abandoned").Inc()
	default:
		m.sweepsFailed.WithLabelValues("other").Inc()
	}
}

// NVMLError counts one failed NVML call: pass it as nvmlsource.Options.OnError.
// A failure to load the library counts as function "dlopen", code
// LIBRARY_NOT_FOUND; an error that names no call is not counted.
func (m *Metrics) NVMLError(err error) {
	var ce *nvml.CallError
	var le *nvml.LoadError
	var r nvml.Return
	switch {
	case errors.As(err, &ce):
		m.nvmlErrors.WithLabelValues(ce.Func, CodeName(ce.Return)).Inc()
	case errors.As(err, &le):
		m.nvmlErrors.WithLabelValues("dlopen", CodeName(nvml.ErrLibraryNotFound)).Inc()
	case errors.As(err, &r):
		m.nvmlErrors.WithLabelValues("unknown", CodeName(r)).Inc()
	}
}

// codeNames are the nvmlReturn_t names without their NVML_ERROR_ prefix.
var codeNames = map[nvml.Return]string{
	nvml.Success:                    "SUCCESS",
	nvml.ErrUninitialized:           "UNINITIALIZED",
	nvml.ErrInvalidArgument:         "INVALID_ARGUMENT",
	nvml.ErrNotSupported:            "NOT_SUPPORTED",
	nvml.ErrNoPermission:            "NO_PERMISSION",
	nvml.ErrAlreadyInitialized:      "ALREADY_INITIALIZED",
	nvml.ErrNotFound:                "NOT_FOUND",
	nvml.ErrInsufficientSize:        "INSUFFICIENT_SIZE",
	nvml.ErrInsufficientPower:       "INSUFFICIENT_POWER",
	nvml.ErrDriverNotLoaded:         "DRIVER_NOT_LOADED",
	nvml.ErrTimeout:                 "TIMEOUT",
	nvml.ErrIRQIssue:                "IRQ_ISSUE",
	nvml.ErrLibraryNotFound:         "LIBRARY_NOT_FOUND",
	nvml.ErrFunctionNotFound:        "FUNCTION_NOT_FOUND",
	nvml.ErrCorruptedInforom:        "CORRUPTED_INFOROM",
	nvml.ErrGPULost:                 "GPU_IS_LOST",
	nvml.ErrResetRequired:           "RESET_REQUIRED",
	nvml.ErrOperatingSystem:         "OPERATING_SYSTEM",
	nvml.ErrLibRMVersionMismatch:    "LIB_RM_VERSION_MISMATCH",
	nvml.ErrInUse:                   "IN_USE",
	nvml.ErrMemory:                  "MEMORY",
	nvml.ErrNoData:                  "NO_DATA",
	nvml.ErrVGPUECCNotSupported:     "VGPU_ECC_NOT_SUPPORTED",
	nvml.ErrInsufficientResources:   "INSUFFICIENT_RESOURCES",
	nvml.ErrFreqNotSupported:        "FREQ_NOT_SUPPORTED",
	nvml.ErrArgumentVersionMismatch: "ARGUMENT_VERSION_MISMATCH",
	nvml.ErrDeprecated:              "DEPRECATED",
	nvml.ErrNotReady:                "NOT_READY",
	nvml.ErrGPUNotFound:             "GPU_NOT_FOUND",
	nvml.ErrInvalidState:            "INVALID_STATE",
	nvml.ErrResetTypeNotSupported:   "RESET_TYPE_NOT_SUPPORTED",
	nvml.ErrUnknown:                 "UNKNOWN",
}

// CodeName returns r's nvml.h name without NVML_ERROR_ (NVML_SUCCESS is
// "SUCCESS"); a code nvml.h does not define is "CODE_<n>".
func CodeName(r nvml.Return) string {
	if s, ok := codeNames[r]; ok {
		return s
	}
	return "CODE_" + strconv.Itoa(int(r))
}
