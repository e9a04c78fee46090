// SPDX-License-Identifier: Apache-2.0

package nvmlsource

import (
	"context"
	"errors"
	"fmt"

	"github.com/nvml-scaler/nvml-scaler/nvml"
	"github.com/nvml-scaler/nvml-scaler/scaler"
)

// Read reads the device at position dev. An answer that asks for
// re-initialisation (see the package documentation) from any call fails the
// whole Read with an error matching scaler.ErrReinit; a GPU-lost answer makes
// the whole device lost; other failures make only that field absent.
//
// A MIG device is first asked for its UUID: when the handle no longer answers
// as the device listed at dev (mig-manager destroyed or replaced the slice),
// Read fails and the next Refresh lists the devices again, so no reading is
// served under the wrong UUID. An unusable position fails with its reason.
func (s *Source) Read(_ context.Context, dev int) (scaler.Reading, error) {
	if dev < 0 || dev >= len(s.entries) {
		return scaler.Reading{}, fmt.Errorf("device position %d: have %d devices", dev, len(s.entries))
	}
	e := s.entries[dev]
	if e.info.Unusable != nil {
		return scaler.Reading{}, e.info.Unusable
	}
	if err := s.checkMIG(e); err != nil {
		return scaler.Reading{}, err
	}
	d := e.dev
	var r scaler.Reading
	u, err := d.Utilization()
	r.Utilization = field(s, scaler.Utilization{GPU: u.GPU, Memory: u.Memory}, err)
	m, err := d.Memory()
	r.Memory = field(s, scaler.Memory{Total: m.Total, Reserved: m.Reserved, Free: m.Free, Used: m.Used}, e.notHere(err))
	s.readCounters(d, &r)
	r.Processes = s.processes(e)
	s.readGPM(e, &r)
	if err := firstError(&r, scaler.ErrReinit); err != nil {
		return scaler.Reading{}, err
	}
	if err := firstError(&r, scaler.ErrGPULost); err != nil {
		return scaler.Reading{}, err
	}
	return r, nil
}

// checkMIG fails when e is a MIG device whose handle no longer answers with
// e's UUID, and marks the layout for re-listing.
func (s *Source) checkMIG(e *entry) error {
	if !e.info.IsMIG() {
		return nil
	}
	uuid, err := e.dev.UUID()
	if err == nil && uuid == e.info.UUID {
		return nil
	}
	s.suspect.Store(true)
	if err != nil {
		return s.classify(fmt.Errorf("MIG device %s: %w", e.info.UUID, err))
	}
	return fmt.Errorf("MIG device %s: its handle now answers as %s (the MIG layout changed); listing again", e.info.UUID, uuid)
}

func (s *Source) processes(e *entry) scaler.Field[[]scaler.Process] {
	ps, err := e.dev.ComputeProcesses(e.procBuf)
	if err = e.notHere(err); err != nil {
		return scaler.Failed[[]scaler.Process](s.classify(err))
	}
	e.procBuf = ps
	out := make([]scaler.Process, len(ps))
	for i, p := range ps {
		out[i] = scaler.Process{PID: p.PID, UsedMemoryBytes: p.UsedGPUMemory}
	}
	return scaler.Got(out)
}

func (s *Source) readGPM(e *entry, r *scaler.Reading) {
	g := e.gpm
	if g == nil {
		for m := range r.GPM {
			r.GPM[m] = scaler.Failed[float64](classified{nvml.ErrNotSupported})
		}
		return
	}
	vals, err := g.Sample()
	if err != nil {
		err = s.classify(err)
		for m := range r.GPM {
			r.GPM[m] = scaler.Failed[float64](err)
		}
		return
	}
	for _, v := range vals { // nil on the first sample: fields stay absent
		if m, ok := scaler.GPMMetricByID(uint32(v.ID)); ok {
			r.GPM[m] = field(s, v.Value, v.Err)
		}
	}
}

// firstError returns the first error among r's non-GPM fields that matches
// target. (A GPM sample names the GPU through the same handle, so the other
// calls see what it sees.)
func firstError(r *scaler.Reading, target error) error {
	for _, err := range r.FieldErrs() {
		if errors.Is(err, target) {
			return err
		}
	}
	return nil
}

func field[T any](s *Source, v T, err error) scaler.Field[T] {
	if err != nil {
		return scaler.Failed[T](s.classify(err))
	}
	return scaler.Got(v)
}

// classify reports a failed call to Options.OnError and wraps it for the
// scaler's error classes. A notSupportedHereError is neither reported nor
// wrapped: it already classifies as not supported.
func (s *Source) classify(err error) error {
	var n notSupportedHereError
	if errors.As(err, &n) {
		return err
	}
	s.report(err)
	return classified{err}
}

// notHere turns NO_PERMISSION on a MIG-mode parent's memory or process
// query into "not supported here": drivers refuse those on the parent of MIG
// devices, which answer for themselves, and that is no failure to report
// every sweep.
func (e *entry) notHere(err error) error {
	if e.migParent && errors.Is(err, nvml.ErrNoPermission) {
		return notSupportedHereError{err}
	}
	return err
}

// notSupportedHereError is an NVML error that means "not supported on this
// device" although its code says otherwise.
type notSupportedHereError struct{ err error }

func (n notSupportedHereError) Error() string {
	return n.err.Error() + " (a MIG-mode GPU: not supported here)"
}
func (n notSupportedHereError) Unwrap() error        { return n.err }
func (n notSupportedHereError) Is(target error) bool { return target == scaler.ErrNotSupported }
