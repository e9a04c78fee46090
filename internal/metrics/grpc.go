// SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"context"
	"net"
	"sync/atomic"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	rpbalpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"

	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// ServerOptions returns what counts the calls no service takes. Alone it
// counts nothing else: register the services through [Metrics.Services]
// too, or use [Metrics.Instrument], which sets both on a
// scaler.ServerConfig. A call to a method that no service defines is
// answered Unimplemented through gRPC's unknown-service handler and counted
// under the method label "unknown" (one label however many names are
// tried).
func (m *Metrics) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.UnknownServiceHandler(m.unknownMethod)}
}

// Instrument returns cfg with serve's counting: the unknown-method handler
// appended to GRPCOptions, [Metrics.Services], and the calls and
// connections refused for the limits counted in refused_total.
func (m *Metrics) Instrument(cfg scaler.ServerConfig) scaler.ServerConfig {
	cfg.GRPCOptions = append(cfg.GRPCOptions, m.ServerOptions()...)
	cfg.Services = m.Services
	cfg.Limits.OnRefused = m.CallRefused
	cfg.OnConnRefused = m.ConnRefused
	return cfg
}

func (m *Metrics) unknownMethod(any, grpc.ServerStream) error {
	err := status.Error(codes.Unimplemented, "unknown service or method")
	m.count(m.calls[unknownMethodLabel], err)
	return err
}

// Services returns gs wrapped so that every service registered through it
// counts its calls in rpc_requests_total, by method and by the code gRPC
// answers with: its handler's, or the request's decoding's (a request above
// the size limit, a malformed message, one that never arrived before the
// first-message deadline), which gRPC reports before any interceptor runs.
// Its streams are counted in streams_open while they are served. Register
// services (and reflection) on the result instead of on gs.
//
// It replaces a stats handler, which gRPC feeds five to seven events per
// call, allocated whatever the handler does (17 allocations, 1.15 KB per
// GetMetrics call; BENCHMARKS.md, issue 12). Calls gRPC refuses before a
// stream exists (the call cap, a malformed method name) are not calls here:
// the first is in refused_total.
func (m *Metrics) Services(gs reflection.GRPCServer) reflection.GRPCServer {
	return countedServices{GRPCServer: gs, m: m}
}

// countedServices registers each service with its handlers wrapped in
// counting ones.
type countedServices struct {
	reflection.GRPCServer
	m *Metrics
}

func (c countedServices) RegisterService(sd *grpc.ServiceDesc, impl any) {
	counted := *sd
	counted.Methods = make([]grpc.MethodDesc, len(sd.Methods))
	for i, md := range sd.Methods {
		md.Handler = c.m.countUnary(c.m.row(sd.ServiceName+"/"+md.MethodName), md.Handler)
		counted.Methods[i] = md
	}
	counted.Streams = make([]grpc.StreamDesc, len(sd.Streams))
	for i, st := range sd.Streams {
		st.Handler = c.m.countStream(c.m.row(sd.ServiceName+"/"+st.StreamName), st.Handler)
		counted.Streams[i] = st
	}
	c.GRPCServer.RegisterService(&counted, impl)
}

func (m *Metrics) countUnary(row *callCounters, h grpc.MethodHandler) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, in grpc.UnaryServerInterceptor) (any, error) {
		resp, err := h(srv, ctx, dec, in)
		m.count(row, err)
		return resp, err
	}
}

func (m *Metrics) countStream(row *callCounters, h grpc.StreamHandler) grpc.StreamHandler {
	return func(srv any, ss grpc.ServerStream) error {
		m.streams.Inc()
		defer m.streams.Dec()
		err := h(srv, ss)
		m.count(row, err)
		return err
	}
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

// row returns the counters of a full method name without its leading "/",
// those of "unknown" for a method serve does not define.
func (m *Metrics) row(method string) *callCounters {
	if row := m.calls[method]; row != nil {
		return row
	}
	return m.calls[unknownMethodLabel]
}

// count counts a call of row's method that ended with err, under the code
// gRPC answers for it: err's status, or, for an error without one,
// Canceled or DeadlineExceeded for a context's error and Unknown otherwise.
func (m *Metrics) count(row *callCounters, err error) {
	code := codeOf(err)
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

// codeOf is the code gRPC answers a call whose handler returned err with.
func codeOf(err error) codes.Code {
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	return status.FromContextError(err).Code()
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
