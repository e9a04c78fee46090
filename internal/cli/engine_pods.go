// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"fmt"
	"log/slog"

	"github.com/spf13/pflag"

	"github.com/nvml-scaler/nvml-scaler/cluster/attribution"
	"github.com/nvml-scaler/nvml-scaler/cluster/podwatch"
)

// podFlags are --engine-pods of probe and record, and what it needs to find
// the GPU pods on this node as serve --engine-pods does: the node and the
// kubelet's PodResources socket.
type podFlags struct {
	on            bool
	node          string
	kubeletSocket string
}

// register adds the flags; usage says what --engine-pods does for the
// command.
func (p *podFlags) register(fs *pflag.FlagSet, usage string) {
	fs.BoolVar(&p.on, "engine-pods", false, usage)
	fs.StringVar(&p.node, "node-name", "", "with --engine-pods: the node whose pods are listed (default: $NODE_NAME)")
	fs.StringVar(&p.kubeletSocket, "kubelet-socket", attribution.DefaultSocket,
		"with --engine-pods: the kubelet's PodResources socket, read for GPU→pod attribution")
}

// nodeName is --node-name, else $NODE_NAME; a usage error naming both
// when neither is set.
func (p *podFlags) nodeName(d *deps) (string, error) {
	node := p.node
	if node == "" {
		node, _ = d.lookupEnv("NODE_NAME")
	}
	if node == "" {
		return "", usageErrorf("--engine-pods: no node name: set --node-name or $NODE_NAME (from spec.nodeName)")
	}
	return node, nil
}

// podWatch builds the watch of node's pods from the pod's service account
// (token, CA, API server address), as serve, probe and record
// --engine-pods use it; log nil discards. Errors say what is missing.
func podWatch(d *deps, node string, log *slog.Logger) (*podwatch.Watcher, error) {
	getenv := func(k string) string { v, _ := d.lookupEnv(k); return v }
	cfg, err := podwatch.InCluster(node, d.serviceAccountDir, getenv)
	if err != nil {
		return nil, fmt.Errorf("--engine-pods: %w", err)
	}
	cfg.Logger = log
	pw, err := podwatch.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("--engine-pods: %w", err)
	}
	return pw, nil
}
