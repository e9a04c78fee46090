// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
	"github.com/nvml-scaler/nvml-scaler/proto/nodev1"
)

// reading maps a real engine body (engine/testdata/engines) at t.
func reading(t *testing.T, file string, at time.Time) *engine.Reading {
	t.Helper()
	b, err := os.ReadFile("../../engine/testdata/engines/" + file)
	require.NoError(t, err)
	s, err := engine.NewScraper(engine.Options{Timeout: time.Second})
	require.NoError(t, err)
	defer s.Close()
	r, err := s.Map(b, "", engine.Target{}, at)
	require.NoError(t, err)
	return r
}

// The engine pods travel in the node-snapshot stream: each pod's newest
// reading, histograms included, decodes to the samples the agent read;
// a pod without a usable reading travels with its reason; operator-set
// --engine-target endpoints stay on the node.
func TestEnginePodsRoundTrip(t *testing.T) {
	t.Parallel()
	now := time.Unix(100, 0)
	vllm := reading(t, "vllm_datadog.txt", now.Add(-time.Second))
	view := &watch.View{Interval: time.Second, Pods: []watch.Pod{
		{Name: "llm/vllm-0", Namespace: "llm", GPUs: []string{"GPU-a"}, Engine: engine.VLLM,
			History: engine.History{}.Add(vllm, time.Minute)},
		{Name: "llm/down", Namespace: "llm", GPUs: []string{"GPU-b"}, Err: errors.New("llm/down: engine target absent: connection refused")},
		{Name: "local", URL: "http://127.0.0.1:8000/metrics", Engine: engine.VLLM, History: engine.History{}.Add(vllm, time.Minute)},
	}}
	m := &nodev1.Snapshot{Node: "n1", Seq: 1, EnginePods: encodeEngines(view, now)}
	b, err := proto.Marshal(m)
	require.NoError(t, err)
	var wire nodev1.Snapshot
	require.NoError(t, proto.Unmarshal(b, &wire))
	var dec Decoder
	got, err := dec.Decode(&wire)
	require.NoError(t, err)
	require.Len(t, got.EnginePods, 2, "the operator's target stays on the node")

	p := got.EnginePods[0]
	assert.Equal(t, "llm", p.Namespace)
	assert.Equal(t, "vllm-0", p.Name)
	assert.Equal(t, []string{"GPU-a"}, p.GPUs)
	assert.Equal(t, engine.VLLM, p.Engine)
	require.NoError(t, p.Err)
	assert.True(t, vllm.Time.Equal(p.Reading.Time))
	for mt := range engine.NumMetrics {
		want, have := &vllm.Samples[mt], &p.Reading.Samples[mt]
		assert.Equal(t, want.OK(), have.OK(), mt.String())
		assert.Equal(t, want.V, have.V, mt.String())
		assert.Equal(t, want.Den, have.Den, mt.String())
		assert.Equal(t, want.Hist, have.Hist, mt.String())
		if !want.OK() {
			assert.Equal(t, want.Err.Error(), have.Err.Error(), mt.String())
		}
	}
	require.NotNil(t, p.Reading.Samples[engine.TTFT].Hist, "the vLLM body's TTFT histogram travels")
	assert.True(t, p.PerModel)
	assert.Equal(t, "facebook/opt-125m", p.Reading.OnlyModel, "one model: its name travels, its samples are the totals")
	assert.Nil(t, p.Reading.ByModel)

	down := got.EnginePods[1]
	require.ErrorIs(t, down.Err, watch.ErrAbsent)
	assert.ErrorContains(t, down.Err, "connection refused")
	assert.Nil(t, down.Reading)

	// A newer agent's metric is skipped; one an older agent lacks is absent.
	wire.EnginePods[0].Samples = append(wire.EnginePods[0].Samples[1:], &nodev1.EngineSample{Metric: "a_future_metric", Value: 1})
	got, err = new(Decoder).Decode(&wire)
	require.NoError(t, err)
	assert.ErrorIs(t, got.EnginePods[0].Reading.Samples[0].Err, errNotSent)

	wire.EnginePods[0].Samples[0].Counts = wire.EnginePods[0].Samples[0].Counts[:0]
	wire.EnginePods[0].Samples[0].Bounds = []float64{1}
	_, err = new(Decoder).Decode(&wire)
	require.ErrorContains(t, err, "histogram bounds")
}
