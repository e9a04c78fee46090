// SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// ServerOptions returns the interceptors that count calls by method and code
// and streams open: pass them in scaler.ServerConfig.GRPCOptions. Only
// registered methods reach interceptors, so the method label stays bounded.
func (m *Metrics) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(m.unary),
		grpc.ChainStreamInterceptor(m.stream),
	}
}

func (m *Metrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := h(ctx, req)
	m.count(info.FullMethod, err)
	return resp, err
}

func (m *Metrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	m.streams.Inc()
	defer m.streams.Dec()
	err := h(srv, ss)
	m.count(info.FullMethod, err)
	return err
}

func (m *Metrics) count(method string, err error) {
	m.rpcs.WithLabelValues(strings.TrimPrefix(method, "/"), status.Code(err).String()).Inc()
}
