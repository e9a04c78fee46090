// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Liveness fails once the Sampler has been without fresh data for longer
// than NotReadyLimit — from start when the Source never lists its devices,
// or from when the newest snapshot went stale — and recovers with the next
// sweep. NotReadyLimit 0 never fails.
func TestLiveFailsAfterNotReadyLimit(t *testing.T) {
	t.Parallel()
	src := newFake(1)
	src.devErr = errBoom
	clock := newClock()
	s, err := NewSampler(SamplerConfig{Source: src, Interval: time.Second, Now: clock.Now, NotReadyLimit: time.Minute})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	_, err = s.Sweep(context.Background())
	require.ErrorIs(t, err, ErrNotReady)
	clock.Add(59 * time.Second)
	assert.NoError(t, s.Live(), "not ready, but within the limit")
	clock.Add(2 * time.Second)
	err = s.Live()
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrNotReady)
	assert.Contains(t, err.Error(), "no fresh data for 1m1s (limit 1m0s)")

	src.mu.Lock()
	src.devErr = nil
	src.mu.Unlock()
	_, err = s.Sweep(context.Background())
	require.NoError(t, err)
	assert.NoError(t, s.Live(), "fresh again")

	clock.Add(StaleIntervals*time.Second + 30*time.Second)
	assert.NoError(t, s.Live(), "stale for 30 s")
	clock.Add(31 * time.Second)
	assert.ErrorIs(t, s.Live(), ErrStale, "stale for 61 s")

	never, err := NewSampler(SamplerConfig{Source: newFake(1), Now: clock.Now})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, never.Close()) })
	clock.Add(time.Hour)
	assert.NoError(t, never.Live())
	_, err = NewSampler(SamplerConfig{Source: newFake(1), NotReadyLimit: -time.Second})
	assert.ErrorContains(t, err, "negative")
}
