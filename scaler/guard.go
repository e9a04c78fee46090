// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"context"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// guard bounds calls before their handler runs: at most max calls (unary and
// streams) open at once over all connections, and each must deliver its
// request message within firstMsg of its headers. gRPC reads the request of a
// unary call before any interceptor runs, so only the transport's tap sees a
// call that sends its headers and never its message.
type guard struct {
	max      int64
	firstMsg time.Duration
	open     atomic.Int64
	// onRefused, when set, is called for each call refused for the cap.
	onRefused func()
}

// guardKey is the context key of a call's *guarded.
type guardKey struct{}

// guarded is one admitted call: its first-message timer, and stop, which
// cancels the release its context's end would do.
type guarded struct {
	timer *time.Timer
	stop  func() bool
}

func newGuard(maxStreams int, firstMsg time.Duration) *guard {
	return &guard{max: int64(maxStreams), firstMsg: firstMsg}
}

// tap admits a new call or refuses it with ResourceExhausted when max calls
// are open. An admitted call's context ends after firstMsg unless a request
// message arrives first (received stops the timer); the slot is given back
// when the call's context ends, however it ends.
func (g *guard) tap(ctx context.Context, _ *tap.Info) (context.Context, error) {
	if g.open.Add(1) > g.max {
		g.open.Add(-1)
		if g.onRefused != nil {
			g.onRefused()
		}
		return nil, status.Errorf(codes.ResourceExhausted, "server busy: %d calls open, the most it serves at once", g.max)
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &guarded{timer: time.AfterFunc(g.firstMsg, cancel), stop: context.AfterFunc(ctx, g.release)}
	return context.WithValue(ctx, guardKey{}, c), nil
}

func (g *guard) release() { g.open.Add(-1) }

// done gives ctx's slot back when its handler returns, sparing the goroutine
// the context's end would start; exactly one of the two releases it.
func (g *guard) done(ctx context.Context) {
	if c, ok := ctx.Value(guardKey{}).(*guarded); ok && c.stop() {
		g.release()
	}
}

// received stops ctx's first-message timer: the request has arrived.
func received(ctx context.Context) {
	if c, ok := ctx.Value(guardKey{}).(*guarded); ok {
		c.timer.Stop()
	}
}

// unary runs once gRPC has decoded the request.
func (g *guard) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	received(ctx)
	defer g.done(ctx)
	return h(ctx, req)
}

// stream stops the first-message timer at the stream's first received message.
func (g *guard) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	defer g.done(ss.Context())
	return h(srv, &firstRecv{ServerStream: ss})
}

type firstRecv struct {
	grpc.ServerStream
	got bool
}

func (s *firstRecv) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if err == nil && !s.got {
		s.got = true
		received(s.Context())
	}
	return err
}

// options are the guard's server options.
func (g *guard) options() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.InTapHandle(g.tap),
		grpc.ChainUnaryInterceptor(g.unary),
		grpc.ChainStreamInterceptor(g.stream),
	}
}
