// SPDX-License-Identifier: Apache-2.0

// Package clustertest builds simulated GPU nodes for the tests of the cluster
// packages and of test/keda: a replayed recording per node (made multi-GPU
// and MIG by copying its device, labelled synthetic), a fake kubelet, and a
// real agent on loopback.
package clustertest

import (
	"fmt"
	"hash/fnv"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nvml-scaler/nvml-scaler/recording"
)

// Recording loads testdata/recordings/name.
func Recording(t testing.TB, name string) *recording.Recording {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	rec, err := recording.Load(filepath.Join(filepath.Dir(file), "..", "..", "testdata", "recordings", name))
	if err != nil {
		t.Fatalf("clustertest: %v", err)
	}
	return rec
}

// GPUUUID is the UUID Synthetic gives GPU k of the node named seed.
func GPUUUID(seed string, k int) string {
	return fmt.Sprintf("GPU-%08x-0000-4000-8000-%012x", hash(seed), k)
}

// MIGUUID is the UUID Synthetic gives MIG device m of GPU k of node seed.
func MIGUUID(seed string, k, m int) string {
	return fmt.Sprintf("MIG-%08x-0000-4000-8000-%06x%06x", hash(seed), k, m)
}

// MIGProfile is the model name of Synthetic's MIG devices.
const MIGProfile = "NVIDIA H100 80GB HBM3 MIG 1g.10gb"

// GPUShift is how many samples GPU k's series is shifted by per k, so that the
// GPUs of a synthetic node differ at every sample.
const GPUShift = 17

// Synthetic returns a copy of base, a single-GPU recording, with gpus GPUs:
// GPU k replays base's device 0 shifted by k×GPUShift samples (wrapping), with
// the UUID GPUUUID(seed, k). With migs > 0 each GPU also holds migs MIG devices
// whose memory use is (k×migs+m+1) × 256 MiB plus the sample index (bytes), so
// every MIG value is known. The recording is marked synthetic in its Source.
func Synthetic(base *recording.Recording, seed string, gpus, migs int) *recording.Recording {
	cp := *base
	cp.Source = fmt.Sprintf("synthetic (clustertest.Synthetic %q, %d GPUs, %d MIG each) from %s", seed, gpus, migs, base.Source)
	cp.Description = "synthetic: " + base.Description
	cp.System.DeviceCount = recording.Ok(uint32(gpus))
	cp.Devices = make([]recording.Device, gpus)
	for k := range gpus {
		d := base.Devices[0]
		d.Index = uint32(k)
		d.UUID = recording.Ok(GPUUUID(seed, k))
		d.MIGDevices = nil
		for m := range migs {
			d.MIGDevices = append(d.MIGDevices, recording.MIGDevice{Index: uint32(m),
				UUID: recording.Ok(MIGUUID(seed, k, m)), Name: recording.Ok(MIGProfile)})
		}
		cp.Devices[k] = d
	}
	n := len(base.Samples)
	cp.Samples = make([]recording.Sample, n)
	for j := range n {
		s := recording.Sample{OffsetNanos: base.Samples[j].OffsetNanos, Devices: make([]recording.DeviceSample, gpus)}
		for k := range gpus {
			s.Devices[k] = base.Samples[(j+k*GPUShift)%n].Devices[0]
			for m := range migs {
				if s.MIGDevices == nil {
					s.MIGDevices = map[string]recording.MIGSample{}
				}
				s.MIGDevices[MIGUUID(seed, k, m)] = recording.MIGSample{
					Memory:    recording.Ok(MIGMemory(k, m, migs, j)),
					Processes: recording.Ok([]recording.Process{}),
				}
			}
		}
		cp.Samples[j] = s
	}
	return &cp
}

// MIGMemory is what Synthetic records for MIG device m of GPU k at sample j.
func MIGMemory(k, m, migs, j int) recording.Memory {
	used := uint64(k*migs+m+1)<<28 + uint64(j)
	return recording.Memory{Total: 10 << 30, Used: used, Free: 10<<30 - used}
}

func hash(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// Clock is a fake clock shared by samplers, agents and the aggregator.
type Clock struct{ ns atomic.Int64 }

// NewClock returns a Clock at a fixed instant.
func NewClock() *Clock {
	c := &Clock{}
	c.ns.Store(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

// Now returns the current fake time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
