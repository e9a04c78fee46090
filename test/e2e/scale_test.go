// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scaledObject is the YAML of a ScaledObject with one external trigger on
// the scaler at addr; extra is added under spec (indented two spaces).
func scaledObject(ns, name, addr, metricType string, meta map[string]string, minR, maxR int, extra string) string {
	var m strings.Builder
	for _, k := range sortedKeys(meta) {
		fmt.Fprintf(&m, "        %s: %q\n", k, meta[k])
	}
	return fmt.Sprintf(`apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: %s, namespace: %s}
spec:
  scaleTargetRef: {name: %s}
  pollingInterval: 2
  cooldownPeriod: 5
  minReplicaCount: %d
  maxReplicaCount: %d
%s  triggers:
    - type: external
      metricType: %s
      metadata:
        scalerAddress: %q
%s`, name, ns, name, minR, maxR, extra, metricType, addr, m.String())
}

// testScaleOnRamp is scenario 1: one node, a ScaledObject on
// sm_active_percent (sum, AverageValue, target 20) follows the recorded H200
// ramp up from 1 replica and back down to 1, and the HPA shows our metric.
func testScaleOnRamp(t *testing.T, b *bed) {
	ns := b.namespace(t, "ramp")
	b.createNode(t, "gpu-a")
	rec := loadRecording(t, rampRecording)
	a := startAgent(t, b, "gpu-a", rec)
	a.setPhase(t, "idle_prealloc")
	b.deployment(t, ns, "vllm", 1, "gpu-a")
	b.waitReplicas(t, ns, "vllm", 1, time.Minute, "the Deployment starts")
	tl := b.record(t, ns, "vllm", "vllm")
	require.NoError(t, b.applyYAML(context.Background(), []byte(scaledObject(ns, "vllm", a.grpc, "AverageValue",
		map[string]string{"metric": "sm_active_percent", "aggregation": "sum", "targetValue": "20", "activationTargetValue": "5"},
		1, 6, "")), applyCreate))

	// Climb the ramp, holding each duty step long enough for the HPA (2 s
	// sync) and the new pods; then idle.
	// sm_active_percent of each phase's middle sample: 6.5, 13.7, 20.3, 27.3,
	// 36.7, 44.4, 52.4, 60.6, 65.3, 78.5; the HPA's 10 % tolerance keeps 3
	// replicas through duty080 and duty090 (60.6/60, 65.3/60).
	want := map[string]int32{"duty030": 1, "duty040": 2, "duty070": 3, "duty100": 4}
	for _, phase := range []string{"duty010", "duty020", "duty030", "duty040", "duty050", "duty060", "duty070", "duty080", "duty090", "duty100"} {
		v := a.setPhase(t, phase)
		tl.mark(fmt.Sprintf("agent serves %s: sm_active_percent %.2f", phase, v))
		if w, ok := want[phase]; ok {
			b.waitReplicas(t, ns, "vllm", w, time.Minute, fmt.Sprintf("%s: ceil(%.2f / 20)", phase, v))
		} else {
			time.Sleep(4 * time.Second)
		}
	}
	h, err := b.hpa(context.Background(), ns, "vllm")
	require.NoError(t, err)
	name, value := hpaValue(h)
	assert.Equal(t, "s0-nvml-sm-active-percent-sum", name, "the HPA's metric is ours, as KEDA prefixes it")
	// The HPA shows an AverageValue metric per replica: total / replicas.
	assert.InDelta(t, 78.5, value*float64(h.Status.CurrentReplicas), 0.5, "the HPA reads the GPU's SM activity")

	v := a.setPhase(t, "idle_after")
	tl.mark(fmt.Sprintf("agent serves idle_after: sm_active_percent %.2f", v))
	b.waitReplicas(t, ns, "vllm", 1, 2*time.Minute, "idle: back to minReplicaCount")
	assert.LessOrEqual(t, tl.maxSpec(), int32(4), "never more than ceil(max value / target) replicas")
}
