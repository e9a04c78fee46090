// SPDX-License-Identifier: Apache-2.0

package fakenvml

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"

	"github.com/nvml-scaler/nvml-scaler/recording"
)

// SyntheticMIG returns a copy of rec in which every GPU runs in MIG mode with
// two MIG devices. No real recording has MIG enabled, so everything MIG in
// the copy is derived, not recorded, and its Source and Description say so:
//
//   - each GPU: MIG mode enabled (current and pending 1), at most 7 MIG
//     devices, and utilization NOT_SUPPORTED (3), as NVML answers for a GPU
//     in MIG mode;
//   - MIG device k (0, 1): NVML index k, a UUID "MIG-…" hashed from the
//     GPU's UUID, the name "<GPU name> MIG 3g.<half the memory>gb";
//   - per sample: each MIG device gets half of the GPU's memory (the second
//     one the remainder, so the two add up) and the GPU's processes
//     alternately, with GPU instance id k+1 and compute instance id 0, which
//     the GPU's own process list then reports too.
//
// rec itself is not modified.
func SyntheticMIG(rec *recording.Recording) *recording.Recording {
	out := *rec
	out.Source = rec.Source + " + synthetic MIG (two MIG devices per GPU derived by fakenvml.SyntheticMIG; not recorded)"
	out.Description = "SYNTHETIC MIG: " + rec.Description
	out.ErrorStrings = maps.Clone(rec.ErrorStrings)
	out.ErrorPaths = maps.Clone(rec.ErrorPaths)
	out.LatencyNanos = maps.Clone(rec.LatencyNanos)
	out.Phases = slices.Clone(rec.Phases)
	out.Devices = make([]recording.Device, len(rec.Devices))
	for i, d := range rec.Devices {
		d.MIGMode = recording.Ok(recording.MIGMode{Current: 1, Pending: 1})
		d.MaxMIGDeviceCount = recording.Ok(uint32(7))
		d.MIGDevices = []recording.MIGDevice{migDevice(d, 0), migDevice(d, 1)}
		out.Devices[i] = d
	}
	out.Samples = make([]recording.Sample, len(rec.Samples))
	for j, s := range rec.Samples {
		s.Devices = slices.Clone(s.Devices)
		s.MIGDevices = maps.Clone(s.MIGDevices)
		if s.MIGDevices == nil {
			s.MIGDevices = map[string]recording.MIGSample{}
		}
		for i := range s.Devices {
			splitSample(&s, i, out.Devices[i].MIGDevices)
		}
		out.Samples[j] = s
	}
	return &out
}

func migDevice(d recording.Device, k int) recording.MIGDevice {
	m := recording.MIGDevice{Index: uint32(k)}
	if d.UUID.OK() {
		sum := sha256.Sum256([]byte(fmt.Sprintf("%s/mig/%d", d.UUID.Value, k)))
		m.UUID = recording.Ok(fmt.Sprintf("MIG-%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16]))
	} else {
		m.UUID = recording.Fail[string](d.UUID.Ret)
	}
	if d.Name.OK() {
		gb := value(d.MemoryV1).Total / 2 >> 30
		m.Name = recording.Ok(fmt.Sprintf("%s MIG 3g.%dgb", d.Name.Value, gb))
	} else {
		m.Name = recording.Fail[string](d.Name.Ret)
	}
	return m
}

// splitSample divides GPU i's memory and processes in s between its two MIG
// devices and marks its utilization unsupported.
func splitSample(s *recording.Sample, i int, migs []recording.MIGDevice) {
	d := &s.Devices[i]
	d.Utilization = recording.Fail[recording.Utilization](3)
	var mem [2]recording.Result[recording.Memory]
	if d.Memory.OK() {
		m := d.Memory.Value
		half := recording.Memory{Total: m.Total / 2, Reserved: m.Reserved / 2, Free: m.Free / 2, Used: m.Used / 2}
		rest := recording.Memory{Total: m.Total - half.Total, Reserved: m.Reserved - half.Reserved,
			Free: m.Free - half.Free, Used: m.Used - half.Used}
		mem = [2]recording.Result[recording.Memory]{recording.Ok(half), recording.Ok(rest)}
	} else {
		mem[0], mem[1] = recording.Fail[recording.Memory](d.Memory.Ret), recording.Fail[recording.Memory](d.Memory.Ret)
	}
	var procs [2]recording.Result[[]recording.Process]
	if d.Processes.OK() {
		all := slices.Clone(d.Processes.Value)
		procs[0], procs[1] = recording.Ok([]recording.Process{}), recording.Ok([]recording.Process{})
		for j := range all {
			k := j % 2
			all[j].GPUInstanceID, all[j].ComputeInstanceID = uint32(k+1), 0
			procs[k].Value = append(procs[k].Value, all[j])
		}
		d.Processes = recording.Ok(all)
	} else {
		procs[0], procs[1] = recording.Fail[[]recording.Process](d.Processes.Ret), recording.Fail[[]recording.Process](d.Processes.Ret)
	}
	for k, m := range migs {
		if m.UUID.OK() {
			s.MIGDevices[m.UUID.Value] = recording.MIGSample{Memory: mem[k], Processes: procs[k]}
		}
	}
}

// SyntheticMIGReplaced is [SyntheticMIG] with a third MIG device on every GPU:
// a replacement for the one in slot 1, in the same slot under a new UUID
// (hashed like the others), answering what the one it replaces answered.
// Pair it with [MIGLifetime] (device 1 until step n, device 2 from n) to
// model mig-manager destroying a slice and creating another. Derived, not
// recorded, like SyntheticMIG.
func SyntheticMIGReplaced(rec *recording.Recording) *recording.Recording {
	out := SyntheticMIG(rec)
	out.Source += " + a replacement MIG device in slot 1 (fakenvml.SyntheticMIGReplaced)"
	devs := slices.Clone(out.Devices)
	for i, d := range devs {
		old := d.MIGDevices[1]
		m := old
		if d.UUID.OK() {
			sum := sha256.Sum256([]byte(fmt.Sprintf("%s/mig/1/replaced", d.UUID.Value)))
			m.UUID = recording.Ok(fmt.Sprintf("MIG-%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16]))
		}
		d.MIGDevices = append(slices.Clone(d.MIGDevices), m)
		devs[i] = d
		if !old.UUID.OK() || !m.UUID.OK() {
			continue
		}
		for j := range out.Samples {
			ms := maps.Clone(out.Samples[j].MIGDevices)
			ms[m.UUID.Value] = ms[old.UUID.Value]
			out.Samples[j].MIGDevices = ms
		}
	}
	out.Devices = devs
	return out
}
