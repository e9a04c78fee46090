// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"fmt"
	"math"
)

// Aggregation says how [Combine] joins the windows of several pods.
type Aggregation uint8

// Aggregations.
const (
	// Sum: gauges and rates add up (the fleet's queue, its tokens/s); for
	// latencies, histograms are merged before the mean or quantile (the
	// fleet's true latency, not an average of averages).
	Sum Aggregation = iota
	// Avg: gauges and rates are averaged over pods; latencies as for Sum.
	Avg
	// Max: the worst pod's value (for latencies, each pod's own mean or
	// quantile).
	Max
)

// Combine joins one window per pod of the same metric into one value. For a
// latency, q > 0 asks for the q-quantile (0 < q ≤ 1, histograms only) and q ==
// 0 for the mean. It fails with ErrWindow when ws is empty or a latency saw no
// observations, and with ErrInvalid when histograms to merge have different
// buckets, a quantile is asked of counter pairs, or the result is not finite.
func Combine(ws []Window, agg Aggregation, q float64) (float64, error) {
	if len(ws) == 0 {
		return 0, fmt.Errorf("no pod has a value: %w", ErrWindow)
	}
	m := ws[0].Metric
	if metricInfo[m].Kind != KindLatency {
		return checked(fold(ws, agg, func(w *Window) (float64, error) { return w.Value, nil }))
	}
	if agg == Max {
		return checked(fold(ws, agg, func(w *Window) (float64, error) { return latency(w, q) }))
	}
	merged, err := mergeWindows(ws, q > 0)
	if err != nil {
		return 0, err
	}
	return checked(latency(&merged, q))
}

func fold(ws []Window, agg Aggregation, value func(*Window) (float64, error)) (float64, error) {
	acc := 0.0
	for i := range ws {
		v, err := value(&ws[i])
		if err != nil {
			return 0, err
		}
		switch {
		case agg == Max && (i == 0 || v > acc):
			acc = v
		case agg != Max:
			acc += v
		}
	}
	if agg == Avg {
		acc /= float64(len(ws))
	}
	return acc, nil
}

// latency returns w's mean (q == 0) or q-quantile.
func latency(w *Window, q float64) (float64, error) {
	if q == 0 {
		if w.Count <= 0 {
			return 0, fmt.Errorf("%s: no observations in the window: %w", w.Metric, ErrWindow)
		}
		return w.Sum / w.Count, nil
	}
	if w.Hist == nil {
		return 0, fmt.Errorf("%s: a quantile needs a histogram, this engine exports a sum and a count: %w", w.Metric, ErrInvalid)
	}
	return w.Hist.Quantile(q)
}

// mergeWindows adds the pods' latency increases; with needHist, their
// histograms too (which must share one bucket layout).
func mergeWindows(ws []Window, needHist bool) (Window, error) {
	out := Window{Metric: ws[0].Metric}
	for i := range ws {
		w := &ws[i]
		out.Sum += w.Sum
		out.Count += w.Count
		if !needHist {
			continue
		}
		if w.Hist == nil {
			return Window{}, fmt.Errorf("%s: a quantile needs a histogram, this engine exports a sum and a count: %w", w.Metric, ErrInvalid)
		}
		if out.Hist == nil {
			h := *w.Hist
			out.Hist = &h
			continue
		}
		h, ok := out.Hist.merged(w.Hist)
		if !ok {
			return Window{}, fmt.Errorf("%s: pods export different histogram buckets; use the mean (no quantile) or max: %w", w.Metric, ErrInvalid)
		}
		out.Hist = &h
	}
	return out, nil
}

func checked(v float64, err error) (float64, error) {
	if err != nil {
		return 0, err
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("result %v: %w", v, ErrInvalid)
	}
	return v, nil
}
