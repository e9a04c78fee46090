// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"fmt"
	"math"
	"slices"
)

// Histogram is a cumulative Prometheus histogram in seconds: Counts[i] is the
// number of observations ≤ Bounds[i]. Bounds ascend and end with +Inf. A
// Histogram is a value: methods never modify their receiver or argument.
type Histogram struct {
	Bounds []float64
	Counts []float64
	Sum    float64
	Count  float64
}

// validate checks the shape: at least one bucket, ascending bounds ending in
// +Inf, finite non-negative counts that never decrease, a finite sum.
func (h *Histogram) validate() error {
	n := len(h.Bounds)
	if n == 0 || n != len(h.Counts) || !math.IsInf(h.Bounds[n-1], 1) {
		return fmt.Errorf("histogram needs buckets ending with le=\"+Inf\": %w", ErrInvalid)
	}
	if !finite(h.Sum) || !finite(h.Count) || h.Count < 0 {
		return fmt.Errorf("histogram sum %v, count %v: %w", h.Sum, h.Count, ErrInvalid)
	}
	for i, c := range h.Counts {
		if !finite(c) || c < 0 || (i > 0 && (c < h.Counts[i-1] || h.Bounds[i] <= h.Bounds[i-1])) {
			return fmt.Errorf("histogram bucket le=%v count %v out of order: %w", h.Bounds[i], c, ErrInvalid)
		}
	}
	return nil
}

// sameLayout reports whether h and o have the same bucket bounds.
func (h *Histogram) sameLayout(o *Histogram) bool { return slices.Equal(h.Bounds, o.Bounds) }

// merged returns h + o; ok is false when their bucket layouts differ.
func (h *Histogram) merged(o *Histogram) (Histogram, bool) {
	if !h.sameLayout(o) {
		return Histogram{}, false
	}
	m := Histogram{Bounds: h.Bounds, Counts: make([]float64, len(h.Counts)), Sum: h.Sum + o.Sum, Count: h.Count + o.Count}
	for i := range h.Counts {
		m.Counts[i] = h.Counts[i] + o.Counts[i]
	}
	return m, true
}

// since returns h − older, the observations made between the two scrapes; ok
// is false when the layout changed or any count went down (a restart).
func (h *Histogram) since(older *Histogram) (Histogram, bool) {
	if !h.sameLayout(older) || h.Count < older.Count {
		return Histogram{}, false
	}
	d := Histogram{Bounds: h.Bounds, Counts: make([]float64, len(h.Counts)), Sum: h.Sum - older.Sum, Count: h.Count - older.Count}
	for i := range h.Counts {
		if d.Counts[i] = h.Counts[i] - older.Counts[i]; d.Counts[i] < 0 {
			return Histogram{}, false
		}
	}
	return d, true
}

// Mean returns Sum/Count; ErrWindow when there were no observations.
func (h *Histogram) Mean() (float64, error) {
	if h.Count <= 0 {
		return 0, fmt.Errorf("no observations: %w", ErrWindow)
	}
	return h.Sum / h.Count, nil
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) by linear interpolation inside
// the bucket that holds it, as Prometheus's histogram_quantile does: the first
// bucket starts at 0 (when its bound is positive), and a rank in the +Inf
// bucket answers the highest finite bound. ErrWindow when there were no
// observations; ErrInvalid for q outside [0, 1].
func (h *Histogram) Quantile(q float64) (float64, error) {
	if !(q >= 0 && q <= 1) {
		return 0, fmt.Errorf("quantile %v outside [0, 1]: %w", q, ErrInvalid)
	}
	n := len(h.Counts)
	if n == 0 || h.Counts[n-1] <= 0 {
		return 0, fmt.Errorf("no observations: %w", ErrWindow)
	}
	rank := q * h.Counts[n-1]
	b, _ := slices.BinarySearch(h.Counts, rank) // the first bucket holding ≥ rank observations
	if b == n-1 {
		if n == 1 {
			return 0, fmt.Errorf("histogram has only the +Inf bucket: %w", ErrInvalid)
		}
		return h.Bounds[n-2], nil
	}
	if b == 0 && h.Bounds[0] <= 0 {
		return h.Bounds[0], nil
	}
	start, below := 0.0, 0.0
	if b > 0 {
		start, below = h.Bounds[b-1], h.Counts[b-1]
	}
	inBucket := h.Counts[b] - below
	if inBucket <= 0 {
		return h.Bounds[b], nil
	}
	return start + (h.Bounds[b]-start)*((rank-below)/inBucket), nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
