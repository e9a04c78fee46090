// SPDX-License-Identifier: Apache-2.0

package aggregator_test

import (
	"context"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/nvml-scaler/nvml-scaler/cluster/aggregator"
)

// TestReplicasAnswerAlike: two aggregators over the same agents and the same
// API server — the chart's two replicas behind one Service — give KEDA the
// same answer, value for value and error for error, whichever it reaches.
func TestReplicasAnswerAlike(t *testing.T) {
	t.Parallel()
	c := newCluster(t, aggregator.Config{})
	second, err := aggregator.New(aggregator.Config{
		Kube: c.kube, Now: c.clk.Now, DiscoveryInterval: 10 * time.Millisecond,
		Discovery: discoverFunc(func(context.Context) ([]string, error) { return *c.addrs.Load(), nil }),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- second.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})

	requests := []struct {
		so, ns string
		md     map[string]string
	}{
		{"vllm-so", "llm", nil},
		{"vllm-so", "llm", map[string]string{"aggregation": "avg"}},
		{"vllm-so", "llm", map[string]string{"metric": "sm_active_percent", "window": "3s"}},
		{"triton-so", "llm", nil},
		{"batch-so", "batch", nil},
		{"idle-so", "llm", nil},    // zero replicas
		{"missing-so", "llm", nil}, // NotFound on both
		{"vllm-so", "llm", map[string]string{"metric": "no_such_metric"}},
	}
	for step := range 4 {
		if step > 0 {
			c.step()
		}
		waitSameSnapshots(t, c.agg, second)
		for _, r := range requests {
			req := c.req(r.so, r.ns, r.md)
			a, errA := c.agg.GetMetrics(context.Background(), req)
			b, errB := second.GetMetrics(context.Background(), req)
			assert.Equal(t, status.Convert(errA).Proto(), status.Convert(errB).Proto(), "step %d %s %v: GetMetrics errors", step, r.so, r.md)
			assert.True(t, proto.Equal(a, b), "step %d %s %v: GetMetrics %v vs %v", step, r.so, r.md, a, b)

			ia, errA := c.agg.IsActive(context.Background(), req.ScaledObjectRef)
			ib, errB := second.IsActive(context.Background(), req.ScaledObjectRef)
			assert.Equal(t, status.Convert(errA).Proto(), status.Convert(errB).Proto(), "step %d %s: IsActive errors", step, r.so)
			assert.True(t, proto.Equal(ia, ib), "step %d %s: IsActive", step, r.so)

			sa, errA := c.agg.GetMetricSpec(context.Background(), req.ScaledObjectRef)
			sb, errB := second.GetMetricSpec(context.Background(), req.ScaledObjectRef)
			assert.Equal(t, status.Convert(errA).Proto(), status.Convert(errB).Proto(), "step %d %s: GetMetricSpec errors", step, r.so)
			assert.True(t, proto.Equal(sa, sb), "step %d %s: GetMetricSpec", step, r.so)
		}
	}
	// The comparison is not vacuous: the first request has a value.
	v, err := c.value("vllm-so", "llm", nil)
	require.NoError(t, err)
	assert.Positive(t, v)
}

// waitSameSnapshots waits until b holds, for every node, the snapshot a
// holds: the replicas' streams deliver independently.
func waitSameSnapshots(t *testing.T, a, b *aggregator.Aggregator) {
	t.Helper()
	seqs := func(agg *aggregator.Aggregator) map[string]uint64 {
		out := map[string]uint64{}
		for _, s := range agg.Agents() {
			if s.Connected {
				out[s.Node] = s.Seq
			}
		}
		return out
	}
	want := seqs(a)
	require.Len(t, want, 3)
	require.Eventually(t, func() bool {
		got := seqs(b)
		for n, s := range want {
			if got[n] != s {
				return false
			}
		}
		return true
	}, 10*time.Second, time.Millisecond, "the second replica has the first's snapshots %v", want)
	require.Eventually(t, func() bool {
		_, err := b.GetMetrics(context.Background(), &pb.GetMetricsRequest{MetricName: "m", ScaledObjectRef: &pb.ScaledObjectRef{
			Name: "idle-so", Namespace: "llm", ScalerMetadata: map[string]string{"metric": "power_watts", "targetValue": "100"}}})
		return err == nil
	}, 10*time.Second, 5*time.Millisecond, "the second replica's Kubernetes cache syncs")
}
