// SPDX-License-Identifier: Apache-2.0

package fakenvml

import (
	"fmt"
	"maps"
	"slices"

	"github.com/nvml-scaler/nvml-scaler/recording"
)

// SyntheticProcesses returns a copy of rec in which every GPU's process list
// that recorded at least one process holds n: the recorded ones, then copies
// of the first with PIDs counting up from the last recorded PID + 1. Real
// recordings hold one or two processes, too few to fill a process buffer;
// the copy is labelled synthetic in Source and Description. MIG devices'
// lists are left as recorded; rec is not modified.
func SyntheticProcesses(rec *recording.Recording, n int) (*recording.Recording, error) {
	if n < 1 {
		return nil, fmt.Errorf("synthetic processes: %d per GPU: want at least 1", n)
	}
	out := *rec
	out.Source = fmt.Sprintf("%s + synthetic: process lists padded to %d by fakenvml.SyntheticProcesses", rec.Source, n)
	out.Description = fmt.Sprintf("SYNTHETIC %d processes per busy GPU: %s", n, rec.Description)
	out.ErrorStrings = maps.Clone(rec.ErrorStrings)
	out.ErrorPaths = maps.Clone(rec.ErrorPaths)
	out.Phases = slices.Clone(rec.Phases)
	out.Samples = make([]recording.Sample, len(rec.Samples))
	for j, s := range rec.Samples {
		s.Devices = slices.Clone(s.Devices)
		for i, d := range s.Devices {
			p := d.Processes
			if !p.OK() || len(p.Value) == 0 {
				continue
			}
			list := slices.Clone(p.Value[:min(len(p.Value), n)])
			next := p.Value[len(p.Value)-1].PID + 1
			for len(list) < n {
				extra := p.Value[0]
				extra.PID = next
				next++
				list = append(list, extra)
			}
			s.Devices[i].Processes = recording.Ok(list)
		}
		out.Samples[j] = s
	}
	return &out, out.Validate()
}
