// SPDX-License-Identifier: Apache-2.0

package aggregator_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/nvml-scaler/nvml-scaler/cluster/aggregator"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// TestAvgLeavesOutUnreadyPods: a pod whose Ready condition is False (a model
// still loading) drops out of avg, which the HPA multiplies by its ready pods,
// but not out of sum, whose GPU load is real whatever the pod's readiness.
func TestAvgLeavesOutUnreadyPods(t *testing.T) {
	t.Parallel()
	c := newCluster(t, aggregator.Config{})
	pods := c.kube.Resource(gvr(&unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Pod"}})).Namespace("llm")
	p, err := pods.Get(context.Background(), "vllm-2", metav1.GetOptions{})
	require.NoError(t, err)
	require.NoError(t, unstructured.SetNestedSlice(p.Object,
		[]any{map[string]any{"type": "Ready", "status": "False"}}, "status", "conditions"))
	_, err = pods.Update(context.Background(), p, metav1.UpdateOptions{})
	require.NoError(t, err)

	ready := []([2]string){dev("n1", 0), dev("n1", 1)}
	all := []([2]string){dev("n1", 0), dev("n1", 1), dev("n2", 3)}
	require.Eventually(t, func() bool {
		v, err := c.value("vllm-so", "llm", map[string]string{"aggregation": "avg"})
		return err == nil && math.Abs(v-c.sum(scaler.PowerWatts, ready...)/2) < 1e-9
	}, 5*time.Second, 5*time.Millisecond, "avg over the two GPUs of the ready pod only")
	v, err := c.value("vllm-so", "llm", nil)
	require.NoError(t, err)
	assert.InDelta(t, c.sum(scaler.PowerWatts, all...), v, 1e-9, "sum still counts the unready pod's GPU")
}
