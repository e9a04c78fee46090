// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Sampler limits and defaults.
const (
	// DefaultInterval is the sweep interval when SamplerConfig.Interval is 0.
	DefaultInterval = time.Second
	// MinInterval is the shortest sweep interval the Sampler accepts.
	MinInterval = 100 * time.Millisecond
	// MaxWindow is the longest window a trigger may average over; the Sampler
	// keeps that much history.
	MaxWindow = 10 * time.Minute
	// StaleIntervals is how many sweep intervals old the newest snapshot may be
	// before requests fail with "stale".
	StaleIntervals = 3
)

// Errors from [Sampler.Current].
var (
	// ErrNotReady: no sweep has succeeded yet (the Source cannot list devices).
	ErrNotReady = errors.New("not ready")
	// ErrStale: the newest snapshot is older than StaleIntervals sweep intervals.
	ErrStale = errors.New("stale")
	// ErrHung is in the Err of a device whose Read has not returned within
	// the sweep deadline (a hung driver call): it is reported failed until
	// the call returns, while the other devices keep serving.
	ErrHung = errors.New("device call hung")
)

// SamplerConfig configures a [Sampler].
type SamplerConfig struct {
	// Source is read by the Sampler only; the Sampler closes it. Required.
	Source Source
	// Node is the node name recorded in each snapshot.
	Node string
	// Interval between sweep starts: 0 means DefaultInterval; below MinInterval
	// is an error.
	Interval time.Duration
	// SweepTimeout bounds one sweep: 0 means Interval; it must not exceed
	// StaleIntervals × Interval. A sweep that overruns it is discarded.
	SweepTimeout time.Duration
	// RetryBackoff is the first wait between attempts to list devices while
	// the Source is not ready; each failed attempt doubles it, up to 30 s (or
	// RetryBackoff itself, if larger). 0 means 1 s.
	RetryBackoff time.Duration
	// OnSweep, when set, is called after every sweep — published, failed or
	// abandoned — with its duration and error, from the goroutine that swept
	// (Run's, or Sweep's caller). It must not block. Metrics use it.
	OnSweep func(d time.Duration, err error)
	// Logger receives discovery, health changes and failed sweeps; nil discards.
	Logger *slog.Logger
	// Now is the clock for snapshot times and staleness; nil means time.Now.
	// Tests pass a fake clock together with [Sampler.Sweep].
	Now func() time.Time
	// NotReadyLimit is how long the Sampler may go without fresh data
	// before [Sampler.Live] fails, so that the kubelet recreates the
	// container (which runs the NVIDIA container hook again: a lost device
	// cgroup, a stale library after the driver container was replaced, a
	// wedged call). 0 means never. serve's default is DefaultNotReadyLimit.
	NotReadyLimit time.Duration
}

// DefaultNotReadyLimit is serve's default SamplerConfig.NotReadyLimit.
const DefaultNotReadyLimit = 10 * time.Minute

// Sampler owns a Source: one goroutine (Run's, or a Sweep caller's) reads it,
// publishes each sweep as an immutable [Snapshot], and keeps MaxWindow of them
// for windowed aggregation. Its reader methods (Current, Latest, Updated) are
// safe for concurrent use and never block on the Source.
type Sampler struct {
	src      Source
	node     string
	interval time.Duration
	timeout  time.Duration
	log      *slog.Logger
	now      func() time.Time
	onSweep  func(time.Duration, error)
	// created and notReadyLimit serve Live.
	created       time.Time
	notReadyLimit time.Duration
	// minBackoff and maxBackoff bound the wait between attempts to list
	// devices while not ready.
	minBackoff, maxBackoff time.Duration

	// Ownership. own is held by whoever sweeps: Run for its whole life, or
	// one Sweep call; the request path never touches it. Under own, and only
	// there: devices (the Source's current list), calls (by position of
	// devices: the Read in flight, nil when none), prev, and every call to
	// the Source's Devices, Refresh and Close — which never run while a call
	// of calls is in flight, so a Source never lists or closes under a Read.
	// Read itself runs in goroutines of readers, one per device and at most
	// one per position at a time; each writes only its own readCall. Readers
	// see only published snapshots (hist, updated, notReady: atomics).
	own       sync.Mutex
	devices   []Device
	calls     []*readCall
	readers   sync.WaitGroup
	prev      *Snapshot
	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool

	hist    *history
	updated atomic.Pointer[chan struct{}]
	// notReady is why the Sampler has no device list, from a failed Devices
	// or a Read that asked for re-initialisation until the next publish; nil
	// while ready.
	notReady atomic.Pointer[error]

	// sweepStart is the start of the sweep in progress (Unix ns, Sampler
	// clock), 0 between sweeps; reading is the device being read. Run's
	// watchdog reads them to report a call that never returns.
	sweepStart atomic.Int64
	reading    atomic.Pointer[Device]
}

// NewSampler checks cfg and returns a Sampler that has not swept yet.
func NewSampler(cfg SamplerConfig) (*Sampler, error) {
	return newSampler(cfg, MinInterval)
}

