// SPDX-License-Identifier: Apache-2.0

package aggregator_test

import (
	"context"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nvml-scaler/nvml-scaler/cluster/aggregator"
	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
	ct "github.com/nvml-scaler/nvml-scaler/internal/clustertest"
)

func enginePod(key, ns string, gpus []string, rs ...*engine.Reading) watch.Pod {
	var h engine.History
	for _, r := range rs {
		h = h.Add(r, time.Hour)
	}
	return watch.Pod{Name: key, Namespace: ns, GPUs: gpus, Engine: engine.SGLang, History: h}
}

func engineReq(so string, md map[string]string) *pb.GetMetricsRequest {
	return &pb.GetMetricsRequest{ScaledObjectRef: &pb.ScaledObjectRef{Name: so, Namespace: "llm", ScalerMetadata: md}}
}

// The aggregator serves engine metrics for exactly the scale target's pods
// across nodes, from the readings their agents stream: requests_waiting is
// the pods' sum, ttft_seconds' quantile merges the pods' histograms first;
// a target pod whose agent streams no reading fails (onMissing: fail) or is
// left out (skip).
func TestEngineMetricsAcrossNodes(t *testing.T) {
	t.Parallel()
	c := newCluster(t, aggregator.Config{})
	n1, n2 := c.nodes["n1"], c.nodes["n2"]
	const every = 10 * time.Second // the agents' engine interval: stale after 30 s
	t0 := c.clk.Now()
	a0 := ct.SGLangReading(t, t0, 1)
	n1.Engines.Set(&watch.View{Interval: every, Pods: []watch.Pod{
		enginePod("llm/vllm-1", "llm", []string{ct.GPUUUID("n1", 0), ct.GPUUUID("n1", 1)}, a0),
		enginePod("llm/triton-1", "llm", []string{ct.GPUUUID("n1", 2)}, ct.SGLangReading(t, t0, 100)), // not vllm-so's
	}})
	c.step()
	_, err := c.agg.GetMetrics(context.Background(), engineReq("vllm-so", map[string]string{"metric": "requests_waiting", "targetValue": "5"}))
	assert.Equal(t, codes.Unavailable, status.Code(err), "vllm-2's agent streams no reading yet: %v", err)
	assert.ErrorContains(t, err, "llm/vllm-2")

	c.clk.Advance(every)
	t1 := c.clk.Now()
	a1, b0 := ct.SGLangReading(t, t1, 3), ct.SGLangReading(t, t1, 2)
	n1.Engines.Set(&watch.View{Interval: every, Pods: []watch.Pod{
		enginePod("llm/vllm-1", "llm", []string{ct.GPUUUID("n1", 0), ct.GPUUUID("n1", 1)}, a0, a1)}})
	n2.Engines.Set(&watch.View{Interval: every, Pods: []watch.Pod{
		enginePod("llm/vllm-2", "llm", []string{ct.GPUUUID("n2", 3)}, b0)}})
	c.step()
	c.clk.Advance(every)
	b1 := ct.SGLangReading(t, c.clk.Now(), 5)
	n2.Engines.Set(&watch.View{Interval: every, Pods: []watch.Pod{
		enginePod("llm/vllm-2", "llm", []string{ct.GPUUUID("n2", 3)}, b0, b1)}})
	c.step()

	// Expected, from the fixtures alone.
	ha := engine.History{}.Add(a0, time.Hour).Add(a1, time.Hour)
	hb := engine.History{}.Add(b0, time.Hour).Add(b1, time.Hour)
	wa, err := ha.Window(engine.RequestsWaiting, 30*time.Second)
	require.NoError(t, err)
	wb, err := hb.Window(engine.RequestsWaiting, 30*time.Second)
	require.NoError(t, err)
	wantWaiting, err := engine.Combine([]engine.Window{wa, wb}, engine.Sum, 0)
	require.NoError(t, err)
	ta, err := ha.Window(engine.TTFT, 30*time.Second)
	require.NoError(t, err)
	tb, err := hb.Window(engine.TTFT, 30*time.Second)
	require.NoError(t, err)
	wantTTFT, err := engine.Combine([]engine.Window{ta, tb}, engine.Sum, 0.9)
	require.NoError(t, err)

	resp, err := c.agg.GetMetrics(context.Background(), engineReq("vllm-so", map[string]string{"metric": "requests_waiting", "targetValue": "5"}))
	require.NoError(t, err)
	assert.Equal(t, wantWaiting, resp.MetricValues[0].MetricValueFloat)
	require.Positive(t, a0.Samples[engine.RequestsWaiting].V, "the fixture has a queue")
	assert.Equal(t, wantWaiting, (3+5)*a0.Samples[engine.RequestsWaiting].V, "the newest readings' sum")
	resp, err = c.agg.GetMetrics(context.Background(), engineReq("vllm-so", map[string]string{"metric": "ttft_seconds", "targetValue": "1", "quantile": "0.9"}))
	require.NoError(t, err)
	assert.InDelta(t, wantTTFT, resp.MetricValues[0].MetricValueFloat, 1e-12)

	spec, err := c.agg.GetMetricSpec(context.Background(), engineReq("vllm-so", map[string]string{"metric": "ttft_seconds", "targetValue": "0.5", "quantile": "0.9"}).ScaledObjectRef)
	require.NoError(t, err)
	assert.Equal(t, "nvml-engine-ttft-seconds-sum-q0-9", spec.MetricSpecs[0].MetricName)
	assert.Equal(t, 0.5, spec.MetricSpecs[0].TargetSizeFloat)

	// A GPU selector narrows the pods: only vllm-2 holds n2's GPU 3.
	resp, err = c.agg.GetMetrics(context.Background(), engineReq("vllm-so", map[string]string{"metric": "requests_waiting", "targetValue": "5",
		"gpuUUIDs": ct.GPUUUID("n2", 3)}))
	require.NoError(t, err)
	assert.Equal(t, 5*a0.Samples[engine.RequestsWaiting].V, resp.MetricValues[0].MetricValueFloat)

	// vllm-2's scrape fails: onMissing decides.
	n2.Engines.Set(&watch.View{Interval: every, Pods: []watch.Pod{{Name: "llm/vllm-2", Namespace: "llm",
		GPUs: []string{ct.GPUUUID("n2", 3)}, Err: status.Error(codes.Unavailable, "llm/vllm-2: connection refused")}}})
	c.step()
	_, err = c.agg.GetMetrics(context.Background(), engineReq("vllm-so", map[string]string{"metric": "requests_waiting", "targetValue": "5"}))
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.ErrorContains(t, err, "connection refused")
	resp, err = c.agg.GetMetrics(context.Background(), engineReq("vllm-so", map[string]string{"metric": "requests_waiting", "targetValue": "5", "onMissing": "skip"}))
	require.NoError(t, err)
	assert.Equal(t, 3*a0.Samples[engine.RequestsWaiting].V, resp.MetricValues[0].MetricValueFloat, "vllm-1 alone")
}
