// SPDX-License-Identifier: Apache-2.0

package keda

import (
	"context"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	v2 "k8s.io/api/autoscaling/v2"

	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
	ct "github.com/nvml-scaler/nvml-scaler/internal/clustertest"
)

// KEDA's own external scaler client gets engine metrics from the aggregator
// over two simulated nodes, each with one vllm pod whose agent streams its
// scrapes: requests_waiting summed over the pods and ttft_seconds' 0.9
// quantile of the merged histograms, equal to what the fixtures give.
func TestKEDAEngineMetricsAggregator(t *testing.T) {
	f := startAggregator(t)
	hist := twoScrapes(t, f, ct.SGLangReading)

	windows := func(m engine.Metric) []engine.Window {
		var ws []engine.Window
		for _, h := range hist {
			w, err := h.Window(m, engine.DefaultWindow)
			require.NoError(t, err)
			ws = append(ws, w)
		}
		return ws
	}
	wantWaiting, err := engine.Combine(windows(engine.RequestsWaiting), engine.Sum, 0)
	require.NoError(t, err)
	wantTTFT, err := engine.Combine(windows(engine.TTFT), engine.Sum, 0.9)
	require.NoError(t, err)
	require.Positive(t, wantWaiting)
	require.Positive(t, wantTTFT)

	for _, tc := range []struct {
		md   map[string]string
		want float64
		name string
		typ  v2.MetricTargetType
	}{
		{map[string]string{"metric": "requests_waiting", "targetValue": "5"}, wantWaiting, "s0-nvml-engine-requests-waiting-sum", v2.AverageValueMetricType},
		{map[string]string{"metric": "ttft_seconds", "targetValue": "0.5", "quantile": "0.9"}, wantTTFT, "s0-nvml-engine-ttft-seconds-sum-q0-9", v2.ValueMetricType},
	} {
		name, v := kedaEngineValue(t, f, tc.md, tc.typ)
		assert.Equal(t, tc.name, name)
		assert.InDelta(t, tc.want, v, 0.001, tc.name)
	}
}

// KEDA's client gets one model's requests_waiting from the aggregator: each
// node's pod serves the SGLang body's model and an adapter, and
// `model: adapter` sums the adapter's series alone, equal to the fixtures'.
func TestKEDAEngineModelAggregator(t *testing.T) {
	f := startAggregator(t)
	hist := twoScrapes(t, f, ct.SGLangTwoModelsReading)
	var ws []engine.Window
	for _, h := range hist {
		w, err := h.WindowOf(engine.RequestsWaiting, ct.SGLangAdapter, engine.DefaultWindow)
		require.NoError(t, err)
		ws = append(ws, w)
	}
	want, err := engine.Combine(ws, engine.Sum, 0)
	require.NoError(t, err)
	require.Equal(t, (3+5)*2*2826.0, want, "the adapter's queues: ×2 the body's")

	_, v := kedaEngineValue(t, f, map[string]string{"metric": "requests_waiting", "targetValue": "5", "model": ct.SGLangAdapter}, v2.AverageValueMetricType)
	assert.InDelta(t, want, v, 0.001)
}

// twoScrapes gives each node's agent one SGLang pod on its held GPU and
// streams two of its scrapes, 10 s apart (the agents' engine interval), read
// by read: the first at ×1 on node a and ×2 on node b, the second at ×3 and
// ×5; it returns each pod's history.
func twoScrapes(t *testing.T, f *aggFixture, read func(testing.TB, time.Time, float64) *engine.Reading) []engine.History {
	t.Helper()
	const every = 10 * time.Second
	hist := make([]engine.History, len(f.nodes))
	set := func(ks ...float64) {
		for i, n := range f.nodes {
			hist[i] = hist[i].Add(read(t, f.clk.Now(), ks[i]), time.Hour)
			n.Engines.Set(&watch.View{Interval: every, Pods: []watch.Pod{{Name: "llm/vllm-" + n.Name, Namespace: "llm",
				GPUs: []string{f.held[i]}, Engine: engine.SGLang, History: hist[i]}}})
		}
		f.step(t)
	}
	set(1, 2)
	f.clk.Advance(every)
	set(3, 5)
	return hist
}

// kedaEngineValue asks the aggregator for md through KEDA's external scaler
// client and returns the metric's name and value.
func kedaEngineValue(t *testing.T, f *aggFixture, md map[string]string, typ v2.MetricTargetType) (string, float64) {
	t.Helper()
	ctx := context.Background()
	cfg := aggConfig(f.addr)
	cfg.MetricType = typ
	cfg.TriggerMetadata = map[string]string{"scalerAddress": f.addr}
	for k, v := range md {
		cfg.TriggerMetadata[k] = v
	}
	s, err := scalers.NewExternalScaler(cfg)
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close(ctx)) }()
	var specs []v2.MetricSpec
	require.Eventually(t, func() bool {
		specs = s.GetMetricSpecForScaling(ctx)
		if len(specs) == 0 {
			return false
		}
		_, _, err := s.GetMetricsAndActivity(ctx, specs[0].External.Metric.Name)
		return err == nil
	}, 10*time.Second, 5*time.Millisecond, "the Kubernetes cache syncs")
	require.Len(t, specs, 1)
	name := specs[0].External.Metric.Name
	vals, active, err := s.GetMetricsAndActivity(ctx, name)
	require.NoError(t, err)
	require.Len(t, vals, 1)
	assert.True(t, active, "above activationTargetValue 0")
	return name, vals[0].Value.AsApproximateFloat64()
}
