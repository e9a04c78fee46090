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

// A driver call hangs (nvmlDeviceGetPowerUsage held by the fake). The sampler
// goroutine is stuck inside it: no second sweep starts, the snapshot goes
// stale after three intervals, KEDA gets Unavailable instead of old numbers,
// readiness says NOT_SERVING, and a watchdog logs the overrun. When the call
// returns, the late sweep is discarded and the next one recovers.
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
	s.eventually(func() bool { return s.logs.Count("sweep overran its deadline") == 1 }, "the watchdog logs the overrun")
	assert.Equal(t, 0.0, s.metric("ready"))
	assert.Greater(t, s.metric("snapshot_age_seconds"), (scaler.StaleIntervals * faultInterval).Seconds())
	assert.Zero(t, s.series("gpu_power_watts"), "no per-GPU numbers from stale data")

	time.Sleep(5 * faultInterval) // many ticks pass while the call hangs
	assert.Equal(t, before, s.src.reads.Load(), "no other Read starts while one hangs")
	assert.Equal(t, int32(1), s.src.maxInFlight.Load(), "at most one sweep in flight")
	assert.Equal(t, seq, s.sampler.Latest().Seq, "nothing published")
	assert.Equal(t, 1, s.logs.Count("sweep overran its deadline"), "logged once per hung sweep")

	f.Release(sym)
	s.eventually(s.ready, "fresh again once the call returns")
	_, err = s.get("power_watts")
	assert.NoError(t, err)
	assert.Contains(t, s.logs.String(), "sweep abandoned at device 1 of 1")
	assert.Equal(t, 1.0, s.metric("sweeps_failed_total", "reason", "abandoned"))
	assert.Equal(t, int32(1), s.src.maxInFlight.Load())
	assert.Equal(t, 1.0, s.metric("ready"))
}
