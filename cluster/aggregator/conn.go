// SPDX-License-Identifier: Apache-2.0

package aggregator

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/nvml-scaler/nvml-scaler/cluster/agent"
	"github.com/nvml-scaler/nvml-scaler/cluster/attribution"
	"github.com/nvml-scaler/nvml-scaler/proto/nodev1"
)

// Reconnect backoff between stream attempts to one agent, with jitter.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// agentConn is the aggregator's stream to one agent: one goroutine reads it,
// reconnecting with backoff; requests read view.
type agentConn struct {
	addr      string
	cancel    context.CancelFunc
	view      atomic.Pointer[view]
	connected atomic.Bool
	lastErr   atomic.Pointer[string]
}

func (a *Aggregator) connect(ctx context.Context, addr string) (*agentConn, error) {
	opts := append([]grpc.DialOption{grpc.WithKeepaliveParams(keepalive.ClientParameters{
		Time: agent.ClientKeepaliveTime, Timeout: agent.ClientKeepaliveTimeout, PermitWithoutStream: true})},
		a.cfg.DialOptions...)
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &agentConn{addr: addr, cancel: cancel}
	a.wg.Go(func() {
		defer cc.Close()
		a.follow(ctx, c, nodev1.NewNodeSnapshotsClient(cc))
	})
	return c, nil
}

// follow keeps a Watch stream open until ctx ends.
func (a *Aggregator) follow(ctx context.Context, c *agentConn, client nodev1.NodeSnapshotsClient) {
	log := a.log.With("agent", c.addr)
	backoff := minBackoff
	for ctx.Err() == nil {
		got, err := a.watch(ctx, c, client)
		wasConnected := c.connected.Swap(false)
		if ctx.Err() != nil {
			return
		}
		msg := err.Error()
		c.lastErr.Store(&msg)
		if wasConnected {
			log.Warn("agent stream broke", "node", c.nodeName(), "err", err)
			a.notify()
		}
		if got {
			backoff = minBackoff
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, maxBackoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// watch runs one stream; got reports whether any snapshot arrived.
func (a *Aggregator) watch(ctx context.Context, c *agentConn, client nodev1.NodeSnapshotsClient) (got bool, err error) {
	req := &nodev1.WatchRequest{BackfillNanos: int64(a.cfg.MaxWindow)}
	prev := c.view.Load()
	if prev != nil {
		req.Epoch, req.LastSeq = prev.node.Epoch, prev.node.Snapshot.Seq
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.Watch(ctx, req)
	if err != nil {
		return false, err
	}
	var dec agent.Decoder
	for {
		m, err := stream.Recv()
		if err != nil {
			return got, err
		}
		n, err := dec.Decode(m)
		if err != nil {
			return got, fmt.Errorf("bad snapshot from agent: %w", err)
		}
		if n.Interval <= 0 {
			return got, errors.New("bad snapshot from agent: no sweep interval")
		}
		got = true
		a.apply(c, n)
	}
}

// apply makes n the agent's newest view (if it is newer), records its values
// for windows and tells the streams.
func (a *Aggregator) apply(c *agentConn, n *agent.Node) {
	now := a.now()
	prev := c.view.Load()
	v := &view{node: n, start: now.Add(-n.Age)}
	sameEpoch := prev != nil && prev.node.Epoch == n.Epoch
	if !c.connected.Swap(true) {
		a.log.Info("agent connected", "node", n.Snapshot.Node, "seq", n.Snapshot.Seq)
		defer a.notify()
	}
	if sameEpoch && n.Snapshot.Seq <= prev.node.Snapshot.Seq {
		return // a replayed snapshot the aggregator already holds
	}
	if sameEpoch && !n.AttributionChanged {
		v.byPod = prev.byPod
	} else {
		v.byPod = podIndex(n)
		a.logNewNotes(prev, n)
	}
	if sameEpoch {
		v.hist = prev.hist
	} else {
		v.hist = newHistory(a.cfg.MaxWindow, n.Interval)
	}
	v.hist.add(v.start, n.Snapshot)
	var prevEngines map[string]enginePod
	if sameEpoch {
		prevEngines = prev.engines
	}
	v.engines = engineState(prevEngines, n, v.start.Sub(n.Snapshot.Start))
	c.view.Store(v)
	if prev == nil || prev.node.Snapshot.Node != n.Snapshot.Node {
		a.reindex()
	}
	a.notify()
	if a.applied != nil {
		a.applied(n, now)
	}
}

// logNewNotes logs each attribution note of n that prev's attribution did not
// have (all of them for a first view): which GPUs the agent could not
// attribute, and why.
func (a *Aggregator) logNewNotes(prev *view, n *agent.Node) {
	var had []string
	if prev != nil {
		had = prev.node.Attribution.Notes
	}
	for _, note := range attribution.NewNotes(had, n.Attribution.Notes) {
		a.log.Info("agent notes a GPU it cannot attribute", "node", n.Snapshot.Node, "note", note)
	}
}

func (c *agentConn) nodeName() string {
	if v := c.view.Load(); v != nil {
		return v.node.Snapshot.Node
	}
	return ""
}
