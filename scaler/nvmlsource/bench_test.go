// SPDX-License-Identifier: Apache-2.0

package nvmlsource

import (
	"context"
	"testing"

	"github.com/nvml-scaler/nvml-scaler/internal/fakenvml"
	"github.com/nvml-scaler/nvml-scaler/nvml"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// BenchmarkSweep8GPUs is one Sampler sweep of 8 GPUs through the binding and
// the fake library ("sweep"), next to the same NVML calls made directly
// ("raw-calls"): the difference is what the scaler adds per sweep.
func BenchmarkSweep8GPUs(b *testing.B) {
	rec, err := fakenvml.Replicate(load(b, "h200-inference-ramp.json"), 8)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("sweep", func(b *testing.B) {
		src, f := newSource(b, rec)
		f.SetStep(uint64(len(rec.Samples) / 2))
		smp, err := scaler.NewSampler(scaler.SamplerConfig{Source: src})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := smp.Sweep(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw-calls", func(b *testing.B) {
		f := fakenvml.New(b, rec)
		f.SetStep(uint64(len(rec.Samples) / 2))
		devs, samplers := rawDevices(b, f.LibPath)
		bufs := make([][]nvml.ProcessInfo, len(devs))
		b.ReportAllocs()
		for b.Loop() {
			for i, d := range devs {
				_, _ = d.Utilization()
				_, _ = d.Memory()
				_, _ = d.PowerUsage()
				_, _ = d.EnforcedPowerLimit()
				_, _ = d.Temperature()
				_, _ = d.SMClock()
				bufs[i], _ = d.ComputeProcesses(bufs[i])
				_, _ = samplers[i].Sample()
			}
		}
	})
}

func rawDevices(b *testing.B, path string) ([]nvml.Device, []*nvml.GPMSampler) {
	lib, err := nvml.Open(nvml.WithLibraryPath(path))
	if err != nil {
		b.Fatal(err)
	}
	if err := lib.Init(); err != nil {
		b.Fatal(err)
	}
	n, _ := lib.DeviceCount()
	var devs []nvml.Device
	var samplers []*nvml.GPMSampler
	for i := range n {
		d, err := lib.DeviceByIndex(i)
		if err != nil {
			b.Fatal(err)
		}
		g, err := d.NewGPMSampler(nvml.GPMGraphicsActivity, nvml.GPMSMActivity, nvml.GPMSMOccupancy,
			nvml.GPMTensorActivity, nvml.GPMDRAMBandwidth)
		if err != nil {
			b.Fatal(err)
		}
		g.SetClock(steppingClock()) // back-to-back samples, measured as if 200 ms apart
		devs, samplers = append(devs, d), append(samplers, g)
	}
	b.Cleanup(func() {
		for _, g := range samplers {
			_ = g.Close()
		}
		_ = lib.Shutdown()
		_ = lib.Close()
	})
	return devs, samplers
}
