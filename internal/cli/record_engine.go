// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/nvml-scaler/nvml-scaler/cluster/attribution"
	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
	"github.com/nvml-scaler/nvml-scaler/nvml"
	"github.com/nvml-scaler/nvml-scaler/recording"
	"github.com/nvml-scaler/nvml-scaler/recording/enginerec"
	"github.com/nvml-scaler/nvml-scaler/scaler"
	"github.com/nvml-scaler/nvml-scaler/scaler/replay"
)

// recordEngineBudget caps the engine bodies record keeps (compressed bytes):
// as base64 in JSON they take 4/3 of it, 24 MiB, which leaves room for the
// NVML samples under the 32 MiB that --replay reads (replay.MaxFileSize).
const recordEngineBudget = (replay.MaxFileSize - 8<<20) * 3 / 4

// recordEngineFlags add inference-engine bodies to a recording.
type recordEngineFlags struct {
	targets  []string
	interval time.Duration
	maxBytes int64
	pods     podFlags
	parsed   []watch.Target
}

func (f *recordEngineFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.targets, "engine-target", nil,
		"also scrape an inference server's metrics endpoint, name=URL (repeatable), and store every body in the recording, "+
			"so that 'serve --replay' serves its engine metrics")
	fs.DurationVar(&f.interval, "engine-interval", time.Second, "time between scrapes of each --engine-target and --engine-pods pod")
	fs.Int64Var(&f.maxBytes, "engine-max-bytes", engine.DefaultMaxBytes, "largest metrics body accepted, as sent and decompressed")
	f.pods.register(fs, "also scrape the Ready pods holding GPUs on this node, found as 'serve --engine-pods' finds them (a watch "+
		"of the node's pods with the service-account token; GPU→pod from --kubelet-socket), and store every body in the recording "+
		"under the pod's namespace/name, so that 'serve --replay' and 'probe --replay' show them as pods")
}

func (f *recordEngineFlags) validate() error {
	var err error
	if f.parsed, err = parseEngineTargets(f.targets); err != nil {
		return err
	}
	switch {
	case f.interval < minReplayEngineInterval:
		return usageErrorf("--engine-interval %v: want at least %v", f.interval, minReplayEngineInterval)
	case f.maxBytes <= 0:
		return usageErrorf("--engine-max-bytes %d: want a positive number of bytes", f.maxBytes)
	}
	return nil
}

// recordEngines scrapes the targets into a Capture while the NVML recorder
// runs.
type recordEngines struct {
	scraper *engine.Scraper
	watcher *watch.Watcher
	capture *enginerec.Capture
	wg      sync.WaitGroup
}

// start begins scraping, or returns nil without targets or --engine-pods;
// lib maps the kubelet's index device IDs to UUIDs. full is called when the
// bodies reach recordEngineBudget (record then ends early).
func (f *recordEngineFlags) start(ctx context.Context, d *deps, lib *nvml.Library, full func()) (*recordEngines, error) {
	if len(f.parsed) == 0 && !f.pods.on {
		return nil, nil
	}
	var src *podSource
	var aw *attribution.Watcher
	if f.pods.on {
		var err error
		if src, aw, err = f.pods.source(d, lib); err != nil {
			return nil, err
		}
	}
	timeout := f.interval * 4 / 5
	s, err := engine.NewScraper(engine.Options{Timeout: timeout, MaxBytes: f.maxBytes})
	if err != nil {
		return nil, errors.Join(err, closeAttribution(aw))
	}
	c := enginerec.NewCapture(enginerec.CaptureOptions{Next: watch.HTTP(s), Targets: f.parsed, Interval: f.interval,
		MaxBytes: recordEngineBudget, OnFull: full, Now: d.now})
	cfg := watch.Config{Targets: f.parsed, Scraper: s, Fetcher: c, Interval: f.interval, Timeout: timeout, Now: d.now}
	if src != nil {
		cfg.Discover = c.Discover(src.discover(f.parsed))
	}
	w, err := watch.New(cfg)
	if err != nil {
		s.Close()
		return nil, errors.Join(err, closeAttribution(aw))
	}
	e := &recordEngines{scraper: s, watcher: w, capture: c}
	if src != nil {
		e.wg.Go(func() { _ = src.pods.Run(ctx) }) // retries with backoff until ctx ends
		e.wg.Go(func() { _ = aw.Run(ctx) })       // unavailable is an answer, not a failure
	}
	e.wg.Go(func() { _ = w.Run(ctx) })
	return e, nil
}

