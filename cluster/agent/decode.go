// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/nvml-scaler/nvml-scaler/cluster/attribution"
	"github.com/nvml-scaler/nvml-scaler/proto/nodev1"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// Node is one snapshot of one node as received from its agent.
type Node struct {
	// Snapshot is the agent's snapshot; its times are on the agent's clock.
	Snapshot *scaler.Snapshot
	// Epoch identifies the agent process that took it.
	Epoch uint64
	// Interval is the agent's sweep interval.
	Interval time.Duration
	// Age is how old the snapshot was when the agent sent it.
	Age time.Duration
	// Attribution is the node's attribution as of this snapshot (carried over
	// from earlier messages when unchanged); never nil.
	Attribution *attribution.Attribution
	// AttributionChanged is true when this message carried a new attribution.
	AttributionChanged bool
	// EnginePods are the engine scrapes of the node's GPU pods as of this
	// message; nil from an agent without engine pods (or of a release before
	// them).
	EnginePods []EnginePod
	// EngineInterval is the agent's engine scrape interval; 0 without
	// engine pods.
	EngineInterval time.Duration
}

// Decoder reads one stream of NodeSnapshots messages; its state (the device
// list, the attribution) lives as long as the stream. The zero Decoder is ready
// for a new stream. It is not safe for concurrent use.
type Decoder struct {
	devices []scaler.Device
	// metrics maps the stream's status positions to this build's catalogue;
	// noMetric where this build has no such metric.
	metrics []scaler.Metric
	attr    *attribution.Attribution
}

// noMetric marks a position whose metric this build does not know.
const noMetric = scaler.NumMetrics

// previousCatalogue is the GPU catalogue in the order agents wrote it before
// the stream carried metric names (up to and including commit 63e74e3): the
// positions of an agent that sends no Snapshot.metric_names. Pinned, like the
// constants in scaler/metric.go.
var previousCatalogue = [...]string{
	"gpu_utilization_percent", "memory_busy_percent", "memory_used_bytes", "memory_used_percent",
	"power_watts", "power_percent", "temperature_celsius", "sm_clock_mhz", "sm_active_percent",
	"sm_occupancy_percent", "tensor_active_percent", "dram_bandwidth_percent", "graphics_active_percent",
	"process_count",
}

// Decode turns the next message of the stream into a Node. It fails when the
// message does not fit the stream: no device list in the first message, or a
// GPU count or value count that disagrees with it.
func (d *Decoder) Decode(m *nodev1.Snapshot) (*Node, error) {
	if len(m.GetDevices()) > 0 || d.devices == nil {
		if err := d.setDevices(m); err != nil {
			return nil, err
		}
	}
	if len(m.GetGpus()) != len(d.devices) {
		return nil, fmt.Errorf("node %q snapshot %d: %d GPU states for %d devices", m.GetNode(), m.GetSeq(), len(m.GetGpus()), len(d.devices))
	}
	snap := &scaler.Snapshot{Seq: m.GetSeq(), Node: m.GetNode(), Start: time.Unix(0, m.GetStartUnixNanos()),
		Duration: time.Duration(m.GetDurationNanos()), GPUs: make([]scaler.GPU, len(d.devices))}
	for i, st := range m.GetGpus() {
		if err := d.decodeGPU(&snap.GPUs[i], st); err != nil {
			return nil, fmt.Errorf("node %q snapshot %d, device %s: %w", m.GetNode(), m.GetSeq(), d.devices[i].UUID, err)
		}
		snap.GPUs[i].Device = d.devices[i]
	}
	n := &Node{Snapshot: snap, Epoch: m.GetEpoch(), Interval: time.Duration(m.GetIntervalNanos()),
		Age: time.Duration(m.GetAgeNanos())}
	if a := m.GetAttribution(); a != nil {
		d.attr = decodeAttribution(a)
		n.AttributionChanged = true
	} else if d.attr == nil {
		d.attr = attribution.Unavailable("the agent has not sent its attribution", time.Time{})
	}
	n.Attribution = d.attr
	pods, err := decodeEngines(m)
	if err != nil {
		return nil, err
	}
	n.EnginePods, n.EngineInterval = pods, time.Duration(m.GetEngineIntervalNanos())
	return n, nil
}

func (d *Decoder) setDevices(m *nodev1.Snapshot) error {
	if len(m.GetDevices()) == 0 && len(m.GetGpus()) > 0 {
		return fmt.Errorf("node %q snapshot %d: the first message of a stream has no device list", m.GetNode(), m.GetSeq())
	}
	names := m.GetMetricNames()
	if len(names) == 0 {
		names = previousCatalogue[:]
	}
	d.metrics = make([]scaler.Metric, len(names))
	for i, name := range names {
		if d.metrics[i] = noMetric; name != "" {
			if mt, ok := scaler.ParseMetric(name); ok {
				d.metrics[i] = mt
			}
		}
	}
	d.devices = make([]scaler.Device, len(m.GetDevices()))
	for i, dev := range m.GetDevices() {
		d.devices[i] = scaler.Device{Index: int(dev.GetIndex()), UUID: dev.GetUuid(), Model: dev.GetModel(),
			MIGParentUUID: dev.GetMigParentUuid(), MIGIndex: int(dev.GetMigIndex())}
	}
	return nil
}

// decodeGPU reads one device's statuses and values by the stream's metric
// positions. A position past the named ones, or naming a metric this build
// does not know, is skipped (its value consumed); metrics the stream does not
// carry stay absent.
func (d *Decoder) decodeGPU(g *scaler.GPU, st *nodev1.GPUState) error {
	h := st.GetHealth()
	if h > math.MaxUint8 {
		return fmt.Errorf("health %d does not fit scaler.Health", h)
	}
	g.Health = scaler.Health(h)
	if st.GetError() != "" {
		g.Err = errors.New(st.GetError())
	}
	values := st.GetValues()
	for i, b := range st.GetStatus() {
		v := scaler.Value{Status: scaler.Status(b)}
		if v.OK() {
			if len(values) == 0 {
				return errors.New("fewer values than ok statuses")
			}
			v.V, values = values[0], values[1:]
		}
		if i < len(d.metrics) && d.metrics[i] != noMetric {
			g.Metrics[d.metrics[i]] = v
		}
	}
	return nil
}

// decodeAttribution reads m; an agent of a release before notes sends none,
// and Notes is then nil.
func decodeAttribution(m *nodev1.Attribution) *attribution.Attribution {
	a := &attribution.Attribution{Available: m.GetAvailable(), Reason: m.GetReason(),
		Time: time.Unix(0, m.GetReadUnixNanos()), Notes: m.GetNotes()}
	if len(m.GetOwners()) > 0 {
		a.Owners = make([]attribution.Owner, len(m.GetOwners()))
		for i, o := range m.GetOwners() {
			a.Owners[i] = attribution.Owner{DeviceID: o.GetDeviceUuid(), Namespace: o.GetNamespace(),
				Pod: o.GetPod(), Container: o.GetContainer(), Resource: o.GetResource()}
		}
	}
	return a
}
