// SPDX-License-Identifier: Apache-2.0

package aggregator_test

import (
	"context"
	"io"
	"math"
	"net"
	"sync"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/nvml-scaler/nvml-scaler/cluster/aggregator"
	ct "github.com/nvml-scaler/nvml-scaler/internal/clustertest"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// TestAgentRestart: an agent that comes back (a new process, a new address)
// is picked up through discovery and counted again; while it is gone, its
// node's pods make requests fail.
func TestAgentRestart(t *testing.T) {
	t.Parallel()
	c := newCluster(t, aggregator.Config{})
	old := c.nodes["n2"]
	old.Kill()
	delete(c.nodes, "n2")
	c.setAddrs()
	require.Eventually(t, func() bool { return len(c.agg.Agents()) == 2 }, 5*time.Second, time.Millisecond)
	_, err := c.value("vllm-so", "llm", nil)
	requireCode(t, err, codes.Unavailable, "node n2", "no agent has reported this node")

	n2 := ct.StartNode(t, "n2", old.Rec, c.clk)
	n2.Kubelet.Allocate("llm", "vllm-2", "server", gpuRes, ct.GPUUUID("n2", 3))
	c.nodes["n2"] = n2
	c.setAddrs()
	c.step()
	v, err := c.value("vllm-so", "llm", nil)
	require.NoError(t, err)
	assert.InDelta(t, c.sum(scaler.PowerWatts, dev("n1", 0), dev("n1", 1), dev("n2", 3)), v, 1e-9)
}

// TestResumeFillsHistory: after a broken connection the agent replays what the
// aggregator missed, so windows have no gap.
func TestResumeFillsHistory(t *testing.T) {
	t.Parallel()
	c := newCluster(t, aggregator.Config{MaxWindow: time.Minute})
	p := startProxy(t, c.nodes["n1"].Addr)
	direct := c.nodes["n1"].Addr
	c.nodes["n1"].Addr = p.addr
	c.setAddrs()
	require.Eventually(t, func() bool {
		for _, s := range c.agg.Agents() {
			if s.Addr == direct || s.Addr == p.addr && !s.Connected {
				return false
			}
		}
		return true
	}, 5*time.Second, time.Millisecond, "the aggregator follows n1 through the proxy only")
	c.step()
	p.cut(true)
	require.Eventually(t, func() bool {
		_, err := c.value("triton-so", "llm", nil)
		return status.Code(err) == codes.Unavailable
	}, 5*time.Second, time.Millisecond, "a broken stream makes the node's pods unavailable at once")
	for range 3 { // n1 sweeps while the aggregator cannot hear it
		c.clk.Advance(scaler.MinInterval)
		c.nodes["n1"].Step()
	}
	p.cut(false)
	c.step()
	window := 3 * scaler.MinInterval
	s := c.nodes["n1"].Sampler
	sum := 0.0
	snaps := s.Window(s.Latest(), window)
	require.Len(t, snaps, 4)
	for _, snap := range snaps {
		sum += snap.GPUs[2].Metrics[scaler.PowerWatts].V
	}
	v, err := c.value("triton-so", "llm", map[string]string{"window": window.String()})
	require.NoError(t, err)
	assert.InEpsilon(t, sum/4, v, 1e-6)
}

// proxy forwards TCP to an agent and can cut every connection.
type proxy struct {
	addr string
	mu   sync.Mutex
	off  bool
	open []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{addr: lis.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = lis.Close()
		p.cut(true)
		wg.Wait()
	})
	wg.Go(func() {
		for {
			in, err := lis.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.off {
				p.mu.Unlock()
				_ = in.Close()
				continue
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				_ = in.Close()
				continue
			}
			p.open = append(p.open, in, out)
			p.mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(out, in); _ = out.Close() })
			wg.Go(func() { _, _ = io.Copy(in, out); _ = in.Close() })
		}
	})
	return p
}

func (p *proxy) cut(off bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.off = off
	if off {
		for _, c := range p.open {
			_ = c.Close()
		}
		p.open = nil
	}
}

// TestServe: KEDA's view over gRPC: health, GetMetrics and StreamIsActive.
func TestServe(t *testing.T) {
	t.Parallel()
	c := newCluster(t, aggregator.Config{})
	// A second aggregator on the same cluster, served on a port.
	agg, err := aggregator.New(aggregator.Config{Kube: c.kube, Now: c.clk.Now,
		Discovery: discoverFunc(func(context.Context) ([]string, error) { return *c.addrs.Load(), nil })})
	require.NoError(t, err)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- agg.Serve(ctx, lis) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer cc.Close()

	hc := healthpb.NewHealthClient(cc)
	require.Eventually(t, func() bool {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "readiness"})
		return err == nil && r.Status == healthpb.HealthCheckResponse_SERVING
	}, 5*time.Second, 5*time.Millisecond)
	r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "liveness"})
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, r.Status)
	_, err = hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"})
	assert.Equal(t, codes.NotFound, status.Code(err))

	client := pb.NewExternalScalerClient(cc)
	want := c.sum(scaler.PowerWatts, dev("n1", 2))
	require.Eventually(t, func() bool {
		resp, err := client.GetMetrics(ctx, c.req("triton-so", "llm", nil))
		return err == nil && math.Abs(resp.MetricValues[0].MetricValueFloat-want) < 1e-9 &&
			resp.MetricValues[0].MetricValue == int64(math.Round(want))
	}, 5*time.Second, 5*time.Millisecond)

	// external-push: the current state, then true when the load rises above
	// the activation threshold.
	ref := c.req("triton-so", "llm", map[string]string{"activationTargetValue": "100000"}).ScaledObjectRef
	stream, err := client.StreamIsActive(ctx, ref)
	require.NoError(t, err)
	first, err := stream.Recv()
	require.NoError(t, err)
	assert.False(t, first.Result)
	ref.ScalerMetadata["activationTargetValue"] = "1"
	stream2, err := client.StreamIsActive(ctx, ref)
	require.NoError(t, err)
	first, err = stream2.Recv()
	require.NoError(t, err)
	assert.True(t, first.Result)
	// Still active after DefaultStreamResend: `true` again.
	c.clk.Advance(scaler.DefaultStreamResend)
	c.step()
	again, err := stream2.Recv()
	require.NoError(t, err)
	assert.True(t, again.Result, "repeated while active")
	// Serve's stop ends the open streams (the deferred cancel).
}
