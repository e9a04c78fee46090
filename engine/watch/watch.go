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
	"slices"
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
	// Target is the endpoint; its URL is "" when Probe lists candidates.
	engine.Target
	// Namespace is a pod's namespace; "" for an operator-set --engine-target.
	Namespace string
	// GPUs are the UUIDs of the GPUs the kubelet allocated to the pod on this
	// node; nil for an operator-set --engine-target.
	GPUs []string
	// Probe lists declared ports to try, in order, when URL is "": the first
	// whose body a known engine profile recognises is kept while Epoch stays
	// the same; when none does, none is tried again before Epoch changes.
	Probe []engine.Target
	// Epoch identifies the pod's start (its status.startTime).
	Epoch string
	// Invalid, when set, says why the pod cannot be scraped (an annotation
	// naming a port it does not declare, no pod IP): it is absent with
	// that reason and nothing is requested.
	Invalid error
}

// Config configures a [Watcher].
type Config struct {
	// Targets to scrape; names must be unique and non-empty.
	Targets []Target
	// Discover, when set, replaces Targets: it is called before every round
	// of scrapes and returns the targets of that round (a pod's history is
	// kept while its name, URL and epoch stay the same). Targets whose name
	// repeats are dropped with a warning.
	Discover func() []Target
	// Scraper performs the requests (its timeout must be below Interval)
	// and parses every body, fetched by it or by Fetcher.
	Scraper *engine.Scraper
	// Fetcher, when set, gets the bodies instead of Scraper's requests: a
	// recorded-body player for `serve --replay`, a recorder wrapping
	// [HTTP]. nil means HTTP(Scraper).
	Fetcher Fetcher
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
		v.Pods[i] = newPod(t)
	}
	w.view.Store(v)
	return w, nil
}

// View returns the newest view; never nil.
func (w *Watcher) View() *View { return w.view.Load() }

// result is one finished scrape, sent back to the owner.
type result struct {
	name    string
	epoch   string
	chosen  *engine.Target // the probed candidate that answered; nil when not probed
	reading *engine.Reading
	err     error
}

// probed is what probing a pod's declared ports gave for one epoch.
type probed struct {
	epoch  string
	target engine.Target
	err    error
}

// owner is Run's state; only Run's goroutine touches it.
type owner struct {
	targets  []Target
	inFlight map[string]bool
	probes   map[string]probed
}

// Run scrapes every target each Interval until ctx ends, then waits for the
// scrapes in flight (cancelled with ctx) and returns nil. A target whose
// previous scrape has not finished is skipped for that tick.
func (w *Watcher) Run(ctx context.Context) error {
	results := make(chan result)
	sem := make(chan struct{}, w.cfg.Concurrency)
	o := &owner{targets: w.cfg.Targets, inFlight: map[string]bool{}, probes: map[string]probed{}}
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(w.cfg.Interval)
	defer tick.Stop()
	start := func() {
		w.discover(o)
		for _, t := range o.targets {
			if o.inFlight[t.Name] || t.Invalid != nil {
				continue
			}
			st, scrape := w.plan(o, t)
			if !scrape {
				continue
			}
			o.inFlight[t.Name] = true
			wg.Go(func() {
				r := w.scrape(ctx, sem, t, st)
				select {
				case results <- r:
				case <-ctx.Done():
				}
			})
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
			delete(o.inFlight, r.name)
			if r.chosen != nil || (r.err != nil && r.epoch != "") {
				p := probed{epoch: r.epoch, err: r.err}
				if r.chosen != nil {
					p.target, p.err = *r.chosen, nil
				}
				o.probes[r.name] = p
			}
			w.publish(r)
		}
	}
}

// plan says what to scrape for t: its own endpoint, the candidate a probe
// kept, or every candidate (a probe); scrape is false when a probe for this
// epoch already failed.
func (w *Watcher) plan(o *owner, t Target) (Target, bool) {
	if len(t.Probe) == 0 {
		return t, true
	}
	p, ok := o.probes[t.Name]
	switch {
	case !ok || p.epoch != t.Epoch:
		return t, true
	case p.err != nil:
		return t, false
	}
	t.Target, t.Probe = p.target, nil
	return t, true
}

