// SPDX-License-Identifier: Apache-2.0

package engine_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/engine"
)

var t0 = time.Unix(1_700_000_000, 0)

// readAt maps body as one scrape at t0+sec seconds.
func readAt(t testing.TB, body []byte, sec int) *engine.Reading {
	t.Helper()
	fams := parse(t, body)
	p, err := engine.Detect(fams)
	require.NoError(t, err)
	r := p.Read(fams, "", t0.Add(time.Duration(sec)*time.Second))
	return &r
}

// history adds the scrapes in order, keeping 5 minutes.
func history(rs ...*engine.Reading) engine.History {
	var h engine.History
	for _, r := range rs {
		h = h.Add(r, 5*time.Minute)
	}
	return h
}

// The SGLang docs' TTFT histogram: 941 ≤ 7.5 s, 1330 ≤ 10 s, 2513 ≤ 30 s, 11008
// in all. Its 0.1-quantile is at rank 1100.8, inside (7.5, 10]:
// 7.5 + 2.5 × (1100.8 − 941) / (1330 − 941).
var sglangTTFTq10 = 7.5 + 2.5*(1100.8-941)/(1330-941)

func TestWindowRatesAndLatencies(t *testing.T) {
	t.Parallel()
	body := fixture(t, "sglang_docs.txt")
	// Two scrapes 20 s apart; the second has everything ×3, so the increase
	// is twice the first body's totals.
	h := history(readAt(t, body, 0), readAt(t, scaled(t, body, 3), 20))

	w, err := h.Window(engine.GenerationTokensPerSecond, 0)
	require.NoError(t, err)
	assert.InDelta(t, 2*7.557572e+06/20, w.Value, 1e-6)

	w, err = h.Window(engine.TTFT, 0)
	require.NoError(t, err)
	assert.InDelta(t, 2*11008, w.Count, 1e-9)
	mean, err := engine.Combine([]engine.Window{w}, engine.Sum, 0)
	require.NoError(t, err)
	assert.InDelta(t, 2.3518979474117756e+06/11008, mean, 1e-9)
	q, err := engine.Combine([]engine.Window{w}, engine.Sum, 0.1)
	require.NoError(t, err)
	assert.InDelta(t, sglangTTFTq10, q, 1e-9)
	q, err = engine.Combine([]engine.Window{w}, engine.Sum, 0.9)
	require.NoError(t, err)
	assert.Equal(t, 30.0, q, "a rank in the +Inf bucket answers the highest finite bound")

	w, err = h.Window(engine.RequestsWaiting, 0)
	require.NoError(t, err)
	assert.Equal(t, 3*2826.0, w.Value, "a gauge is the newest scrape")
}

func TestWindowNeedsTwoScrapes(t *testing.T) {
	t.Parallel()
	body := fixture(t, "sglang_docs.txt")
	_, err := history(readAt(t, body, 0)).Window(engine.TTFT, 0)
	require.ErrorIs(t, err, engine.ErrWindow)
	// The older scrape is outside a 10 s window.
	_, err = history(readAt(t, body, 0), readAt(t, scaled(t, body, 2), 20)).Window(engine.TTFT, 10*time.Second)
	require.ErrorIs(t, err, engine.ErrWindow)
	_, err = engine.History{}.Window(engine.RequestsWaiting, 0)
	require.ErrorIs(t, err, engine.ErrWindow)
}

func TestCounterResetRestartsTheSeries(t *testing.T) {
	t.Parallel()
	body := fixture(t, "sglang_docs.txt")
	// ×4 then ×1 (the server restarted: counters went down) then ×2.
	h := history(readAt(t, scaled(t, body, 4), 0), readAt(t, body, 10))
	_, err := h.Window(engine.GenerationTokensPerSecond, 0)
	require.ErrorIs(t, err, engine.ErrWindow, "a reset leaves one usable scrape")
	h = h.Add(readAt(t, scaled(t, body, 2), 20), 5*time.Minute)
	w, err := h.Window(engine.GenerationTokensPerSecond, 0)
	require.NoError(t, err)
	assert.InDelta(t, 7.557572e+06/10, w.Value, 1e-6, "the window starts at the reset")
	assert.Equal(t, t0.Add(10*time.Second), w.From)
}

