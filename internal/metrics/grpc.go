// SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"context"
	"net"
	"strings"
	"sync/atomic"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/prometheus/client_golang/prometheus"
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

// callCounters are one method's rpc_requests_total counters by code. Each is
// made on the first call that ends with its code (so only codes seen are
// exported) and kept, so that counting a call is a map lookup and an atomic
// load instead of the vector's label hashing, validation and locking.
type callCounters struct {
	method string
	byCode [codes.Unauthenticated + 1]atomic.Pointer[prometheus.Counter]
}

// callTable returns the counters of the full method names of the services
// serve registers (or may: reflection), without the leading "/", and of
// "unknown" for any other name. It is read-only once made.
func callTable() map[string]*callCounters {
	table := map[string]*callCounters{unknownMethodLabel: {method: unknownMethodLabel}}
	for _, sd := range []grpc.ServiceDesc{pb.ExternalScaler_ServiceDesc, healthpb.Health_ServiceDesc,
		rpb.ServerReflection_ServiceDesc, rpbalpha.ServerReflection_ServiceDesc} {
		for _, md := range sd.Methods {
			name := sd.ServiceName + "/" + md.MethodName
			table[name] = &callCounters{method: name}
		}
		for _, st := range sd.Streams {
			name := sd.ServiceName + "/" + st.StreamName
			table[name] = &callCounters{method: name}
		}
	}
	return table
}

// unknownMethodLabel is the method label of a call to a method serve does not define.
const unknownMethodLabel = "unknown"

func (m *Metrics) count(method string, err error) {
	row := m.calls[strings.TrimPrefix(method, "/")]
	if row == nil {
		row = m.calls[unknownMethodLabel]
	}
	code := status.Code(err)
	if int(code) >= len(row.byCode) { // a code gRPC does not define
		m.rpcs.WithLabelValues(row.method, code.String()).Inc()
		return
	}
	c := row.byCode[code].Load()
	if c == nil {
		// Racing first calls store the vector's same child: either is right.
		made := m.rpcs.WithLabelValues(row.method, code.String())
		c = &made
		row.byCode[code].Store(c)
	}
	(*c).Inc()
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
