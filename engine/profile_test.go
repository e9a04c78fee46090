// SPDX-License-Identifier: Apache-2.0

package engine_test

import (
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/internal/clustertest"
)

// want is one metric's expected sample in a fixture: a gauge's or counter's
// value, or a histogram's count and sum; absent when err is set.
type want struct {
	v, count, sum float64
	err           error
}

// The expected numbers are read off the fixture files by hand.
func TestReadFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file   string
		engine engine.Engine
		want   map[engine.Metric]want
	}{
		{"vllm_datadog.txt", engine.VLLM, map[engine.Metric]want{
			engine.RequestsWaiting:           {v: 0},
			engine.RequestsRunning:           {v: 0},
			engine.KVCacheUsage:              {v: 0},
			engine.TTFT:                      {count: 1, sum: 0.31326723098754883},
			engine.ITL:                       {count: 144, sum: 0.6237391703762114},
			engine.QueueTime:                 {count: 6, sum: 7.358146831393242e-05},
			engine.E2ELatency:                {count: 1, sum: 0.5034303665161133},
			engine.GenerationTokensPerSecond: {v: 7},
			engine.RequestsPerSecond:         {v: 1},
		}},
		{"sglang_docs.txt", engine.SGLang, map[engine.Metric]want{
			engine.RequestsWaiting:           {v: 2826},
			engine.RequestsRunning:           {v: 162},
			engine.KVCacheUsage:              {v: 28},
			engine.TTFT:                      {count: 11008, sum: 2.3518979474117756e+06},
			engine.ITL:                       {count: 7.400757e+06, sum: 866964.5791549598}, // the older time_per_output_token name
			engine.QueueTime:                 {err: engine.ErrNotExported},                  // not in this (older) body
			engine.E2ELatency:                {count: 11228, sum: 3.116093850019932e+06},
			engine.GenerationTokensPerSecond: {v: 7.557572e+06},
			engine.RequestsPerSecond:         {err: engine.ErrNotExported},
		}},
		{"nim_datadog.txt", engine.NIM, map[engine.Metric]want{
			engine.RequestsWaiting:           {v: 0},
			engine.RequestsRunning:           {v: 1},
			engine.KVCacheUsage:              {v: 0.02848191398461977},
			engine.TTFT:                      {count: 5, sum: 0.6119842529296875},
			engine.ITL:                       {count: 169, sum: 1.856855869293213},
			engine.QueueTime:                 {err: engine.ErrNotExported},
			engine.E2ELatency:                {count: 5, sum: 2.4688401222229004},
			engine.GenerationTokensPerSecond: {v: 174},
			engine.RequestsPerSecond:         {v: 5},
		}},
		{"tgi_datadog.txt", engine.TGI, map[engine.Metric]want{
			engine.RequestsWaiting:           {v: 0},
			engine.RequestsRunning:           {v: 0},
			engine.KVCacheUsage:              {err: engine.ErrNotExported},
			engine.TTFT:                      {err: engine.ErrNotExported},
			engine.ITL:                       {count: 109, sum: 8.643160945}, // mean time per token, per request
			engine.QueueTime:                 {count: 109, sum: 295.275961956},
			engine.E2ELatency:                {count: 109, sum: 541.2140316159999},
			engine.GenerationTokensPerSecond: {err: engine.ErrNotExported},
			engine.RequestsPerSecond:         {v: 109},
		}},
		{"triton_trtllm_readme.txt", engine.Triton, map[engine.Metric]want{
			engine.RequestsWaiting:           {v: 0},
			engine.RequestsRunning:           {v: 0},                       // request_type="active"
			engine.KVCacheUsage:              {v: 100.0 / 6239},            // used 1 of max 6239 blocks
			engine.TTFT:                      {err: engine.ErrNotExported}, // the opt-in histogram is off
			engine.ITL:                       {err: engine.ErrNotExported},
			engine.QueueTime:                 {count: 0, sum: 0}, // cumulative µs and requests, both 0
			engine.E2ELatency:                {count: 0, sum: 0},
			engine.GenerationTokensPerSecond: {err: engine.ErrNotExported},
			engine.RequestsPerSecond:         {v: 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			fams := parse(t, fixture(t, tt.file))
			p, err := engine.Detect(fams)
			require.NoError(t, err)
			require.Equal(t, tt.engine, p.Engine)
			r := p.Read(fams, "", time.Unix(100, 0))
			require.Len(t, tt.want, int(engine.NumMetrics))
			for m, w := range tt.want {
				s := r.Samples[m]
				if w.err != nil {
					require.ErrorIs(t, s.Err, w.err, m.String())
					assert.Contains(t, s.Err.Error(), string(tt.engine), "the error names the engine")
					continue
				}
				require.NoError(t, s.Err, m.String())
				switch {
				case s.Hist != nil:
					assert.InDelta(t, w.count, s.Hist.Count, 1e-9, m.String())
					assert.InDelta(t, w.sum, s.Hist.Sum, 1e-9, m.String())
				case m.Info().Kind == engine.KindLatency: // Triton's counter pair
					assert.InDelta(t, w.sum, s.V, 1e-9, m.String())
					assert.InDelta(t, w.count, s.Den, 1e-9, m.String())
				default:
					assert.InDelta(t, w.v, s.V, 1e-9, m.String())
				}
			}
		})
	}
}

