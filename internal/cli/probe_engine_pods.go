// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/nvml-scaler/nvml-scaler/cluster/agent"
	"github.com/nvml-scaler/nvml-scaler/cluster/attribution"
	"github.com/nvml-scaler/nvml-scaler/cluster/podwatch"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
	"github.com/nvml-scaler/nvml-scaler/recording/enginerec"
	"github.com/nvml-scaler/nvml-scaler/scaler"
	"github.com/nvml-scaler/nvml-scaler/scaler/replay"
)

// probePods finds the GPU pods on this node as serve --engine-pods does.
type probePods struct{ podFlags }

func (p *probePods) register(fs *pflag.FlagSet) {
	p.podFlags.register(fs, "also scrape the Ready pods holding GPUs on this node, found as 'serve --engine-pods' finds them (the node's pods "+
		"from the API server with the service-account token; GPU→pod from --kubelet-socket), and show each pod's engine, "+
		"queue, KV cache and TTFT")
}

// targets lists the engine targets of the GPU pods on the node, each with
// its namespace, GPUs and endpoint (or the reason it has none); snap maps
// index device IDs to UUIDs. Errors say which input failed.
func (p *probePods) targets(ctx context.Context, d *deps, snap *scaler.Snapshot) ([]watch.Target, error) {
	if !p.on {
		return nil, nil
	}
	node, err := p.nodeName(d)
	if err != nil {
		return nil, err
	}
	pw, err := podWatch(d, node, nil)
	if err != nil {
		return nil, err
	}
	pods, err := pw.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("--engine-pods: %w", err)
	}
	aw, err := attribution.NewWatcher(attribution.Config{Socket: p.kubeletSocket, Now: d.now})
	if err != nil {
		return nil, fmt.Errorf("--kubelet-socket: %w", err)
	}
	defer aw.Close()
	attr := aw.Poll(ctx)
	if !attr.Available {
		return nil, fmt.Errorf("--engine-pods: GPU→pod attribution is unavailable: %s", attr.Reason)
	}
	return podwatch.Targets(pods, attr, func(id string) string { return agent.ResolveDeviceID(id, snap) }), nil
}

// discover adds the pods' targets (with --engine-pods) and a replayed
// recording's engine targets to p, after the first sweep.
func (p *probeEngines) discover(ctx context.Context, d *deps, src scaler.Source, snap *scaler.Snapshot) error {
	pods, err := p.pods.targets(ctx, d, snap)
	if err != nil {
		return err
	}
	if rs, ok := src.(*replay.Source); ok && rs.Recording().Engines != nil {
		pl, err := enginerec.NewPlayer(rs.Recording().Engines, enginerec.PlayerOptions{Offset: rs.Offset})
		if err != nil {
			return fmt.Errorf("--replay: %w", err)
		}
		p.targets = append(p.targets, pl.Targets()...)
		p.recorded = pl
	}
	p.targets = append(p.targets, pods...)
	seen := map[string]bool{}
	for _, t := range p.targets {
		if seen[t.Name] {
			return usageErrorf("engine target %s is given twice (by --engine-target, the --replay recording or --engine-pods): rename the --engine-target", t.Name)
		}
		seen[t.Name] = true
	}
	return nil
}
