// SPDX-License-Identifier: Apache-2.0

package aggregator

import (
	"slices"
	"strings"
	"time"
)

// AgentStatus describes one discovered agent, for logs, debugging and tests.
type AgentStatus struct {
	// Addr is the address discovery gave.
	Addr string
	// Node is the node the agent reports; "" before its first snapshot.
	Node string
	// Connected is true while its stream is open and has delivered a snapshot.
	Connected bool
	// Fresh is true when Connected and its newest snapshot is within three
	// sweep intervals.
	Fresh bool
	// Seq is the newest snapshot's sequence number; Epoch its agent process.
	Seq, Epoch uint64
	// Age is how old the newest snapshot is.
	Age time.Duration
	// GPUs is how many devices the node has; Attributed how many are allocated
	// to pods; AttributionReason why attribution is unavailable, if it is.
	GPUs, Attributed  int
	AttributionReason string
	// AttributionNotes are the agent's notes on GPUs it could not attribute
	// (DRA devices, attribution.Attribution.Notes); none from an agent of a
	// release before they travelled.
	AttributionNotes []string
	// LastError is why the last stream ended, if one did.
	LastError string
}

// Agents returns the status of every discovered agent, sorted by node and
// address.
func (a *Aggregator) Agents() []AgentStatus {
	a.mu.Lock()
	conns := make([]*agentConn, 0, len(a.agents))
	for _, c := range a.agents {
		conns = append(conns, c)
	}
	a.mu.Unlock()
	now := a.now()
	out := make([]AgentStatus, 0, len(conns))
	for _, c := range conns {
		s := AgentStatus{Addr: c.addr, Connected: c.connected.Load()}
		if e := c.lastErr.Load(); e != nil {
			s.LastError = *e
		}
		if v := c.view.Load(); v != nil {
			s.Node, s.Seq, s.Epoch = v.node.Snapshot.Node, v.node.Snapshot.Seq, v.node.Epoch
			s.Age, s.Fresh = now.Sub(v.start), s.Connected && v.fresh(now)
			s.GPUs = len(v.node.Snapshot.GPUs)
			for _, pos := range v.byPod {
				s.Attributed += len(pos)
			}
			s.AttributionReason, s.AttributionNotes = v.node.Attribution.Reason, v.node.Attribution.Notes
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(x, y AgentStatus) int {
		if c := strings.Compare(x.Node, y.Node); c != 0 {
			return c
		}
		return strings.Compare(x.Addr, y.Addr)
	})
	return out
}
