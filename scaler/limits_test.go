// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/test/bufconn"

	"github.com/nvml-scaler/nvml-scaler/internal/testutil"
)

func TestMetadataLimits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, newFake(1))
	h.sweep()
	many := ref()
	for i := range MaxMetadataEntries {
		many.ScalerMetadata[fmt.Sprintf("k%d", i)] = "v"
	}
	_, err := h.getMetrics(many)
	requireCode(t, err, codes.InvalidArgument, `trigger metadata "scalerMetadata" is "34 entries": want at most 32 entries`)
	big := ref("gpuModel", strings.Repeat("H", MaxMetadataBytes))
	_, err = h.getMetrics(big)
	requireCode(t, err, codes.InvalidArgument, "want at most 8192 bytes of keys and values")
	for _, call := range []func(*pb.ScaledObjectRef) error{
		func(r *pb.ScaledObjectRef) error { _, err := h.client.IsActive(context.Background(), r); return err },
		func(r *pb.ScaledObjectRef) error {
			_, err := h.client.GetMetricSpec(context.Background(), r)
			return err
		},
	} {
		requireCode(t, call(big), codes.InvalidArgument)
	}
	_, err = h.getMetrics(ref("gpuModel", strings.Repeat("H", 4000)))
	requireCode(t, err, codes.NotFound) // a long value within the limit is parsed
}

// serveOn runs Serve on a bufconn listener until the test ends and returns a
// client connection.
func serveOn(t *testing.T, srv *Server) (*grpc.ClientConn, context.CancelFunc, <-chan error) {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn, cancel, done
}

func TestServeLimits(t *testing.T) {
	t.Parallel()
	s, err := NewSampler(SamplerConfig{Source: newFake(1), Interval: MinInterval})
	require.NoError(t, err)
	srv, err := NewServer(ServerConfig{Sampler: s})
	require.NoError(t, err)
	conn, cancel, done := serveOn(t, srv)
	client := pb.NewExternalScalerClient(conn)
	require.Eventually(t, func() bool { _, err := s.Current(); return err == nil }, 10*time.Second, time.Millisecond)

	r := ref("gpuModel", strings.Repeat("H", DefaultMaxRecvMsgSize))
	_, err = client.GetMetrics(context.Background(), &pb.GetMetricsRequest{ScaledObjectRef: r})
	requireCode(t, err, codes.ResourceExhausted, "larger than max")

	// Reflection is off unless asked for.
	stream, err := rpb.NewServerReflectionClient(conn).ServerReflectionInfo(context.Background())
	require.NoError(t, err)
	_ = stream.Send(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}}) // io.EOF once refused
	_, err = stream.Recv()
	requireCode(t, err, codes.Unimplemented)
	cancel()
	require.NoError(t, <-done)
}

func TestServeReflectionWhenAsked(t *testing.T) {
	t.Parallel()
	s, err := NewSampler(SamplerConfig{Source: newFake(1), Interval: MinInterval})
	require.NoError(t, err)
	srv, err := NewServer(ServerConfig{Sampler: s, Reflection: true})
	require.NoError(t, err)
	conn, cancel, done := serveOn(t, srv)
	stream, err := rpb.NewServerReflectionClient(conn).ServerReflectionInfo(context.Background())
	require.NoError(t, err)
	require.NoError(t, stream.Send(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}}))
	resp, err := stream.Recv()
	require.NoError(t, err)
	var names []string
	for _, svc := range resp.GetListServicesResponse().GetService() {
		names = append(names, svc.GetName())
	}
	assert.Contains(t, names, "externalscaler.ExternalScaler")
	require.NoError(t, stream.CloseSend())
	cancel()
	require.NoError(t, <-done)
}

// The unary deadline: under the guard's unary interceptor, with the
// Server's RPCTimeout, a handler that outlives it is answered
// DeadlineExceeded, and sees its context end.
func TestUnaryDeadline(t *testing.T) {
	t.Parallel()
	s, err := NewSampler(SamplerConfig{Source: newFake(1)})
	require.NoError(t, err)
	srv, err := NewServer(ServerConfig{Sampler: s, RPCTimeout: 10 * time.Millisecond})
	require.NoError(t, err)
	l := srv.limits.withDefaults()
	g := newGuard(l.MaxStreams, l.FirstMessageTimeout, l.RPCTimeout)
	slow := func(ctx context.Context, _ any) (any, error) {
		_, ok := ctx.Deadline()
		assert.True(t, ok)
		<-ctx.Done()
		return "late", nil
	}
	// The parent's 10 s bound the test should the interceptor lose the deadline.
	parent, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx, err := g.tap(parent, nil)
	require.NoError(t, err)
	_, err = g.unary(ctx, nil, &grpc.UnaryServerInfo{}, slow)
	requireCode(t, err, codes.DeadlineExceeded)
	assert.Zero(t, g.open.Load(), "the call's slot is given back")

	ctx, err = g.tap(parent, nil)
	require.NoError(t, err)
	resp, err := g.unary(ctx, nil, &grpc.UnaryServerInfo{},
		func(context.Context, any) (any, error) { return "ok", nil })
	require.NoError(t, err)
	assert.Equal(t, "ok", resp)
	// A context the tap did not make still gets the deadline.
	_, err = g.unary(parent, nil, &grpc.UnaryServerInfo{}, slow)
	requireCode(t, err, codes.DeadlineExceeded)
}

