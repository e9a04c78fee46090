// SPDX-License-Identifier: Apache-2.0

// Package agent serves a node's snapshots to the cluster aggregator: the
// node-snapshot API (proto/nodev1, service NodeSnapshots), a gRPC server stream
// that carries each snapshot the [scaler.Sampler] publishes, with the node's
// GPU → pod [attribution.Attribution] attached, within milliseconds of the
// sweep. It also holds the [Decoder] the aggregator reads the stream with.
//
// # Resuming
//
// Every agent process has a random epoch; snapshot sequence numbers restart
// when it changes. A client that reconnects sends the epoch and sequence number
// of the newest snapshot it holds, and how far back it wants history; the agent
// replays what the client missed (from the sampler's history) and always ends
// the replay with the newest snapshot, so a client learns the current state at
// once. After that, each new snapshot is sent once; a client too slow to take
// every one gets the newest (snapshots are whole states, not deltas).
//
// # Wire form
//
// Device identities travel in the first message of a stream only (the device
// list is fixed for a sampler's life); each snapshot carries per device a
// health code, one status byte per catalogue metric and the values that are
// present. Attribution travels in the first message and again only when it
// changed. Eight GPUs take about 1 KiB per snapshot.
package agent

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/nvml-scaler/nvml-scaler/cluster/attribution"
	"github.com/nvml-scaler/nvml-scaler/proto/nodev1"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// Attributor provides the node's current attribution; *attribution.Watcher is
// one. Current must be cheap, safe for concurrent use and never return nil.
type Attributor interface {
	Current() *attribution.Attribution
}

// Config configures a [Service].
type Config struct {
	// Sampler provides the snapshots. Required. The Service only reads it:
	// whoever runs the node server runs the Sampler.
	Sampler *scaler.Sampler
	// Attribution provides the GPU → pod map; nil sends every snapshot with
	// attribution unavailable ("attribution disabled on this agent").
	Attribution Attributor
	// Engines provides the engine scrapes of the node's GPU pods (serve
	// --engine-pods); nil sends none.
	Engines EngineViews
	// Logger receives stream opens and closes; nil discards.
	Logger *slog.Logger
	// Epoch identifies this agent process to reconnecting clients; 0 means a
	// random one. Tests set it to simulate a restart.
	Epoch uint64
	// Now is the clock for ages; nil means time.Now. It must be the Sampler's.
	Now func() time.Time
}

// Service implements the NodeSnapshots gRPC service. Register it on a server,
// or let Serve run one.
type Service struct {
	nodev1.UnimplementedNodeSnapshotsServer

	sampler  *scaler.Sampler
	attr     Attributor
	engines  EngineViews
	log      *slog.Logger
	epoch    uint64
	now      func() time.Time
	stopping chan struct{}
	stopOnce sync.Once
}

// disabled is the Attributor used when Config.Attribution is nil.
type disabled struct{ a *attribution.Attribution }

func (d disabled) Current() *attribution.Attribution { return d.a }

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Sampler == nil {
		return nil, errors.New("agent: no sampler")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Attribution == nil {
		cfg.Attribution = disabled{attribution.Unavailable("attribution disabled on this agent", cfg.Now())}
	}
	for cfg.Epoch == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
		cfg.Epoch = binary.LittleEndian.Uint64(b[:])
	}
	return &Service{sampler: cfg.Sampler, attr: cfg.Attribution, engines: cfg.Engines, log: cfg.Logger, epoch: cfg.Epoch,
		now: cfg.Now, stopping: make(chan struct{})}, nil
}

// Epoch returns the epoch the Service stamps on its snapshots.
func (s *Service) Epoch() uint64 { return s.epoch }

// Register registers the NodeSnapshots service on gs. Call Stop before
// stopping gs gracefully, or GracefulStop waits for streams that never end.
func (s *Service) Register(gs grpc.ServiceRegistrar) { nodev1.RegisterNodeSnapshotsServer(gs, s) }

// Stop ends every open and future Watch stream; idempotent.
func (s *Service) Stop() { s.stopOnce.Do(func() { close(s.stopping) }) }

// Keepalive settings: the aggregator pings every ClientKeepaliveTime so a
// dead peer is noticed even when no snapshot flows; Serve permits that.
const (
	// ClientKeepaliveTime is how often clients ping an idle connection.
	ClientKeepaliveTime = 20 * time.Second
	// ClientKeepaliveTimeout is how long a client waits for the ping's answer.
	ClientKeepaliveTimeout = 10 * time.Second
)

// ServerOptions returns the grpc.ServerOptions Serve uses, for callers that
// build their own server: the KEDA port's limits ([scaler.Limits] at their
// defaults: request and header sizes, a first-message deadline, calls open at
// once, a handshake timeout, server pings that drop a frozen peer) and a
// keepalive policy that permits the aggregator's pings. Use the result for
// one grpc.Server.
func ServerOptions() []grpc.ServerOption {
	return append(scaler.Limits{}.ServerOptions(), grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
		MinTime: ClientKeepaliveTime / 2, PermitWithoutStream: true}))
}

// Serve serves NodeSnapshots on lis (at most scaler.DefaultMaxConnections
// connections at once) with its own gRPC server (ServerOptions
// first, then opts: TLS credentials) until ctx ends, then ends the streams,
// stops the server and returns nil. A listener failure is returned. Serve can
// be called once: the streams it ends stay ended.
func (s *Service) Serve(ctx context.Context, lis net.Listener, opts ...grpc.ServerOption) error {
	gs := grpc.NewServer(append(ServerOptions(), opts...)...)
	s.Register(gs)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		s.Stop()
		gs.GracefulStop()
	}()
	s.log.Info("serving node snapshots", "addr", lis.Addr().String(), "epoch", fmt.Sprintf("%016x", s.epoch))
	err := gs.Serve(scaler.LimitListener(lis, scaler.DefaultMaxConnections, nil))
	cancel()
	<-stopped
	if err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve node snapshots on %s: %w", lis.Addr(), err)
	}
	return nil
}
