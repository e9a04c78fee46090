// SPDX-License-Identifier: Apache-2.0

package aggregator_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/nvml-scaler/nvml-scaler/cluster/aggregator"
	"github.com/nvml-scaler/nvml-scaler/engine"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
	ct "github.com/nvml-scaler/nvml-scaler/internal/clustertest"
)

// ExplainEngine names the pods behind an engine trigger's value across
// nodes, and those left out with why: a failed scrape (in the error too,
// under onMissing: fail), a pod that is not Ready.
func TestExplainEngine(t *testing.T) {
	t.Parallel()
	c := newCluster(t, aggregator.Config{})
	n1, n2 := c.nodes["n1"], c.nodes["n2"]
	const every = 10 * time.Second
	t0 := c.clk.Now()
	a0 := ct.SGLangReading(t, t0, 1)
	n1.Engines.Set(&watch.View{Interval: every, Pods: []watch.Pod{
		enginePod("llm/vllm-1", "llm", []string{ct.GPUUUID("n1", 0), ct.GPUUUID("n1", 1)}, a0)}})
	n2.Engines.Set(&watch.View{Interval: every, Pods: []watch.Pod{{Name: "llm/vllm-2", Namespace: "llm",
		GPUs: []string{ct.GPUUUID("n2", 3)}, Err: status.Error(codes.Unavailable, "llm/vllm-2: connection refused")}}})
	c.step()
	md := map[string]string{"metric": "requests_waiting", "targetValue": "5", "onMissing": "skip"}

	ex, err := c.agg.ExplainEngine(engineReq("vllm-so", md).ScaledObjectRef)
	require.NoError(t, err)
	assert.Equal(t, a0.Samples[engine.RequestsWaiting].V, ex.Value)
	assert.Equal(t, []string{"llm/vllm-1"}, ex.Contributed)
	require.Len(t, ex.LeftOut, 1)
	assert.Equal(t, "llm/vllm-2", ex.LeftOut[0].Name)
	assert.Contains(t, ex.LeftOut[0].Reason, "connection refused")
	resp, err := c.agg.GetMetrics(context.Background(), engineReq("vllm-so", md))
	require.NoError(t, err)
	assert.Equal(t, ex.Value, resp.MetricValues[0].MetricValueFloat, "the same value KEDA gets")

	delete(md, "onMissing")
	ex, err = c.agg.ExplainEngine(engineReq("vllm-so", md).ScaledObjectRef)
	assert.Equal(t, codes.Unavailable, status.Code(err))
	require.Len(t, ex.LeftOut, 1, "named with the error too")

	_, err = c.agg.ExplainEngine(engineReq("vllm-so", map[string]string{"metric": "power_watts", "targetValue": "5"}).ScaledObjectRef)
	assert.Equal(t, codes.InvalidArgument, status.Code(err))

	// vllm-2 goes unready: it does not count, and says so.
	pods := c.kube.Resource(gvr(&unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Pod"}})).Namespace("llm")
	p, err := pods.Get(context.Background(), "vllm-2", metav1.GetOptions{})
	require.NoError(t, err)
	require.NoError(t, unstructured.SetNestedSlice(p.Object, []any{map[string]any{"type": "Ready", "status": "False"}}, "status", "conditions"))
	_, err = pods.Update(context.Background(), p, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		ex, err = c.agg.ExplainEngine(engineReq("vllm-so", md).ScaledObjectRef)
		return err == nil && len(ex.LeftOut) == 1 && ex.LeftOut[0].Reason == "not Ready: does not count"
	}, 10*time.Second, 5*time.Millisecond, "%+v %v", ex, err)
	assert.Equal(t, []string{"llm/vllm-1"}, ex.Contributed)
}
