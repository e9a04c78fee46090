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
	return &Capture{o: o, last: map[string][]byte{}}
}

// Fetch implements watch.Fetcher: Next's answer, unchanged, after keeping it.
func (c *Capture) Fetch(ctx context.Context, name string, t engine.Target) ([]byte, string, error) {
	at := c.o.Now()
	body, ct, err := c.o.Next.Fetch(ctx, name, t)
	s := recording.EngineScrape{Target: name, ContentType: ct}
	if err == nil {
		_, err := engine.ParseKnown(body, ct, c.o.MaxSeries)
		if err != nil {
			s.Error, s.Result = err.Error(), watch.Result(err)
		}
	} else {
		s.Error, s.Result = err.Error(), watch.Result(err)
	}
	c.keep(at, s, body)
	return body, ct, err
}

func (c *Capture) keep(at time.Time, s recording.EngineScrape, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
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
// the order they started; nil when no target was given. Call it after the
// Watcher stopped.
func (c *Capture) Section(startUnixNanos int64) *recording.Engines {
	if len(c.o.Targets) == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := &recording.Engines{IntervalNanos: c.o.Interval.Nanoseconds()}
	for _, t := range c.o.Targets {
		e.Targets = append(e.Targets, recording.EngineTarget{Name: t.Name, URL: t.URL})
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
