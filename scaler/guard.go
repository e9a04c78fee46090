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
// call that sends its headers and never its message. Its unary interceptor
// also gives each unary call the server-side deadline rpcTimeout: one
// interceptor, not a chain of two, on every request's path.
type guard struct {
	max        int64
	firstMsg   time.Duration
	rpcTimeout time.Duration
	open       atomic.Int64
	// releaseFn is release as a func value, made once instead of per call.
	releaseFn func()
	// onRefused, when set, is called for each call refused for the cap.
	onRefused func()
}

// guardKey is the context key of a call's *guarded.
type guardKey struct{}

// guarded is one admitted call's context (the tap's, canceled after firstMsg
// unless its message came) with what the guard keeps of the call: its
// first-message timer, and stop, which cancels the release the context's end
// would do. Being the context itself spares a context.WithValue per call.
type guarded struct {
	context.Context
	timer *time.Timer
	stop  func() bool
}

// Value returns c for guardKey, and otherwise what c's parent holds.
func (c *guarded) Value(key any) any {
	if key == (guardKey{}) {
		return c
	}
	return c.Context.Value(key)
}

func newGuard(maxStreams int, firstMsg, rpcTimeout time.Duration) *guard {
	g := &guard{max: int64(maxStreams), firstMsg: firstMsg, rpcTimeout: rpcTimeout}
	g.releaseFn = g.release
	return g
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
	return &guarded{Context: ctx, timer: time.AfterFunc(g.firstMsg, cancel), stop: context.AfterFunc(ctx, g.releaseFn)}, nil
}

func (g *guard) release() { g.open.Add(-1) }

// call returns ctx's admitted call, nil for a context the tap did not make.
func call(ctx context.Context) *guarded {
	c, _ := ctx.Value(guardKey{}).(*guarded)
	return c
}

// done gives c's slot back when its handler returns, sparing the goroutine
// the context's end would start; exactly one of the two releases it.
func (g *guard) done(c *guarded) {
	if c != nil && c.stop() {
		g.release()
	}
}

// received stops c's first-message timer: the request has arrived.
func received(c *guarded) {
	if c != nil {
		c.timer.Stop()
	}
}

// unary runs once gRPC has decoded the request: it stops the first-message
// timer, runs the handler under the deadline rpcTimeout, and gives the slot
// back when the handler returns.
func (g *guard) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	c := call(ctx)
	received(c)
	defer g.done(c)
	return withDeadline(ctx, g.rpcTimeout, req, h)
}

// stream stops the first-message timer at the stream's first received message.
func (g *guard) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	c := call(ss.Context())
	defer g.done(c)
	return h(srv, &firstRecv{ServerStream: ss, call: c})
}

type firstRecv struct {
	grpc.ServerStream
	call *guarded
	got  bool
}

func (s *firstRecv) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if err == nil && !s.got {
		s.got = true
		received(s.call)
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
