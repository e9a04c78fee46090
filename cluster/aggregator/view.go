// SPDX-License-Identifier: Apache-2.0

package aggregator

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/nvml-scaler/nvml-scaler/cluster/agent"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// view is the newest state of one node as its agent reported it. Immutable.
type view struct {
	node *agent.Node
	// start is when the snapshot's sweep began, on the aggregator's clock: the
	// receive time less the age the agent reported, so clock skew between the
	// agent and the aggregator does not matter.
	start time.Time
	// byPod lists, per "namespace/pod", the positions in node.Snapshot.GPUs of
	// the devices allocated to it (each once).
	byPod map[string][]int
	// hist holds recent values for windowed triggers; nil when Config.MaxWindow
	// is 0. Shared by the views of one agent epoch.
	hist *history
	// engines holds, per "namespace/pod", the engine scrapes the agent
	// streamed (serve --engine-pods), reading times moved onto the
	// aggregator's clock; shared by the views of one agent epoch while
	// unchanged.
	engines map[string]enginePod
}

// fresh reports whether v's snapshot started within StaleIntervals sweep
// intervals of now.
func (v *view) fresh(now time.Time) bool {
	return now.Sub(v.start) <= scaler.StaleIntervals*v.node.Interval
}

// podIndex maps each pod to the positions of its devices in snap.
func podIndex(n *agent.Node) map[string][]int {
	if !n.Attribution.Available || len(n.Attribution.Owners) == 0 {
		return nil
	}
	pos := make(map[string]int, len(n.Snapshot.GPUs))
	for i := range n.Snapshot.GPUs {
		pos[n.Snapshot.GPUs[i].UUID] = i
	}
	out := make(map[string][]int)
	for _, o := range n.Attribution.Owners {
		i, ok := pos[o.DeviceID]
		if !ok {
			continue // a device NVML does not list (or an unresolved index ID)
		}
		key := o.Namespace + "/" + o.Pod
		if !containsInt(out[key], i) {
			out[key] = append(out[key], i)
		}
	}
	return out
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// history is a ring of one agent's recent metric values, for windowed
// triggers. The agent's stream goroutine is its only writer; requests read it
// without locks. An entry is identified by its sequence number, so a reader
// that finds a slot overwritten stops there.
type history struct {
	slots []atomic.Pointer[histEntry]
	n     atomic.Uint64 // entries added
}

// histEntry holds one snapshot's values: vals[gpu*NumMetrics+metric], NaN when
// absent or the device is not healthy. float32 keeps 1000 nodes × 8 GPUs × 2
// minutes at one-second sweeps near 50 MiB.
type histEntry struct {
	seq   uint64
	start time.Time
	vals  []float32
}

func newHistory(window, interval time.Duration) *history {
	if window <= 0 || interval <= 0 {
		return nil
	}
	return &history{slots: make([]atomic.Pointer[histEntry], int(window/interval)+2)}
}

func (h *history) add(start time.Time, snap *scaler.Snapshot) {
	if h == nil {
		return
	}
	e := &histEntry{seq: h.n.Load() + 1, start: start, vals: make([]float32, len(snap.GPUs)*int(scaler.NumMetrics))}
	for i := range snap.GPUs {
		g := &snap.GPUs[i]
		for m, v := range g.Metrics {
			x := float32(math.NaN())
			if g.Health == scaler.HealthOK && v.OK() {
				x = float32(v.V)
			}
			e.vals[i*int(scaler.NumMetrics)+m] = x
		}
	}
	h.slots[e.seq%uint64(len(h.slots))].Store(e)
	h.n.Store(e.seq)
}

// mean averages metric m of device gpu over the entries that started at or
// after since, newest first; n is how many had a value.
func (h *history) mean(gpu int, m scaler.Metric, since time.Time) (float64, int) {
	if h == nil {
		return 0, 0
	}
	var sum float64
	n := 0
	for seq := h.n.Load(); seq > 0; seq-- {
		e := h.slots[seq%uint64(len(h.slots))].Load()
		if e == nil || e.seq != seq || e.start.Before(since) {
			break
		}
		i := gpu*int(scaler.NumMetrics) + int(m)
		if i < len(e.vals) && !math.IsNaN(float64(e.vals[i])) {
			sum += float64(e.vals[i])
			n++
		}
	}
	if n == 0 {
		return 0, 0
	}
	return sum / float64(n), n
}
