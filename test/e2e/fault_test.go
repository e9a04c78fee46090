// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fallbackReplicas is the fault scenario's fallback: neither the value's 3
// nor the minimum, so the Deployment shows which one KEDA applied.
const fallbackReplicas = 5

// testFallback is scenario 4: a ScaledObject with a fallback, on an agent
// serving a steady 52.4 % (3 replicas at target 20). The agent goes stale (an
// NVML call hangs: it still answers, with Unavailable, and /readyz is 503):
// KEDA applies the fallback. It recovers. Then the agent is killed
// (unreachable, as an unready agent behind a Service without
// publishNotReadyAddresses is): KEDA v2.21 applies no fallback and keeps
// the replicas (kedacore/keda#8056), and follows the new value once the agent
// is back. At no point does it act on old numbers.
func testFallback(t *testing.T, b *bed) {
	ns := b.namespace(t, "fault")
	b.createNode(t, "gpu-a")
	a := startAgent(t, b, "gpu-a", loadRecording(t, rampRecording))
	v := a.setPhase(t, "duty070")
	b.deployment(t, ns, "vllm", 1, "gpu-a")
	tl := b.record(t, ns, "vllm", "vllm")
	tl.mark(fmt.Sprintf("agent serves duty070: sm_active_percent %.2f", v))
	fallback := fmt.Sprintf("  fallback: {failureThreshold: 2, replicas: %d}\n", fallbackReplicas)
	require.NoError(t, b.applyYAML(context.Background(), []byte(scaledObject(ns, "vllm", a.grpc, "AverageValue",
		map[string]string{"metric": "sm_active_percent", "aggregation": "sum", "targetValue": "20"},
		1, 6, fallback)), applyCreate))
	b.waitReplicas(t, ns, "vllm", 3, time.Minute, "ceil(52.4 / 20)")

	a.fake.Hold(holdSymbol)
	tl.mark("agent stale: " + holdSymbol + " hangs")
	b.waitReplicas(t, ns, "vllm", fallbackReplicas, time.Minute, "stale agent: KEDA's fallback")
	b.requireFallbackCondition(t, ns, "vllm", true)

	a.fake.Release(holdSymbol)
	tl.mark("agent fresh again")
	b.waitReplicas(t, ns, "vllm", 3, time.Minute, "recovered from stale")
	b.requireFallbackCondition(t, ns, "vllm", false)

	// Killed: the scaler is unreachable and GetMetricSpec fails too. KEDA
	// v2.21 then never reaches its fallback (kedacore/keda#8056) and the
	// HPA, without a metric, keeps the replicas it has: no fallback, and no
	// scaling on old numbers either.
	a.p.kill()
	tl.mark("agent killed (SIGKILL): connection refused")
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(time.Second) {
		spec, _, err := b.replicas(context.Background(), ns, "vllm")
		require.NoError(t, err)
		require.Equal(t, int32(3), spec, "killed agent: KEDA keeps the replicas (keda#8056: no fallback)")
	}

	v = a.setPhase(t, "duty100")
	a.start(t)
	tl.mark(fmt.Sprintf("agent restarted, serving duty100: %.2f", v))
	b.waitReplicas(t, ns, "vllm", 4, time.Minute, "recovered from the restart: ceil(78.5 / 20)")
	assert.LessOrEqual(t, tl.maxSpec(), int32(fallbackReplicas))
}

// requireFallbackCondition waits for the ScaledObject's Fallback condition.
func (b *bed) requireFallbackCondition(t *testing.T, ns, name string, want bool) {
	t.Helper()
	status := "False"
	if want {
		status = "True"
	}
	err := poll(context.Background(), 30*time.Second, pollEvery, func(ctx context.Context) (bool, error) {
		so, err := b.dyn.Resource(scaledObjectGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range conditions(so.Object) {
			if c["type"] == "Fallback" && c["status"] == status {
				return true, nil
			}
		}
		return false, fmt.Errorf("conditions %v", conditions(so.Object))
	})
	require.NoError(t, err, "ScaledObject %s/%s Fallback=%s", ns, name, status)
}
