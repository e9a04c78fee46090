// SPDX-License-Identifier: Apache-2.0

package fakenvml

import (
	"fmt"
	"maps"
	"slices"

	"github.com/nvml-scaler/nvml-scaler/recording"
)

// Replicate returns a copy of a single-GPU recording with n GPUs, each
// answering what the recorded GPU answered, for benchmarks and tests that need
// a multi-GPU node (every real recording has one GPU). GPU i gets index i, a
// UUID whose last 4 hex digits are replaced by i, and bus i. The result is
// labelled synthetic in Source and Description; rec is not modified.
func Replicate(rec *recording.Recording, n int) (*recording.Recording, error) {
	if len(rec.Devices) != 1 {
		return nil, fmt.Errorf("replicate: recording has %d GPUs: want 1", len(rec.Devices))
	}
	if n < 1 {
		return nil, fmt.Errorf("replicate: %d GPUs: want at least 1", n)
	}
	out := *rec
	out.Source = fmt.Sprintf("%s + synthetic: its GPU replicated %d times by fakenvml.Replicate", rec.Source, n)
	out.Description = fmt.Sprintf("SYNTHETIC %d GPUs: %s", n, rec.Description)
	out.ErrorStrings = maps.Clone(rec.ErrorStrings)
	out.ErrorPaths = maps.Clone(rec.ErrorPaths)
	out.Phases = slices.Clone(rec.Phases)
	out.System.DeviceCount = recording.Ok(uint32(n))
	out.Devices = make([]recording.Device, n)
	for i := range n {
		d := rec.Devices[0]
		d.Index = uint32(i)
		if d.UUID.OK() && len(d.UUID.Value) > 4 {
			u := d.UUID.Value
			d.UUID = recording.Ok(fmt.Sprintf("%s%04x", u[:len(u)-4], i))
		}
		if d.PCI.OK() {
			p := d.PCI.Value
			p.Bus = uint32(i)
			p.BusID = fmt.Sprintf("%08x:%02x:%02x.0", p.Domain, i, p.Device)
			p.BusIDLegacy = fmt.Sprintf("%04x:%02x:%02x.0", p.Domain, i, p.Device)
			d.PCI = recording.Ok(p)
		}
		out.Devices[i] = d
	}
	out.Samples = make([]recording.Sample, len(rec.Samples))
	for j, s := range rec.Samples {
		devs := make([]recording.DeviceSample, n)
		for i := range devs {
			devs[i] = s.Devices[0]
		}
		s.Devices = devs
		out.Samples[j] = s
	}
	return &out, out.Validate()
}
