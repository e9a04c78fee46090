// SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"context"
	"errors"
	"strconv"
	"strings"
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

// CodeName returns r's nvml.h name without its NVML_ERROR_ or NVML_ prefix
// ("GPU_IS_LOST"; NVML_SUCCESS is "SUCCESS"); a code nvml.h does not define
// is "CODE_<n>". The names come from the binding's one table ([nvml.Return.Name]).
func CodeName(r nvml.Return) string {
	name := r.Name()
	if name == "" {
		return "CODE_" + strconv.Itoa(int(r))
	}
	if s, ok := strings.CutPrefix(name, "NVML_ERROR_"); ok {
		return s
	}
	return strings.TrimPrefix(name, "NVML_")
}
