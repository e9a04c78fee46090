// SPDX-License-Identifier: Apache-2.0

// Package watch scrapes a set of inference-engine endpoints every interval
// and publishes, after each scrape, an immutable [View] of every target's
// recent readings. One goroutine ([Watcher.Run]) owns the targets and their
// histories; scrapes run beside it, a bounded number at a time, and report
// back to it, so a slow pod never delays the others' results. Readers load the
// newest View without locks.
package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nvml-scaler/nvml-scaler/engine"
)

// DefaultConcurrency bounds the scrapes in flight.
const DefaultConcurrency = 8

// StaleAfter is how many intervals a target's newest reading may age before
// the target counts as absent.
const StaleAfter = 3

// Target is one endpoint to watch.
type Target struct {
	// Name identifies it in views, errors and `probe` (a pod's
	// namespace/name, or the operator's name from --engine-target).
	Name string
	engine.Target
}

// Config configures a [Watcher].
type Config struct {
	// Targets to scrape; names must be unique and non-empty.
	Targets []Target
	// Scraper performs the requests (its timeout must be below Interval).
	Scraper *engine.Scraper
	// Interval between scrapes of a target (> 0).
	Interval time.Duration
	// Timeout is the Scraper's timeout, checked against Interval.
	Timeout time.Duration
	// Keep is how much history each target keeps (at least the longest
	// window a trigger may ask for); 0 means 10 minutes.
	Keep time.Duration
	// Concurrency bounds the scrapes in flight; 0 means DefaultConcurrency.
	Concurrency int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnScrape, when set, is called after every scrape with its result: "ok",
	// "timeout", "error", "too_large", "parse_error", "unknown_engine".
	OnScrape func(result string)
	// Logger receives scrape failures (once per change of a target's error);
	// nil discards.
	Logger *slog.Logger
}

// Watcher scrapes its targets; create it with [New], run it with Run.
type Watcher struct {
	cfg  Config
	view atomic.Pointer[View]
}

// New checks cfg and returns a Watcher whose View lists every target with no
// reading yet.
func New(cfg Config) (*Watcher, error) {
	if cfg.Scraper == nil {
		return nil, errors.New("engine watch: no scraper")
	}
	if err := engine.CheckTiming(cfg.Interval, cfg.Timeout); err != nil {
		return nil, fmt.Errorf("engine watch: %w", err)
	}
	seen := map[string]bool{}
	for _, t := range cfg.Targets {
		if t.Name == "" || seen[t.Name] {
			return nil, fmt.Errorf("engine watch: target name %q: want a unique, non-empty name", t.Name)
		}
		seen[t.Name] = true
	}
	if cfg.Keep <= 0 {
		cfg.Keep = 10 * time.Minute
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{cfg: cfg}
	v := &View{Interval: cfg.Interval, Pods: make([]Pod, len(cfg.Targets))}
	for i, t := range cfg.Targets {
		v.Pods[i] = Pod{Name: t.Name, URL: t.URL, Err: fmt.Errorf("%s: not scraped yet: %w", t.Name, ErrAbsent)}
	}
	w.view.Store(v)
	return w, nil
}

// View returns the newest view; never nil.
func (w *Watcher) View() *View { return w.view.Load() }

// result is one finished scrape, sent back to the owner.
type result struct {
	i       int
	reading *engine.Reading
	err     error
}

// Run scrapes every target each Interval until ctx ends, then waits for the
// scrapes in flight (cancelled with ctx) and returns nil. A target whose
// previous scrape has not finished is skipped for that tick.
func (w *Watcher) Run(ctx context.Context) error {
	results := make(chan result, len(w.cfg.Targets))
	sem := make(chan struct{}, w.cfg.Concurrency)
	inFlight := make([]bool, len(w.cfg.Targets))
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(w.cfg.Interval)
	defer tick.Stop()
	start := func() {
		for i := range w.cfg.Targets {
			if !inFlight[i] {
				inFlight[i] = true
				wg.Go(func() { results <- w.scrape(ctx, sem, i) })
			}
		}
	}
	start()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			start()
		case r := <-results:
			inFlight[r.i] = false
			w.publish(r)
		}
	}
}

func (w *Watcher) scrape(ctx context.Context, sem chan struct{}, i int) result {
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return result{i: i, err: ctx.Err()}
	}
	defer func() { <-sem }()
	t := w.cfg.Targets[i]
	r, err := w.cfg.Scraper.Read(ctx, t.Target, w.cfg.Now())
	return result{i: i, reading: r, err: err}
}

// publish stores a new View with r applied: the owner's only write.
func (w *Watcher) publish(r result) {
	old := w.view.Load()
	v := &View{Interval: old.Interval, Pods: make([]Pod, len(old.Pods))}
	copy(v.Pods, old.Pods)
	p := &v.Pods[r.i]
	if w.cfg.OnScrape != nil {
		w.cfg.OnScrape(Result(r.err))
	}
	if r.err != nil {
		if p.Err == nil || p.Err.Error() != r.err.Error() {
			w.cfg.Logger.Warn("engine scrape failed", "target", p.Name, "err", r.err)
		}
		p.Err = fmt.Errorf("%s: %w: %w", p.Name, ErrAbsent, r.err)
		w.view.Store(v)
		return
	}
	p.Err = nil
	p.Engine = r.reading.Engine
	p.History = p.History.Add(r.reading, w.cfg.Keep)
	w.view.Store(v)
}

// Result classifies a scrape error for metrics: "ok", "timeout", "too_large",
// "parse_error", "unknown_engine" or "error".
func Result(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return "timeout"
	case errors.Is(err, engine.ErrTooLarge):
		return "too_large"
	case errors.Is(err, engine.ErrParse):
		return "parse_error"
	case errors.Is(err, engine.ErrUnknownEngine):
		return "unknown_engine"
	}
	return "error"
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
