// SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"

	"github.com/nvml-scaler/nvml-scaler/internal/tlsreload/certtest"
)

// Calls refused before any handler are counted too: a request above the
// size limit under its method, an unknown method under "unknown" (one label
// however many names are tried); a failed TLS handshake and the limits'
// refusals in their own counters.
func TestRefusedCallsAreCounted(t *testing.T) {
	t.Parallel()
	m := New(Options{})
	ca := certtest.NewCA(t, "ca")
	pair := ca.Issue(t, "server")
	cert, err := tls.X509KeyPair(pair.CertPEM, pair.KeyPEM)
	require.NoError(t, err)
	creds := m.CountHandshakes(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gs := grpc.NewServer(append(m.ServerOptions(), grpc.Creds(creds), grpc.MaxRecvMsgSize(1024))...)
	healthpb.RegisterHealthServer(m.Services(gs), health.NewServer())
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()

	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: strings.Repeat("x", 2048)})
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	// Bytes that are no HealthCheckRequest (field 1, wire type 7: invalid):
	// gRPC fails to decode them before any interceptor.
	bad := []byte{0x0f, 0x01}
	err = conn.Invoke(ctx, "/grpc.health.v1.Health/Check", &bad, new([]byte), grpc.ForceCodecV2(rawCodec{}))
	require.Equal(t, codes.Internal, status.Code(err), "%v", err)
	for _, method := range []string{"/nope.Svc/A", "/nope.Svc/B", "/grpc.health.v1.Health/Bogus"} {
		err = conn.Invoke(ctx, method, &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
		require.Equal(t, codes.Unimplemented, status.Code(err), "%v", err)
	}
	plain, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer plain.Close()
	short, cancelShort := context.WithTimeout(ctx, time.Second)
	defer cancelShort()
	_, err = healthpb.NewHealthClient(plain).Check(short, &healthpb.HealthCheckRequest{})
	require.Error(t, err)

	require.Eventually(t, func() bool {
		v, _ := m.Value("rpc_requests_total", "method", "grpc.health.v1.Health/Check", "code", "ResourceExhausted")
		return v == 1
	}, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool {
		v, _ := m.Value("rpc_requests_total", "method", "grpc.health.v1.Health/Check", "code", "Internal")
		return v == 1
	}, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool {
		v, _ := m.Value("rpc_requests_total", "method", "unknown", "code", "Unimplemented")
		return v == 3
	}, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { v, _ := m.Value("tls_handshake_failures_total"); return v >= 1 },
		5*time.Second, time.Millisecond)

	for _, limit := range []string{"connections", "calls"} {
		v, ok := m.Value("refused_total", "limit", limit)
		assert.True(t, ok, "exported at 0")
		assert.Zero(t, v)
	}
	m.ConnRefused()
	m.CallRefused()
	m.CallRefused()
	v, _ := m.Value("refused_total", "limit", "calls")
	assert.Equal(t, 2.0, v)
}

// rawCodec sends a []byte as the request's encoded message, whatever it holds.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }
