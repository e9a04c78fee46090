// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// Limits the Server applies to every caller (see [Server.ServerOptions]).
const (
	// DefaultRPCTimeout is the server-side deadline of a unary call when
	// ServerConfig.RPCTimeout is 0. Calls are answered from memory in
	// microseconds; the deadline only bounds a handler that might block one day.
	DefaultRPCTimeout = 5 * time.Second
	// DefaultMaxRecvMsgSize is the largest request accepted (bytes) when
	// ServerConfig.MaxRecvMsgSize is 0. A KEDA request is a few hundred bytes.
	DefaultMaxRecvMsgSize = 64 << 10
	// MaxHeaderListSize bounds a request's gRPC metadata (headers, bytes).
	MaxHeaderListSize = 16 << 10
	// DefaultFirstMessageTimeout bounds the time from a call's headers to its
	// request message when Limits.FirstMessageTimeout is 0; a call still
	// waiting then ends with Canceled. KEDA sends both in one write.
	DefaultFirstMessageTimeout = 5 * time.Second
	// DefaultMaxStreams is how many calls (unary and streams together) are
	// served at once over all connections when Limits.MaxStreams is 0; more
	// are refused with ResourceExhausted. KEDA holds one StreamIsActive
	// stream per ScaledObject with an external-push trigger on this node, and
	// a node serves a few dozen workloads at most (56 MIG slices on 8 GPUs).
	// Each held call costs about 30 KiB: 256 of them keep the worst accepted
	// flood under the DaemonSet's 64 MiB (BENCHMARKS.md).
	DefaultMaxStreams = 256
	// DefaultMaxConnections is how many connections a listener serves at once
	// when Limits.MaxConnections is 0; more are closed as they are accepted.
	// KEDA's operator keeps one connection per scaler address.
	DefaultMaxConnections = 64
	// ConnectionTimeout bounds a new connection's TLS handshake and HTTP/2
	// preface (gRPC's default is 120 s).
	ConnectionTimeout = 5 * time.Second
	// MaxMetadataEntries bounds the entries of a trigger's scalerMetadata.
	// KEDA forwards every key of the trigger; this scaler knows fewer than 20.
	MaxMetadataEntries = 32
	// MaxMetadataBytes bounds the keys and values of a trigger's
	// scalerMetadata together (bytes): room for 100 MIG UUIDs in gpuUUIDs.
	MaxMetadataBytes = 8 << 10
	// StreamWorkers is how many goroutines gRPC keeps to run calls on
	// (grpc.NumStreamWorkers); a call finding none idle gets a goroutine of
	// its own, as without workers. A new goroutine's stack grows twice on
	// the way to the handler (gRPC's receive path is deep), about a third of
	// a GetMetrics call's server instructions and 12-14 % of its server CPU;
	// a reused one has grown already (BENCHMARKS.md). A StreamIsActive stream holds its worker for
	// its life. 64 covers the concurrency KEDA's operator reaches; an idle
	// worker costs one parked goroutine (a few KiB of stack).
	StreamWorkers = 64
)

// Keepalive policy. KEDA's client (v2.21) sends no keepalive pings; the server
// pings an idle connection itself so that a vanished peer's StreamIsActive
// streams end instead of lingering, and lets well-behaved clients ping every
// 10 s, with or without a call open.
var (
	keepaliveEnforcement = keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}
	keepaliveServer      = keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}
)

// Limits are the bounds a gRPC server of this project applies to its callers.
// Zero fields mean their defaults.
type Limits struct {
	// RPCTimeout is the server-side deadline of every unary call, counted
	// from its decoded request; 0 means DefaultRPCTimeout.
	RPCTimeout time.Duration
	// MaxRecvMsgSize is the largest request accepted, in bytes; 0 means
	// DefaultMaxRecvMsgSize.
	MaxRecvMsgSize int
	// FirstMessageTimeout bounds the wait for a call's request message; 0
	// means DefaultFirstMessageTimeout.
	FirstMessageTimeout time.Duration
	// MaxStreams bounds the calls served at once; 0 means DefaultMaxStreams.
	MaxStreams int
	// OnRefused, when set, is called for every call refused for MaxStreams
	// (the metrics' refusal counter).
	OnRefused func()
}

