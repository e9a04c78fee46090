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
}

// Decoder reads one stream of NodeSnapshots messages; its state (the device
// list, the attribution) lives as long as the stream. The zero Decoder is ready
// for a new stream. It is not safe for concurrent use.
type Decoder struct {
	devices []scaler.Device
	attr    *attribution.Attribution
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
		if err := decodeGPU(&snap.GPUs[i], st); err != nil {
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
	return n, nil
}

func (d *Decoder) setDevices(m *nodev1.Snapshot) error {
	if len(m.GetDevices()) == 0 && len(m.GetGpus()) > 0 {
		return fmt.Errorf("node %q snapshot %d: the first message of a stream has no device list", m.GetNode(), m.GetSeq())
	}
	d.devices = make([]scaler.Device, len(m.GetDevices()))
	for i, dev := range m.GetDevices() {
		d.devices[i] = scaler.Device{Index: int(dev.GetIndex()), UUID: dev.GetUuid(), Model: dev.GetModel(),
			MIGParentUUID: dev.GetMigParentUuid(), MIGIndex: int(dev.GetMigIndex())}
	}
	return nil
}

func decodeGPU(g *scaler.GPU, st *nodev1.GPUState) error {
	h := st.GetHealth()
	if h > math.MaxUint8 {
		return fmt.Errorf("health %d does not fit scaler.Health", h)
	}
	g.Health = scaler.Health(h)
	if st.GetError() != "" {
		g.Err = errors.New(st.GetError())
	}
	values := st.GetValues()
	for m, b := range st.GetStatus() {
		if m >= int(scaler.NumMetrics) {
			break // a newer agent's metric this build does not know
		}
		v := scaler.Value{Status: scaler.Status(b)}
		if v.OK() {
			if len(values) == 0 {
				return errors.New("fewer values than ok statuses")
			}
			v.V, values = values[0], values[1:]
		}
		g.Metrics[m] = v
	}
	return nil
}

func decodeAttribution(m *nodev1.Attribution) *attribution.Attribution {
	a := &attribution.Attribution{Available: m.GetAvailable(), Reason: m.GetReason(),
		Time: time.Unix(0, m.GetReadUnixNanos())}
	if len(m.GetOwners()) > 0 {
		a.Owners = make([]attribution.Owner, len(m.GetOwners()))
		for i, o := range m.GetOwners() {
			a.Owners[i] = attribution.Owner{DeviceID: o.GetDeviceUuid(), Namespace: o.GetNamespace(),
				Pod: o.GetPod(), Container: o.GetContainer(), Resource: o.GetResource()}
		}
	}
	return a
}
