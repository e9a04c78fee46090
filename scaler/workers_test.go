// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"bytes"
	"context"
	"net"
	"runtime"
	"sync"
	"testing"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// goroutineServer answers GetMetrics and records the goroutine each call
// ran on.
type goroutineServer struct {
	constantServer
	mu  sync.Mutex
	ids map[string]bool
}

func (s *goroutineServer) GetMetrics(ctx context.Context, r *pb.GetMetricsRequest) (*pb.GetMetricsResponse, error) {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	id, _, _ := bytes.Cut(bytes.TrimPrefix(buf, []byte("goroutine ")), []byte(" "))
	s.mu.Lock()
	s.ids[string(id)] = true
	s.mu.Unlock()
	return s.constantServer.GetMetrics(ctx, r)
}

// TestCallsRunOnReusedGoroutines checks that Limits.ServerOptions runs calls
// on gRPC's stream workers: one call after another reuses a few goroutines,
// where without workers each call has a new one (whose stack grows on the
// way to the handler).
func TestCallsRunOnReusedGoroutines(t *testing.T) {
	t.Parallel()
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer(Limits{}.ServerOptions()...)
	srv := &goroutineServer{ids: map[string]bool{}}
	pb.RegisterExternalScalerServer(gs, srv)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	client := pb.NewExternalScalerClient(conn)
	const calls = 200
	for range calls {
		_, err := client.GetMetrics(context.Background(), benchRequest())
		require.NoError(t, err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	require.LessOrEqual(t, len(srv.ids), StreamWorkers, "%d calls one after another ran on %d goroutines", calls, len(srv.ids))
}
