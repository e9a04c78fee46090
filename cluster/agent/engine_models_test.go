// SPDX-License-Identifier: Apache-2.0

package agent_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nvml-scaler/nvml-scaler/cluster/agent"
	"github.com/nvml-scaler/nvml-scaler/engine"
	ewatch "github.com/nvml-scaler/nvml-scaler/engine/watch"
	"github.com/nvml-scaler/nvml-scaler/internal/clustertest"
	"github.com/nvml-scaler/nvml-scaler/proto/nodev1"
)

// twoModelNode is a node whose agent streams one engine pod serving two
// models (clustertest.SGLangTwoModelsReading ×1, read 1 s before the sweep).
func twoModelNode(t *testing.T) (*clustertest.Node, *engine.Reading) {
	n, clk := node(t, 2, 1)
	r := clustertest.SGLangTwoModelsReading(t, clk.Now().Add(-time.Second), 1)
	require.Len(t, r.ByModel, 2)
	n.Engines.Set(&ewatch.View{Interval: 10 * time.Second, Pods: []ewatch.Pod{{Name: "llm/sglang-0", Namespace: "llm",
		GPUs: []string{clustertest.GPUUUID("n1", 1)}, Engine: engine.SGLang, History: engine.History{}.Add(r, time.Hour)}}})
	n.Step()
	return n, r
}

// assertSamples checks that every metric of every model (and of all series,
// model "") reads the same from got as from want.
func assertSamples(t *testing.T, want, got *engine.Reading, models ...string) {
	t.Helper()
	for _, model := range append([]string{""}, models...) {
		for mt := range engine.NumMetrics {
			w, g := want.Sample(mt, model), got.Sample(mt, model)
			assert.Equal(t, w.OK(), g.OK(), "%s %q", mt, model)
			assert.Equal(t, w.V, g.V, "%s %q", mt, model)
			assert.Equal(t, w.Den, g.Den, "%s %q", mt, model)
			assert.Equal(t, w.Hist, g.Hist, "%s %q", mt, model)
		}
	}
}

// A pod serving several models streams each model's samples, so a `model`
// filter reads on the aggregator what it reads on the node; a malformed
// group fails the message.
func TestEnginePodModelsRoundTrip(t *testing.T) {
	t.Parallel()
	n, want := twoModelNode(t)
	m := recv(t, watch(t, n, &nodev1.WatchRequest{}))
	got, err := new(agent.Decoder).Decode(m)
	require.NoError(t, err)
	require.Len(t, got.EnginePods, 1)
	p := got.EnginePods[0]
	require.True(t, p.PerModel)
	assertSamples(t, want, p.Reading, clustertest.SGLangBaseModel, clustertest.SGLangAdapter, "other")
	assert.Equal(t, 2826.0, p.Reading.Sample(engine.RequestsWaiting, clustertest.SGLangBaseModel).V, "the body's own queue")
	assert.Equal(t, 2*2826.0, p.Reading.Sample(engine.RequestsWaiting, clustertest.SGLangAdapter).V)
	assert.Equal(t, 3*2826.0, p.Reading.Sample(engine.RequestsWaiting, "").V)
	require.ErrorIs(t, p.Reading.Sample(engine.RequestsWaiting, "other").Err, engine.ErrNoModel)

	groups := m.EnginePods[0].Models.Groups
	require.Len(t, groups, 2)
	first, second := groups[0].Model, groups[1].Model
	groups[1].Model = first
	_, err = new(agent.Decoder).Decode(m)
	require.ErrorContains(t, err, "two per-model sample groups")
	groups[1].Model = ""
	_, err = new(agent.Decoder).Decode(m)
	require.ErrorContains(t, err, "without a model name")
	groups[1].Model = second
	groups[1].Samples[engine.TTFT].Counts = nil
	_, err = new(agent.Decoder).Decode(m)
	require.ErrorContains(t, err, "histogram bounds")
}
