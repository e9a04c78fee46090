// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"fmt"
	"time"
)

// DefaultWindow is the window for rates and latencies when a trigger sets none.
const DefaultWindow = 30 * time.Second

// History is one pod's recent successful readings, oldest first. A History is
// immutable: [History.Add] returns a new one, so the scraper can publish it
// while handlers read older ones without locks.
type History struct {
	readings []*Reading
}

// Add returns h with r appended and the readings older than keep before r
// dropped. It copies the (pointer) slice, never the readings; r must not be
// modified afterwards.
func (h History) Add(r *Reading, keep time.Duration) History {
	cut := r.Time.Add(-keep)
	start := 0
	for start < len(h.readings) && h.readings[start].Time.Before(cut) {
		start++
	}
	out := make([]*Reading, 0, len(h.readings)-start+1)
	out = append(out, h.readings[start:]...)
	return History{readings: append(out, r)}
}

// Len returns the number of readings held.
func (h History) Len() int { return len(h.readings) }

// Newest returns the newest reading, nil when there is none.
func (h History) Newest() *Reading {
	if len(h.readings) == 0 {
		return nil
	}
	return h.readings[len(h.readings)-1]
}

// Window is one pod's value of one metric over a window.
type Window struct {
	Metric Metric
	// Value is a gauge's newest value or a counter's rate (per second); for a
	// latency, the mean Sum/Count (0 when Count is 0).
	Value float64
	// Hist is a latency histogram's increase over the window; nil for
	// gauges, rates and latencies from counter pairs (Triton).
	Hist *Histogram
	// Sum and Count are a latency's increase in total seconds and in
	// observations over the window.
	Sum, Count float64
	// From and To are the times of the two readings the window spans (equal
	// for a gauge).
	From, To time.Time
}

// Window returns m over the last w (DefaultWindow when w is 0) ending at the
// newest reading. Gauges take the newest value. Counters and latencies need
// two readings within w with no restart between them: a counter that went
// down, a histogram whose buckets changed, or a reading where the metric was
// absent starts the series afresh (ErrWindow until a second reading follows).
// A latency with no observations in the window is ErrWindow, never 0.
func (h History) Window(m Metric, w time.Duration) (Window, error) {
	return h.WindowOf(m, "", w)
}

// WindowOf is Window for the series of one model ("" for all of them); a
// model the newest reading has no series of is ErrNoModel.
func (h History) WindowOf(m Metric, model string, w time.Duration) (Window, error) {
	if m >= NumMetrics {
		return Window{}, fmt.Errorf("metric %d: %w", m, ErrInvalid)
	}
	if w <= 0 {
		w = DefaultWindow
	}
	n := len(h.readings)
	if n == 0 {
		return Window{}, fmt.Errorf("%s: no reading yet: %w", m, ErrWindow)
	}
	newest := h.readings[n-1]
	s1 := newest.Sample(m, model)
	if !s1.OK() {
		return Window{}, s1.Err
	}
	if metricInfo[m].Kind == KindGauge {
		return Window{Metric: m, Value: s1.V, From: newest.Time, To: newest.Time}, nil
	}
	oldest := h.start(m, model, newest.Time.Add(-w))
	if oldest == n-1 {
		return Window{}, fmt.Errorf("%s: needs two readings within %v with no counter reset between them: %w", m, w, ErrWindow)
	}
	return windowBetween(m, h.readings[oldest].Sample(m, model), s1, h.readings[oldest].Time, newest.Time)
}

// start walks back from the newest reading to the oldest one at or after cut
// that the series reaches without a restart, and returns its index.
func (h History) start(m Metric, model string, cut time.Time) int {
	i := len(h.readings) - 1
	for i > 0 {
		prev, cur := h.readings[i-1], h.readings[i]
		if prev.Time.Before(cut) || restarted(prev.Sample(m, model), cur.Sample(m, model)) {
			break
		}
		i--
	}
	return i
}

// restarted reports whether the series cannot run from a to b.
func restarted(a, b *Sample) bool {
	if !a.OK() || !b.OK() {
		return true
	}
	if a.Hist != nil || b.Hist != nil {
		if a.Hist == nil || b.Hist == nil {
			return true
		}
		_, ok := b.Hist.since(a.Hist)
		return !ok
	}
	return b.V < a.V || b.Den < a.Den
}

func windowBetween(m Metric, a, b *Sample, t0, t1 time.Time) (Window, error) {
	win := Window{Metric: m, From: t0, To: t1}
	span := t1.Sub(t0).Seconds()
	if span <= 0 {
		return Window{}, fmt.Errorf("%s: readings %v apart: %w", m, t1.Sub(t0), ErrWindow)
	}
	if metricInfo[m].Kind == KindRate {
		win.Value = (b.V - a.V) / span
		return win, nil
	}
	if b.Hist != nil {
		d, _ := b.Hist.since(a.Hist) // start checked the layout
		win.Hist, win.Sum, win.Count = &d, d.Sum, d.Count
	} else {
		win.Sum, win.Count = b.V-a.V, b.Den-a.Den
	}
	if win.Count > 0 {
		win.Value = win.Sum / win.Count
	}
	return win, nil
}
