// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
	"github.com/nvml-scaler/nvml-scaler/recording"
	"github.com/nvml-scaler/nvml-scaler/recording/enginerec"
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
	parsed   []watch.Target
}

func (f *recordEngineFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.targets, "engine-target", nil,
		"also scrape an inference server's metrics endpoint, name=URL (repeatable), and store every body in the recording, "+
			"so that 'serve --replay' serves its engine metrics")
	fs.DurationVar(&f.interval, "engine-interval", time.Second, "time between scrapes of each --engine-target")
	fs.Int64Var(&f.maxBytes, "engine-max-bytes", engine.DefaultMaxBytes, "largest metrics body accepted, as sent and decompressed")
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

// start begins scraping, or returns nil without targets; full is called when
// the bodies reach recordEngineBudget (record then ends early).
func (f *recordEngineFlags) start(ctx context.Context, now func() time.Time, full func()) (*recordEngines, error) {
	if len(f.parsed) == 0 {
		return nil, nil
	}
	timeout := f.interval * 4 / 5
	s, err := engine.NewScraper(engine.Options{Timeout: timeout, MaxBytes: f.maxBytes})
	if err != nil {
		return nil, err
	}
	c := enginerec.NewCapture(enginerec.CaptureOptions{Next: watch.HTTP(s), Targets: f.parsed, Interval: f.interval,
		MaxBytes: recordEngineBudget, OnFull: full, Now: now})
	w, err := watch.New(watch.Config{Targets: f.parsed, Scraper: s, Fetcher: c, Interval: f.interval, Timeout: timeout, Now: now})
	if err != nil {
		s.Close()
		return nil, err
	}
	e := &recordEngines{scraper: s, watcher: w, capture: c}
	e.wg.Go(func() { _ = w.Run(ctx) })
	return e, nil
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
	fmt.Fprintf(stderr, "recorded %d engine scrapes of %d target(s), %.1f MiB of compressed bodies\n",
		len(rec.Engines.Scrapes), len(rec.Engines.Targets), float64(e.capture.Size())/(1<<20))
	if e.capture.Full() {
		fmt.Fprintf(stderr, "the engine bodies reached %d MiB compressed, the most a file --replay reads (%d MiB) holds beside the GPU samples: "+
			"the recording ended early (record less: a longer --engine-interval, fewer targets or a shorter --duration)\n",
			recordEngineBudget>>20, replay.MaxFileSize>>20)
	}
}
