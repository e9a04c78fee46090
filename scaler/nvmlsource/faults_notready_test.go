// SPDX-License-Identifier: Apache-2.0

package nvmlsource

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/nvml-scaler/nvml-scaler/internal/fakenvml"
	"github.com/nvml-scaler/nvml-scaler/nvml"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// No libnvidia-ml on the node: the server stays up, live but not ready,
// retrying with a growing backoff; KEDA gets Unavailable with the reason. When
// the library appears (the driver installed later) the node becomes ready
// without a restart.
func TestFaultLibraryMissing(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "driver")
	s := newStack(t, filepath.Join(dir, nvml.LibraryName), true)
	s.eventually(func() bool { return s.logs.Count("gpus not ready, retrying") >= 3 }, "retries logged")

	assert.True(t, s.serving(scaler.HealthLiveness), "live: restarting would not help")
	assert.False(t, s.ready())
	_, err := s.get("power_watts")
	requireCode(t, err, codes.Unavailable, "not ready: cannot load NVML")
	logs := s.logs.String()
	assert.Contains(t, logs, "retry_in=20ms")
	assert.Contains(t, logs, "retry_in=40ms", "the backoff grows")
	assert.GreaterOrEqual(t, s.metric("nvml_errors_total", "function", "dlopen", "code", "LIBRARY_NOT_FOUND"), 3.0)
	assert.GreaterOrEqual(t, s.metric("sweeps_failed_total", "reason", "not_ready"), 3.0)
	assert.Equal(t, 0.0, s.metric("ready"))
	assert.False(t, s.hasMetric("snapshot_age_seconds"), "no snapshot, no age")
	assert.Equal(t, int32(0), s.src.reads.Load())

	// The driver is installed: the library and its script appear in place.
	f := fakenvml.New(t, load(t, "h200-steps.json"))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, name := range []string{fakenvml.ScriptName, fakenvml.CtlName, nvml.LibraryName} {
		b, err := os.ReadFile(filepath.Join(f.Dir, name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o755))
	}
	s.eventually(s.ready, "ready once the library loads")
	_, err = s.get("power_watts")
	assert.NoError(t, err)
	assert.Contains(t, s.logs.String(), "gpu found")
	assert.Equal(t, 1.0, s.metric("ready"))
}

// The library loads but NVML cannot start (driver not loaded, no permission):
// not ready until the fault clears, then ready with no restart.
func TestFaultInitFailures(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, symbol string
		ret          nvml.Return
		code, reason string
	}{
		{"driver not loaded", "nvmlInit_v2", nvml.ErrDriverNotLoaded, "DRIVER_NOT_LOADED", "Driver Not Loaded"},
		{"no permission to count", "nvmlDeviceGetCount_v2", nvml.ErrNoPermission, "NO_PERMISSION", "Insufficient Permissions"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := fakenvml.New(t, load(t, "h200-steps.json"), fakenvml.Fail(tt.symbol, int32(tt.ret), 0, 1))
			s := newStack(t, f.LibPath, true)
			s.eventually(func() bool { return s.logs.Count("gpus not ready, retrying") >= 2 }, "retries logged")
			assert.True(t, s.serving(scaler.HealthLiveness))
			assert.False(t, s.ready())
			_, err := s.get("power_watts")
			requireCode(t, err, codes.Unavailable, "not ready", tt.reason)
			assert.GreaterOrEqual(t, s.metric("nvml_errors_total", "function", tt.symbol, "code", tt.code), 2.0)
			assert.Equal(t, 0.0, s.metric("ready"))

			f.SetStep(1) // the fault clears
			s.eventually(s.ready, "ready once NVML starts")
			_, err = s.get("power_watts")
			assert.NoError(t, err)
			assert.Equal(t, 1.0, s.metric("ready"))
		})
	}
}

// The driver is upgraded under the running scaler: every call, nvmlInit
// included, answers LIB_RM_VERSION_MISMATCH for steps [2, 4). The node drops
// its GPUs and goes not ready instead of serving old numbers; it re-initialises
// NVML (shutdown, unload, load, init) with backoff and recovers once the fault
// ends.
func TestFaultVersionMismatchAfterStart(t *testing.T) {
	t.Parallel()
	const mismatch = int32(nvml.ErrLibRMVersionMismatch)
	var opts []fakenvml.Option
	for _, sym := range []string{"nvmlInit_v2", "nvmlDeviceGetCount_v2", "nvmlDeviceGetUtilizationRates",
		"nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetPowerUsage", "nvmlDeviceGetTemperatureV"} {
		opts = append(opts, fakenvml.Fail(sym, mismatch, 2, 4))
	}
	f := fakenvml.New(t, load(t, "h200-steps.json"), opts...)
	s := newStack(t, f.LibPath, true)
	s.eventually(s.ready, "ready before the upgrade")
	_, err := s.get("power_watts")
	require.NoError(t, err)

	f.SetStep(2)
	s.eventually(func() bool { return !s.ready() }, "not ready after the upgrade")
	_, err = s.get("power_watts")
	requireCode(t, err, codes.Unavailable, "not ready", "version mismatch")
	s.eventually(func() bool { return s.logs.Count("gpus not ready, retrying") >= 2 }, "re-initialisation retried")
	assert.True(t, s.serving(scaler.HealthLiveness))
	logs := s.logs.String()
	assert.Contains(t, logs, "nvml must be re-initialised")
	assert.GreaterOrEqual(t, s.metric("nvml_errors_total", "function", "nvmlInit_v2", "code", "LIB_RM_VERSION_MISMATCH"), 1.0)
	// A Read or the periodic re-listing (nvmlDeviceGetCount_v2) sees it first.
	assert.GreaterOrEqual(t, s.metric("nvml_errors_total", "function", "nvmlDeviceGetUtilizationRates", "code", "LIB_RM_VERSION_MISMATCH")+
		s.metric("nvml_errors_total", "function", "nvmlDeviceGetCount_v2", "code", "LIB_RM_VERSION_MISMATCH"), 1.0)
	assert.Equal(t, 0.0, s.metric("ready"))
	assert.Zero(t, s.series("gpu_power_watts"), "no per-GPU numbers while not ready")

	f.SetStep(4)
	s.eventually(s.ready, "ready again once NVML re-initialises")
	_, err = s.get("power_watts")
	assert.NoError(t, err)
	assert.Equal(t, 2, s.logs.Count("gpu found"), "the GPU is listed again after re-initialisation")
	assert.Equal(t, 1.0, s.metric("ready"))
}
