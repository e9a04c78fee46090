// SPDX-License-Identifier: Apache-2.0

// Package aggregator answers KEDA for a whole cluster: it keeps one
// node-snapshot stream (package cluster/agent) open to every agent, follows
// each request's ScaledObject to its workload's pods through the Kubernetes
// API, and aggregates exactly the GPUs allocated to those pods, on whichever
// nodes they run.
//
// It serves KEDA's ExternalScaler with the node server's trigger metadata,
// metric names and error codes (package scaler), plus its own keys:
//
//   - podSelector: a label selector; select these pods instead of the
//     ScaledObject's scale target.
//   - namespace: where podSelector looks; the ScaledObject's namespace by
//     default, and only that one unless Config.AllowCrossNamespace.
//   - nodeNames: comma-separated node names; only GPUs on these nodes count.
//
// gpuUUIDs, gpuIndexes and gpuModel narrow the pods' GPUs as on the node
// server, except that MIG devices allocated to the pods count without being
// named: attribution already says which devices the pods hold, so nothing is
// counted twice.
//
// # Failure contract
//
// A pod that should hold GPUs and runs on a node whose agent is missing,
// disconnected or stale (newest snapshot older than three sweep intervals), or
// whose kubelet attribution is unavailable, makes the request fail with
// Unavailable, so KEDA applies the ScaledObject's fallback: never a smaller
// sum. Agents on nodes that host none of the selected pods do not matter. At
// zero replicas (or only pending pods) the value is 0 and IsActive is false.
//
// # Windows
//
// With `window`, each selected GPU's values are averaged over the window
// (from the aggregator's own history, refilled by the agents after a
// reconnect) before the GPUs are combined. For sum and avg that equals the
// node server's average of combined values whenever every GPU reports every
// sweep; for max and min it is the max or min of per-GPU averages.
package aggregator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
	"k8s.io/client-go/dynamic"

	"github.com/nvml-scaler/nvml-scaler/cluster/agent"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// Defaults.
const (
	// DefaultDiscoveryInterval is how often agents are looked up.
	DefaultDiscoveryInterval = 10 * time.Second
	// DefaultMaxWindow is how much history the aggregator keeps for `window`.
	DefaultMaxWindow = 2 * time.Minute
)

// Config configures an [Aggregator].
type Config struct {
	// Discovery finds the agents. Required: Static or DNS.
	Discovery Discoverer
	// Kube reads ScaledObjects, Deployments, StatefulSets, ReplicaSets and
	// pods (get, list, watch), and ResourceClaims with DRA. Required.
	Kube dynamic.Interface
	// Namespace limits what the aggregator watches; "" watches all.
	Namespace string
	// DRA also counts the GPUs pods hold through DRA ResourceClaims of
	// NVIDIA's driver (gpu.nvidia.com): Kube then also reads resource.k8s.io/v1
	// ResourceClaims (get, list, watch), which Kubernetes serves from 1.34.
	// Without it a pod that holds GPUs only through claims counts as holding
	// none.
	DRA bool
	// DiscoveryInterval between lookups; 0 means DefaultDiscoveryInterval.
	DiscoveryInterval time.Duration
	// MaxWindow is the longest `window` served; 0 means DefaultMaxWindow, a
	// negative value keeps no history (any window is then InvalidArgument). At
	// most scaler.MaxWindow. Memory: about 56 bytes per GPU per sweep kept.
	MaxWindow time.Duration
	// AllowCrossNamespace lets `namespace` name another namespace than the
	// ScaledObject's: otherwise one tenant could read another's GPU load.
	AllowCrossNamespace bool
	// DialOptions dial the agents (TLS credentials); nil means plaintext.
	DialOptions []grpc.DialOption
	// GRPCOptions are passed to grpc.NewServer in Serve after
	// [Aggregator.ServerOptions] (TLS credentials).
	GRPCOptions []grpc.ServerOption
	// RPCTimeout is the server-side deadline of every unary call; 0 means
	// scaler.DefaultRPCTimeout.
	RPCTimeout time.Duration
	// MaxRecvMsgSize is the largest request accepted, in bytes; 0 means
	// scaler.DefaultMaxRecvMsgSize.
	MaxRecvMsgSize int
	// MaxConnections bounds the connections Serve's listener serves at once,
	// as on the node server (see scaler.LimitListener): more are closed as
	// they are accepted and counted in refused_total{limit="connections"}; 0
	// means scaler.DefaultMaxConnections.
	MaxConnections int
	// ShutdownTimeout bounds Serve's graceful stop; 0 means
	// scaler.DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Logger receives agent connects, disconnects and discovery changes; nil
	// discards. The request path does not log.
	Logger *slog.Logger
	// Now is the clock for freshness; nil means time.Now.
	Now func() time.Time
}

