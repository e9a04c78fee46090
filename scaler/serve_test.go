// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// TestServe runs the whole server on the real clock: the sampler starts, KEDA's
// calls are answered, and cancelling the context ends open streams, stops
// gracefully and closes the Source.
func TestServe(t *testing.T) {
	t.Parallel()
	src := newFake(2)
	s, err := NewSampler(SamplerConfig{Source: src, Interval: MinInterval})
	require.NoError(t, err)
	srv, err := NewServer(ServerConfig{Sampler: s, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	lis := bufconn.Listen(1 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, lis) }()

	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := pb.NewExternalScalerClient(conn)
	require.Eventually(t, func() bool {
		_, err := client.GetMetrics(context.Background(), &pb.GetMetricsRequest{ScaledObjectRef: ref(), MetricName: "m"})
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)

	stream, err := client.StreamIsActive(context.Background(), ref())
	require.NoError(t, err)
	msg, err := stream.Recv()
	require.NoError(t, err)
	assert.True(t, msg.Result)

	cancel()
	select {
	case err := <-served:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	_, err = stream.Recv()
	assert.ErrorIs(t, err, io.EOF, "the stream ends cleanly on shutdown")
	assert.Equal(t, int32(1), src.closes.Load())
}

func TestServeListenerError(t *testing.T) {
	t.Parallel()
	s, err := NewSampler(SamplerConfig{Source: newFake(1)})
	require.NoError(t, err)
	srv, err := NewServer(ServerConfig{Sampler: s})
	require.NoError(t, err)
	lis := &failingListener{Listener: bufconn.Listen(1)}
	err = srv.Serve(context.Background(), lis)
	assert.ErrorIs(t, err, errBoom)
}

type failingListener struct{ net.Listener }

func (l *failingListener) Accept() (net.Conn, error) { return nil, errBoom }
