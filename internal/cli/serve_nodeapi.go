// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	"github.com/nvml-scaler/nvml-scaler/cluster/agent"
	"github.com/nvml-scaler/nvml-scaler/cluster/attribution"
	"github.com/nvml-scaler/nvml-scaler/cluster/draslices"
	"github.com/nvml-scaler/nvml-scaler/cluster/podwatch"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// nodeAPIFlags turn on the node-snapshot API the cluster aggregator reads.
type nodeAPIFlags struct {
	listen        string
	kubeletSocket string
	dra           bool
}

func (f *nodeAPIFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.listen, "node-api-listen", "",
		"gRPC address (host:port) streaming this node's snapshots, with GPU→pod attribution, to the cluster aggregator; empty: off")
	fs.StringVar(&f.kubeletSocket, "kubelet-socket", attribution.DefaultSocket,
		"the kubelet's PodResources socket, read for GPU→pod attribution (with --node-api-listen)")
	fs.BoolVar(&f.dra, "dra", false,
		"attribute GPUs allocated through DRA claims (driver "+attribution.DRADriver+") too: watches this node's "+
			"ResourceSlices with the pod's service-account token (needs get/list/watch on resource.k8s.io resourceslices)")
}

func (f *nodeAPIFlags) validate() error {
	if f.listen == "" {
		return nil
	}
	return checkListenAddr("node-api-listen", f.listen, ":6001")
}

// nodeAPI is the running node-snapshot API: the agent service on its own
// listener.
type nodeAPI struct {
	svc *agent.Service
	lis net.Listener
}

// openDRA builds, with --dra, the watch of node's ResourceSlices from the
// pod's service account in saDir, where --engine-pods reads it too (getenv
// reads KUBERNETES_SERVICE_HOST and _PORT); nil without.
func (f *nodeAPIFlags) openDRA(node, saDir string, getenv func(string) string, log *slog.Logger) (*draslices.Watcher, error) {
	if !f.dra {
		return nil, nil
	}
	cfg, err := podwatch.InCluster(node, saDir, getenv)
	if err != nil {
		return nil, fmt.Errorf("--dra: %w", err)
	}
	w, err := draslices.New(draslices.Config{Server: cfg.Server, Node: node, Driver: attribution.DRADriver,
		TokenFile: cfg.TokenFile, Client: cfg.Client, Logger: log.With("component", "dra-slices")})
	if err != nil {
		return nil, fmt.Errorf("--dra: %w", err)
	}
	return w, nil
}

// openAttribution builds the kubelet PodResources watcher when the node API
// or engine pod signals need it; nil otherwise. dra, when set, resolves DRA
// devices. Its Run closes its kubelet connection when it returns; Close does
// without Run.
func (f *nodeAPIFlags) openAttribution(need bool, dra *draslices.Watcher, log *slog.Logger, now func() time.Time) (*attribution.Watcher, error) {
	if !need {
		return nil, nil
	}
	cfg := attribution.Config{Socket: f.kubeletSocket, Logger: log.With("component", "attribution"), Now: now}
	if dra != nil { // a nil *Watcher in the interface would not be nil
		cfg.DRA = dra
	}
	attr, err := attribution.NewWatcher(cfg)
	if err != nil {
		return nil, fmt.Errorf("--kubelet-socket: %w", err)
	}
	return attr, nil
}

// open starts nothing: it builds the service on attr and binds the listener,
// or returns nil, nil when the API is off.
// engines, when set, adds the engine pods' scrapes to the stream.
func (f *nodeAPIFlags) open(ctx context.Context, s *scaler.Sampler, attr *attribution.Watcher, engines agent.EngineViews,
	log *slog.Logger, now func() time.Time) (*nodeAPI, error) {
	if f.listen == "" {
		return nil, nil
	}
	svc, err := agent.New(agent.Config{Sampler: s, Attribution: attr, Engines: engines,
		Logger: log.With("component", "node-api"), Now: now})
	if err != nil {
		return nil, err
	}
	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", f.listen)
	if err != nil {
		return nil, fmt.Errorf("--node-api-listen: %w", err)
	}
	return &nodeAPI{svc: svc, lis: lis}, nil
}

// run serves the stream until ctx ends; opts carry the server's TLS
// credentials.
func (n *nodeAPI) run(ctx context.Context, opts ...grpc.ServerOption) error {
	return n.svc.Serve(ctx, n.lis, opts...)
}
