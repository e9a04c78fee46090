// SPDX-License-Identifier: Apache-2.0

package aggregator_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/nvml-scaler/nvml-scaler/cluster/aggregator"
	ct "github.com/nvml-scaler/nvml-scaler/internal/clustertest"
	"github.com/nvml-scaler/nvml-scaler/internal/tlsreload"
	"github.com/nvml-scaler/nvml-scaler/internal/tlsreload/certtest"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// serveAggregator runs Serve with no agents and an empty fake cluster, and
// returns its address.
func serveAggregator(t *testing.T, cfg aggregator.Config) string {
	t.Helper()
	addr, _ := serveAggregatorWith(t, cfg)
	return addr
}

// serveAggregatorWith is serveAggregator that also returns the Aggregator.
func serveAggregatorWith(t *testing.T, cfg aggregator.Config) (string, *aggregator.Aggregator) {
	t.Helper()
	cfg.Kube, cfg.Discovery = ct.Kube(), aggregator.Static(nil)
	agg, err := aggregator.New(cfg)
	require.NoError(t, err)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agg.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return lis.Addr().String(), agg
}

func dial(t *testing.T, addr string, creds grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, creds)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Serve applies the node server's limits: a request above the message size
// limit is ResourceExhausted before any handler runs, and trigger metadata
// above scaler's entry and byte limits is InvalidArgument.
func TestServeLimits(t *testing.T) {
	addr := serveAggregator(t, aggregator.Config{})
	client := pb.NewExternalScalerClient(dial(t, addr, grpc.WithTransportCredentials(insecure.NewCredentials())))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	get := func(md map[string]string) error {
		_, err := client.GetMetrics(ctx, &pb.GetMetricsRequest{MetricName: "gpu",
			ScaledObjectRef: &pb.ScaledObjectRef{Name: "so", Namespace: "ns", ScalerMetadata: md}})
		return err
	}

	err := get(map[string]string{"podSelector": "app=x", "gpuUUIDs": strings.Repeat("x", scaler.DefaultMaxRecvMsgSize)})
	assert.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)

	err = get(map[string]string{"metric": "power_watts", "targetValue": "1", "gpuUUIDs": strings.Repeat("x", scaler.MaxMetadataBytes)})
	requireCode(t, err, codes.InvalidArgument, "scalerMetadata", "bytes")

	many := map[string]string{"metric": "power_watts", "targetValue": "1"}
	for i := range scaler.MaxMetadataEntries {
		many["k"+strings.Repeat("x", i)] = "v"
	}
	err = get(many)
	requireCode(t, err, codes.InvalidArgument, "scalerMetadata", "entries")
}

// A smaller Config.MaxRecvMsgSize is applied.
func TestServeMaxRecvMsgSize(t *testing.T) {
	addr := serveAggregator(t, aggregator.Config{MaxRecvMsgSize: 512})
	client := pb.NewExternalScalerClient(dial(t, addr, grpc.WithTransportCredentials(insecure.NewCredentials())))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := client.IsActive(ctx, &pb.ScaledObjectRef{Name: "so", Namespace: "ns",
		ScalerMetadata: map[string]string{"podSelector": strings.Repeat("x", 600)}})
	assert.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
}

// With TLS credentials in GRPCOptions, Serve answers TLS clients only: a
// plaintext client gets Unavailable, and the limits still apply under TLS.
func TestServeTLSOnly(t *testing.T) {
	dir := t.TempDir()
	ca := certtest.NewCA(t, "aggregator ca")
	cert, key := ca.Issue(t, "nvml-scaler-aggregator").Write(t, dir, "tls")
	r, err := tlsreload.New(tlsreload.Config{CertFile: cert, KeyFile: key})
	require.NoError(t, err)
	addr := serveAggregator(t, aggregator.Config{
		GRPCOptions: []grpc.ServerOption{grpc.Creds(credentials.NewTLS(r.ServerConfig()))}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	check := &healthpb.HealthCheckRequest{Service: scaler.HealthLiveness}

	_, err = healthpb.NewHealthClient(dial(t, addr, grpc.WithTransportCredentials(insecure.NewCredentials()))).Check(ctx, check)
	assert.Equal(t, codes.Unavailable, status.Code(err), "plaintext: %v", err)

	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(ca.PEM))
	conn := dial(t, addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})))
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, check)
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())
	_, err = pb.NewExternalScalerClient(conn).IsActive(ctx, &pb.ScaledObjectRef{Name: "so", Namespace: "ns",
		ScalerMetadata: map[string]string{"podSelector": strings.Repeat("x", scaler.DefaultMaxRecvMsgSize)}})
	assert.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
}
