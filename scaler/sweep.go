// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Backoff between attempts to list devices while the Source is not ready.
const (
	minNotReadyBackoff = time.Second
	maxNotReadyBackoff = 30 * time.Second
)

// errBusy is returned by Run and Sweep while another of them owns the Source.
var errBusy = errors.New("sampler: the source is already being read (Run or Sweep in progress)")

// Run sweeps every Interval until ctx ends, then closes the Source (for NVML:
// shuts it down and unloads it), logs "source closed" and returns nil. While
// the Source cannot list its devices — at start, or after a Read asked for
// re-initialisation ([ErrReinit]) — it retries with a backoff from
// RetryBackoff (1 s) to 30 s instead of failing: a node without a driver is
// "not ready", not a crash loop. A sweep runs in Run's goroutine, so at most
// one is in flight; each device is read in a goroutine of its own (see
// sweep), so a hung Read marks only its device failed. If a listing call
// hangs (Devices, Refresh), Run hangs with it, readers see the snapshot go
// stale, and a watchdog goroutine logs the overrun once.
func (s *Sampler) Run(ctx context.Context) error {
	if s.closed.Load() {
		return errors.New("sampler: closed")
	}
	if !s.own.TryLock() {
		return errBusy
	}
	defer func() { // after Unlock
		if err := s.Close(); err != nil {
			s.log.Warn("source closed with errors", "err", err)
			return
		}
		s.log.Info("source closed")
	}()
	defer s.own.Unlock()
	var wg sync.WaitGroup
	watchCtx, stopWatch := context.WithCancel(context.Background())
	wg.Go(func() { s.watch(watchCtx) })
	defer wg.Wait()
	defer stopWatch()

	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	backoff := s.minBackoff
	for {
		_, err := s.sweep(ctx)
		switch {
		case err == nil || ctx.Err() != nil:
			backoff = s.minBackoff
		case errors.Is(err, ErrNotReady):
			s.log.Warn("gpus not ready, retrying", "err", err, "retry_in", backoff)
			if !sleep(ctx, backoff) {
				return nil
			}
			backoff = min(2*backoff, s.maxBackoff)
			tick.Reset(s.interval)
			continue
		default:
			s.log.Warn("sweep failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// watch logs, once per sweep, a sweep that has overrun its deadline: the
// goroutine reading the Source is then stuck inside a call, so only another
// goroutine can tell. It returns when ctx ends.
func (s *Sampler) watch(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	var warned int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := s.sweepStart.Load()
		if start == 0 || start == warned {
			continue
		}
		if age := s.now().Sub(time.Unix(0, start)); age > s.timeout {
			warned = start
			args := []any{"running_for", age.Round(time.Millisecond), "deadline", s.timeout}
			if d := s.reading.Load(); d != nil {
				args = append(args, "uuid", d.UUID)
			}
			s.log.Error("sweep overran its deadline: a source call has not returned; "+
				"requests fail with Unavailable once the data is stale", args...)
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

// sweep reads every device under the sweep deadline and publishes the result,
// listing the devices first when it has none. The caller holds s.own.
//
// Each device is read in its own goroutine, so a call that hangs on one GPU
// delays no other: when the deadline passes, a device whose Read has not
// returned is marked failed with [ErrHung] and is not read again until that
// Read returns (its late answer is discarded). A sweep in which every device
// is hung publishes nothing, so the snapshot goes stale; one whose ctx ends
// publishes nothing either. One in which a Read asks for re-initialisation
// drops the device list and returns an error matching ErrNotReady.
func (s *Sampler) sweep(ctx context.Context) (snap *Snapshot, err error) {
	start := s.now()
	s.sweepStart.Store(start.UnixNano())
	defer func() {
		s.sweepStart.Store(0)
		s.reading.Store(nil)
		if s.onSweep != nil {
			s.onSweep(s.now().Sub(start), err)
		}
	}()
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.list(ctx); err != nil {
		return nil, err
	}
	calls := s.startReads(ctx)
	gpus := make([]GPU, len(s.devices))
	hung, usable := 0, 0
	for i := range s.devices {
		d := &s.devices[i]
		if d.Unusable != nil {
			gpus[i] = gpuFrom(*d, &Reading{}, d.Unusable)
			continue
		}
		usable++
		c := s.calls[i]
		if calls[i] == nil || !c.wait(ctx) {
			if parent.Err() != nil {
				return nil, fmt.Errorf("sweep abandoned at device %d of %d after %v: %w",
					i+1, len(s.devices), s.now().Sub(start).Round(time.Millisecond), context.Cause(parent))
			}
			hung++
			gpus[i] = s.hungGPU(d, c)
			continue
		}
		s.calls[i] = nil
		if rerr := reinitErr(c.err, &c.r); rerr != nil {
			return nil, s.drop(d, rerr)
		}
		gpus[i] = gpuFrom(*d, &c.r, c.err)
	}
	if err := parent.Err(); err != nil {
		return nil, fmt.Errorf("sweep abandoned at device %d of %d after %v: %w", len(s.devices), len(s.devices),
			s.now().Sub(start).Round(time.Millisecond), context.Cause(parent))
	}
	if usable > 0 && hung == usable {
		return nil, fmt.Errorf("sweep abandoned: a call on each of the %d devices has not returned after %v: %w",
			usable, s.now().Sub(start).Round(time.Millisecond), context.DeadlineExceeded)
	}
	var seq uint64 = 1
	if s.prev != nil {
		seq = s.prev.Seq + 1
	}
	snap = &Snapshot{Seq: seq, Node: s.node, Start: start, Duration: s.now().Sub(start), GPUs: gpus}
	s.logChanges(s.prev, snap)
	s.prev = snap
	s.publish(snap)
	return snap, nil
}

// list makes sure there is a device list: discovered when there is none,
// refreshed otherwise. Neither runs while a Read is in flight: the Source
// may not list under a call that has not returned. The caller holds s.own.
func (s *Sampler) list(ctx context.Context) error {
	busy := s.collect()
	switch {
	case s.devices == nil && busy > 0:
		err := fmt.Errorf("waiting for %d hung device call(s) to return before listing the devices again", busy)
		s.notReady.Store(&err)
		return fmt.Errorf("%w: %w", ErrNotReady, err)
	case s.devices == nil:
		return s.discover(ctx)
	case busy == 0:
		return s.refresh(ctx)
	}
	return nil
}

// startReads starts a Read of every usable device that has none in flight,
// and returns the calls it started by position (nil where none started).
// The caller holds s.own.
func (s *Sampler) startReads(ctx context.Context) []*readCall {
	if len(s.calls) != len(s.devices) {
		s.calls = make([]*readCall, len(s.devices))
	}
	started := make([]*readCall, len(s.devices))
	for i := range s.devices {
		if s.devices[i].Unusable != nil || s.calls[i] != nil {
			continue
		}
		c := &readCall{done: make(chan struct{}), start: s.now()}
		s.calls[i], started[i] = c, c
		s.readers.Go(func() {
			defer close(c.done)
			c.r, c.err = s.src.Read(ctx, i)
		})
	}
	return started
}

// collect forgets the calls that have returned since they were marked hung,
// logging each, and returns how many are still in flight. The caller holds
// s.own.
func (s *Sampler) collect() int {
	busy := 0
	for i, c := range s.calls {
		switch {
		case c == nil:
		case c.returned():
			s.calls[i] = nil
			if c.hung && i < len(s.devices) {
				s.log.Info("hung gpu call returned; reading the device again", "uuid", s.devices[i].UUID,
					"after", s.now().Sub(c.start).Round(time.Millisecond))
			}
		default:
			busy++
		}
	}
	return busy
}

// hungGPU is the entry of a device whose Read c has not returned; the first
// time, it logs the hang. The caller holds s.own.
func (s *Sampler) hungGPU(d *Device, c *readCall) GPU {
	age := s.now().Sub(c.start).Round(time.Millisecond)
	if !c.hung {
		c.hung = true
		s.log.Error("gpu call has not returned within the sweep deadline: the device is marked failed until it does; "+
			"the other devices keep serving", "uuid", d.UUID, "index", d.Index, "deadline", s.timeout)
	}
	return GPU{Device: *d, Health: HealthFailed, Err: fmt.Errorf("gpu %s: %w: a call has not returned for %v", d.UUID, ErrHung, age)}
}

// readCall is one device's Read running in its own goroutine. r and err are
// written before done is closed and read only after.
type readCall struct {
	done  chan struct{}
	start time.Time
	r     Reading
	err   error
	hung  bool // marked hung (and logged); only the sweeping goroutine touches it
}

// wait waits for the call until ctx ends; it reports whether the call
// returned. A call that has returned wins over an ended ctx.
func (c *readCall) wait(ctx context.Context) bool {
	select {
	case <-c.done:
		return true
	default:
	}
	select {
	case <-c.done:
		return true
	case <-ctx.Done():
		return c.returned()
	}
}

func (c *readCall) returned() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// discover lists the devices. The caller holds s.own.
func (s *Sampler) discover(ctx context.Context) error {
	devs, err := s.src.Devices(ctx)
	if err != nil {
		s.notReady.Store(&err)
		return fmt.Errorf("%w: list devices: %w", ErrNotReady, err)
	}
	s.setDevices(devs)
	return nil
}

// drop forgets the device list after a Read on d failed with err, which asks
// for the Source to be re-initialised; readers see "not ready" until a sweep
// on a new list publishes. The caller holds s.own.
func (s *Sampler) drop(d *Device, err error) error {
	return s.dropAll(fmt.Errorf("gpu %s: %w", d.UUID, err))
}

// dropAll forgets the device list because err asks for the Source to be
// re-initialised. The caller holds s.own.
func (s *Sampler) dropAll(err error) error {
	s.devices = nil
	s.notReady.Store(&err)
	s.log.Error("nvml must be re-initialised: dropping every gpu until it lists them again", "err", err)
	return fmt.Errorf("%w: %w", ErrNotReady, err)
}

// reinitErr returns Read's error, or else the first error among r's fields,
// that asks for the Source to be re-initialised; nil when none does.
func reinitErr(err error, r *Reading) error {
	if Classify(err) == ClassReinit {
		return err
	}
	return readingErr(r, ClassReinit)
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
		if prev != nil && len(prev.GPUs) == len(cur.GPUs) && prev.GPUs[i].UUID == g.UUID {
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
