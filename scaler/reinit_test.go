// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/nvml-scaler/nvml-scaler/internal/testutil"
)

// A Read that asks for re-initialisation drops the device list: readers see
// not ready (not the previous snapshot), and the next sweep lists the devices
// again — a different list this time.
func TestReinitDropsDevices(t *testing.T) {
	t.Parallel()
	src := newFake(2)
	var logs bytes.Buffer
	h := newHarness(t, src)
	h.sampler.log = slog.New(slog.NewTextHandler(&logs, nil))
	first := h.sweep()

	src.setReadErr(1, fmt.Errorf("nvmlDeviceGetMemoryInfo_v2: %w", ErrReinit))
	h.clock.Add(testInterval)
	_, err := h.sampler.Sweep(context.Background())
	require.ErrorIs(t, err, ErrNotReady)
	assert.ErrorIs(t, err, ErrReinit)
	_, err = h.sampler.Current()
	assert.ErrorIs(t, err, ErrNotReady, "fresh as the old snapshot is, the device list is gone")
	_, err = h.getMetrics(ref())
	requireCode(t, err, codes.Unavailable, "not ready", first.GPUs[1].UUID)
	assert.Same(t, first, h.sampler.Latest())
	assert.Contains(t, logs.String(), "nvml must be re-initialised")

	// Rediscovery happens on the next sweep; one GPU is gone now.
	src.mu.Lock()
	src.devices, src.readings, src.readErrs = src.devices[:1], src.readings[:1], []error{nil}
	src.mu.Unlock()
	snap := h.sweep()
	require.Len(t, snap.GPUs, 1)
	assert.Equal(t, first.Seq+1, snap.Seq)
	_, err = h.sampler.Current()
	assert.NoError(t, err)
	assert.Equal(t, 3, strings.Count(logs.String(), `msg="gpu found"`), "listed twice: 2 devices, then 1")
}

// A field (not the Read error) that asks for re-initialisation counts too.
func TestReinitFromAField(t *testing.T) {
	t.Parallel()
	src := newFake(1)
	h := newHarness(t, src)
	h.sweep()
	src.edit(0, func(r *Reading) { r.Memory = Failed[Memory](fmt.Errorf("x: %w", ErrReinit)) })
	h.clock.Add(testInterval)
	_, err := h.sampler.Sweep(context.Background())
	assert.ErrorIs(t, err, ErrNotReady)
}

// Run backs off while not ready, resets the backoff after a success, and
// calls OnSweep for every sweep.
func TestRunRetryBackoffAndOnSweep(t *testing.T) {
	t.Parallel()
	src := newFake(1)
	src.devErr = errBoom
	var logs testutil.SyncBuffer
	sweeps := make(chan error, 1000)
	s, err := NewSampler(SamplerConfig{Source: src, Interval: MinInterval, RetryBackoff: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), OnSweep: func(_ time.Duration, err error) { sweeps <- err }})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "retry_in=20ms") }, 5*time.Second, time.Millisecond)
	assert.ErrorIs(t, <-sweeps, ErrNotReady)
	src.mu.Lock()
	src.devErr = nil
	src.mu.Unlock()
	require.Eventually(t, func() bool { _, err := s.Current(); return err == nil }, 5*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	_, err = NewSampler(SamplerConfig{Source: src, RetryBackoff: -1})
	assert.Error(t, err)
}
