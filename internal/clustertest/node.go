// SPDX-License-Identifier: Apache-2.0

package clustertest

import (
	"context"
	"net"
	"sync/atomic"
	"testing"

	"github.com/nvml-scaler/nvml-scaler/cluster/agent"
	"github.com/nvml-scaler/nvml-scaler/cluster/attribution"
	"github.com/nvml-scaler/nvml-scaler/cluster/attribution/kubelettest"
	"github.com/nvml-scaler/nvml-scaler/engine/watch"
	"github.com/nvml-scaler/nvml-scaler/recording"
	"github.com/nvml-scaler/nvml-scaler/scaler"
	"github.com/nvml-scaler/nvml-scaler/scaler/replay"
)

// Node is one simulated GPU node: a recording replayed one sample per Step, a
// fake kubelet whose allocations the test sets, and an agent serving the
// node-snapshot API on a loopback port.
type Node struct {
	Name    string
	Rec     *recording.Recording
	Kubelet *kubelettest.Kubelet
	Sampler *scaler.Sampler
	Watcher *attribution.Watcher
	Agent   *agent.Service
	// Engines is what the agent streams as its engine pods; empty until Set.
	Engines *EngineViews
	// Addr is the agent's address, for the aggregator's discovery.
	Addr string

	t      testing.TB
	src    *replay.Source
	cancel context.CancelFunc
	done   chan error
	steps  int
}

// StartNode starts a node named name replaying rec, every clock read on clk.
// It stops when the test ends, if Kill has not stopped it before.
func StartNode(t testing.TB, name string, rec *recording.Recording, clk *Clock) *Node {
	t.Helper()
	return startNode(t, name, rec, clk, nil)
}

// StartDRANode is StartNode with the agent's DRA attribution on (serve
// --dra): the node's ResourceSlices are those NVIDIA's DRA driver publishes
// for rec's GPUs, so DRAGPU(name, k) resolves to GPUUUID(name, k).
func StartDRANode(t testing.TB, name string, rec *recording.Recording, clk *Clock) *Node {
	t.Helper()
	return startNode(t, name, rec, clk, draSlices{node: name, gpus: len(rec.Devices)})
}

func startNode(t testing.TB, name string, rec *recording.Recording, clk *Clock, dra attribution.DRADevices) *Node {
	t.Helper()
	n := &Node{Name: name, Rec: rec, t: t, Kubelet: kubelettest.Start(t), Engines: &EngineViews{}}
	var err error
	if n.src, err = replay.New(rec, replay.Options{Manual: true, Loop: true}); err != nil {
		t.Fatalf("clustertest: %v", err)
	}
	if n.Sampler, err = scaler.NewSampler(scaler.SamplerConfig{Source: n.src, Node: name,
		Interval: scaler.MinInterval, Now: clk.Now}); err != nil {
		t.Fatalf("clustertest: %v", err)
	}
	if n.Watcher, err = attribution.NewWatcher(attribution.Config{Socket: n.Kubelet.Socket, Now: clk.Now, DRA: dra}); err != nil {
		t.Fatalf("clustertest: %v", err)
	}
	if n.Agent, err = agent.New(agent.Config{Sampler: n.Sampler, Attribution: n.Watcher, Engines: n.Engines, Now: clk.Now}); err != nil {
		t.Fatalf("clustertest: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("clustertest: %v", err)
	}
	n.Addr = lis.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan error, 1)
	go func() { n.done <- n.Agent.Serve(ctx, lis) }()
	t.Cleanup(n.Kill)
	return n
}

// Step reads the kubelet, then sweeps the current sample and publishes it;
// the next Step replays the next sample. It returns the published snapshot.
func (n *Node) Step() *scaler.Snapshot {
	n.t.Helper()
	if n.steps > 0 {
		if _, err := n.src.Step(); err != nil {
			n.t.Fatalf("clustertest: %v", err)
		}
	}
	n.steps++
	n.Watcher.Poll(context.Background())
	snap, err := n.Sampler.Sweep(context.Background())
	if err != nil {
		n.t.Fatalf("clustertest: sweep %s: %v", n.Name, err)
	}
	return snap
}

// Position returns the sample index the latest Step replayed.
func (n *Node) Position() int { return n.src.Position() }

// Kill stops the agent (its streams break) and the node; idempotent.
func (n *Node) Kill() {
	if n.cancel == nil {
		return
	}
	n.cancel()
	if err := <-n.done; err != nil {
		n.t.Errorf("clustertest: agent %s: %v", n.Name, err)
	}
	n.cancel = nil
	_ = n.Watcher.Close()
	_ = n.Sampler.Close()
}

// EngineViews is a settable agent.EngineViews: the engine scrapes a node's
// agent streams, as a test sets them.
type EngineViews struct{ v atomic.Pointer[watch.View] }

// Set makes v what the agent streams from its next snapshot on.
func (e *EngineViews) Set(v *watch.View) { e.v.Store(v) }

// View implements agent.EngineViews; an empty view before Set.
func (e *EngineViews) View() *watch.View {
	if v := e.v.Load(); v != nil {
		return v
	}
	return &watch.View{}
}
