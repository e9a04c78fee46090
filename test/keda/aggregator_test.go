// SPDX-License-Identifier: Apache-2.0

package keda

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers"
	"github.com/kedacore/keda/v2/pkg/scalers/scalersconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	v2 "k8s.io/api/autoscaling/v2"

	"github.com/nvml-scaler/nvml-scaler/cluster/aggregator"
	ct "github.com/nvml-scaler/nvml-scaler/internal/clustertest"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

const gpuRes = "nvidia.com/gpu"

// aggFixture is two simulated GPU nodes, each with two GPUs and one pod of
// Deployment llm/vllm holding one of them, and an aggregator over both on a
// loopback TCP port, all on one fake clock.
type aggFixture struct {
	clk   *ct.Clock
	nodes []*ct.Node
	held  []string // the GPU each node's vllm pod holds, by node
	agg   *aggregator.Aggregator
	addr  string
}

func startAggregator(t *testing.T) *aggFixture {
	t.Helper()
	f := &aggFixture{clk: ct.NewClock()}
	vllm := ct.Deployment("llm", "vllm")
	rs := ct.ReplicaSet("vllm-abc", vllm)
	for i, n := range []struct{ name, rec string }{{"n1", "h200-steps.json"}, {"n2", "h100-two-tenants.json"}} {
		node := ct.StartNode(t, n.name, ct.Synthetic(ct.Recording(t, n.rec), n.name, 2, 0), f.clk)
		// GPU 1 on n1, GPU 0 on n2: the other GPU of each node is someone else's.
		gpu := ct.GPUUUID(n.name, 1-i)
		node.Kubelet.Allocate("llm", "vllm-"+n.name, "server", gpuRes, gpu)
		f.nodes, f.held = append(f.nodes, node), append(f.held, gpu)
	}
	kube := ct.Kube(vllm, rs,
		ct.Pod("vllm-n1", rs, "llm", "n1", "Running", gpuRes, 1, nil),
		ct.Pod("vllm-n2", rs, "llm", "n2", "Running", gpuRes, 1, nil),
		ct.ScaledObject("llm", "vllm-so", "apps/v1", "Deployment", "vllm"))

	var err error
	f.agg, err = aggregator.New(aggregator.Config{
		Discovery:         aggregator.Static{f.nodes[0].Addr, f.nodes[1].Addr},
		Kube:              kube,
		DiscoveryInterval: 10 * time.Millisecond,
		Now:               f.clk.Now,
	})
	require.NoError(t, err)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.agg.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	f.addr = lis.Addr().String()
	return f
}

// step advances the clock by one sweep interval, sweeps every node (the
// replay moves on one sample) and waits until the aggregator holds every new
// snapshot.
func (f *aggFixture) step(t *testing.T) {
	t.Helper()
	f.clk.Advance(scaler.MinInterval)
	want := map[string]uint64{}
	for _, n := range f.nodes {
		want[n.Name] = n.Step().Seq
	}
	require.Eventually(t, func() bool {
		got := 0
		for _, s := range f.agg.Agents() {
			if s.Connected && s.Fresh && s.Seq == want[s.Node] {
				got++
			}
		}
		return got == len(want)
	}, 10*time.Second, time.Millisecond, "the aggregator receives every node's snapshot")
}

// heldValue returns the metric of the GPU the vllm pod holds on node i, from the
// node's own sampler: what the aggregator must have received.
func (f *aggFixture) heldValue(t *testing.T, i int, m scaler.Metric) scaler.Value {
	t.Helper()
	for _, g := range f.nodes[i].Sampler.Latest().GPUs {
		if g.UUID == f.held[i] {
			return g.Metrics[m]
		}
	}
	t.Fatalf("no device %s on %s", f.held[i], f.nodes[i].Name)
	return scaler.Value{}
}

func aggConfig(addr string) *scalersconfig.ScalerConfig {
	cfg := config(addr, v2.AverageValueMetricType)
	cfg.ScalableObjectName, cfg.ScalableObjectNamespace = "vllm-so", "llm"
	return cfg
}

// KEDA's own external scaler client against the cluster aggregator: the sum
// over exactly the GPUs the ScaledObject's pods hold on two nodes, and
// Unavailable (never a smaller sum) once one of those nodes' agents dies.
func TestKEDAExternalScalerAggregator(t *testing.T) {
	f := startAggregator(t)
	ctx := context.Background()
	f.step(t)
	s, err := scalers.NewExternalScaler(aggConfig(f.addr))
	require.NoError(t, err)
	defer s.Close(ctx)

	// The aggregator answers once its Kubernetes cache has synced.
	var specs []v2.MetricSpec
	require.Eventually(t, func() bool {
		specs = s.GetMetricSpecForScaling(ctx)
		if len(specs) == 0 {
			return false
		}
		_, _, err := s.GetMetricsAndActivity(ctx, specs[0].External.Metric.Name)
		return err == nil
	}, 10*time.Second, 5*time.Millisecond, "the Kubernetes cache syncs")
	require.Len(t, specs, 1)
	ext := specs[0].External
	require.NotNil(t, ext)
	assert.Equal(t, "s0-nvml-sm-active-percent-sum", ext.Metric.Name)
	assert.Equal(t, v2.AverageValueMetricType, ext.Target.Type)
	assert.Equal(t, 60.0, ext.Target.AverageValue.AsApproximateFloat64())

	// Step the replays until both held GPUs are busy, so that a sum missing
	// either node could not pass for the whole; check every step on the way.
	want := 0.0
	for i := 0; ; i++ {
		if i > 0 {
			f.step(t)
		}
		want = 0.0
		busy := true
		for k := range f.nodes {
			v := f.heldValue(t, k, scaler.SMActive)
			require.True(t, v.OK(), "%s %s: %s", f.nodes[k].Name, f.held[k], v.Status)
			want += v.V
			busy = busy && v.V > 5
		}
		vals, active, err := s.GetMetricsAndActivity(ctx, ext.Metric.Name)
		require.NoError(t, err, "step %d", i)
		require.Len(t, vals, 1)
		assert.Equal(t, ext.Metric.Name, vals[0].MetricName)
		assert.InDelta(t, want, vals[0].Value.AsApproximateFloat64(), 0.001, "step %d", i)
		assert.Equal(t, want > 5, active, "step %d: activationTargetValue 5", i)
		if busy {
			break
		}
		require.Less(t, i, len(f.nodes[0].Rec.Samples), "the recordings never have both GPUs busy at once")
	}

	// Kill n2's agent. Until the aggregator notices, it still answers with the
	// whole sum (n1 is not stepped, so that sum cannot change); then it must
	// fail Unavailable, never answer with n1's GPU alone.
	f.nodes[1].Kill()
	deadline := time.Now().Add(10 * time.Second)
	for {
		vals, _, err := s.GetMetricsAndActivity(ctx, ext.Metric.Name)
		if err != nil {
			assert.Equal(t, codes.Unavailable, status.Code(err), err.Error())
			assert.Contains(t, err.Error(), "Unavailable")
			assert.Contains(t, err.Error(), "node n2")
			break
		}
		require.Len(t, vals, 1)
		require.InDelta(t, want, vals[0].Value.AsApproximateFloat64(), 0.001, "a partial sum after n2 died")
		require.True(t, time.Now().Before(deadline), "the aggregator still answers after n2's agent died")
		time.Sleep(5 * time.Millisecond)
	}
	_, _, err = s.GetMetricsAndActivity(ctx, ext.Metric.Name)
	require.Error(t, err, "and keeps failing")
}