// source builds what record --engine-pods discovers the pods from: the
// node's pod watch and the kubelet's attribution (its watcher returned to
// be run), with the GPUs of lib for index device IDs.
func (p *podFlags) source(d *deps, lib *nvml.Library) (*podSource, *attribution.Watcher, error) {
	node, err := p.nodeName(d)
	if err != nil {
		return nil, nil, err
	}
	log := slog.New(slog.NewTextHandler(d.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	pw, err := podWatch(d, node, log.With("component", "pod-watch"))
	if err != nil {
		return nil, nil, err
	}
	aw, err := attribution.NewWatcher(attribution.Config{Socket: p.kubeletSocket, Now: d.now, Logger: log.With("component", "attribution")})
	if err != nil {
		return nil, nil, fmt.Errorf("--kubelet-socket: %w", err)
	}
	snap, err := librarySnapshot(lib)
	if err != nil {
		return nil, nil, errors.Join(err, aw.Close())
	}
	return &podSource{pods: pw, attr: aw, devices: func() *scaler.Snapshot { return snap }}, aw, nil
}

func closeAttribution(aw *attribution.Watcher) error {
	if aw == nil {
		return nil
	}
	return aw.Close()
}

// librarySnapshot lists lib's GPUs and MIG devices (index, UUID) as a
// snapshot, for agent.ResolveDeviceID; a GPU that does not open or has no
// UUID is left out (its index ID stays unresolved). It fails when NVML cannot
// count the GPUs: no index ID could be resolved.
func librarySnapshot(lib *nvml.Library) (*scaler.Snapshot, error) {
	snap := &scaler.Snapshot{}
	n, err := lib.DeviceCount()
	if err != nil {
		return nil, fmt.Errorf("--engine-pods: counting the GPUs to resolve the kubelet's device IDs: %w", err)
	}
	for i := range n {
		dev, err := lib.DeviceByIndex(i)
		if err != nil {
			continue
		}
		uuid, err := dev.UUID()
		if err != nil {
			continue
		}
		snap.GPUs = append(snap.GPUs, scaler.GPU{Device: scaler.Device{Index: i, UUID: uuid}})
		migs, _ := dev.MIGDevices()
		for k, m := range migs {
			if mu, err := m.UUID(); err == nil {
				snap.GPUs = append(snap.GPUs, scaler.GPU{Device: scaler.Device{Index: i, UUID: mu, MIGParentUUID: uuid, MIGIndex: k}})
			}
		}
	}
	return snap, nil
}

// finish waits for the scrapes to stop (ctx ended) and stores them in rec.
func (e *recordEngines) finish(rec *recording.Recording, stderr io.Writer) {
	if e == nil {
		return
	}
	e.wg.Wait()
	e.scraper.Close()
	if rec == nil {
		return
	}
	rec.Engines = e.capture.Section(rec.StartUnixNanos)
	if rec.Engines == nil {
		fmt.Fprintln(stderr, "recorded no engine scrapes: --engine-pods found no Ready pod holding a GPU on this node (nor was an --engine-target given)")
		return
	}
	fmt.Fprintf(stderr, "recorded %d engine scrapes of %d target(s), %.1f MiB of compressed bodies\n",
		len(rec.Engines.Scrapes), len(rec.Engines.Targets), float64(e.capture.Size())/(1<<20))
	if e.capture.Full() {
		fmt.Fprintf(stderr, "the engine bodies reached %d MiB compressed, the most a file --replay reads (%d MiB) holds beside the GPU samples: "+
			"the recording ended early (record less: a longer --engine-interval, fewer targets or a shorter --duration)\n",
			recordEngineBudget>>20, replay.MaxFileSize>>20)
	}
}
