// SPDX-License-Identifier: Apache-2.0

// Package enginerec records inference engines' `/metrics` bodies into a
// recording's engines section ([recording.Engines]) and plays them back:
// [Capture] wraps the HTTP fetch of an [watch.Watcher] during `nvml-scaler
// record`, and [Player] is the Watcher's fetch under `serve --replay`, so
// recorded bodies go through the same parsing, profiles and windows as live
// ones. It joins engine/ and recording/, which know nothing of each other.
package enginerec

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
	"github.com/nvml-scaler/nvml-scaler/recording"
)

// CaptureOptions configure a [Capture].
type CaptureOptions struct {
	// Next performs the scrapes (watch.HTTP); required.
	Next watch.Fetcher
	// Targets are the endpoints recorded, listed in the section.
	Targets []watch.Target
	// Interval is the scrape interval, stored in the section (> 0).
	Interval time.Duration
	// MaxSeries caps the samples of a body, as the scraper's; 0 means
	// engine.DefaultMaxSeries.
	MaxSeries int
	// MaxBytes caps the compressed bodies kept (bytes, before base64); 0
	// means no cap. The scrape that would pass it is not kept, and OnFull
	// is called once.
	MaxBytes int64
	// OnFull, when set, is called (once) when MaxBytes is reached.
	OnFull func()
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Capture is a [watch.Fetcher] that passes scrapes through Next and keeps
// each one: the body, gzip-compressed, or Same when it repeats the target's
// previous body, or the error. A body that fails to parse is kept as a
// failed scrape (result "parse_error"), so that every body in a recording
// parses. Safe for concurrent use.
type Capture struct {
	o       CaptureOptions
	mu      sync.Mutex
	scrapes []stamped
	last    map[string][]byte
	size    int64
	full    bool
	// targets are the section's targets by name, in the order first seen
	// (order): Targets, then those Discover returned.
	targets map[string]*recording.EngineTarget
	order   []string
	// invalid is the reason last kept for a discovered target that cannot
	// be scraped.
	invalid map[string]string
}

type stamped struct {
	at time.Time
	s  recording.EngineScrape
}

// NewCapture returns a Capture; see CaptureOptions.
func NewCapture(o CaptureOptions) *Capture {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxSeries == 0 {
		o.MaxSeries = engine.DefaultMaxSeries
	}
	c := &Capture{o: o, last: map[string][]byte{}, targets: map[string]*recording.EngineTarget{}, invalid: map[string]string{}}
	for _, t := range o.Targets {
		c.note(t)
	}
	return c
}

// note adds t to the section's targets, or refreshes its namespace, GPUs
// and forced engine; c.mu held or c not shared yet.
func (c *Capture) note(t watch.Target) {
	et, ok := c.targets[t.Name]
	if !ok {
		et = &recording.EngineTarget{Name: t.Name, URL: t.URL}
		c.targets[t.Name] = et
		c.order = append(c.order, t.Name)
	}
	et.Namespace, et.GPUs = t.Namespace, slices.Clone(t.GPUs)
	if t.Profile != nil {
		et.Engine = string(t.Profile.Engine)
	}
}

// Discover wraps a Watcher's Discover (the pods of --engine-pods) so that
// every target it returns is listed in the section with its namespace and
// GPUs, and a pod that cannot be scraped (Invalid) is kept as a failed
// scrape with its reason, once per reason.
func (c *Capture) Discover(next func() []watch.Target) func() []watch.Target {
	return func() []watch.Target {
		ts := next()
		at := c.o.Now()
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, t := range ts {
			c.note(t)
			if t.Invalid == nil {
				delete(c.invalid, t.Name)
				continue
			}
			if why := t.Invalid.Error(); c.invalid[t.Name] != why {
				c.invalid[t.Name] = why
				c.keepLocked(at, recording.EngineScrape{Target: t.Name, Error: why, Result: watch.Result(t.Invalid)}, nil)
			}
		}
		return ts
	}
}

// Fetch implements watch.Fetcher: Next's answer, unchanged, after keeping it;
// a scrape that fails because ctx was canceled (the recording ending) is not
// kept.
func (c *Capture) Fetch(ctx context.Context, name string, t engine.Target) ([]byte, string, error) {
	at := c.o.Now()
	body, ct, err := c.o.Next.Fetch(ctx, name, t)
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		return body, ct, err // cut short by the recording's end: not the engine's answer
	}
	s := recording.EngineScrape{Target: name, ContentType: ct}
	if err == nil {
		_, err := engine.ParseKnown(body, ct, c.o.MaxSeries)
		if err != nil {
			s.Error, s.Result = err.Error(), watch.Result(err)
		}
	} else {
		s.Error, s.Result = err.Error(), watch.Result(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if et := c.targets[name]; et != nil && s.OK() {
		et.URL = t.URL // a pod's: the declared port that answered
		if t.Profile != nil {
			et.Engine = string(t.Profile.Engine)
		}
	}
	c.keepLocked(at, s, body)
	return body, ct, err
}

// keepLocked keeps one scrape; c.mu held.
func (c *Capture) keepLocked(at time.Time, s recording.EngineScrape, body []byte) {
	if c.full {
		return
	}
	if s.OK() {
		if prev, ok := c.last[s.Target]; ok && bytes.Equal(prev, body) {
			s.Same = true
		} else {
			s.BodyGzip = compress(body)
			c.last[s.Target] = bytes.Clone(body)
		}
	}
	if c.o.MaxBytes > 0 && c.size+int64(len(s.BodyGzip)) > c.o.MaxBytes {
		c.full = true
		if c.o.OnFull != nil {
			c.o.OnFull()
		}
		return
	}
	c.size += int64(len(s.BodyGzip))
	c.scrapes = append(c.scrapes, stamped{at: at, s: s})
}

func compress(body []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write(body) // a bytes.Buffer does not fail
	_ = zw.Close()
	return b.Bytes()
}

// Full reports whether MaxBytes was reached (later scrapes were dropped).
func (c *Capture) Full() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.full
}

// Section returns what was captured as a recording's engines section, offsets
// relative to startUnixNanos (the recording's StartUnixNanos), the scrapes in
// the order they started: the operator's targets, then the discovered ones
// in the order first seen; nil when there was no target. Call it after the
// Watcher stopped.
func (c *Capture) Section(startUnixNanos int64) *recording.Engines {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.order) == 0 {
		return nil
	}
	e := &recording.Engines{IntervalNanos: c.o.Interval.Nanoseconds()}
	for _, name := range c.order {
		e.Targets = append(e.Targets, *c.targets[name])
	}
	ss := slices.Clone(c.scrapes)
	// A target has one scrape in flight at a time, so sorting by start keeps
	// each target's order, which Same depends on.
	slices.SortStableFunc(ss, func(a, b stamped) int { return a.at.Compare(b.at) })
	for _, s := range ss {
		s.s.OffsetNanos = s.at.UnixNano() - startUnixNanos
		e.Scrapes = append(e.Scrapes, s.s)
	}
	return e
}

// Size is the compressed bytes kept so far (before base64).
func (c *Capture) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}
