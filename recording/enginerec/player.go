// SPDX-License-Identifier: Apache-2.0

package enginerec

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
	"github.com/nvml-scaler/nvml-scaler/recording"
)

// PlayerOptions configure a [Player].
type PlayerOptions struct {
	// Offset is the replay's position from the recording's start (the NVML
	// replay's Offset), so the engine bodies play in step with the GPUs;
	// required.
	Offset func() time.Duration
	// MaxBytes caps a body inflated; 0 means engine.DefaultMaxBytes.
	MaxBytes int64
	// MaxSeries caps the samples of a body; 0 means engine.DefaultMaxSeries.
	MaxSeries int
}

// Player is a [watch.Fetcher] answering, for a recorded target, the newest
// scrape recorded at or before the replay's position: its body, or its
// error. Safe for concurrent use; it keeps the bodies compressed.
type Player struct {
	o        PlayerOptions
	interval time.Duration
	targets  []watch.Target
	tracks   map[string]*track
}

// track is one target's scrapes in time order; body[i] is the scrape whose
// BodyGzip scrape i's body is (itself, or an earlier one for Same), -1 for a
// failed scrape.
type track struct {
	offsets []int64
	scrapes []*recording.EngineScrape
	body    []int
}

// NewPlayer checks sec (a valid section, see recording.Decode) by inflating
// and parsing every body, and returns a Player of it. An error names the
// scrape (index, target, offset) whose body is bad.
func NewPlayer(sec *recording.Engines, o PlayerOptions) (*Player, error) {
	if sec == nil || o.Offset == nil {
		return nil, errors.New("engine replay: no engines section or no offset")
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = engine.DefaultMaxBytes
	}
	if o.MaxSeries == 0 {
		o.MaxSeries = engine.DefaultMaxSeries
	}
	p := &Player{o: o, interval: time.Duration(sec.IntervalNanos), tracks: map[string]*track{}}
	for i, t := range sec.Targets {
		wt := watch.Target{Name: t.Name, Target: engine.Target{URL: t.URL}, Namespace: t.Namespace, GPUs: t.GPUs}
		if t.Engine != "" {
			prof, err := engine.ProfileFor(t.Engine)
			if err != nil {
				return nil, fmt.Errorf("engines.targets[%d] (%s): %w", i, t.Name, err)
			}
			wt.Profile = prof
		}
		p.targets = append(p.targets, wt)
		p.tracks[t.Name] = &track{}
	}
	for i := range sec.Scrapes {
		s := &sec.Scrapes[i]
		tr := p.tracks[s.Target]
		b := -1
		switch {
		case s.Same:
			b = tr.body[lastBody(tr)]
		case s.OK():
			b = len(tr.scrapes)
			if err := p.check(s); err != nil {
				return nil, fmt.Errorf("engines.scrapes[%d] (target %s at %v): %w", i, s.Target, time.Duration(s.OffsetNanos), err)
			}
		}
		tr.offsets, tr.scrapes, tr.body = append(tr.offsets, s.OffsetNanos), append(tr.scrapes, s), append(tr.body, b)
	}
	return p, nil
}

// lastBody is the newest scrape of tr with a body (validate guarantees one
// before a Same).
func lastBody(tr *track) int {
	for i := len(tr.body) - 1; i >= 0; i-- {
		if tr.body[i] >= 0 {
			return i
		}
	}
	return 0
}

func (p *Player) check(s *recording.EngineScrape) error {
	body, err := p.inflate(s.BodyGzip)
	if err != nil {
		return err
	}
	if _, err := engine.ParseKnown(body, s.ContentType, p.o.MaxSeries); err != nil {
		return fmt.Errorf("the recorded body does not parse: %w", err)
	}
	return nil
}

func (p *Player) inflate(gz []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("bodyGzip: %w", err)
	}
	defer zr.Close()
	body, err := io.ReadAll(io.LimitReader(zr, p.o.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("bodyGzip: %w", err)
	}
	if int64(len(body)) > p.o.MaxBytes {
		return nil, fmt.Errorf("bodyGzip inflates to over %d bytes: %w", p.o.MaxBytes, engine.ErrTooLarge)
	}
	return body, nil
}

// Targets returns the recorded targets, in the recording's order: operator
// targets (no namespace, no GPUs), as --engine-target gives, and pods
// (namespace/name, their namespace and GPUs, an engine an annotation
// forced), as --engine-pods finds them.
func (p *Player) Targets() []watch.Target { return p.targets }

// Interval is the interval the bodies were recorded at.
func (p *Player) Interval() time.Duration { return p.interval }

// Has reports whether name is a recorded target.
func (p *Player) Has(name string) bool { _, ok := p.tracks[name]; return ok }

// Fetch implements watch.Fetcher for a recorded target: the newest scrape at
// or before the replay's offset. A recorded failure comes back as an error
// classified as it was when recorded ("timeout", "too_large",
// "parse_error", otherwise engine.ErrScrape); before the target's first
// scrape it is an ErrScrape.
func (p *Player) Fetch(_ context.Context, name string, _ engine.Target) ([]byte, string, error) {
	tr, ok := p.tracks[name]
	if !ok {
		return nil, "", fmt.Errorf("engine target %s is not in the recording: %w", name, engine.ErrScrape)
	}
	off := p.o.Offset()
	i := sort.Search(len(tr.offsets), func(i int) bool { return tr.offsets[i] > off.Nanoseconds() }) - 1
	if i < 0 {
		return nil, "", fmt.Errorf("recorded %s: no scrape at or before %v of the recording: %w", name, off, engine.ErrScrape)
	}
	s := tr.scrapes[i]
	if !s.OK() {
		return nil, "", fmt.Errorf("recorded scrape of %s at %v failed: %s: %w", name, time.Duration(s.OffsetNanos), s.Error, kind(s.Result))
	}
	b := tr.scrapes[tr.body[i]]
	body, err := p.inflate(b.BodyGzip)
	if err != nil {
		return nil, "", fmt.Errorf("recorded %s at %v: %w", name, time.Duration(s.OffsetNanos), err)
	}
	return body, s.ContentType, nil
}

// kind maps a recorded result back onto the error watch.Result classifies
// the same way.
func kind(result string) error {
	switch result {
	case "timeout":
		return context.DeadlineExceeded
	case "too_large":
		return engine.ErrTooLarge
	case "parse_error":
		return engine.ErrParse
	case "unknown_engine":
		return engine.ErrUnknownEngine
	}
	return engine.ErrScrape
}