func (l Limits) withDefaults() Limits {
	if l.RPCTimeout <= 0 {
		l.RPCTimeout = DefaultRPCTimeout
	}
	if l.MaxRecvMsgSize <= 0 {
		l.MaxRecvMsgSize = DefaultMaxRecvMsgSize
	}
	if l.FirstMessageTimeout <= 0 {
		l.FirstMessageTimeout = DefaultFirstMessageTimeout
	}
	if l.MaxStreams <= 0 {
		l.MaxStreams = DefaultMaxStreams
	}
	return l
}

// ServerOptions returns the grpc.ServerOptions for l. Requests above
// MaxRecvMsgSize bytes and metadata above MaxHeaderListSize are refused with
// ResourceExhausted; so is a call above MaxStreams open at once (at most
// MaxStreams per connection, too); a call whose request has not arrived
// FirstMessageTimeout after its headers ends with Canceled; a new connection
// gets ConnectionTimeout for its handshake; the keepalive policy pings idle
// peers (a frozen one is dropped after 40 s) and tolerates pings every 10 s;
// every unary call gets the server-side deadline RPCTimeout; calls run on
// StreamWorkers reused goroutines while some are idle. Each call of
// ServerOptions counts MaxStreams afresh: use its result for one grpc.Server.
func (l Limits) ServerOptions() []grpc.ServerOption {
	l = l.withDefaults()
	g := newGuard(l.MaxStreams, l.FirstMessageTimeout, l.RPCTimeout)
	g.onRefused = l.OnRefused
	return append(g.options(),
		grpc.MaxRecvMsgSize(l.MaxRecvMsgSize),
		grpc.MaxHeaderListSize(MaxHeaderListSize),
		grpc.MaxConcurrentStreams(uint32(l.MaxStreams)),
		grpc.ConnectionTimeout(ConnectionTimeout),
		grpc.KeepaliveEnforcementPolicy(keepaliveEnforcement),
		grpc.KeepaliveParams(keepaliveServer),
		// Experimental in grpc-go (v1.84); its absence would only cost speed.
		grpc.NumStreamWorkers(StreamWorkers),
	)
}

// ServerOptions returns the grpc.ServerOptions that [Server.Serve] passes
// before ServerConfig.GRPCOptions: [Limits.ServerOptions] with the
// ServerConfig's limits. Callers that run their own grpc.Server and
// [Server.Register] should pass them too (once per grpc.Server).
func (s *Server) ServerOptions() []grpc.ServerOption {
	return s.limits.ServerOptions()
}

// withDeadline gives a unary call the server-side deadline timeout (or the
// client's, if sooner), and answers DeadlineExceeded for a handler that
// finished after it.
func withDeadline(ctx context.Context, timeout time.Duration, req any, h grpc.UnaryHandler) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := h(ctx, req)
	if err == nil && ctx.Err() != nil {
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	return resp, err
}

// checkMetadataSize rejects scalerMetadata above MaxMetadataEntries entries or
// MaxMetadataBytes bytes, before anything parses it.
func checkMetadataSize(md map[string]string) error {
	if len(md) > MaxMetadataEntries {
		return &MetadataError{Key: "scalerMetadata", Value: fmt.Sprintf("%d entries", len(md)),
			Want: fmt.Sprintf("at most %d entries", MaxMetadataEntries)}
	}
	n := 0
	for k, v := range md {
		n += len(k) + len(v)
	}
	if n > MaxMetadataBytes {
		return &MetadataError{Key: "scalerMetadata", Value: fmt.Sprintf("%d bytes", n),
			Want: fmt.Sprintf("at most %d bytes of keys and values", MaxMetadataBytes)}
	}
	return nil
}