func TestChangedBucketsRestartTheSeries(t *testing.T) {
	t.Parallel()
	body := fixture(t, "vllm_datadog.txt")
	// A vLLM upgrade changed the TTFT buckets: drop one bucket from the later scrape.
	fams := parse(t, scaled(t, body, 2))
	ttft := fams["vllm:time_to_first_token_seconds"].Metric[0].Histogram
	ttft.Bucket = ttft.Bucket[1:]
	h := history(readAt(t, body, 0), readAt(t, encode(t, fams), 10))
	_, err := h.Window(engine.TTFT, 0)
	require.ErrorIs(t, err, engine.ErrWindow)
	_, err = h.Window(engine.ITL, 0)
	require.NoError(t, err, "other histograms keep their window")
}

func TestNoObservationsIsAbsentNotZero(t *testing.T) {
	t.Parallel()
	body := fixture(t, "vllm_datadog.txt")
	h := history(readAt(t, body, 0), readAt(t, body, 10)) // nothing happened
	w, err := h.Window(engine.TTFT, 0)
	require.NoError(t, err)
	_, err = engine.Combine([]engine.Window{w}, engine.Sum, 0)
	require.ErrorIs(t, err, engine.ErrWindow)
	_, err = engine.Combine([]engine.Window{w}, engine.Sum, 0.9)
	require.ErrorIs(t, err, engine.ErrWindow)
	w, err = h.Window(engine.RequestsPerSecond, 0)
	require.NoError(t, err)
	assert.Equal(t, 0.0, w.Value, "a rate of 0 is a real 0")
}

func TestCombineAcrossPods(t *testing.T) {
	t.Parallel()
	body := fixture(t, "sglang_docs.txt")
	podA := history(readAt(t, body, 0), readAt(t, scaled(t, body, 2), 10)) // +1× in 10 s
	podB := history(readAt(t, body, 0), readAt(t, scaled(t, body, 4), 10)) // +3×
	win := func(h engine.History, m engine.Metric) engine.Window {
		w, err := h.Window(m, 0)
		require.NoError(t, err)
		return w
	}
	waiting := []engine.Window{win(podA, engine.RequestsWaiting), win(podB, engine.RequestsWaiting)}
	for _, tt := range []struct {
		agg  engine.Aggregation
		want float64
	}{{engine.Sum, 6 * 2826}, {engine.Avg, 3 * 2826}, {engine.Max, 4 * 2826}} {
		v, err := engine.Combine(waiting, tt.agg, 0)
		require.NoError(t, err)
		assert.InDelta(t, tt.want, v, 1e-9)
	}
	ttft := []engine.Window{win(podA, engine.TTFT), win(podB, engine.TTFT)}
	v, err := engine.Combine(ttft, engine.Sum, 0.1)
	require.NoError(t, err)
	assert.InDelta(t, sglangTTFTq10, v, 1e-9, "merged histograms: the same shape, 4× the count")
	v, err = engine.Combine(ttft, engine.Avg, 0)
	require.NoError(t, err)
	assert.InDelta(t, 2.3518979474117756e+06/11008, v, 1e-9)
	_, err = engine.Combine(nil, engine.Sum, 0)
	require.ErrorIs(t, err, engine.ErrWindow)
}

func TestQuantileOfCounterPairIsInvalid(t *testing.T) {
	t.Parallel()
	w := engine.Window{Metric: engine.QueueTime, Sum: 2, Count: 4, Value: 0.5}
	v, err := engine.Combine([]engine.Window{w}, engine.Sum, 0)
	require.NoError(t, err)
	assert.Equal(t, 0.5, v)
	_, err = engine.Combine([]engine.Window{w}, engine.Sum, 0.9)
	require.ErrorIs(t, err, engine.ErrInvalid)
}

func TestHistogramQuantile(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	h := engine.Histogram{Bounds: []float64{0.1, 0.5, 1, inf}, Counts: []float64{10, 30, 40, 40}, Sum: 12, Count: 40}
	tests := []struct {
		q, want float64
	}{
		{0, 0},
		{0.25, 0.1},                // rank 10: the top of the first bucket
		{0.5, 0.1 + 0.4*(10/20.0)}, // rank 20: halfway through (0.1, 0.5]
		{1, 1},                     // rank 40: the top of (0.5, 1]
	}
	for _, tt := range tests {
		got, err := h.Quantile(tt.q)
		require.NoError(t, err)
		assert.InDelta(t, tt.want, got, 1e-12, "q=%v", tt.q)
	}
	_, err := h.Quantile(1.5)
	require.ErrorIs(t, err, engine.ErrInvalid)
	_, err = h.Quantile(nan)
	require.ErrorIs(t, err, engine.ErrInvalid)
}
