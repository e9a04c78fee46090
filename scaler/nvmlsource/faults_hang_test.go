// SPDX-License-Identifier: Apache-2.0

package nvmlsource

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/nvml-scaler/nvml-scaler/internal/fakenvml"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// A driver call hangs (nvmlDeviceGetPowerUsage held by the fake) on the only
// GPU. Its Read is stuck inside it: no second Read of it starts, every sweep
// has every device hung and publishes nothing, the snapshot goes stale after
// three intervals, KEDA gets Unavailable instead of old numbers, readiness
// says NOT_SERVING, and the hang is logged once. When the call returns, its
// late answer is discarded and the next sweep recovers.
func TestFaultHungCall(t *testing.T) {
	t.Parallel()
	const sym = "nvmlDeviceGetPowerUsage"
	f := fakenvml.New(t, load(t, "h200-steps.json"), fakenvml.Hold(sym, time.Minute))
	f.Release(sym) // the fake starts held
	s := newStack(t, f.LibPath, true)
	s.eventually(s.ready, "ready")
	_, err := s.get("power_watts")
	require.NoError(t, err)

	f.Hold(sym)
	s.eventually(func() bool { return s.src.inFlight.Load() == 1 }, "a Read blocks in the held call")
	before := s.src.reads.Load()
	seq := s.sampler.Latest().Seq
	s.eventually(func() bool { return !s.ready() }, "stale after three intervals")
	_, err = s.get("power_watts")
	requireCode(t, err, codes.Unavailable, "stale: newest snapshot is")
	_, err = s.client.IsActive(t.Context(), ref("power_watts"))
	requireCode(t, err, codes.Unavailable, "stale")
	assert.True(t, s.serving(scaler.HealthLiveness), "live: the process answers")
	s.eventually(func() bool { return s.logs.Count("gpu call has not returned") == 1 }, "the hang is logged")
	assert.Equal(t, 0.0, s.metric("ready"))
	assert.Greater(t, s.metric("snapshot_age_seconds"), (scaler.StaleIntervals * faultInterval).Seconds())
	assert.Zero(t, s.series("gpu_power_watts"), "no per-GPU numbers from stale data")

	time.Sleep(5 * faultInterval) // many ticks pass while the call hangs
	assert.Equal(t, before, s.src.reads.Load(), "no other Read starts while one hangs")
	assert.Equal(t, int32(1), s.src.maxInFlight.Load(), "at most one sweep in flight")
	assert.Equal(t, seq, s.sampler.Latest().Seq, "nothing published")
	assert.Equal(t, 1, s.logs.Count("gpu call has not returned"), "logged once per hang")

	f.Release(sym)
	s.eventually(s.ready, "fresh again once the call returns")
	_, err = s.get("power_watts")
	assert.NoError(t, err)
	assert.Contains(t, s.logs.String(), "a call on each of the 1 devices has not returned")
	assert.Contains(t, s.logs.String(), "hung gpu call returned")
	assert.GreaterOrEqual(t, s.metric("sweeps_failed_total", "reason", "abandoned"), 1.0)
	assert.Equal(t, int32(1), s.src.maxInFlight.Load())
	assert.Equal(t, 1.0, s.metric("ready"))
}

// A call hangs on GPU 1 of 3 through the real binding: the other two keep
// serving fresh data, GPU 1 is failed as hung, and once the call returns
// GPU 1 serves again.
func TestFaultHungGPUAmongHealthy(t *testing.T) {
	t.Parallel()
	rec, err := fakenvml.Replicate(load(t, "h200-steps.json"), 3)
	require.NoError(t, err)
	hold := fakenvml.GPUHoldName(1)
	f := fakenvml.New(t, rec, fakenvml.HoldGPU(1, time.Minute))
	f.Release(hold)
	s := newStack(t, f.LibPath, false)
	_, err = s.sweep()
	require.NoError(t, err)
	f.Hold(hold)
	for range 3 {
		snap, err := s.sweep()
		require.NoError(t, err, "one hung GPU does not stop the sweep")
		assert.Equal(t, scaler.HealthOK, snap.GPUs[0].Health)
		assert.Equal(t, scaler.HealthOK, snap.GPUs[2].Health)
		assert.ErrorIs(t, snap.GPUs[1].Err, scaler.ErrHung)
		assert.True(t, s.ready(), "fresh: the other GPUs serve")
		_, err = s.get("power_watts", "gpuIndexes", "0,2")
		require.NoError(t, err)
	}
	assert.Equal(t, int32(1), s.src.inFlight.Load(), "one Read of the hung GPU, not one per sweep")
	assert.Equal(t, 1, s.logs.Count("gpu call has not returned"))
	f.Release(hold)
	s.eventually(func() bool { return s.src.inFlight.Load() == 0 }, "the held call returns")
	snap, err := s.sweep()
	require.NoError(t, err)
	assert.Equal(t, scaler.HealthOK, snap.GPUs[1].Health)
}
