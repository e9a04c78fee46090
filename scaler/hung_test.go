// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/internal/testutil"
)

// A call hangs on GPU 1 of 3: the other two keep publishing fresh values,
// GPU 1 is failed with ErrHung (logged once), no second Read of it starts
// while the first hangs, and once it returns GPU 1 is read again. When every
// GPU hangs, nothing is published.
func TestHungDeviceAmongHealthy(t *testing.T) {
	t.Parallel()
	src := newFake(3)
	hang := make(chan struct{})
	src.hangDev = map[int]chan struct{}{1: hang}
	var logs testutil.SyncBuffer
	clock := newClock()
	s, err := NewSampler(SamplerConfig{Source: src, Interval: MinInterval, Now: clock.Now,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	for range 3 {
		clock.Add(MinInterval)
		snap, err := s.Sweep(context.Background())
		require.NoError(t, err, "the other GPUs keep serving")
		assert.Equal(t, HealthOK, snap.GPUs[0].Health)
		assert.Equal(t, HealthOK, snap.GPUs[2].Health)
		assert.Equal(t, HealthFailed, snap.GPUs[1].Health)
		assert.ErrorIs(t, snap.GPUs[1].Err, ErrHung)
		assert.True(t, snap.GPUs[2].Metrics[SMActive].OK())
		_, err = s.Current()
		require.NoError(t, err, "fresh")
	}
	assert.Equal(t, 1, logs.Count("gpu call has not returned"), "logged once")
	assert.LessOrEqual(t, src.reading.Load(), int32(1), "one Read of the hung GPU at a time")

	close(hang)
	require.Eventually(t, func() bool { return src.reading.Load() == 0 }, 5*time.Second, time.Millisecond)
	clock.Add(MinInterval)
	snap, err := s.Sweep(context.Background())
	require.NoError(t, err)
	assert.Equal(t, HealthOK, snap.GPUs[1].Health, "read again once the call returned")
	assert.Equal(t, 1, logs.Count("hung gpu call returned"))

	all := make(chan struct{})
	src.mu.Lock()
	src.hang = all
	src.hangDev = nil
	src.mu.Unlock()
	seq := snap.Seq
	clock.Add(MinInterval)
	_, err = s.Sweep(context.Background())
	require.ErrorIs(t, err, context.DeadlineExceeded, "every device hung: nothing published")
	assert.Equal(t, seq, s.Latest().Seq)
	close(all)
}
