// SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"context"
	"net"
	"path/filepath"
	"testing"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/nvml-scaler/nvml-scaler/recording"
	"github.com/nvml-scaler/nvml-scaler/scaler"
	"github.com/nvml-scaler/nvml-scaler/scaler/replay"
)

// BenchmarkServeOptions is one GetMetrics round trip over bufconn, client and
// server in this process, one call at a time, against a gRPC server that
// answers constants with no options (the floor), the node server alone, and
// the node server with serve's call counting (Services' counting handlers,
// the unknown-method handler): the differences in allocs/op are what the
// limits and the handler, then counting every call, cost. Allocations are exact, unlike throughput on a shared machine; the
// client's share is the same in all three.
func BenchmarkServeOptions(b *testing.B) {
	rec, err := recording.Load(filepath.Join("..", "..", "testdata", "recordings", goldenFixture))
	require.NoError(b, err)
	for _, bc := range []struct {
		name    string
		metrics bool
	}{{"server=constant", false}, {"server=node", false}, {"server=node+metrics", true}} {
		b.Run(bc.name, func(b *testing.B) {
			src, err := replay.New(rec, replay.Options{Manual: true})
			require.NoError(b, err)
			s, err := scaler.NewSampler(scaler.SamplerConfig{Source: src, Node: "bench"})
			require.NoError(b, err)
			cfg := scaler.ServerConfig{Sampler: s}
			if bc.metrics {
				cfg = New(Options{}).Instrument(cfg)
			}
			srv, err := scaler.NewServer(cfg)
			require.NoError(b, err)
			lis := bufconn.Listen(1 << 20)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			if bc.name == "server=constant" {
				require.NoError(b, s.Close())
				gs := grpc.NewServer()
				pb.RegisterExternalScalerServer(gs, constantServer{})
				go func() { <-ctx.Done(); gs.Stop() }()
				go func() { done <- gs.Serve(lis) }()
			} else {
				go func() { done <- srv.Serve(ctx, lis) }()
			}
			defer func() { cancel(); require.NoError(b, <-done) }()
			conn, err := grpc.NewClient("passthrough:///bufconn",
				grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
				grpc.WithTransportCredentials(insecure.NewCredentials()))
			require.NoError(b, err)
			defer conn.Close()
			client := pb.NewExternalScalerClient(conn)
			req := &pb.GetMetricsRequest{ScaledObjectRef: &pb.ScaledObjectRef{Name: "bench", Namespace: "default",
				ScalerMetadata: map[string]string{"metric": "power_watts", "targetValue": "400"}}}
			require.Eventually(b, func() bool { _, err := client.GetMetrics(ctx, req); return err == nil },
				10e9, 10e6, "the first sweep")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.GetMetrics(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// constantServer answers GetMetrics from constants: the floor any
// ExternalScaler server reaches over the same connection.
type constantServer struct {
	pb.UnimplementedExternalScalerServer
}

func (constantServer) GetMetrics(context.Context, *pb.GetMetricsRequest) (*pb.GetMetricsResponse, error) {
	return &pb.GetMetricsResponse{MetricValues: []*pb.MetricValue{{
		MetricName: "nvml-power-watts-avg", MetricValue: 400, MetricValueFloat: 400}}}, nil
}
