// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	"github.com/nvml-scaler/nvml-scaler/cluster/agent"
	"github.com/nvml-scaler/nvml-scaler/cluster/attribution"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// nodeAPIFlags turn on the node-snapshot API the cluster aggregator reads.
type nodeAPIFlags struct {
	listen        string
	kubeletSocket string
}

func (f *nodeAPIFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.listen, "node-api-listen", "",
		"gRPC address (host:port) streaming this node's snapshots, with GPU→pod attribution, to the cluster aggregator; empty: off")
	fs.StringVar(&f.kubeletSocket, "kubelet-socket", attribution.DefaultSocket,
		"the kubelet's PodResources socket, read for GPU→pod attribution (with --node-api-listen)")
}

func (f *nodeAPIFlags) validate() error {
	if f.listen == "" {
		return nil
	}
	return checkListenAddr("node-api-listen", f.listen, ":6001")
}

// nodeAPI is the running node-snapshot API: an attribution watcher and the
// agent service on its own listener.
type nodeAPI struct {
	attr *attribution.Watcher
	svc  *agent.Service
	lis  net.Listener
}

// open starts nothing: it builds the watcher and the service and binds the
// listener, or returns nil, nil when the API is off.
func (f *nodeAPIFlags) open(ctx context.Context, s *scaler.Sampler, log *slog.Logger, now func() time.Time) (*nodeAPI, error) {
	if f.listen == "" {
		return nil, nil
	}
	attr, err := attribution.NewWatcher(attribution.Config{Socket: f.kubeletSocket,
		Logger: log.With("component", "attribution"), Now: now})
	if err != nil {
		return nil, fmt.Errorf("--kubelet-socket: %w", err)
	}
	svc, err := agent.New(agent.Config{Sampler: s, Attribution: attr,
		Logger: log.With("component", "node-api"), Now: now})
	if err != nil {
		return nil, errors.Join(err, attr.Close())
	}
	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", f.listen)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("--node-api-listen: %w", err), attr.Close())
	}
	return &nodeAPI{attr: attr, svc: svc, lis: lis}, nil
}

// run polls the kubelet and serves the stream until ctx ends; opts carry the
// server's TLS credentials. The watcher's Run closes its kubelet connection
// when it returns.
func (n *nodeAPI) run(ctx context.Context, opts ...grpc.ServerOption) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { _ = n.attr.Run(ctx) })
	err := n.svc.Serve(ctx, n.lis, opts...)
	cancel() // Serve returned early (a listener failure): stop the watcher too
	wg.Wait()
	return err
}
