// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	"github.com/nvml-scaler/nvml-scaler/cluster/agent"
	"github.com/nvml-scaler/nvml-scaler/cluster/podwatch"
	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
	"github.com/nvml-scaler/nvml-scaler/internal/metrics"
	"github.com/nvml-scaler/nvml-scaler/recording/enginerec"
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
	pods     bool
	parsed   []watch.Target
	// recorded plays the engine targets of a --replay recording (nil
	// without); recordedInterval is their default scrape interval.
	recorded         *enginerec.Player
	recordedInterval time.Duration
}

func (f *engineFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.targets, "engine-target", nil,
		"an inference server's metrics endpoint, name=URL (repeatable), e.g. vllm-0=http://127.0.0.1:8000/metrics; "+
			"counts for every engine trigger (metric: requests_waiting, ttft_seconds, …) on this node")
	fs.DurationVar(&f.interval, "engine-interval", 0,
		"time between scrapes of each --engine-target (default: --interval; with a --replay recording of engine bodies, "+
			"the recorded interval ÷ --replay-speed, at least 100ms)")
	fs.DurationVar(&f.timeout, "engine-timeout", 0, "timeout of one scrape, below --engine-interval (default: 80% of it)")
	fs.Int64Var(&f.maxBytes, "engine-max-bytes", engine.DefaultMaxBytes, "largest metrics body accepted, as sent and decompressed")
	fs.StringVar(&f.caFile, "engine-ca-file", "", "PEM CA bundle verifying https engine targets (default: the system pool)")
	fs.BoolVar(&f.pods, "engine-pods", false,
		"scrape the engine metrics of the Ready pods holding GPUs on this node (a watch of the node's pods with the "+
			"service-account token: RBAC get/list/watch on pods; GPU→pod from --kubelet-socket; node from --node-name or $NODE_NAME)")
}

// on reports whether engine signals are on.
func (f *engineFlags) on() bool { return len(f.parsed) > 0 || f.pods || f.recorded != nil }

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
	pods    *podwatch.Watcher // nil without --engine-pods
	devices enginetrigger.Devices
	now     func() time.Time
}

// podSource is where --engine-pods finds the pods: the node's pod watch, its
// GPU→pod attribution and the newest snapshot (index IDs → UUIDs).
type podSource struct {
	pods    *podwatch.Watcher
	attr    agent.Attributor
	devices enginetrigger.Devices
}

// discover returns the operator's targets and the node's GPU pods.
func (p *podSource) discover(static []watch.Target) func() []watch.Target {
	return func() []watch.Target {
		pods, _ := p.pods.Pods()
		snap := p.devices()
		ts := podwatch.Targets(pods, p.attr.Current(), func(id string) string { return agent.ResolveDeviceID(id, snap) })
		return append(slices.Clone(static), ts...)
	}
}

// open builds the scraper and watcher, or returns nil when engine signals
// are off; src is nil without --engine-pods.
func (f *engineFlags) open(sweep time.Duration, src *podSource, log *slog.Logger, now func() time.Time, onScrape func(string)) (*engineSignals, error) {
	if !f.on() {
		return nil, nil
	}
	interval, timeout := f.interval, f.timeout
	if interval <= 0 {
		interval = sweep
		if f.recorded != nil {
			interval = f.recordedInterval
		}
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
	cfg := watch.Config{Targets: f.parsed, Scraper: s, Interval: interval, Timeout: timeout,
		Keep: enginetrigger.MaxWindow + 3*interval, Now: now, OnScrape: onScrape, Logger: log.With("component", "engine")}
	if f.recorded != nil {
		cfg.Fetcher = byName{recorded: f.recorded, http: watch.HTTP(s)}
	}
	e := &engineSignals{scraper: s, now: now}
	if src != nil {
		cfg.Discover, e.pods, e.devices = src.discover(f.parsed), src.pods, src.devices
	}
	w, err := watch.New(cfg)
	if err != nil {
		s.Close()
		return nil, err
	}
	e.watcher = w
	return e, nil
}

// metrics is what the node server asks for engine triggers; nil when off.
func (e *engineSignals) metrics() scaler.EngineMetrics {
	if e == nil {
		return nil
	}
	return e.trigger()
}

func (e *engineSignals) trigger() *enginetrigger.Server {
	return enginetrigger.New(e.watcher, e.now, e.devices)
}

// explain names the targets behind an engine trigger's value, for query.
func (e *engineSignals) explain(ref *pb.ScaledObjectRef) (enginetrigger.Contribution, error) {
	return e.trigger().ExplainMetadata(ref.GetNamespace(), ref.GetScalerMetadata())
}

// views is what the node-snapshot stream carries: the scrapes of the node's
// pods with --engine-pods; nil otherwise.
func (e *engineSignals) views() agent.EngineViews {
	if e == nil || e.pods == nil {
		return nil
	}
	return e.watcher
}

// run watches the node's pods (with --engine-pods) and scrapes until ctx
// ends.
func (e *engineSignals) run(ctx context.Context) error {
	defer e.scraper.Close()
	if e.pods == nil {
		return e.watcher.Run(ctx)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return e.pods.Run(ctx) })
	g.Go(func() error { return e.watcher.Run(ctx) })
	return g.Wait()
}

// openEngine opens the engine signals with their scrape counter on m; with
// --engine-pods, the pod watch of node from the pod's service account.
func openEngine(d *deps, f *engineFlags, sweep time.Duration, node string, attr agent.Attributor, s *scaler.Sampler,
	log *slog.Logger, m *metrics.Metrics) (*engineSignals, error) {
	if !f.on() {
		return nil, nil
	}
	count, err := m.EngineScrapes()
	if err != nil {
		return nil, err
	}
	var src *podSource
	if f.pods {
		pw, err := podWatch(d, node, log.With("component", "pod-watch"))
		if err != nil {
			return nil, err
		}
		src = &podSource{pods: pw, attr: attr, devices: s.Latest}
	}
	return f.open(sweep, src, log, d.now, count)
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
