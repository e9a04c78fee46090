// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// queryAnswer is the part of `nvml-scaler query -o json` the test compares.
type queryAnswer struct {
	Value           float64          `json:"value"`
	DesiredReplicas map[string]int32 `json:"desiredReplicas"`
	Error           string           `json:"error"`
}

// query runs our `nvml-scaler query` against addr as a user would.
func (b *bed) query(t *testing.T, addr string, current int32, meta string, extra ...string) queryAnswer {
	t.Helper()
	q, err := b.queryOnce(addr, current, meta, extra...)
	require.NoError(t, err)
	return q
}

// queryOnce is query for use inside a condition: it returns its error.
func (b *bed) queryOnce(addr string, current int32, meta string, extra ...string) (queryAnswer, error) {
	args := append([]string{"query", "--address=" + addr, "--metadata=" + meta,
		fmt.Sprintf("--current-replicas=%d", current), "-o", "json"}, extra...)
	var q queryAnswer
	out, err := exec.Command(b.scalerBin, args...).CombinedOutput()
	if err != nil {
		return q, fmt.Errorf("nvml-scaler %v: %w: %s", args, err, out)
	}
	if err := json.Unmarshal(out, &q); err != nil {
		return q, fmt.Errorf("%w: %s", err, out)
	}
	if q.Error != "" {
		return q, errors.New(q.Error)
	}
	return q, nil
}

// settled waits until the HPA has held the Deployment at one replica count,
// with every pod ready and its own desired count equal, for `hold`, and
// returns that count.
func (b *bed) settled(t *testing.T, ns, name string, hold time.Duration) int32 {
	t.Helper()
	var last int32 = -1
	since := time.Now()
	err := poll(context.Background(), 2*time.Minute, pollEvery, func(ctx context.Context) (bool, error) {
		spec, ready, err := b.replicas(ctx, ns, name)
		if err != nil {
			return false, err
		}
		h, err := b.hpa(ctx, ns, name)
		if err != nil {
			return false, err
		}
		if spec != last || ready != spec || h.Status.DesiredReplicas != spec {
			last, since = spec, time.Now()
			return false, fmt.Errorf("spec %d, ready %d, HPA desired %d", spec, ready, h.Status.DesiredReplicas)
		}
		return time.Since(since) >= hold, nil
	})
	require.NoError(t, err, "%s/%s settles", ns, name)
	return last
}

// testQueryMatchesHPA is scenario 6: what `nvml-scaler query` predicts from
// the current replicas is what the real HPA settles on, tolerance included.
func testQueryMatchesHPA(t *testing.T, b *bed) {
	ns := b.namespace(t, "query")
	b.createNode(t, "gpu-a")
	a := startAgent(t, b, "gpu-a", loadRecording(t, rampRecording))
	const meta = "metric=sm_active_percent,aggregation=sum,targetValue=20"
	b.deployment(t, ns, "vllm", 1, "gpu-a")
	b.waitReplicas(t, ns, "vllm", 1, time.Minute, "the Deployment starts")
	tl := b.record(t, ns, "vllm", "vllm")

	v := a.setPhase(t, "duty070")
	tl.mark(fmt.Sprintf("duty070: %.2f", v))
	time.Sleep(time.Second) // a fresh sweep
	predicted := b.query(t, a.grpc, 1, meta).DesiredReplicas["AverageValue"]
	require.NoError(t, b.applyYAML(context.Background(), []byte(scaledObject(ns, "vllm", a.grpc, "AverageValue",
		map[string]string{"metric": "sm_active_percent", "aggregation": "sum", "targetValue": "20"}, 1, 8, "")), applyCreate))
	got := b.settled(t, ns, "vllm", 3*hpaSync)
	tl.mark(fmt.Sprintf("settled at %d, query predicted %d", got, predicted))
	require.Equal(t, predicted, got, "query from 1 replica at %.2f", v)

	// 65.3 against 3 × 20: a ratio of 1.09, inside the HPA's default 10 %.
	v = a.setPhase(t, "duty090")
	tl.mark(fmt.Sprintf("duty090: %.2f", v))
	time.Sleep(time.Second)
	q := b.query(t, a.grpc, got, meta)
	strict := b.query(t, a.grpc, got, meta, "--tolerance=0").DesiredReplicas["AverageValue"]
	settled := b.settled(t, ns, "vllm", 4*hpaSync)
	tl.mark(fmt.Sprintf("settled at %d, query predicted %d (tolerance 0: %d)", settled, q.DesiredReplicas["AverageValue"], strict))
	require.Equal(t, q.DesiredReplicas["AverageValue"], settled, "query from %d replicas at %.2f", got, q.Value)
	require.Equal(t, got, settled, "the tolerance keeps the replicas")
	require.Greater(t, strict, settled, "without tolerance the same value would scale")

	v = a.setPhase(t, "duty100")
	tl.mark(fmt.Sprintf("duty100: %.2f", v))
	time.Sleep(time.Second)
	predicted = b.query(t, a.grpc, settled, meta).DesiredReplicas["AverageValue"]
	got = b.settled(t, ns, "vllm", 3*hpaSync)
	tl.mark(fmt.Sprintf("settled at %d, query predicted %d", got, predicted))
	require.Equal(t, predicted, got, "query from %d replicas at %.2f", settled, v)
}
