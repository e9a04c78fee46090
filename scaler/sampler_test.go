// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewSamplerConfig(t *testing.T) {
	t.Parallel()
	src := newFake(1)
	_, err := NewSampler(SamplerConfig{})
	assert.Error(t, err, "no source")
	_, err = NewSampler(SamplerConfig{Source: src, Interval: 99 * time.Millisecond})
	assert.ErrorContains(t, err, "below the minimum")
	_, err = NewSampler(SamplerConfig{Source: src, Interval: time.Second, SweepTimeout: 3*time.Second + 1})
	assert.Error(t, err)
	_, err = NewSampler(SamplerConfig{Source: src, SweepTimeout: -1})
	assert.Error(t, err)
	s, err := NewSampler(SamplerConfig{Source: src})
	require.NoError(t, err)
	assert.Equal(t, DefaultInterval, s.Interval())
	assert.Equal(t, DefaultInterval, s.timeout)
	assert.Len(t, s.hist.slots, int(MaxWindow/DefaultInterval)+2)
	assert.Nil(t, s.Latest())
	_, err = s.Current()
	assert.ErrorIs(t, err, ErrNotReady)
}

func TestSweepPublishes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, newFake(2))
	updated := h.sampler.Updated()
	snap := h.sweep()
	select {
	case <-updated:
	default:
		t.Fatal("Updated was not closed by the publish")
	}
	assert.Equal(t, uint64(1), snap.Seq)
	assert.Equal(t, "node-a", snap.Node)
	assert.Equal(t, h.clock.Now(), snap.Start)
	assert.Same(t, snap, h.sampler.Latest())
	require.Len(t, snap.GPUs, 2)
	assert.Equal(t, Value{V: 20, Status: StatusOK}, snap.GPUs[1].Metrics[SMActive])
	cur, err := h.sampler.Current()
	require.NoError(t, err)
	assert.Same(t, snap, cur)

	second := h.sweep()
	assert.Equal(t, uint64(2), second.Seq)
	assert.Equal(t, []*Snapshot{second, snap}, h.sampler.Window(second, time.Hour))
	assert.Equal(t, []*Snapshot{second}, h.sampler.Window(second, 0))
}

func TestCurrentStale(t *testing.T) {
	t.Parallel()
	h := newHarness(t, newFake(1))
	h.sweep()
	h.clock.Add(StaleIntervals * testInterval)
	_, err := h.sampler.Current()
	require.NoError(t, err, "exactly three intervals old is still fresh")
	h.clock.Add(time.Millisecond)
	_, err = h.sampler.Current()
	assert.ErrorIs(t, err, ErrStale)
	assert.ErrorContains(t, err, "limit 3s")
	h.sweep()
	_, err = h.sampler.Current()
	assert.NoError(t, err)
}

func TestNotReadyUntilDevicesListed(t *testing.T) {
	t.Parallel()
	src := newFake(1)
	src.devErr = fmt.Errorf("nvml: driver not loaded")
	h := newHarness(t, src)
	_, err := h.sampler.Sweep(context.Background())
	assert.ErrorIs(t, err, ErrNotReady)
	_, err = h.sampler.Current()
	assert.ErrorIs(t, err, ErrNotReady)
	assert.ErrorContains(t, err, "driver not loaded")

	src.mu.Lock()
	src.devErr = nil
	src.mu.Unlock()
	h.sweep()
	_, err = h.sampler.Current()
	assert.NoError(t, err)
	// Devices are listed once: a later failure there is never seen.
	src.mu.Lock()
	src.devErr = errBoom
	src.mu.Unlock()
	h.sweep()
}

func TestLostGPUOthersServe(t *testing.T) {
	t.Parallel()
	src := newFake(3)
	var logs bytes.Buffer
	clock := newClock()
	s, err := NewSampler(SamplerConfig{Source: src, Now: clock.Now, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	defer s.Close()
	src.setReadErr(1, fmt.Errorf("nvmlDeviceGetUtilizationRates: %w", ErrGPULost))
	src.setReadErr(2, errBoom)
	snap, err := s.Sweep(context.Background())
	require.NoError(t, err)
	assert.Equal(t, HealthOK, snap.GPUs[0].Health)
	assert.Equal(t, HealthLost, snap.GPUs[1].Health)
	assert.Equal(t, HealthFailed, snap.GPUs[2].Health)
	assert.ErrorIs(t, snap.GPUs[2].Err, errBoom)
	for m := range NumMetrics {
		assert.Equal(t, StatusMissing, snap.GPUs[1].Metrics[m].Status)
	}
	assert.Contains(t, logs.String(), "health=lost")
	assert.Contains(t, logs.String(), "health=failed")
}

func TestSweepAbandoned(t *testing.T) {
	t.Parallel()
	src := newFake(2)
	src.hang = make(chan struct{})
	h := newHarness(t, src)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := h.sampler.Sweep(ctx)
		done <- err
	}()
	require.Eventually(t, func() bool { return src.reading.Load() > 0 }, 5*time.Second, time.Millisecond)
	_, err := h.sampler.Sweep(context.Background())
	assert.ErrorIs(t, err, errBusy, "one sweep at a time")
	cancel()
	close(src.hang)
	err = <-done
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorContains(t, err, "sweep abandoned at device")
	assert.Nil(t, h.sampler.Latest(), "an abandoned sweep publishes nothing")
}

// TestRunHungSourceGoesStale runs the Sampler on the real clock: a Read that
// hangs makes the snapshot stale, and readers keep answering meanwhile.
func TestRunHungSourceGoesStale(t *testing.T) {
	t.Parallel()
	src := newFake(1)
	s, err := NewSampler(SamplerConfig{Source: src, Interval: MinInterval})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { assert.NoError(t, s.Run(ctx)) })
	require.Eventually(t, func() bool { _, err := s.Current(); return err == nil }, 5*time.Second, time.Millisecond)
	assert.ErrorIs(t, s.Run(ctx), errBusy)
	_, err = s.Sweep(ctx)
	assert.ErrorIs(t, err, errBusy)

	hang := make(chan struct{})
	src.mu.Lock()
	src.hang = hang
	src.mu.Unlock()
	require.Eventually(t, func() bool { _, err := s.Current(); return err != nil }, 5*time.Second, time.Millisecond)
	_, err = s.Current()
	assert.ErrorIs(t, err, ErrStale)

	src.mu.Lock()
	src.hang = nil
	src.mu.Unlock()
	close(hang)
	require.Eventually(t, func() bool { _, err := s.Current(); return err == nil }, 5*time.Second, time.Millisecond)
	cancel()
	wg.Wait()
	assert.Equal(t, int32(1), src.closes.Load(), "Run closes the source once")
	require.NoError(t, s.Close())
	assert.Equal(t, int32(1), src.closes.Load())
	assert.Error(t, s.Run(context.Background()), "closed")
	_, err = s.Sweep(context.Background())
	assert.Error(t, err, "closed")
}

func TestRunNotReadyStopsPromptly(t *testing.T) {
	t.Parallel()
	src := newFake(1)
	src.devErr = errBoom
	s, err := NewSampler(SamplerConfig{Source: src, Interval: MinInterval})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	require.Eventually(t, func() bool { return s.notReady.Load() != nil }, 5*time.Second, time.Millisecond)
	_, err = s.Current()
	assert.ErrorIs(t, err, ErrNotReady)
	assert.ErrorContains(t, err, "boom")
	cancel() // interrupts the 1 s backoff
	assert.NoError(t, <-done)
}
