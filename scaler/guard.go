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
// also gives each unary call the server-side deadline rpcTimeout.
//
// Each admitted call's context is one *guarded with one timer: it runs the
// first-message deadline, then (unary) the call's deadline, with no context
// or timer made per phase (BENCHMARKS.md, issue 12).
type guard struct {
	max        int64
	firstMsg   time.Duration
	rpcTimeout time.Duration
	open       atomic.Int64
	// onRefused, when set, is called for each call refused for the cap.
	onRefused func()
}

func newGuard(maxStreams int, firstMsg, rpcTimeout time.Duration) *guard {
	return &guard{max: int64(maxStreams), firstMsg: firstMsg, rpcTimeout: rpcTimeout}
}

// tap admits a new call or refuses it with ResourceExhausted when max calls
// are open. An admitted call's context ends after firstMsg unless its request
// message arrives first. Its slot is given back when its handler returns,
// or, for a call that never reaches a handler, when gRPC ends it (an unknown
// method, a request too large or malformed, a reset) or at that deadline (a
// request that never comes). gRPC runs tap under the connection's lock.
func (g *guard) tap(ctx context.Context, _ *tap.Info) (context.Context, error) {
	if g.open.Add(1) > g.max {
		g.open.Add(-1)
		if g.onRefused != nil {
			g.onRefused()
		}
		return nil, status.Errorf(codes.ResourceExhausted, "server busy: %d calls open, the most it serves at once", g.max)
	}
	return newGuarded(ctx, g), nil
}

// call returns ctx's admitted call, nil for a context the tap did not make.
func call(ctx context.Context) *guarded {
	c, _ := ctx.Value(guardKey{}).(*guarded)
	return c
}

// unary runs once gRPC has decoded the request: it turns the call's
// first-message deadline into its deadline rpcTimeout, runs the handler, and
// gives the slot back when the handler returns. A call whose first-message
// deadline fired meanwhile is answered Canceled without its handler.
func (g *guard) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	c := call(ctx)
	if c == nil {
		return withDeadline(ctx, g.rpcTimeout, req, h)
	}
	if !c.received(g.rpcTimeout) {
		return nil, status.Error(codes.Canceled, "request message arrived after the first-message deadline")
	}
	defer c.finish()
	resp, err := h(ctx, req)
	if err == nil && c.Err() != nil {
		return nil, status.FromContextError(c.Err()).Err()
	}
	return resp, err
}

// stream stops the first-message deadline at the first received message and
// gives the slot back when the handler returns.
func (g *guard) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	c := call(ss.Context())
	if c == nil {
		return h(srv, ss)
	}
	defer c.finish()
	return h(srv, &firstRecv{ServerStream: ss, call: c})
}

// firstRecv stops its call's first-message deadline at the first message.
type firstRecv struct {
	grpc.ServerStream
	call *guarded
	got  bool
}

func (s *firstRecv) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if err == nil && !s.got {
		s.got = true
		s.call.received(0)
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