// Aggregator is the cluster-wide ExternalScaler. Its RPC methods are safe for
// concurrent use and answer from memory: the agents' newest snapshots and the
// informers' caches.
type Aggregator struct {
	pb.UnimplementedExternalScalerServer

	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	works   *workloads
	metrics *metrics

	mu     sync.Mutex            // guards agents; held by discovery and reindex
	agents map[string]*agentConn // by address
	nodes  atomic.Pointer[map[string][]*agentConn]
	wg     sync.WaitGroup // agent goroutines

	updated  atomic.Pointer[chan struct{}]
	stopping chan struct{}
	stopOnce sync.Once
	ran      atomic.Bool

	// applied, when set before Run, is called after each snapshot is applied:
	// a seam for the benchmark's freshness measurement.
	applied func(n *agent.Node, at time.Time)
}

// New checks cfg and returns an Aggregator that has not started; Run or Serve
// starts it.
func New(cfg Config) (*Aggregator, error) {
	if cfg.Discovery == nil {
		return nil, errors.New("aggregator: no discovery")
	}
	if cfg.Kube == nil {
		return nil, errors.New("aggregator: no Kubernetes client")
	}
	if cfg.DiscoveryInterval == 0 {
		cfg.DiscoveryInterval = DefaultDiscoveryInterval
	}
	if cfg.DiscoveryInterval < 0 {
		return nil, fmt.Errorf("aggregator: discovery interval %v is negative", cfg.DiscoveryInterval)
	}
	switch {
	case cfg.MaxWindow == 0:
		cfg.MaxWindow = DefaultMaxWindow
	case cfg.MaxWindow < 0:
		cfg.MaxWindow = 0
	case cfg.MaxWindow > scaler.MaxWindow:
		return nil, fmt.Errorf("aggregator: max window %v is above %v", cfg.MaxWindow, scaler.MaxWindow)
	}
	if cfg.MaxConnections < 0 {
		return nil, fmt.Errorf("aggregator: max connections %d is negative (0 means %d)", cfg.MaxConnections, scaler.DefaultMaxConnections)
	}
	if cfg.DialOptions == nil {
		cfg.DialOptions = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = scaler.DefaultShutdownTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	works, err := newWorkloads(cfg.Kube, cfg.Namespace, cfg.DRA, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("aggregator: %w", err)
	}
	a := &Aggregator{cfg: cfg, log: cfg.Logger, now: cfg.Now, works: works,
		agents: map[string]*agentConn{}, stopping: make(chan struct{})}
	a.metrics = newMetrics(a)
	a.nodes.Store(&map[string][]*agentConn{})
	ch := make(chan struct{})
	a.updated.Store(&ch)
	return a, nil
}

// Register registers the ExternalScaler and health services on gs, for callers
// that run their own grpc.Server (and Run); Serve does this itself.
func (a *Aggregator) Register(gs grpc.ServiceRegistrar) {
	pb.RegisterExternalScalerServer(gs, a)
	grpc_health_v1.RegisterHealthServer(gs, &health{a: a})
}

// ServerOptions returns the grpc.ServerOptions that Serve passes before
// Config.GRPCOptions: the node server's limits (scaler.Limits with
// Config.RPCTimeout and Config.MaxRecvMsgSize, the others at their defaults):
// request and header sizes, calls open at once (refusals counted in
// refused_total{limit="calls"}), first-message deadline, keepalive policy and
// a deadline on every unary call; and the interceptor timing each call for
// [Aggregator.MetricsHandler]. Callers that run their own grpc.Server and
// Register should pass them too (once per grpc.Server); the connection cap is
// Serve's listener's, not an option.
func (a *Aggregator) ServerOptions() []grpc.ServerOption {
	lim := scaler.Limits{RPCTimeout: a.cfg.RPCTimeout, MaxRecvMsgSize: a.cfg.MaxRecvMsgSize, OnRefused: a.metrics.callRefused}
	return append(lim.ServerOptions(), grpc.ChainUnaryInterceptor(a.metrics.unary))
}

// Run watches the Kubernetes objects, discovers agents and keeps a stream to
// each until ctx ends; then it closes the streams, waits for its goroutines
// and returns nil. It can be called once.
func (a *Aggregator) Run(ctx context.Context) error {
	if a.ran.Swap(true) {
		return errors.New("aggregator: Run called twice")
	}
	var wg sync.WaitGroup
	wg.Go(func() { a.works.run(ctx) })
	a.discover(ctx)
	tick := time.NewTicker(a.cfg.DiscoveryInterval)
	defer tick.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
			a.discover(ctx)
		}
	}
	a.stop()
	a.mu.Lock()
	for addr, c := range a.agents {
		c.cancel()
		delete(a.agents, addr)
	}
	a.mu.Unlock()
	a.wg.Wait()
	wg.Wait()
	return nil
}

