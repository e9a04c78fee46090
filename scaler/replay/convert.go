// SPDX-License-Identifier: Apache-2.0

package replay

import (
	"errors"
	"fmt"

	"github.com/nvml-scaler/nvml-scaler/nvml"
	"github.com/nvml-scaler/nvml-scaler/recording"
	"github.com/nvml-scaler/nvml-scaler/scaler"
	"github.com/nvml-scaler/nvml-scaler/scaler/nvmlsource"
)

// ReturnError is a recorded NVML return code other than success. errors.Is
// matches it against the scaler's sentinels exactly as a live code
// (nvmlsource.Sentinel), and against the nvml.Return it records.
type ReturnError int32

// Error implements error.
func (e ReturnError) Error() string { return fmt.Sprintf("recorded nvml return code %d", int32(e)) }

// Is maps the code onto the scaler sentinel it means.
func (e ReturnError) Is(target error) bool {
	s := nvmlsource.Sentinel(nvml.Return(e))
	return s != nil && s == target
}

// Unwrap returns the code as an nvml.Return.
func (e ReturnError) Unwrap() error { return nvml.Return(e) }

// field converts a recorded answer.
func field[T any](r recording.Result[T]) scaler.Field[T] {
	if !r.OK() {
		return scaler.Failed[T](ReturnError(r.Ret))
	}
	return scaler.Got(r.Value)
}

// mapped converts a recorded answer whose value needs converting.
func mapped[T, U any](r recording.Result[T], f func(T) U) scaler.Field[U] {
	if !r.OK() {
		return scaler.Failed[U](ReturnError(r.Ret))
	}
	return scaler.Got(f(r.Value))
}

// ErrNoAnswers is a device entry of a sample that holds no answer at all: a
// JSON null, or {} (every call "succeeded" with zero). A real GPU answers its
// memory with a total above 0, so this is a gap in the recording, and its
// metrics are absent, never 0.
var ErrNoAnswers = errors.New("replay: the recording holds no answers for this device in this sample")

// empty reports whether s is the zero DeviceSample.
func empty(s *recording.DeviceSample) bool {
	return s.Utilization == (recording.Result[recording.Utilization]{}) &&
		s.Memory == (recording.Result[recording.Memory]{}) && noCounters(s) &&
		s.Processes.Ret == 0 && s.Processes.Value == nil && len(s.GPM) == 0
}

// noAnswers is the Reading of an empty entry: every field failed.
func noAnswers() scaler.Reading {
	r := scaler.Reading{
		Utilization: scaler.Failed[scaler.Utilization](ErrNoAnswers),
		Memory:      scaler.Failed[scaler.Memory](ErrNoAnswers),
		Processes:   scaler.Failed[[]scaler.Process](ErrNoAnswers),
	}
	failCounters(&r, ErrNoAnswers)
	for m := range r.GPM {
		r.GPM[m] = scaler.Failed[float64](ErrNoAnswers)
	}
	return r
}

func gpuReading(d *recording.Device, s *recording.DeviceSample) scaler.Reading {
	if empty(s) {
		return noAnswers()
	}
	r := scaler.Reading{
		Utilization: mapped(s.Utilization, utilization),
		Memory:      mapped(s.Memory, memory),
		Processes:   mapped(s.Processes, processes),
	}
	readCounters(d, s, &r)
	for _, g := range s.GPM {
		m, ok := scaler.GPMMetricByID(g.ID)
		if !ok {
			continue
		}
		if g.Ret != 0 {
			r.GPM[m] = scaler.Failed[float64](ReturnError(g.Ret))
		} else {
			r.GPM[m] = scaler.Got(float64(g.Value))
		}
	}
	return r
}

// migReading converts a MIG device's answers; the recording holds only memory
// and processes for MIG devices, so everything else is absent.
func migReading(s *recording.MIGSample) scaler.Reading {
	return scaler.Reading{
		Memory:    mapped(s.Memory, memory),
		Processes: mapped(s.Processes, processes),
	}
}

func utilization(u recording.Utilization) scaler.Utilization {
	return scaler.Utilization{GPU: u.GPU, Memory: u.Memory}
}

func memory(m recording.Memory) scaler.Memory {
	return scaler.Memory{Total: m.Total, Reserved: m.Reserved, Free: m.Free, Used: m.Used}
}

func processes(ps []recording.Process) []scaler.Process {
	out := make([]scaler.Process, len(ps))
	for i, p := range ps {
		out[i] = scaler.Process{PID: p.PID, UsedMemoryBytes: p.UsedGPUMemory}
	}
	return out
}
