// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/pflag"

	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
	"github.com/nvml-scaler/nvml-scaler/internal/metrics"
	"github.com/nvml-scaler/nvml-scaler/scaler"
	"github.com/nvml-scaler/nvml-scaler/scaler/enginetrigger"
)

// engineFlags turn on inference-engine signals from operator-set endpoints.
type engineFlags struct {
	targets  []string // name=URL
	interval time.Duration
	timeout  time.Duration
	maxBytes int64
	caFile   string
	parsed   []watch.Target
}

func (f *engineFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.targets, "engine-target", nil,
		"an inference server's metrics endpoint, name=URL (repeatable), e.g. vllm-0=http://127.0.0.1:8000/metrics; "+
			"counts for every engine trigger (metric: requests_waiting, ttft_seconds, …) on this node")
	fs.DurationVar(&f.interval, "engine-interval", 0, "time between scrapes of each --engine-target (default: --interval)")
	fs.DurationVar(&f.timeout, "engine-timeout", 0, "timeout of one scrape, below --engine-interval (default: 80% of it)")
	fs.Int64Var(&f.maxBytes, "engine-max-bytes", engine.DefaultMaxBytes, "largest metrics body accepted, as sent and decompressed")
	fs.StringVar(&f.caFile, "engine-ca-file", "", "PEM CA bundle verifying https engine targets (default: the system pool)")
}

// validate parses the targets; the timing is checked in open, once the
// sweep interval is known.
func (f *engineFlags) validate() error {
	var err error
	if f.parsed, err = parseEngineTargets(f.targets); err != nil {
		return err
	}
	if f.maxBytes <= 0 {
		return usageErrorf("--engine-max-bytes %d: want a positive number of bytes", f.maxBytes)
	}
	return nil
}

// engineSignals is the running engine watch.
type engineSignals struct {
	scraper *engine.Scraper
	watcher *watch.Watcher
	now     func() time.Time
}

// open builds the scraper and watcher, or returns nil when no target is set.
func (f *engineFlags) open(sweep time.Duration, log *slog.Logger, now func() time.Time, onScrape func(string)) (*engineSignals, error) {
	if len(f.parsed) == 0 {
		return nil, nil
	}
	interval, timeout := f.interval, f.timeout
	if interval <= 0 {
		interval = sweep
	}
	if timeout <= 0 {
		timeout = interval * 4 / 5
	}
	if err := engine.CheckTiming(interval, timeout); err != nil {
		return nil, usageErrorf("--engine-timeout: %v", err)
	}
	opts := engine.Options{Timeout: timeout, MaxBytes: f.maxBytes}
	if f.caFile != "" {
		pool, err := engine.LoadCABundle(f.caFile)
		if err != nil {
			return nil, fmt.Errorf("--engine-ca-file: %w", err)
		}
		opts.RootCAs = pool
	}
	s, err := engine.NewScraper(opts)
	if err != nil {
		return nil, err
	}
	w, err := watch.New(watch.Config{Targets: f.parsed, Scraper: s, Interval: interval, Timeout: timeout,
		Keep: enginetrigger.MaxWindow + 3*interval, Now: now, OnScrape: onScrape, Logger: log.With("component", "engine")})
	if err != nil {
		s.Close()
		return nil, err
	}
	return &engineSignals{scraper: s, watcher: w, now: now}, nil
}

// metrics is what the node server asks for engine triggers; nil when off.
func (e *engineSignals) metrics() scaler.EngineMetrics {
	if e == nil {
		return nil
	}
	return enginetrigger.New(e.watcher, e.now)
}

// run scrapes until ctx ends.
func (e *engineSignals) run(ctx context.Context) error {
	defer e.scraper.Close()
	return e.watcher.Run(ctx)
}

// openEngine opens the engine signals with their scrape counter on m.
func openEngine(f *engineFlags, sweep time.Duration, log *slog.Logger, now func() time.Time, m *metrics.Metrics) (*engineSignals, error) {
	if len(f.parsed) == 0 {
		return nil, nil
	}
	count, err := m.EngineScrapes()
	if err != nil {
		return nil, err
	}
	return f.open(sweep, log, now, count)
}

// engineQueryTrigger checks an engine trigger's metadata as the node server
// will and gives query the thresholds it prints (the spec and value come from
// the server).
func engineQueryTrigger(t pickedTrigger) (pickedTrigger, scaler.Trigger, error) {
	et, err := enginetrigger.Parse(t.Metadata)
	if err != nil {
		return t, scaler.Trigger{}, usageErrorf("%v", err)
	}
	agg := map[engine.Aggregation]scaler.Aggregation{engine.Sum: scaler.AggSum, engine.Avg: scaler.AggAvg, engine.Max: scaler.AggMax}
	return t, scaler.Trigger{Target: et.Target, ActivationTarget: et.Activation, Aggregation: agg[et.Aggregation]}, nil
}
