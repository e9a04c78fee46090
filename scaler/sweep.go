// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Backoff between attempts to list devices while the Source is not ready.
const (
	minNotReadyBackoff = time.Second
	maxNotReadyBackoff = 30 * time.Second
)

// errBusy is returned by Run and Sweep while another of them owns the Source.
var errBusy = errors.New("sampler: the source is already being read (Run or Sweep in progress)")

// Run sweeps every Interval until ctx ends, then closes the Source and returns
// nil. Until the Source lists its devices it retries with a backoff from 1 s to
// 30 s instead of failing: a node without a driver is "not ready", not a crash
// loop. A sweep runs in Run's goroutine, so at most one is in flight; if a
// Source call hangs, Run hangs with it and readers see the snapshot go stale.
func (s *Sampler) Run(ctx context.Context) error {
	if s.closed.Load() {
		return errors.New("sampler: closed")
	}
	if !s.own.TryLock() {
		return errBusy
	}
	defer s.Close() // runs after Unlock
	defer s.own.Unlock()

	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	backoff := minNotReadyBackoff
	for {
		if _, err := s.sweep(ctx); err != nil && ctx.Err() == nil {
			if errors.Is(err, ErrNotReady) {
				s.log.Warn("gpus not ready, retrying", "err", err, "retry_in", backoff)
				if !sleep(ctx, backoff) {
					return nil
				}
				backoff = min(2*backoff, maxNotReadyBackoff)
				continue
			}
			s.log.Warn("sweep failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Sweep runs one sweep now and publishes its snapshot, for tools (`probe`) and
// tests that drive the Sampler by hand. It fails while Run is running.
func (s *Sampler) Sweep(ctx context.Context) (*Snapshot, error) {
	if s.closed.Load() {
		return nil, errors.New("sampler: closed")
	}
	if !s.own.TryLock() {
		return nil, errBusy
	}
	defer s.own.Unlock()
	return s.sweep(ctx)
}

// sweep reads every device under the sweep deadline and publishes the result.
// The caller holds s.own. A sweep that overruns its deadline, or whose ctx
// ends, publishes nothing.
func (s *Sampler) sweep(ctx context.Context) (*Snapshot, error) {
	start := s.now()
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if s.devices == nil {
		devs, err := s.src.Devices(ctx)
		if err != nil {
			s.notReady.Store(&err)
			return nil, fmt.Errorf("%w: list devices: %w", ErrNotReady, err)
		}
		s.devices = append(make([]Device, 0, len(devs)), devs...)
		s.notReady.Store(nil)
		for _, d := range devs {
			s.log.Info("gpu found", "index", d.Index, "uuid", d.UUID, "model", d.Model, "mig_parent", d.MIGParentUUID)
		}
	}
	gpus := make([]GPU, len(s.devices))
	for i, d := range s.devices {
		r, err := s.src.Read(ctx, i)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("sweep abandoned at device %d of %d after %v: %w",
				i+1, len(s.devices), s.now().Sub(start).Round(time.Millisecond), context.Cause(ctx))
		}
		gpus[i] = gpuFrom(d, &r, err)
	}
	var seq uint64 = 1
	if s.prev != nil {
		seq = s.prev.Seq + 1
	}
	snap := &Snapshot{Seq: seq, Node: s.node, Start: start, Duration: s.now().Sub(start), GPUs: gpus}
	s.logChanges(s.prev, snap)
	s.prev = snap
	s.publish(snap)
	return snap, nil
}

// gpuFrom builds one device's entry from its Reading and Read's error.
func gpuFrom(d Device, r *Reading, err error) GPU {
	g := GPU{Device: d}
	switch {
	case Classify(err) == ClassGPULost:
		g.Health, g.Err = HealthLost, err
	case err != nil:
		g.Health, g.Err = HealthFailed, err
	case readingLost(r):
		g.Health, g.Err = HealthLost, ErrGPULost
	default:
		g.Metrics = derive(r)
	}
	return g
}

// logChanges logs device health changes and metrics that appear or disappear,
// so a flapping metric is visible without a line per sweep.
func (s *Sampler) logChanges(prev, cur *Snapshot) {
	for i := range cur.GPUs {
		g := &cur.GPUs[i]
		var was *GPU
		if prev != nil {
			was = &prev.GPUs[i]
		}
		if was == nil || was.Health != g.Health {
			level := s.log.Info
			if g.Health != HealthOK {
				level = s.log.Warn
			}
			level("gpu health", "uuid", g.UUID, "health", g.Health.String(), "err", g.Err)
		}
		if g.Health != HealthOK {
			continue
		}
		for m, v := range g.Metrics {
			if was == nil && v.Status == StatusOK || was != nil && was.Health == HealthOK && was.Metrics[m].Status == v.Status {
				continue
			}
			s.log.Debug("metric availability", "uuid", g.UUID, "metric", Metric(m).String(), "status", v.Status.String())
		}
	}
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
