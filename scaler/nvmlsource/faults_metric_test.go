// SPDX-License-Identifier: Apache-2.0

package nvmlsource

import (
	"math"
	"testing"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/nvml-scaler/nvml-scaler/internal/fakenvml"
	"github.com/nvml-scaler/nvml-scaler/nvml"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

func ref(metric string) *pb.ScaledObjectRef {
	return &pb.ScaledObjectRef{Name: "vllm", Namespace: "inference",
		ScalerMetadata: map[string]string{"metric": metric, "targetValue": "50"}}
}

// sweepOK sweeps by hand and requires a published snapshot.
func (s *stack) sweepOK() *scaler.Snapshot {
	s.t.Helper()
	snap, err := s.sweep()
	require.NoError(s.t, err)
	return snap
}

// One of three GPUs is lost mid-run: it is marked lost and left out, the
// others keep serving, and the node stays ready.
func TestFaultGPULostMidRun(t *testing.T) {
	t.Parallel()
	rec, err := fakenvml.Replicate(load(t, "h200-steps.json"), 3)
	require.NoError(t, err)
	f := fakenvml.New(t, rec, fakenvml.LostGPU(1, 2))
	s := newStack(t, f.LibPath, false)
	s.sweepOK()
	all := s.sweepOK()
	sum, err := s.get("power_watts", "aggregation", "sum")
	require.NoError(t, err)
	assert.InDelta(t, 3*all.GPUs[0].Metrics[scaler.PowerWatts].V, sum, 1e-9, "three replicas")

	f.SetStep(2)
	snap := s.sweepOK()
	assert.Equal(t, scaler.HealthOK, snap.GPUs[0].Health)
	assert.Equal(t, scaler.HealthLost, snap.GPUs[1].Health)
	assert.Equal(t, scaler.HealthOK, snap.GPUs[2].Health)
	_, err = s.get("power_watts", "aggregation", "sum")
	requireCode(t, err, codes.Unavailable, "onMissing=fail", snap.GPUs[1].UUID+" lost")
	got, err := s.get("power_watts", "aggregation", "sum", "onMissing", "skip")
	require.NoError(t, err)
	want := snap.GPUs[0].Metrics[scaler.PowerWatts].V + snap.GPUs[2].Metrics[scaler.PowerWatts].V
	assert.InDelta(t, want, got, 1e-9, "with onMissing skip the lost GPU is left out of the sum")
	_, err = s.get("power_watts", "gpuIndexes", "1")
	requireCode(t, err, codes.Unavailable, snap.GPUs[1].UUID+" lost")
	assert.True(t, s.ready(), "the node stays ready")
	assert.Contains(t, s.logs.String(), "health=lost")
	assert.Equal(t, 1.0, s.metric("gpus_lost"))
	assert.Equal(t, 3.0, s.metric("gpus"))
	assert.Greater(t, s.metric("nvml_errors_total", "function", "nvmlDeviceGetUtilizationRates", "code", "GPU_IS_LOST"), 0.0)
	up := func(i int) float64 {
		g := snap.GPUs[i]
		return s.metric("gpu_up", "uuid", g.UUID, "index", itoa(g.Index), "model", g.Model)
	}
	assert.Equal(t, []float64{1, 0, 1}, []float64{up(0), up(1), up(2)})
}

// NOT_SUPPORTED on one call: that metric is absent (FailedPrecondition when
// no selected GPU has it, never 0); the others are served.
func TestFaultNotSupportedPerMetric(t *testing.T) {
	t.Parallel()
	f := fakenvml.New(t, load(t, "h200-steps.json"),
		fakenvml.Fail("nvmlDeviceGetPowerUsage", int32(nvml.ErrNotSupported), 0, 0))
	s := newStack(t, f.LibPath, false)
	s.sweepOK()
	snap := s.sweepOK()
	assert.Equal(t, scaler.Value{Status: scaler.StatusNotSupported}, snap.GPUs[0].Metrics[scaler.PowerWatts])
	assert.Equal(t, scaler.StatusNotSupported, snap.GPUs[0].Metrics[scaler.PowerPercent].Status)
	_, err := s.get("power_watts")
	requireCode(t, err, codes.FailedPrecondition, "not supported")
	_, err = s.client.IsActive(t.Context(), ref("power_watts"))
	requireCode(t, err, codes.FailedPrecondition)
	_, err = s.get("temperature_celsius")
	assert.NoError(t, err)
	assert.True(t, s.ready())
	assert.Zero(t, s.series("gpu_power_watts"), "absent, not 0")
	assert.Equal(t, 1, s.series("gpu_temperature_celsius"))
	assert.Equal(t, 2.0, s.metric("nvml_errors_total", "function", "nvmlDeviceGetPowerUsage", "code", "NOT_SUPPORTED"))
	assert.Equal(t, 1.0, s.metric("rpc_requests_total", "method", "externalscaler.ExternalScaler/GetMetrics", "code", "FailedPrecondition"))
}

// The process list grows between NVML's count and its copy more often than
// the binding retries: process_count is absent for that sweep (Unavailable),
// then back once the churn stops.
func TestFaultInsufficientSizeChurn(t *testing.T) {
	t.Parallel()
	rec := load(t, "h100-two-tenants.json")
	f := fakenvml.New(t, rec, fakenvml.Churn(12))
	f.SetStep(229) // two tenants
	s := newStack(t, f.LibPath, false)
	snap := s.sweepOK()
	assert.Equal(t, scaler.StatusFailed, snap.GPUs[0].Metrics[scaler.ProcessCount].Status)
	_, err := s.get("process_count")
	requireCode(t, err, codes.Unavailable, "failed")
	assert.Equal(t, 1.0, s.metric("nvml_errors_total", "function", "nvmlDeviceGetComputeRunningProcesses_v3", "code", "INSUFFICIENT_SIZE"))
	assert.True(t, snap.GPUs[0].Metrics[scaler.MemoryUsedBytes].OK(), "the rest of the device is read")

	snap = s.sweepOK() // the remaining churn fits in the binding's retries
	assert.Equal(t, scaler.Value{V: 2, Status: scaler.StatusOK}, snap.GPUs[0].Metrics[scaler.ProcessCount])
	v, err := s.get("process_count")
	require.NoError(t, err)
	assert.Equal(t, 2.0, v)
}

// GPM answers NaN for SM activity from step 3: that metric is absent (never 0
// or NaN on the wire); the other GPM metrics are served.
func TestFaultGPMNaN(t *testing.T) {
	t.Parallel()
	rec := load(t, "h200-inference-ramp.json")
	step := uint64(len(rec.Samples) / 2)
	f := fakenvml.New(t, rec, fakenvml.NaN(0, scaler.GPMSMActivity.NVMLID(), step))
	f.SetStep(step - 2)
	s := newStack(t, f.LibPath, false)
	s.sweepOK()
	f.SetStep(step - 1)
	snap := s.sweepOK()
	require.True(t, snap.GPUs[0].Metrics[scaler.SMActive].OK())

	f.SetStep(step)
	snap = s.sweepOK()
	assert.Equal(t, scaler.Value{Status: scaler.StatusInvalid}, snap.GPUs[0].Metrics[scaler.SMActive])
	assert.True(t, snap.GPUs[0].Metrics[scaler.TensorActive].OK())
	_, err := s.get("sm_active_percent")
	requireCode(t, err, codes.Unavailable, "invalid")
	v, err := s.get("tensor_active_percent")
	require.NoError(t, err)
	assert.False(t, math.IsNaN(v))
	assert.Zero(t, s.series("gpu_sm_active_percent"))
	assert.Equal(t, 1, s.series("gpu_tensor_active_percent"))
	assert.True(t, s.ready())
	assert.Contains(t, s.logs.String(), "metric=sm_active_percent status=invalid")
}

// A driver without the _v2/_v3 symbols and without GPM: the binding falls
// back to the plain calls, the GPM metrics are not supported, everything else
// is served.
func TestFaultOldDriver(t *testing.T) {
	t.Parallel()
	f := fakenvml.New(t, load(t, "h200-steps.json"), fakenvml.WithVariant(fakenvml.OldDriver))
	s := newStack(t, f.LibPath, false)
	s.sweepOK()
	snap := s.sweepOK()
	for _, m := range []scaler.Metric{scaler.SMActive, scaler.SMOccupancy, scaler.TensorActive, scaler.DRAMBandwidth, scaler.GraphicsActive} {
		assert.Equal(t, scaler.StatusNotSupported, snap.GPUs[0].Metrics[m].Status, m.String())
	}
	_, err := s.get("sm_active_percent")
	requireCode(t, err, codes.FailedPrecondition, "not supported")
	for _, m := range []string{"gpu_utilization_percent", "memory_used_bytes", "power_watts", "process_count"} {
		_, err := s.get(m)
		assert.NoError(t, err, m)
	}
	assert.True(t, s.ready())
	assert.Zero(t, s.series("gpu_sm_active_percent"))
	assert.Equal(t, 1, s.series("gpu_memory_used_bytes"))
}
