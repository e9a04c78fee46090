// SPDX-License-Identifier: Apache-2.0

package recorder

import (
	"github.com/nvml-scaler/nvml-scaler/nvml"
	"github.com/nvml-scaler/nvml-scaler/recording"
)

func static(d nvml.Device, index uint32) recording.Device {
	out := recording.Device{Index: index}
	out.Name = result(d.Name())
	out.UUID = result(d.UUID())
	p, err := d.PCIInfo()
	out.PCI = result(recording.PCIInfo{BusIDLegacy: p.BusIDLegacy, Domain: p.Domain, Bus: p.Bus,
		Device: p.Device, PCIDeviceID: p.PCIDeviceID, PCISubSystemID: p.PCISubSystemID, BusID: p.BusID}, err)
	a, err := d.Architecture()
	out.Architecture = result(uint32(a), err)
	ma, mi, err := d.ComputeCapability()
	out.ComputeCapability = result([2]int32{int32(ma), int32(mi)}, err)
	m, err := d.Memory()
	// nvmlMemory_t's used includes reserved memory; Memory() reports v2.
	out.MemoryV1 = result(recording.MemoryV1{Total: m.Total, Free: m.Free, Used: m.Used + m.Reserved}, err)
	out.PowerLimitMilliwatts = result(d.EnforcedPowerLimit())
	cur, pend, err := d.MIGMode()
	out.MIGMode = result(recording.MIGMode{Current: b2u(cur), Pending: b2u(pend)}, err)
	n, err := d.MaxMIGDeviceCount()
	out.MaxMIGDeviceCount = result(uint32(n), err)
	out.GPMSupported = result(d.GPMSupported())
	migs, _ := d.MIGDevices()
	for i, m := range migs {
		out.MIGDevices = append(out.MIGDevices, recording.MIGDevice{
			Index: uint32(i), UUID: result(m.UUID()), Name: result(m.Name())})
	}
	return out
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

func sample(d nvml.Device, gpm *nvml.GPMSampler) recording.DeviceSample {
	var s recording.DeviceSample
	u, err := d.Utilization()
	s.Utilization = result(recording.Utilization{GPU: u.GPU, Memory: u.Memory}, err)
	s.Memory = memory(d)
	counters(d, &s)
	s.Processes = processes(d)
	if gpm != nil {
		vals, err := gpm.Sample()
		if err == nil {
			for _, v := range vals {
				s.GPM = append(s.GPM, recording.GPMValue{ID: uint32(v.ID),
					Ret: result(0, v.Err).Ret, Value: recording.Float(v.Value)})
			}
		}
	}
	return s
}

func memory(d nvml.Device) recording.Result[recording.Memory] {
	m, err := d.Memory()
	return result(recording.Memory{Total: m.Total, Reserved: m.Reserved, Free: m.Free, Used: m.Used}, err)
}

func processes(d nvml.Device) recording.Result[[]recording.Process] {
	ps, err := d.ComputeProcesses(nil)
	out := make([]recording.Process, 0, len(ps))
	for _, p := range ps {
		out = append(out, recording.Process{PID: p.PID, UsedGPUMemory: p.UsedGPUMemory,
			GPUInstanceID: p.GPUInstanceID, ComputeInstanceID: p.ComputeInstanceID})
	}
	return result(out, err)
}

func addMIGSamples(s *recording.Sample, devs []nvml.Device) {
	for _, d := range devs {
		migs, _ := d.MIGDevices()
		for _, m := range migs {
			uuid, err := m.UUID()
			if err != nil {
				continue
			}
			if s.MIGDevices == nil {
				s.MIGDevices = map[string]recording.MIGSample{}
			}
			s.MIGDevices[uuid] = recording.MIGSample{Memory: memory(m), Processes: processes(m)}
		}
	}
}

// gpmSamplers makes one sampler per GPM-capable device (nil where unsupported
// or the GPU has no handle).
func gpmSamplers(devs gpus) []*nvml.GPMSampler {
	out := make([]*nvml.GPMSampler, len(devs))
	for i, d := range devs {
		if d.ret != 0 {
			continue
		}
		if ok, err := d.dev.GPMSupported(); err != nil || !ok {
			continue
		}
		s, err := d.dev.NewGPMSampler(gpmIDs...)
		if err == nil {
			_, _ = s.Sample() // prime, so the first recorded sample has GPM values
			out[i] = s
		}
	}
	return out
}

func closeAll(samplers []*nvml.GPMSampler) {
	for _, s := range samplers {
		if s != nil {
			_ = s.Close()
		}
	}
}