// Serve runs the Aggregator (Run) and serves gRPC on lis, with ServerOptions
// and Config.GRPCOptions and at most Config.MaxConnections connections at
// once, until ctx ends. Then
// it ends open StreamIsActive streams, stops accepting calls, waits up to
// ShutdownTimeout for in-flight ones and returns nil. A listener failure is
// returned. Serve can be called once.
func (a *Aggregator) Serve(ctx context.Context, lis net.Listener) error {
	gs := grpc.NewServer(append(a.ServerOptions(), a.cfg.GRPCOptions...)...)
	a.Register(gs)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := a.Run(ctx); err != nil {
			a.log.Error("aggregator stopped", "err", err)
		}
	})
	wg.Go(func() {
		<-ctx.Done()
		a.stop()
		gracefulStop(gs, a.cfg.ShutdownTimeout, a.log)
	})
	a.log.Info("serving", "addr", lis.Addr().String())
	err := gs.Serve(scaler.LimitListener(lis, a.cfg.MaxConnections, a.metrics.connRefused))
	cancel()
	wg.Wait()
	if err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve %s: %w", lis.Addr(), err)
	}
	return nil
}

func (a *Aggregator) stop() { a.stopOnce.Do(func() { close(a.stopping) }) }

func gracefulStop(gs *grpc.Server, timeout time.Duration, log *slog.Logger) {
	done := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(done)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		log.Warn("graceful stop timed out, closing connections", "timeout", timeout)
		gs.Stop()
		<-done
	}
}

// discover looks the agents up once and starts or stops streams to match.
func (a *Aggregator) discover(ctx context.Context) {
	addrs, err := a.cfg.Discovery.Discover(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("agent discovery failed, keeping the known agents", "err", err)
		}
		return
	}
	want := make(map[string]bool, len(addrs))
	for _, addr := range addrs {
		want[addr] = true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	changed := false
	for addr, c := range a.agents {
		if !want[addr] {
			a.log.Info("agent gone from discovery", "addr", addr)
			c.cancel()
			delete(a.agents, addr)
			changed = true
		}
	}
	for addr := range want {
		if a.agents[addr] != nil {
			continue
		}
		c, err := a.connect(ctx, addr)
		if err != nil {
			a.log.Warn("cannot dial agent", "addr", addr, "err", err)
			continue
		}
		a.agents[addr] = c
		changed = true
	}
	if changed {
		a.reindexLocked()
	}
}

// reindex rebuilds the node → agents index after an agent learned its node.
func (a *Aggregator) reindex() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reindexLocked()
}

func (a *Aggregator) reindexLocked() {
	idx := make(map[string][]*agentConn, len(a.agents))
	for _, c := range a.agents {
		if v := c.view.Load(); v != nil {
			idx[v.node.Snapshot.Node] = append(idx[v.node.Snapshot.Node], c)
		}
	}
	a.nodes.Store(&idx)
}

// notify wakes StreamIsActive streams after an agent published.
func (a *Aggregator) notify() {
	ch := make(chan struct{})
	close(*a.updated.Swap(&ch))
}
