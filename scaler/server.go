// SPDX-License-Identifier: Apache-2.0

package scaler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

// DefaultShutdownTimeout is how long Serve waits for in-flight calls after its
// context ends before it cuts them off.
const DefaultShutdownTimeout = 10 * time.Second

// DefaultStreamResend is StreamIsActive's default repeat of an active state:
// KEDA drops a `true` it cannot act on (the ScaledObject is being
// reconciled, the scale loop is busy), and without a repeat the fast wake-up
// would then wait for the next inactive→active transition.
const DefaultStreamResend = 10 * time.Second

// ServerConfig configures a [Server].
type ServerConfig struct {
	// Sampler provides the snapshots; Serve runs it. Required.
	Sampler *Sampler
	// Logger receives lifecycle events; nil discards. The request path does not log.
	Logger *slog.Logger
	// GRPCOptions are passed to grpc.NewServer in Serve after
	// [Server.ServerOptions] (TLS credentials, metrics' unknown-method
	// handler).
	GRPCOptions []grpc.ServerOption
	// Services, when set, wraps the grpc.Server that Serve registers its
	// services (and reflection) on, such as serve's call counting
	// (internal/metrics' Metrics.Services); nil registers them on it.
	Services func(reflection.GRPCServer) reflection.GRPCServer
	// ShutdownTimeout bounds the graceful stop, and then the wait for the
	// Sampler to close the Source; 0 means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// RPCTimeout is the server-side deadline of every unary call; 0 means
	// DefaultRPCTimeout.
	RPCTimeout time.Duration
	// MaxRecvMsgSize is the largest request accepted, in bytes; 0 means
	// DefaultMaxRecvMsgSize.
	MaxRecvMsgSize int
	// Limits holds the other bounds on callers (first message, calls open,
	// refusal hook); its RPCTimeout and MaxRecvMsgSize are replaced by the
	// fields above when those are set.
	Limits Limits
	// MaxConnections bounds the connections Serve's listener serves at once
	// (see [LimitListener]); 0 means DefaultMaxConnections.
	MaxConnections int
	// OnConnRefused, when set, is called for each connection refused for
	// MaxConnections.
	OnConnRefused func()
	// Reflection registers the gRPC reflection service in Serve (for grpcurl).
	// Off by default: it describes the API to any caller.
	Reflection bool
	// StreamResend is how often StreamIsActive repeats `true` while the
	// trigger stays active; 0 means DefaultStreamResend.
	StreamResend time.Duration
	// Engines serves triggers on inference engines' own metrics; nil: GPU
	// metrics only.
	Engines EngineMetrics
}

// Server answers KEDA's ExternalScaler RPCs (and gRPC health checks) from the
// Sampler's snapshots. Its RPC methods are safe for concurrent use and never
// block on the Source. StreamMetricSpec is left to the embedded
// UnimplementedExternalScalerServer: KEDA then keeps polling GetMetricSpec.
type Server struct {
	pb.UnimplementedExternalScalerServer

	sampler       *Sampler
	log           *slog.Logger
	opts          []grpc.ServerOption
	services      func(reflection.GRPCServer) reflection.GRPCServer
	shutdown      time.Duration
	limits        Limits
	maxConns      int
	onConnRefused func()
	reflection    bool
	// streamResend is ServerConfig.StreamResend.
	streamResend time.Duration
	engines      EngineMetrics

	// stopping is closed when Serve's context ends, so that open streams
	// return and GracefulStop does not wait on them forever.
	stopping chan struct{}
	stopOnce sync.Once

	// streamEvaluated, when set, is called after each StreamIsActive
	// evaluation: a test seam that lets tests step snapshots in lock-step
	// with the stream.
	streamEvaluated func()
}

// NewServer checks cfg and returns a Server.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Sampler == nil {
		return nil, errors.New("server: no sampler")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.RPCTimeout > 0 {
		cfg.Limits.RPCTimeout = cfg.RPCTimeout
	}
	if cfg.MaxRecvMsgSize > 0 {
		cfg.Limits.MaxRecvMsgSize = cfg.MaxRecvMsgSize
	}
	if cfg.StreamResend <= 0 {
		cfg.StreamResend = DefaultStreamResend
	}
	return &Server{
		sampler:       cfg.Sampler,
		log:           cfg.Logger,
		opts:          cfg.GRPCOptions,
		services:      cfg.Services,
		shutdown:      cfg.ShutdownTimeout,
		limits:        cfg.Limits.withDefaults(),
		maxConns:      cfg.MaxConnections,
		onConnRefused: cfg.OnConnRefused,
		reflection:    cfg.Reflection,
		streamResend:  cfg.StreamResend,
		engines:       cfg.Engines,
		stopping:      make(chan struct{}),
	}, nil
}

// Register registers the ExternalScaler and health services on gs, for callers
// that run their own grpc.Server; Serve does this itself.
func (s *Server) Register(gs grpc.ServiceRegistrar) {
	pb.RegisterExternalScalerServer(gs, s)
	grpc_health_v1.RegisterHealthServer(gs, &health{sampler: s.sampler})
}

// Serve runs the Sampler and serves gRPC on lis (at most MaxConnections at
// once) until ctx ends. Then it ends
// open StreamIsActive streams, stops accepting calls, waits up to
// ShutdownTimeout for in-flight ones (GracefulStop, then Stop), waits up to
// ShutdownTimeout more for the Sampler to close the Source (shutting NVML
// down), and returns nil. If a Source call is blocked (a hung driver), Serve
// logs it and returns without waiting further: the Sampler's goroutine is left
// behind, stuck in the call, and the Source is not closed. A listener failure
// is returned as an error. Serve can be called once: the Sampler closes its
// Source when it stops.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	gs := grpc.NewServer(append(s.ServerOptions(), s.opts...)...)
	var reg reflection.GRPCServer = gs
	if s.services != nil {
		reg = s.services(gs)
	}
	s.Register(reg)
	if s.reflection {
		reflection.Register(reg)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		if err := s.sampler.Run(ctx); err != nil {
			s.log.Error("sampler stopped", "err", err)
		}
	}()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		s.stop()
		s.gracefulStop(gs)
	}()
	s.log.Info("serving", "addr", lis.Addr().String(), "interval", s.sampler.Interval())
	err := gs.Serve(LimitListener(lis, s.maxConns, s.onConnRefused))
	cancel()
	<-stopped
	s.waitSampler(sampled)
	s.log.Info("stopped")
	if err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve %s: %w", lis.Addr(), err)
	}
	return nil
}

// waitSampler waits up to ShutdownTimeout for the Sampler's goroutine to end.
func (s *Server) waitSampler(done <-chan struct{}) {
	t := time.NewTimer(s.shutdown)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.log.Error("sampler did not stop: a source call is blocked; leaving without closing the source (NVML not shut down)",
			"waited", s.shutdown)
	}
}

func (s *Server) stop() { s.stopOnce.Do(func() { close(s.stopping) }) }

func (s *Server) gracefulStop(gs *grpc.Server) {
	done := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(done)
	}()
	t := time.NewTimer(s.shutdown)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.log.Warn("graceful stop timed out, closing connections", "timeout", s.shutdown)
		gs.Stop()
		<-done
	}
}
