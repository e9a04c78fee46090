// SPDX-License-Identifier: Apache-2.0

package nvmlsource

import (
	"context"
	"errors"
	"fmt"

	"github.com/nvml-scaler/nvml-scaler/nvml"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// Read reads the device at position dev. A GPU-lost answer from any call makes
// the whole device lost; other failures make only that field absent.
func (s *Source) Read(_ context.Context, dev int) (scaler.Reading, error) {
	if dev < 0 || dev >= len(s.devs) {
		return scaler.Reading{}, fmt.Errorf("device position %d: have %d devices", dev, len(s.devs))
	}
	d := s.devs[dev]
	var r scaler.Reading
	u, err := d.Utilization()
	r.Utilization = field(scaler.Utilization{GPU: u.GPU, Memory: u.Memory}, err)
	m, err := d.Memory()
	r.Memory = field(scaler.Memory{Total: m.Total, Reserved: m.Reserved, Free: m.Free, Used: m.Used}, err)
	r.PowerMilliwatts = field(d.PowerUsage())
	r.PowerLimitMilliwatts = field(d.EnforcedPowerLimit())
	r.TemperatureCelsius = field(d.Temperature())
	r.SMClockMHz = field(d.SMClock())
	r.Processes = s.processes(dev)
	s.readGPM(dev, &r)
	if lost := lostError(&r); lost != nil {
		return scaler.Reading{}, lost
	}
	return r, nil
}

func (s *Source) processes(dev int) scaler.Field[[]scaler.Process] {
	ps, err := s.devs[dev].ComputeProcesses(s.procBuf[dev])
	if err != nil {
		return scaler.Failed[[]scaler.Process](classify(err))
	}
	s.procBuf[dev] = ps
	out := make([]scaler.Process, len(ps))
	for i, p := range ps {
		out[i] = scaler.Process{PID: p.PID, UsedMemoryBytes: p.UsedGPUMemory}
	}
	return scaler.Got(out)
}

func (s *Source) readGPM(dev int, r *scaler.Reading) {
	g := s.gpm[dev]
	if g == nil {
		for m := range r.GPM {
			r.GPM[m] = scaler.Failed[float64](classify(nvml.ErrNotSupported))
		}
		return
	}
	vals, err := g.Sample()
	if err != nil {
		for m := range r.GPM {
			r.GPM[m] = scaler.Failed[float64](classify(err))
		}
		return
	}
	for _, v := range vals { // nil on the first sample: fields stay absent
		if m, ok := scaler.GPMMetricByID(uint32(v.ID)); ok {
			r.GPM[m] = field(v.Value, v.Err)
		}
	}
}

// lostError returns an error matching scaler.ErrGPULost when any field of r
// failed because the GPU is lost.
func lostError(r *scaler.Reading) error {
	for _, err := range []error{r.Utilization.Err, r.Memory.Err, r.PowerMilliwatts.Err,
		r.TemperatureCelsius.Err, r.SMClockMHz.Err, r.Processes.Err} {
		if errors.Is(err, scaler.ErrGPULost) {
			return err
		}
	}
	return nil
}

func field[T any](v T, err error) scaler.Field[T] {
	if err != nil {
		return scaler.Failed[T](classify(err))
	}
	return scaler.Got(v)
}

// classified carries an nvml error and lets errors.Is match the scaler's
// sentinels: NOT_SUPPORTED and FUNCTION_NOT_FOUND (an old driver) mean the
// metric is absent; GPU_IS_LOST and RESET_REQUIRED mean the GPU is gone.
type classified struct{ err error }

func classify(err error) error { return classified{err} }

func (c classified) Error() string { return c.err.Error() }
func (c classified) Unwrap() error { return c.err }

func (c classified) Is(target error) bool {
	switch target {
	case scaler.ErrNotSupported:
		return errors.Is(c.err, nvml.ErrNotSupported) || errors.Is(c.err, nvml.ErrFunctionNotFound)
	case scaler.ErrGPULost:
		return errors.Is(c.err, nvml.ErrGPULost) || errors.Is(c.err, nvml.ErrResetRequired)
	}
	return false
}