func TestNotExportedByEngine(t *testing.T) {
	t.Parallel()
	tgi, err := engine.ProfileFor("tgi")
	require.NoError(t, err)
	r := tgi.Read(engine.Families{}, "", time.Time{})
	for _, m := range []engine.Metric{engine.TTFT, engine.KVCacheUsage, engine.GenerationTokensPerSecond} {
		assert.False(t, tgi.Exports(m))
		require.ErrorIs(t, r.Samples[m].Err, engine.ErrNotExported)
		assert.Contains(t, r.Samples[m].Err.Error(), "tgi does not export")
	}
	_, err = engine.ProfileFor("llama.cpp")
	require.ErrorIs(t, err, engine.ErrUnknownEngine)
}

func TestRenamedKVCacheFamily(t *testing.T) {
	t.Parallel()
	body := fixture(t, "vllm_datadog.txt")
	vllm, err := engine.ProfileFor("vllm")
	require.NoError(t, err)
	kv := func(b []byte) engine.Sample {
		return vllm.Read(parse(t, b), "", time.Time{}).Samples[engine.KVCacheUsage]
	}
	// Older vLLM: only gpu_cache_usage_perc.
	old := withGauge(t, without(t, body, "vllm:kv_cache_usage_perc"), "vllm:gpu_cache_usage_perc", 0.5)
	s := kv(old)
	require.NoError(t, s.Err)
	assert.InDelta(t, 50, s.V, 1e-9)
	// Both names (vLLM 0.9–0.10): the current one wins.
	both := withGauge(t, withGauge(t, body, "vllm:gpu_cache_usage_perc", 0.5), "vllm:kv_cache_usage_perc", 0.25)
	s = kv(both)
	require.NoError(t, s.Err)
	assert.InDelta(t, 25, s.V, 1e-9)
	// Neither: absent, never 0.
	s = kv(without(t, body, "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"))
	require.ErrorIs(t, s.Err, engine.ErrNotExported)
}

func TestDataParallelEnginesOfOnePod(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		m    engine.Metric
		want float64 // for histograms, the count
	}{
		{"vllm_datadog.txt", engine.TTFT, 1 + 2},                       // merged: engine 0 has 1, engine 1 has 2
		{"vllm_datadog.txt", engine.GenerationTokensPerSecond, 7 + 14}, // counters summed
		{"sglang_docs.txt", engine.RequestsWaiting, 2826 + 2*2826},     // gauges summed
		{"sglang_docs.txt", engine.KVCacheUsage, (28 + 56) / 2.0},      // a percentage is averaged
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.m.String(), func(t *testing.T) {
			t.Parallel()
			fams := parse(t, engines(t, fixture(t, tt.file), 2))
			p, err := engine.Detect(fams)
			require.NoError(t, err)
			s := p.Read(fams, "", time.Time{}).Samples[tt.m]
			require.NoError(t, s.Err)
			if s.Hist != nil {
				assert.InDelta(t, tt.want, s.Hist.Count, 1e-9)
				return
			}
			assert.InDelta(t, tt.want, s.V, 1e-9)
		})
	}
}

