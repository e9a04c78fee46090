// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/nvml-scaler/nvml-scaler/scaler"
	"github.com/nvml-scaler/nvml-scaler/scaler/replay"
)

type probeFlags struct {
	interval time.Duration
	output   string
	watch    bool
	source   sourceFlags
	engines  probeEngines
}

func newProbeCmd(d *deps) *cobra.Command {
	f := &probeFlags{}
	cmd := &cobra.Command{
		Use:   "probe",
		Short: "Show every GPU as the scaler sees it: activity, memory, power, processes",
		Long: `probe sweeps every GPU twice, --interval apart (GPM metrics such as SM activity
need two samples), and prints per GPU: index, UUID, model, health, GPU
utilization, SM activity, memory used/total, power, temperature and the compute
processes with their memory. -o json and -o yaml add every catalogue metric.

Engine signals: --engine-target endpoints, the GPU pods of this node with
--engine-pods (as 'serve --engine-pods' finds them: pod, namespace, GPUs) and
the engine targets of a --replay recording are scraped at both sweeps; each
shows its engine, requests waiting and running, KV-cache use and TTFT (the
mean between the scrapes), and why any of them is absent.

--watch redraws the table each --interval with a sparkline of the last minute
of SM activity (GPU utilization where the GPU has no GPM) until interrupted;
the engine targets are scraped at every redraw and their rows redrawn too
(TTFT: the mean over the last minute).

Without NVML it fails, listing the paths tried and what to check.`,
		Example: `  nvml-scaler probe
  nvml-scaler probe -o json
  nvml-scaler probe --watch
  nvml-scaler probe --engine-pods -o json
  nvml-scaler probe --replay testdata/recordings/h200-inference-ramp.json --replay-speed 10 --watch`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkMinDuration("interval", f.interval, scaler.MinInterval); err != nil {
				return err
			}
			if err := f.source.validate(cmd.Flags()); err != nil {
				return err
			}
			if err := f.engines.validate(); err != nil {
				return err
			}
			if f.watch && f.output != "table" {
				return usageErrorf("--watch draws a table: drop -o %s, or drop --watch", f.output)
			}
			return runProbe(cmd.Context(), d, f)
		},
	}
	fs := cmd.Flags()
	newDuration(fs, &f.interval, "interval", time.Second, "time between the two sweeps (and between redraws with --watch), at least 100ms")
	newEnum(fs, &f.output, "output", "o", "table", "output format", "table", "json", "yaml")
	fs.BoolVarP(&f.watch, "watch", "w", false, "redraw every --interval until interrupted")
	f.source.register(fs)
	f.engines.register(fs)
	return cmd
}

// prober sweeps a Source by hand and keeps the raw readings the snapshot
// does not carry (memory total, process list).
type prober struct {
	d       *deps
	sampler *scaler.Sampler
	tee     *teeSource
	replay  *replay.Source // nil unless --replay
	node    string
	desc    string
}

func newProber(d *deps, f *probeFlags) (*prober, error) {
	src, desc, err := f.source.open(d, slog.New(slog.DiscardHandler), f.interval)
	if err != nil {
		return nil, err
	}
	p := &prober{d: d, tee: &teeSource{Source: src}, node: nodeName(d, ""), desc: desc}
	p.replay, _ = src.(*replay.Source)
	p.sampler, err = scaler.NewSampler(scaler.SamplerConfig{Source: p.tee, Node: p.node, Interval: f.interval, Now: d.now})
	if err != nil {
		return nil, errors.Join(err, src.Close())
	}
	return p, nil
}

// sweep runs one sweep; a failure to list devices is explained.
func (p *prober) sweep(ctx context.Context) (*scaler.Snapshot, error) {
	snap, err := p.sampler.Sweep(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, explainNVML(err)
	}
	if len(snap.GPUs) == 0 {
		return nil, errNoGPUs
	}
	return snap, nil
}

func runProbe(ctx context.Context, d *deps, f *probeFlags) error {
	p, err := newProber(d, f)
	if err != nil {
		return err
	}
	defer p.sampler.Close()
	defer f.engines.close()
	if f.watch {
		return p.watch(ctx, f.interval, &f.engines)
	}
	first, err := p.sweep(ctx)
	if err != nil {
		return err
	}
	if err := f.engines.discover(ctx, d, p.tee.Source, first); err != nil {
		return err
	}
	f.engines.scrape(ctx, d.now(), f.interval)
	if !d.sleep(ctx, f.interval) {
		return context.Cause(ctx)
	}
	snap, err := p.sweep(ctx)
	if err != nil {
		return err
	}
	f.engines.scrape(ctx, d.now(), f.interval)
	r := p.report(snap)
	r.Engines = f.engines.report()
	return writeReport(d.stdout, f.output, r)
}

// teeSource passes a Source through and keeps each device's latest Reading.
// The Sampler reads devices concurrently, so last is guarded by mu; the
// report reads it after Sweep returns.
type teeSource struct {
	scaler.Source
	mu   sync.Mutex
	last []scaler.Reading // by device position; zero after a failed Read
}

// Refresh passes through to the Source's own, when it has one, so that a
// probe lists GPUs that open late and MIG layouts that change, as serve does.
func (t *teeSource) Refresh(ctx context.Context) ([]scaler.Device, bool, error) {
	if r, ok := t.Source.(scaler.Refresher); ok {
		return r.Refresh(ctx)
	}
	return nil, false, nil
}

func (t *teeSource) Read(ctx context.Context, dev int) (scaler.Reading, error) {
	r, err := t.Source.Read(ctx, dev)
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.last) <= dev {
		t.last = append(t.last, scaler.Reading{})
	}
	t.last[dev] = r
	return r, err
}

// reading returns the latest Reading of position dev (zero when none).
func (t *teeSource) reading(dev int) scaler.Reading {
	t.mu.Lock()
	defer t.mu.Unlock()
	if dev < len(t.last) {
		return t.last[dev]
	}
	return scaler.Reading{}
}
