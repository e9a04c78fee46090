// SPDX-License-Identifier: Apache-2.0

package agent_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/nvml-scaler/nvml-scaler/engine"
	ewatch "github.com/nvml-scaler/nvml-scaler/engine/watch"
	"github.com/nvml-scaler/nvml-scaler/internal/clustertest"
	"github.com/nvml-scaler/nvml-scaler/proto/nodev1"
)

// vllmPodBytes streams one vLLM pod serving models models — the real body
// vllm_datadog.txt, its series copied under models-1 more model names
// (clustertest.ModelsBody) — from an agent and returns the bytes that pod
// takes in the node-stream message, and the whole message's.
func vllmPodBytes(t *testing.T, models int) (pod, msg int) {
	t.Helper()
	var extra []string
	for i := 1; i < models; i++ {
		extra = append(extra, fmt.Sprintf("adapter-%d", i))
	}
	n, clk := node(t, 1, 0)
	s, err := engine.NewScraper(engine.Options{Timeout: time.Second})
	require.NoError(t, err)
	defer s.Close()
	r, err := s.Map(clustertest.ModelsBody(t, "vllm_datadog.txt", 1, extra...), "", engine.Target{}, clk.Now().Add(-time.Second))
	require.NoError(t, err)
	n.Engines.Set(&ewatch.View{Interval: 10 * time.Second, Pods: []ewatch.Pod{{Name: "llm/vllm-0", Namespace: "llm",
		GPUs: []string{clustertest.GPUUUID("n1", 0)}, Engine: engine.VLLM, History: engine.History{}.Add(r, time.Hour)}}})
	n.Step()
	m := recv(t, watch(t, n, &nodev1.WatchRequest{}))
	require.Len(t, m.EnginePods, 1)
	require.Empty(t, m.EnginePods[0].Error)
	return proto.Size(m.EnginePods[0]), proto.Size(m)
}

// TestEnginePodWireSize measures one vLLM pod's share of a node-stream
// message with 1, 2 and engine.MaxModels models (BENCHMARKS.md): the
// all-series samples, then one group per model when there are several, each
// about as large (every catalogue metric, histograms with their buckets).
func TestEnginePodWireSize(t *testing.T) {
	t.Parallel()
	sizes := map[int]int{}
	for _, n := range []int{1, 2, engine.MaxModels} {
		pod, msg := vllmPodBytes(t, n)
		sizes[n] = pod
		t.Logf("vLLM pod, %d model(s): %d bytes on the node stream (message with 1 GPU: %d bytes)", n, pod, msg)
	}
	group := (sizes[engine.MaxModels] - sizes[2]) / (engine.MaxModels - 2)
	assert.Positive(t, group, "each further model adds its group")
	assert.Greater(t, sizes[2]-sizes[1], group, "two models: both groups (one model has none)")
	assert.Less(t, sizes[1], 8<<10, "one model: a few KB")
}