// discover takes the round's targets from Discover and republishes the view
// when they changed: kept targets keep their state, new ones start absent.
func (w *Watcher) discover(o *owner) {
	if w.cfg.Discover == nil {
		return
	}
	var ts []Target
	seen := map[string]bool{}
	for _, t := range w.cfg.Discover() {
		if t.Name == "" || seen[t.Name] {
			w.cfg.Logger.Warn("engine target dropped: its name is empty or repeats", "target", t.Name)
			continue
		}
		seen[t.Name] = true
		ts = append(ts, t)
	}
	for name := range o.probes {
		if !seen[name] {
			delete(o.probes, name)
		}
	}
	o.targets = ts
	old := w.view.Load()
	prev := make(map[string]*Pod, len(old.Pods))
	for i := range old.Pods {
		prev[old.Pods[i].Name] = &old.Pods[i]
	}
	v := &View{Interval: old.Interval, Pods: make([]Pod, len(ts))}
	for i, t := range ts {
		if p, ok := prev[t.Name]; ok && p.same(&t) {
			v.Pods[i] = *p
			if t.Invalid == nil && p.Invalid {
				v.Pods[i].Err, v.Pods[i].Invalid = fmt.Errorf("%s: not scraped yet: %w", t.Name, ErrAbsent), false
			}
		} else {
			v.Pods[i] = newPod(t)
		}
		if t.Invalid != nil {
			v.Pods[i].Err, v.Pods[i].Invalid = fmt.Errorf("%s: %w: %w", t.Name, ErrAbsent, t.Invalid), true
		}
	}
	w.view.Store(v)
}

func newPod(t Target) Pod {
	return Pod{Name: t.Name, URL: t.URL, Namespace: t.Namespace, GPUs: t.GPUs, Epoch: t.Epoch,
		Err: fmt.Errorf("%s: not scraped yet: %w", t.Name, ErrAbsent)}
}

// same reports whether p's state belongs to t: same endpoint, pod start and
// GPUs.
func (p *Pod) same(t *Target) bool {
	return p.Epoch == t.Epoch && p.Namespace == t.Namespace && slices.Equal(p.GPUs, t.GPUs) &&
		(p.URL == t.URL || (t.URL == "" && len(t.Probe) > 0))
}

func (w *Watcher) scrape(ctx context.Context, sem chan struct{}, t Target, st Target) result {
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return result{name: t.Name, err: ctx.Err()}
	}
	defer func() { <-sem }()
	if len(st.Probe) == 0 {
		r, err := w.read(ctx, t.Name, st.Target)
		return result{name: t.Name, reading: r, err: err}
	}
	var why []error
	for _, c := range st.Probe {
		r, err := w.read(ctx, t.Name, c)
		if err == nil {
			return result{name: t.Name, epoch: t.Epoch, chosen: &c, reading: r}
		}
		if ctx.Err() != nil {
			return result{name: t.Name, err: err} // stopping: not a probe's answer
		}
		why = append(why, fmt.Errorf("%s: %w", c.URL, err))
	}
	return result{name: t.Name, epoch: t.Epoch,
		err: fmt.Errorf("no declared port serves a known engine's metrics (tried once for this pod start; annotate %s): %w",
			"nvml-scaler.io/metrics-port", errors.Join(why...))}
}

// read fetches target et of the target named name and maps the body, the
// reading stamped with the time the fetch started.
func (w *Watcher) read(ctx context.Context, name string, et engine.Target) (*engine.Reading, error) {
	now := w.cfg.Now()
	if w.cfg.Fetcher == nil {
		return w.cfg.Scraper.Read(ctx, et, now)
	}
	body, ct, err := w.cfg.Fetcher.Fetch(ctx, name, et)
	if err != nil {
		return nil, err
	}
	return w.cfg.Scraper.Map(body, ct, et, now)
}

// publish stores a new View with r applied: the owner's only write besides
// discover. A result for a target that is gone is dropped.
func (w *Watcher) publish(r result) {
	old := w.view.Load()
	i := slices.IndexFunc(old.Pods, func(p Pod) bool { return p.Name == r.name })
	if w.cfg.OnScrape != nil {
		w.cfg.OnScrape(Result(r.err))
	}
	if i < 0 {
		return
	}
	v := &View{Interval: old.Interval, Pods: make([]Pod, len(old.Pods))}
	copy(v.Pods, old.Pods)
	p := &v.Pods[i]
	if r.chosen != nil {
		p.URL = r.chosen.URL
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
