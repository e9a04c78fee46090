// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"strconv"
	"strings"
	"time"

	"github.com/nvml-scaler/nvml-scaler/cluster/attribution"
	"github.com/nvml-scaler/nvml-scaler/proto/nodev1"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// encoder turns snapshots into wire messages for one stream: it remembers
// whether the devices and which attribution the stream has already carried.
type encoder struct {
	epoch       uint64
	interval    time.Duration
	sentDevices bool
	sentAttr    *attribution.Attribution
}

func (e *encoder) encode(snap *scaler.Snapshot, attr *attribution.Attribution, now time.Time) *nodev1.Snapshot {
	m := &nodev1.Snapshot{
		Epoch:          e.epoch,
		Seq:            snap.Seq,
		Node:           snap.Node,
		StartUnixNanos: snap.Start.UnixNano(),
		DurationNanos:  int64(snap.Duration),
		AgeNanos:       int64(max(0, now.Sub(snap.Start))),
		IntervalNanos:  int64(e.interval),
		Gpus:           make([]*nodev1.GPUState, len(snap.GPUs)),
	}
	if !e.sentDevices {
		m.Devices = make([]*nodev1.Device, len(snap.GPUs))
		for i := range snap.GPUs {
			d := &snap.GPUs[i].Device
			m.Devices[i] = &nodev1.Device{Index: int32(d.Index), Uuid: d.UUID, Model: d.Model,
				MigParentUuid: d.MIGParentUUID, MigIndex: int32(d.MIGIndex)}
		}
		m.MetricNames = metricNames()
		e.sentDevices = true
	}
	for i := range snap.GPUs {
		m.Gpus[i] = encodeGPU(&snap.GPUs[i])
	}
	if attr != e.sentAttr {
		m.Attribution = encodeAttribution(attr, snap)
		e.sentAttr = attr
	}
	return m
}

// metricNames names the catalogue in the order encodeGPU writes it.
func metricNames() []string {
	names := make([]string, scaler.NumMetrics)
	for m := range scaler.NumMetrics {
		names[m] = m.String()
	}
	return names
}

func encodeGPU(g *scaler.GPU) *nodev1.GPUState {
	st := &nodev1.GPUState{Health: uint32(g.Health), Status: make([]byte, scaler.NumMetrics)}
	if g.Err != nil {
		st.Error = g.Err.Error()
	}
	n := 0
	for m, v := range g.Metrics {
		st.Status[m] = byte(v.Status)
		if v.OK() {
			n++
		}
	}
	if n > 0 {
		st.Values = make([]float64, 0, n)
		for _, v := range g.Metrics {
			if v.OK() {
				st.Values = append(st.Values, v.V)
			}
		}
	}
	return st
}

// encodeAttribution writes a, notes included, with index-style device IDs ("0", or "0:1" for
// MIG device 1 of GPU 0, from deviceIDStrategy=index) resolved to the UUIDs
// in snap; IDs that resolve to nothing are sent as they are.
func encodeAttribution(a *attribution.Attribution, snap *scaler.Snapshot) *nodev1.Attribution {
	m := &nodev1.Attribution{Available: a.Available, Reason: a.Reason, ReadUnixNanos: a.Time.UnixNano(),
		Owners: make([]*nodev1.Owner, len(a.Owners)), Notes: a.Notes}
	for i, o := range a.Owners {
		m.Owners[i] = &nodev1.Owner{DeviceUuid: ResolveDeviceID(o.DeviceID, snap), Namespace: o.Namespace,
			Pod: o.Pod, Container: o.Container, Resource: o.Resource}
	}
	return m
}

// ResolveDeviceID maps a device plugin's index-style ID ("0", or "0:1" for MIG
// device 1 of GPU 0) to the UUID of that device in snap; any other ID, and
// one that matches no device, is returned as it is.
func ResolveDeviceID(id string, snap *scaler.Snapshot) string {
	if snap == nil {
		return id
	}
	if id == "" || id[0] < '0' || id[0] > '9' {
		return id
	}
	gpuStr, migStr, isMIG := strings.Cut(id, ":")
	gpu, err := strconv.Atoi(gpuStr)
	if err != nil {
		return id
	}
	mig := 0
	if isMIG {
		if mig, err = strconv.Atoi(migStr); err != nil {
			return id
		}
	}
	for i := range snap.GPUs {
		d := &snap.GPUs[i].Device
		if d.Index == gpu && d.IsMIG() == isMIG && (!isMIG || d.MIGIndex == mig) {
			return d.UUID
		}
	}
	return id
}