func TestModelFilter(t *testing.T) {
	t.Parallel()
	fams := parse(t, fixture(t, "sglang_docs.txt"))
	p, err := engine.Detect(fams)
	require.NoError(t, err)
	r := p.Read(fams, "meta-llama/Llama-3.1-8B-Instruct", time.Time{})
	require.NoError(t, r.Samples[engine.RequestsWaiting].Err)
	assert.Equal(t, 2826.0, r.Samples[engine.RequestsWaiting].V)
	r = p.Read(fams, "other-model", time.Time{})
	require.ErrorIs(t, r.Samples[engine.RequestsWaiting].Err, engine.ErrNoModel)
	tgi, err := engine.ProfileFor("tgi")
	require.NoError(t, err)
	require.ErrorIs(t, tgi.Read(fams, "m", time.Time{}).Samples[engine.RequestsWaiting].Err, engine.ErrNoModel)
}

func TestNaNIsInvalidNeverANumber(t *testing.T) {
	t.Parallel()
	body := withGauge(t, fixture(t, "sglang_docs.txt"), "sglang:num_queue_reqs", nan)
	fams := parse(t, body)
	p, err := engine.Detect(fams)
	require.NoError(t, err)
	r := p.Read(fams, "", time.Time{})
	require.ErrorIs(t, r.Samples[engine.RequestsWaiting].Err, engine.ErrInvalid)
	assert.Contains(t, r.Samples[engine.RequestsWaiting].Err.Error(), "sglang:num_queue_reqs")
	require.NoError(t, r.Samples[engine.RequestsRunning].Err, "the other metrics stay")
}

func TestDetect(t *testing.T) {
	t.Parallel()
	_, err := engine.Detect(parse(t, []byte("process_open_fds 49\n")))
	require.ErrorIs(t, err, engine.ErrUnknownEngine)
}

// twoModels returns body with its series copied under a second model_name
// ("adapter", values ×2), as vLLM reports a LoRA adapter beside its base model.
func twoModels(t *testing.T, body []byte) []byte {
	t.Helper()
	fams := parse(t, body)
	for _, f := range fams {
		n := len(f.Metric)
		for _, m := range f.Metric[:n] {
			c := proto.Clone(m).(*dto.Metric)
			for _, lp := range c.Label {
				if lp.GetName() == "model_name" {
					lp.Value = proto.String("adapter")
				}
			}
			clustertest.ScaleMetric(c, 2)
			f.Metric = append(f.Metric, c)
		}
	}
	return encode(t, fams)
}

func TestReadingByModel(t *testing.T) {
	t.Parallel()
	const base = "meta-llama/Llama-3.1-8B-Instruct"
	body := fixture(t, "sglang_docs.txt")
	one := readAt(t, body, 0)
	assert.Nil(t, one.ByModel)
	assert.Equal(t, base, one.OnlyModel)
	assert.Same(t, &one.Samples[engine.TTFT], one.Sample(engine.TTFT, base), "one model: the totals are its own")
	require.ErrorIs(t, one.Sample(engine.TTFT, "other").Err, engine.ErrNoModel)

	r := readAt(t, twoModels(t, body), 0)
	assert.Equal(t, 3*2826.0, r.Sample(engine.RequestsWaiting, "").V)
	assert.Equal(t, 2826.0, r.Sample(engine.RequestsWaiting, base).V)
	assert.Equal(t, 2*2826.0, r.Sample(engine.RequestsWaiting, "adapter").V)
	require.ErrorIs(t, r.Sample(engine.RequestsWaiting, "other").Err, engine.ErrNoModel)

	h := history(r, readAt(t, scaled(t, twoModels(t, body), 2), 10))
	w, err := h.WindowOf(engine.GenerationTokensPerSecond, "adapter", 0)
	require.NoError(t, err)
	assert.InDelta(t, 2*7.557572e+06/10, w.Value, 1e-6)
	_, err = h.WindowOf(engine.TTFT, "other", 0)
	require.ErrorIs(t, err, engine.ErrNoModel)
}
