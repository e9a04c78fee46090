// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"
)

// cronWindow is a KEDA cron trigger's start and end (UTC) around now, or, with
// active false, a window that starts in 10 minutes.
func cronWindow(now time.Time, active bool) (start, end string) {
	now = now.UTC()
	from, to := now.Add(-time.Minute), now.Add(5*time.Minute)
	if !active {
		from, to = now.Add(10*time.Minute), now.Add(15*time.Minute)
	}
	return fmt.Sprintf("%d %d * * *", from.Minute(), from.Hour()), fmt.Sprintf("%d %d * * *", to.Minute(), to.Hour())
}

const cronTrigger = `    - type: cron
      name: business-hours
      metadata: {timezone: UTC, start: %q, end: %q, desiredReplicas: "2"}
`

// testZeroAndBack is scenario 3: minReplicaCount 0, our trigger with
// activationTargetValue 10, and a cron trigger. Idle GPU and cron outside its
// window: 0 replicas. 6.5 % (below activation): still 0. 52.4 %: KEDA
// activates 0 → 1 and the HPA takes it to 3. Idle: back to 0. The cron
// window opening wakes it to 2 with the GPU idle (GPU metrics cannot wake a
// Deployment by themselves in real life); its closing scales to 0.
func testZeroAndBack(t *testing.T, b *bed) {
	ns := b.namespace(t, "zero")
	b.createNode(t, "gpu-a")
	a := startAgent(t, b, "gpu-a", loadRecording(t, rampRecording))
	a.setPhase(t, "idle_prealloc")
	b.deployment(t, ns, "vllm", 1, "gpu-a")
	tl := b.record(t, ns, "vllm", "vllm")
	start, end := cronWindow(time.Now(), false)
	so := scaledObject(ns, "vllm", a.grpc, "AverageValue",
		map[string]string{"metric": "sm_active_percent", "aggregation": "sum", "targetValue": "20", "activationTargetValue": "10"},
		0, 6, "") + fmt.Sprintf(cronTrigger, start, end)
	require.NoError(t, b.applyYAML(context.Background(), []byte(so), applyCreate))
	b.waitReplicas(t, ns, "vllm", 0, time.Minute, "idle and outside the cron window: scaled to zero")

	v := a.setPhase(t, "duty010")
	tl.mark(fmt.Sprintf("agent serves duty010: %.2f, below activation 10", v))
	time.Sleep(4 * pollingInterval)
	spec, _, err := b.replicas(context.Background(), ns, "vllm")
	require.NoError(t, err)
	require.Zero(t, spec, "%.2f is below activationTargetValue: stays at 0", v)

	v = a.setPhase(t, "duty070")
	tl.mark(fmt.Sprintf("agent serves duty070: %.2f", v))
	b.waitReplicas(t, ns, "vllm", 3, time.Minute, "activated from 0, then ceil(52.4 / 20)")

	v = a.setPhase(t, "idle_after")
	tl.mark(fmt.Sprintf("agent serves idle_after: %.2f", v))
	b.waitReplicas(t, ns, "vllm", 0, time.Minute, "idle: back to zero after the cooldown")

	start, end = cronWindow(time.Now(), true)
	tl.mark(fmt.Sprintf("cron window opened: %s .. %s", start, end))
	b.patchCron(t, ns, "vllm", start, end)
	b.waitReplicas(t, ns, "vllm", 2, time.Minute, "the cron trigger wakes it with the GPU idle")

	start, end = cronWindow(time.Now(), false)
	tl.mark("cron window moved to the future")
	b.patchCron(t, ns, "vllm", start, end)
	b.waitReplicas(t, ns, "vllm", 0, time.Minute, "cron inactive and GPU idle: zero")
}

// pollingInterval is the ScaledObjects' pollingInterval in scaledObject.
const pollingInterval = 2 * time.Second

// patchCron moves the second trigger's (cron) window.
func (b *bed) patchCron(t *testing.T, ns, name, start, end string) {
	t.Helper()
	patch := fmt.Sprintf(`[{"op":"replace","path":"/spec/triggers/1/metadata/start","value":%q},`+
		`{"op":"replace","path":"/spec/triggers/1/metadata/end","value":%q}]`, start, end)
	_, err := b.dyn.Resource(scaledObjectGVR).Namespace(ns).Patch(context.Background(), name, types.JSONPatchType, []byte(patch), metav1PatchOptions())
	require.NoError(t, err)
}