// The first-message deadline: a call whose request never arrives ends with
// Canceled at FirstMessageTimeout and gives its slot back; a request that
// arrives after it is refused without its handler; the parent's earlier
// deadline comes first.
func TestFirstMessageDeadline(t *testing.T) {
	t.Parallel()
	g := newGuard(2, 20*time.Millisecond, time.Second)
	ctx, err := g.tap(context.Background(), nil)
	require.NoError(t, err)
	assert.Equal(t, int64(1), g.open.Load())
	<-ctx.Done()
	assert.ErrorIs(t, ctx.Err(), context.Canceled)
	require.Eventually(t, func() bool { return g.open.Load() == 0 }, 10*time.Second, time.Millisecond)
	_, err = g.unary(ctx, nil, &grpc.UnaryServerInfo{}, func(context.Context, any) (any, error) {
		t.Error("the handler ran after the first-message deadline")
		return nil, nil
	})
	requireCode(t, err, codes.Canceled)
	assert.Zero(t, g.open.Load(), "a late request does not give the slot back twice")

	parent, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	g = newGuard(2, time.Hour, time.Hour)
	ctx, err = g.tap(parent, nil)
	require.NoError(t, err)
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the call outlived its parent's deadline")
	}
}

// A stream's context ends with its parent's once its handler runs, and its
// slot is given back when the handler returns.
func TestStreamFollowsParent(t *testing.T) {
	t.Parallel()
	g := newGuard(2, time.Hour, time.Hour)
	parent, cancel := context.WithCancel(context.Background())
	ctx, err := g.tap(parent, nil)
	require.NoError(t, err)
	ss := &ctxStream{ctx: ctx}
	err = g.stream(nil, ss, &grpc.StreamServerInfo{}, func(_ any, s grpc.ServerStream) error {
		require.NoError(t, s.RecvMsg(nil))
		cancel()
		<-s.Context().Done()
		return s.Context().Err()
	})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, g.open.Load())
}

// ctxStream is a grpc.ServerStream with a context whose RecvMsg succeeds.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }
func (s *ctxStream) RecvMsg(any) error        { return nil }

// A Source call that never returns must not hold shutdown forever: Serve
// waits ShutdownTimeout for the Sampler, logs, and returns.
func TestServeReturnsWhileASourceCallHangs(t *testing.T) {
	t.Parallel()
	src := newFake(1)
	var logs testutil.SyncBuffer
	s, err := NewSampler(SamplerConfig{Source: src, Interval: MinInterval})
	require.NoError(t, err)
	srv, err := NewServer(ServerConfig{Sampler: s, ShutdownTimeout: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	_, cancel, done := serveOn(t, srv)
	require.Eventually(t, func() bool { _, err := s.Current(); return err == nil }, 10*time.Second, time.Millisecond)
	hang := make(chan struct{})
	src.mu.Lock()
	src.hang = hang
	src.mu.Unlock()
	require.Eventually(t, func() bool { return src.reading.Load() > 0 }, 10*time.Second, time.Millisecond)

	start := time.Now()
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return while a Source call hung")
	}
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Contains(t, logs.String(), "sampler did not stop: a source call is blocked")
	assert.Equal(t, int32(0), src.closes.Load(), "the Source is not closed under a hung call")

	close(hang) // the call returns: the Sampler closes the Source and its goroutine ends
	require.Eventually(t, func() bool { return src.closes.Load() == 1 }, 10*time.Second, time.Millisecond)
}

// BenchmarkGuardUnary is the guard's own cost per unary call: the tap, its
// interceptor and the slot given back, on a parent like gRPC's stream context.
func BenchmarkGuardUnary(b *testing.B) {
	g := newGuard(DefaultMaxStreams, DefaultFirstMessageTimeout, DefaultRPCTimeout)
	h := func(context.Context, any) (any, error) { return nil, nil }
	info := &grpc.UnaryServerInfo{}
	b.ReportAllocs()
	for b.Loop() {
		parent, cancel := context.WithCancel(context.Background())
		ctx, err := g.tap(parent, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := g.unary(ctx, nil, info, h); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
}

// A call gRPC ends before any handler runs (an unknown method, an oversized
// or malformed request, a reset: gRPC cancels the stream's context) gives its
// slot back then, not at the first-message deadline, and its context ends.
func TestCallEndedBeforeHandlerReleasesAtOnce(t *testing.T) {
	t.Parallel()
	g := newGuard(2, time.Hour, time.Hour)
	parent, cancel := context.WithCancel(context.Background())
	ctx, err := g.tap(parent, nil)
	require.NoError(t, err)
	cancel()
	require.Eventually(t, func() bool { return g.open.Load() == 0 }, 10*time.Second, time.Millisecond)
	<-ctx.Done()
	assert.ErrorIs(t, ctx.Err(), context.Canceled)
}
