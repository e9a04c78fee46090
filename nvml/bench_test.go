// SPDX-License-Identifier: Apache-2.0

package nvml_test

import (
	"testing"

	"github.com/nvml-scaler/nvml-scaler/nvml"
)

// Per-call cost of the binding through the fake libnvidia-ml (whose own cost
// is ~20 ns a call), to compare with the real H200's 0.90 µs (utilization) and
// 5.9 µs (memory v2) measured with purego: see BENCHMARKS.md.

func BenchmarkUtilization(b *testing.B) {
	d := benchDevice(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Utilization(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemory(b *testing.B) {
	d := benchDevice(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Memory(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkComputeProcesses(b *testing.B) {
	d := benchDevice(b)
	buf := make([]nvml.ProcessInfo, 0, 16)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = d.ComputeProcesses(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGPMSample(b *testing.B) {
	d := benchDevice(b)
	s, err := d.NewGPMSampler(nvml.GPMGraphicsActivity, nvml.GPMSMActivity, nvml.GPMSMOccupancy,
		nvml.GPMTensorActivity, nvml.GPMDRAMBandwidth)
	if err != nil {
		b.Fatal(err)
	}
	nvml.SetGPMClock(s, steppingClock())
	defer s.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sample(); err != nil {
			b.Fatal(err)
		}
	}
}

func benchDevice(b *testing.B) nvml.Device {
	rec := load(b, "h200-inference-ramp.json")
	lib, f := open(b, rec)
	f.SetStep(uint64(busiest(rec)))
	return device(b, lib, 0)
}