// newSampler is NewSampler with another minimum interval, for soak tests that
// sample faster than a node should (export_test.go).
func newSampler(cfg SamplerConfig, minInterval time.Duration) (*Sampler, error) {
	if cfg.Source == nil {
		return nil, errors.New("sampler: no source")
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Interval < minInterval {
		return nil, fmt.Errorf("sampler: interval %v is below the minimum %v", cfg.Interval, minInterval)
	}
	if cfg.RetryBackoff < 0 {
		return nil, fmt.Errorf("sampler: retry backoff %v is negative", cfg.RetryBackoff)
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = minNotReadyBackoff
	}
	if cfg.SweepTimeout == 0 {
		cfg.SweepTimeout = cfg.Interval
	}
	if cfg.SweepTimeout < 0 || cfg.SweepTimeout > StaleIntervals*cfg.Interval {
		return nil, fmt.Errorf("sampler: sweep timeout %v is outside (0, %v]", cfg.SweepTimeout, StaleIntervals*cfg.Interval)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NotReadyLimit < 0 {
		return nil, fmt.Errorf("sampler: not-ready limit %v is negative", cfg.NotReadyLimit)
	}
	s := &Sampler{
		src:           cfg.Source,
		node:          cfg.Node,
		interval:      cfg.Interval,
		timeout:       cfg.SweepTimeout,
		log:           cfg.Logger,
		now:           cfg.Now,
		onSweep:       cfg.OnSweep,
		created:       cfg.Now(),
		notReadyLimit: cfg.NotReadyLimit,
		minBackoff:    cfg.RetryBackoff,
		maxBackoff:    max(cfg.RetryBackoff, maxNotReadyBackoff),
		hist:          newHistory(int(MaxWindow/cfg.Interval) + 2),
	}
	ch := make(chan struct{})
	s.updated.Store(&ch)
	return s, nil
}

// Interval returns the sweep interval.
func (s *Sampler) Interval() time.Duration { return s.interval }

// Latest returns the newest snapshot, however old, or nil before the first sweep.
func (s *Sampler) Latest() *Snapshot { return s.hist.latest.Load() }

// Updated returns a channel that is closed when the next snapshot is published.
// Take it before reading the snapshot it should follow, so no publication is
// missed.
func (s *Sampler) Updated() <-chan struct{} { return *s.updated.Load() }

// Current returns the newest snapshot if it is fresh: an error matching
// ErrNotReady before the first sweep and while the Source is being
// re-initialised (wrapping the Source's error), or ErrStale when the newest
// snapshot started more than StaleIntervals × Interval ago.
func (s *Sampler) Current() (*Snapshot, error) {
	if p := s.notReady.Load(); p != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotReady, *p)
	}
	snap := s.hist.latest.Load()
	if snap == nil {
		return nil, fmt.Errorf("%w: no sweep has completed yet", ErrNotReady)
	}
	if age := s.now().Sub(snap.Start); age > StaleIntervals*s.interval {
		return nil, fmt.Errorf("%w: newest snapshot is %v old (limit %v)", ErrStale,
			age.Round(time.Millisecond), StaleIntervals*s.interval)
	}
	return snap, nil
}

// Live reports whether the process is still worth keeping: nil while
// Current succeeds, and while it has failed for at most NotReadyLimit (since
// the Sampler was made, or since its newest snapshot went stale); after that
// an error saying how long, wrapping Current's. Always nil when
// NotReadyLimit is 0.
func (s *Sampler) Live() error {
	if s.notReadyLimit == 0 {
		return nil
	}
	_, err := s.Current()
	if err == nil {
		return nil
	}
	since := s.created
	if snap := s.hist.latest.Load(); snap != nil {
		since = snap.Start.Add(StaleIntervals * s.interval)
	}
	if d := s.now().Sub(since); d > s.notReadyLimit {
		return fmt.Errorf("no fresh data for %v (limit %v): restart the container: %w",
			d.Round(time.Second), s.notReadyLimit, err)
	}
	return nil
}

// Window returns the snapshots that started within d before latest's start,
// newest first, latest included; just latest when d is 0.
func (s *Sampler) Window(latest *Snapshot, d time.Duration) []*Snapshot {
	var out []*Snapshot
	s.hist.since(latest, latest.Start.Add(-d), func(snap *Snapshot) bool {
		out = append(out, snap)
		return true
	})
	return out
}

// Close closes the Source once; later calls return the first result. Run calls
// it when it returns. Close waits for a sweep and for every Read in progress,
// so it blocks for as long as a hung Source call does.
func (s *Sampler) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.own.Lock()
		defer s.own.Unlock()
		s.readers.Wait() // a Read in flight must return before the Source closes
		s.closeErr = s.src.Close()
	})
	return s.closeErr
}

func (s *Sampler) publish(snap *Snapshot) {
	s.hist.publish(snap)
	s.notReady.Store(nil)
	ch := make(chan struct{})
	close(*s.updated.Swap(&ch))
}
