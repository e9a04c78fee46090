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
	// MaxMetadataEntries bounds the entries of a trigger's scalerMetadata.
	// KEDA forwards every key of the trigger; this scaler knows fewer than 20.
	MaxMetadataEntries = 32
	// MaxMetadataBytes bounds the keys and values of a trigger's
	// scalerMetadata together (bytes): room for 100 MIG UUIDs in gpuUUIDs.
	MaxMetadataBytes = 8 << 10
)

// Keepalive policy. KEDA's client (v2.21) sends no keepalive pings; the server
// pings an idle connection itself so that a vanished peer's StreamIsActive
// streams end instead of lingering, and lets well-behaved clients ping every
// 10 s, with or without a call open.
var (
	keepaliveEnforcement = keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}
	keepaliveServer      = keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}
)

// ServerOptions returns the grpc.ServerOptions that [Server.Serve] passes
// before ServerConfig.GRPCOptions: the request and header size limits, the
// keepalive policy, and a deadline on every unary call ([LimitOptions] with
// the ServerConfig's RPCTimeout and MaxRecvMsgSize). Callers that run their
// own grpc.Server and [Server.Register] should pass them too.
func (s *Server) ServerOptions() []grpc.ServerOption {
	return LimitOptions(s.rpcTimeout, s.maxRecv)
}

// LimitOptions returns the limits every ExternalScaler server of this project
// applies, for servers other than [Server] (the cluster aggregator): requests
// above maxRecvMsgSize bytes (0 means DefaultMaxRecvMsgSize) and metadata above
// MaxHeaderListSize are refused with ResourceExhausted, the keepalive policy
// pings idle peers and tolerates pings every 10 s, and every unary call gets
// the server-side deadline rpcTimeout (0 means DefaultRPCTimeout).
func LimitOptions(rpcTimeout time.Duration, maxRecvMsgSize int) []grpc.ServerOption {
	if rpcTimeout <= 0 {
		rpcTimeout = DefaultRPCTimeout
	}
	if maxRecvMsgSize <= 0 {
		maxRecvMsgSize = DefaultMaxRecvMsgSize
	}
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxRecvMsgSize),
		grpc.MaxHeaderListSize(MaxHeaderListSize),
		grpc.KeepaliveEnforcementPolicy(keepaliveEnforcement),
		grpc.KeepaliveParams(keepaliveServer),
		grpc.ChainUnaryInterceptor(deadlineInterceptor(rpcTimeout)),
	}
}

// deadline is the Server's deadline interceptor, with its RPCTimeout.
func (s *Server) deadline(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	return deadlineInterceptor(s.rpcTimeout)(ctx, req, info, h)
}

// deadlineInterceptor gives a unary call the server-side deadline timeout (or
// the client's, if sooner), and answers DeadlineExceeded for a handler that
// finished after it.
func deadlineInterceptor(timeout time.Duration) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		resp, err := h(ctx, req)
		if err == nil && ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return resp, err
	}
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
