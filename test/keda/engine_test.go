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
	ctx := context.Background()
	const every = 10 * time.Second // the agents' engine interval
	hist := make([]engine.History, len(f.nodes))
	set := func(ks ...float64) {
		for i, n := range f.nodes {
			hist[i] = hist[i].Add(ct.SGLangReading(t, f.clk.Now(), ks[i]), time.Hour)
			n.Engines.Set(&watch.View{Interval: every, Pods: []watch.Pod{{Name: "llm/vllm-" + n.Name, Namespace: "llm",
				GPUs: []string{f.held[i]}, Engine: engine.SGLang, History: hist[i]}}})
		}
		f.step(t)
	}
	set(1, 2)
	f.clk.Advance(every)
	set(3, 5)

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
		cfg := aggConfig(f.addr)
		cfg.MetricType = tc.typ
		cfg.TriggerMetadata = map[string]string{"scalerAddress": f.addr}
		for k, v := range tc.md {
			cfg.TriggerMetadata[k] = v
		}
		s, err := scalers.NewExternalScaler(cfg)
		require.NoError(t, err)
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
		assert.Equal(t, tc.name, specs[0].External.Metric.Name)
		vals, active, err := s.GetMetricsAndActivity(ctx, specs[0].External.Metric.Name)
		require.NoError(t, err)
		require.Len(t, vals, 1)
		assert.InDelta(t, tc.want, vals[0].Value.AsApproximateFloat64(), 0.001, tc.name)
		assert.True(t, active, "above activationTargetValue 0")
		require.NoError(t, s.Close(ctx))
	}
}
