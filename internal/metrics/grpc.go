// SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"context"
	"net"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	rpbalpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// ServerOptions returns what counts calls and streams: pass them in
// scaler.ServerConfig.GRPCOptions. A stats handler counts every call that
// gets as far as a stream, by method and code, including those refused
// before any handler (a request above the size limit, a malformed message,
// a first-message deadline, an unknown method: answered Unimplemented through
// gRPC's unknown-service handler, which the stats handler sees). A method no
// service of serve's defines is labelled "unknown", so the label stays
// bounded. A stream interceptor keeps streams_open.
func (m *Metrics) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.StatsHandler(rpcStats{m}),
		grpc.ChainStreamInterceptor(m.stream),
		grpc.UnknownServiceHandler(unknownMethod),
	}
}

func (m *Metrics) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	m.streams.Inc()
	defer m.streams.Dec()
	return h(srv, ss)
}

func unknownMethod(any, grpc.ServerStream) error {
	return status.Error(codes.Unimplemented, "unknown service or method")
}

// rpcStats is the stats handler: it acts on a call's End only.
type rpcStats struct{ m *Metrics }

func (rpcStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (rpcStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (rpcStats) HandleConn(context.Context, stats.ConnStats)                       {}

func (s rpcStats) HandleRPC(ctx context.Context, st stats.RPCStats) {
	end, ok := st.(*stats.End)
	if !ok {
		return
	}
	method, _ := grpc.Method(ctx)
	s.m.count(method, end.Error)
}

// knownMethods are the full method names of the services serve registers
// (or may: reflection), without the leading "/".
var knownMethods = func() map[string]bool {
	known := map[string]bool{}
	for _, sd := range []grpc.ServiceDesc{pb.ExternalScaler_ServiceDesc, healthpb.Health_ServiceDesc,
		rpb.ServerReflection_ServiceDesc, rpbalpha.ServerReflection_ServiceDesc} {
		for _, md := range sd.Methods {
			known[sd.ServiceName+"/"+md.MethodName] = true
		}
		for _, st := range sd.Streams {
			known[sd.ServiceName+"/"+st.StreamName] = true
		}
	}
	return known
}()

func (m *Metrics) count(method string, err error) {
	if len(method) > 0 && method[0] == '/' {
		method = method[1:]
	}
	if !knownMethods[method] {
		method = "unknown"
	}
	m.rpcs.WithLabelValues(method, status.Code(err).String()).Inc()
}

// CountHandshakes wraps the server's transport credentials so that every
// failed handshake (a plaintext client on the TLS port, a client certificate
// the CA did not sign, a protocol error) counts in
// tls_handshake_failures_total. Nil creds (plaintext) is returned as nil.
func (m *Metrics) CountHandshakes(creds credentials.TransportCredentials) credentials.TransportCredentials {
	if creds == nil {
		return nil
	}
	return countedCreds{TransportCredentials: creds, m: m}
}

type countedCreds struct {
	credentials.TransportCredentials
	m *Metrics
}

func (c countedCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		c.m.handshakeFailures.Inc()
	}
	return conn, info, err
}

func (c countedCreds) Clone() credentials.TransportCredentials {
	return countedCreds{TransportCredentials: c.TransportCredentials.Clone(), m: c.m}
}

// ConnRefused counts a connection refused for the listener's connection
// limit: pass it as scaler.ServerConfig.OnConnRefused.
func (m *Metrics) ConnRefused() { m.refused.WithLabelValues("connections").Inc() }

// CallRefused counts a call refused for the limit on calls open at once:
// pass it as scaler.Limits.OnRefused.
func (m *Metrics) CallRefused() { m.refused.WithLabelValues("calls").Inc() }
